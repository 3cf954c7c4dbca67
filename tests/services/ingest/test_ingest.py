"""IngestService against real Postgres and real gRPC servers."""

import asyncio
import datetime as dt
import gzip
import uuid

import grpc
import orjson
import pytest
from clicktrail.ingest.v1 import ingest_pb2 as pb
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf.timestamp_pb2 import Timestamp

from libs import event_handoff
from libs.auth import GATEWAY_VOUCH_HEADER
from libs.event_handoff import EVENT_QUEUE
from libs.queue import Consumer
from tests.conftest import GATEWAY_TOKEN

ACCEPTED, DUPLICATE, REJECTED = pb.EVENT_STATUS_ACCEPTED, pb.EVENT_STATUS_DUPLICATE, pb.EVENT_STATUS_REJECTED
IDFA = "6d92078a-8246-4ba4-ae5b-76104861e7dc"


def now_iso(delta=dt.timedelta()):
    return (dt.datetime.now(dt.UTC) + delta).isoformat()


def event(**kw):
    base = {
        "uuid": str(uuid.uuid4()), "event": "track", "timestamp": now_iso(), "session_id": "s-1", "offset": 211,
        "user_id": "u-1", "ref": "root", "action": "level_up", "action_properties": {"level": 3},
        "device": {"idfa": IDFA.upper(), "platform": "ios", "os_version": "17.1", "locale": "en-US"},
    }  # fmt: skip
    base.update(kw)
    return base


@pytest.fixture
async def app(links_stub):
    resp = await links_stub.CreateApp(
        lpb.CreateAppRequest(app=lpb.App(name="Game", platform=lpb.PLATFORM_IOS, bundle_id="com.acme.game"))
    )
    return resp


@pytest.fixture
def app_stub(ingest_server, app, channels):
    return ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app.app_key))


async def send_json(stub, events, **kw):
    """SendEventsJson as the gateway calls it: the gateway vouches for the client address it names."""
    return await stub.SendEventsJson(
        pb.SendEventsJsonRequest(body=orjson.dumps({"events": events}), **kw),
        metadata=((GATEWAY_VOUCH_HEADER, GATEWAY_TOKEN),),
    )


async def test_valid_part_of_a_batch_is_kept_and_each_event_answered(app_stub, ingest_stub, app):
    good = [event(), event(event="identify"), event(event="screen", action=None, screen="shop")]
    bad = [
        event(event="teleport"),
        event(uuid="not-a-uuid"),
        event(timestamp=now_iso(dt.timedelta(days=3))),
        event(timestamp="2001-01-01T00:00:00Z"),
        event(action="error", action_properties={"error_level": "Fatal", "error_code": "E1"}),
        event(event="heartbeat", session_id=None),
        event(device={"idfa": "abc"}),
        event(action_properties=[1, 2]),
        "not an object",
    ]
    resp = await send_json(
        app_stub, [good[0], *bad, good[1], good[2]], client_ip="81.2.69.142", client_user_agent="Game/1.0"
    )
    assert (resp.accepted, resp.duplicates, resp.rejected) == (3, 0, 9)
    by_index = {r.index: r for r in resp.results}
    assert [by_index[i].status for i in range(12)] == [ACCEPTED] + [REJECTED] * 9 + [ACCEPTED, ACCEPTED]
    assert [(by_index[i].field) for i in range(1, 10)] == [
        "event", "uuid", "timestamp", "timestamp", "action_properties.error_level", "session_id",
        "device.idfa", "action_properties", "event",
    ]  # fmt: skip
    assert "24 hours" in by_index[3].reason and "30 days" in by_index[4].reason
    listed = await ingest_stub.ListEvents(pb.ListEventsRequest(app_id=app.app.app_id))
    assert sorted(e.uuid for e in listed.events) == sorted(e["uuid"] for e in good)
    stored = {e.uuid: e for e in listed.events}[good[0]["uuid"]]
    assert stored.ip == "81.2.69.142" and stored.user_agent == "Game/1.0"  # filled from the request
    assert (
        stored.device.idfa == IDFA
        and stored.offset == 211
        and orjson.loads(stored.action_properties_json) == {"level": 3}
    )
    assert {e.action for e in listed.events} == {"level_up", "shop"}


async def test_resent_and_repeated_uuids_are_duplicates_stored_once(app_stub, ingest_server):
    e = event()
    first = await send_json(app_stub, [e, e])
    assert [r.status for r in first.results] == [ACCEPTED, DUPLICATE]
    again = await send_json(app_stub, [e])
    assert [r.status for r in again.results] == [DUPLICATE]
    assert await ingest_server.ctx.pool.fetchval("SELECT count(*) FROM ingest.events") == 1


async def test_same_uuid_at_the_same_moment_on_two_replicas_is_stored_once(settings, app, ingest_server, channels):
    from libs.grpc_server import start_service
    from services.ingest.server import SPEC

    second = await start_service(SPEC, settings, listen="127.0.0.1:0")
    try:
        stubs = [
            ingest_pb2_grpc.IngestServiceStub(channels(s.addr, token=app.app_key)) for s in (ingest_server, second)
        ]
        events = [event() for _ in range(200)]
        results = await asyncio.gather(*(send_json(stubs[i % 2], events) for i in range(6)))
        assert sum(r.accepted for r in results) == 200
        assert sum(r.duplicates for r in results) == 1000
        assert await ingest_server.ctx.pool.fetchval("SELECT count(*) FROM ingest.events") == 200
    finally:
        await second.stop(grace=1)


async def test_app_keys_are_confined_to_their_app(app_stub, links_stub, ingest_server, channels, ingest_stub):
    other = await links_stub.CreateApp(lpb.CreateAppRequest(app=lpb.App(name="Other", platform=lpb.PLATFORM_WEB)))
    resp = await send_json(app_stub, [event(app_id=other.app.app_id)])
    assert resp.results[0].status == REJECTED and resp.results[0].field == "app_id"
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await app_stub.ListEvents(pb.ListEventsRequest())
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    bad = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token="cta_000000000000_wrong"))
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await send_json(bad, [event()])
    assert e.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The account key sends for any of its apps, naming the app per event.
    resp = await send_json(ingest_stub, [event(app_id=other.app.app_id), event()])
    assert [r.status for r in resp.results] == [ACCEPTED, REJECTED]
    assert resp.results[1].field == "app_id"


async def test_another_accounts_app_is_unknown(ingest_server, new_account, app, channels):
    mallory = await new_account("Mallory")
    stub = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=mallory.api_key))
    resp = await send_json(stub, [event(app_id=app.app.app_id)])
    assert resp.results[0].status == REJECTED and resp.results[0].reason == "no such app in this account"
    assert not (await stub.ListEvents(pb.ListEventsRequest(app_id=app.app.app_id))).events


async def test_fixed_action_schemas(app_stub):
    web2 = {
        "bundle_id": "xmas_runes_01", "bundle_package_items": [["xmas_rune_01", "100"]], "bundle_paid_id": "USD_99",
        "bundle_paid_amount": "99", "bundle_paid_currency": "USD", "platform": "Google Play Store", "tx_ref": "0x75",
    }  # fmt: skip
    web3 = {**web2, "bundle_paid_currency": "0xe514d9deb7966c8be0ca922de8a064264ea6bcd4", "platform": "Ronin"}
    error = {"error_level": "Error", "error_code": "E1", "error_message": "m", "error_stacktrace": {}, "metadata": {}}
    cases = [
        (event(action="monetization_web2", action_properties=web2), None),
        (event(action="monetization_web3", action_properties=web3), None),
        (event(action="error", action_properties=error), None),
        (
            event(action="monetization_web2", action_properties={**web2, "bundle_paid_amount": "7,50"}),
            "action_properties.bundle_paid_amount",
        ),
        (
            event(action="monetization_web2", action_properties={**web2, "bundle_paid_currency": "dollars"}),
            "action_properties.bundle_paid_currency",
        ),
        (
            event(action="monetization_web2", action_properties={k: v for k, v in web2.items() if k != "tx_ref"}),
            "action_properties.tx_ref",
        ),
        (
            event(action="monetization_web3", action_properties={**web3, "bundle_package_items": "lots"}),
            "action_properties.bundle_package_items",
        ),
        (event(action="error", action_properties={**error, "metadata": "x"}), "action_properties.metadata"),
        (event(action="error", action_properties={**error, "error_code": 7}), "action_properties.error_code"),
    ]
    resp = await send_json(app_stub, [c[0] for c in cases])
    for (_, field), result in zip(cases, resp.results, strict=True):
        assert (result.field or None) == field, result


async def test_limits(app_stub):
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await send_json(app_stub, [event() for _ in range(1001)])
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "1000" in e.value.details()
    huge = event(action_properties={"blob": "x" * 20000})
    deep = event(action_properties={"a": {"b": {"c": {"d": {"e": {"f": {"g": 1}}}}}}})
    resp = await send_json(app_stub, [huge, deep, event()])
    assert [r.status for r in resp.results] == [REJECTED, REJECTED, ACCEPTED]
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await app_stub.SendEventsJson(pb.SendEventsJsonRequest(body=b"{not json"))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "JSON" in e.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await app_stub.SendEventsJson(pb.SendEventsJsonRequest(body=b'{"events": 5}'))
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bomb = gzip.compress(b"[" + b" " * (20 * 1024 * 1024) + b"]")
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await app_stub.SendEventsJson(pb.SendEventsJsonRequest(body=bomb, gzip=True))
    assert e.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    ok = await app_stub.SendEventsJson(
        pb.SendEventsJsonRequest(body=gzip.compress(orjson.dumps({"events": [event()]})), gzip=True)
    )
    assert ok.accepted == 1


async def test_typed_grpc_events(ingest_stub, app):
    ts = Timestamp()
    ts.FromDatetime(dt.datetime.now(dt.UTC))
    events = [
        pb.Event(uuid=str(uuid.uuid4()), event=pb.EVENT_TYPE_INSTALL, timestamp=ts, app_id=app.app.app_id,
                 click_id="01abc",
                 device=pb.Device(gaid="38400000-8cf0-11bd-b23e-10b96e40000d", platform=pb.DEVICE_PLATFORM_ANDROID)),
        pb.Event(uuid=str(uuid.uuid4()), event=pb.EVENT_TYPE_TRACK, timestamp=ts, app_id=app.app.app_id, action="buy",
                 action_properties_json="{broken"),
        pb.Event(uuid=str(uuid.uuid4()), timestamp=ts, app_id=app.app.app_id),
    ]  # fmt: skip
    resp = await ingest_stub.SendEvents(pb.SendEventsRequest(events=events))
    assert [(r.status, r.field) for r in resp.results] == [
        (ACCEPTED, ""),
        (REJECTED, "action_properties_json"),
        (REJECTED, "event"),
    ]
    stored = (
        await ingest_stub.ListEvents(pb.ListEventsRequest(device_id="38400000-8CF0-11BD-B23E-10B96E40000D"))
    ).events
    assert [(e.event, e.click_id) for e in stored] == [(pb.EVENT_TYPE_INSTALL, "01abc")]


async def test_first_seen_keeps_the_earliest_time(app_stub, ingest_server, app):
    early = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    await send_json(app_stub, [event(user_id="u-9", timestamp=dt.datetime.now(dt.UTC).isoformat())])
    await send_json(app_stub, [event(user_id="u-9", timestamp=early.isoformat())])
    await send_json(app_stub, [event(user_id="u-9", timestamp=(early + dt.timedelta(hours=1)).isoformat())])
    rows = await ingest_server.ctx.pool.fetch(
        "SELECT kind, id, first_time FROM ingest.first_seen WHERE id IN ('u-9', $1)", IDFA
    )
    assert {(r["kind"], r["id"]) for r in rows} == {(1, "u-9"), (2, IDFA)}
    assert all(abs(r["first_time"] - early) < dt.timedelta(milliseconds=1) for r in rows)


async def test_list_events_paginates_newest_first(app_stub, ingest_stub, app):
    sent = []
    for _ in range(5):
        batch = [event(user_id="pager") for _ in range(3)]
        await send_json(app_stub, batch)
        sent += [e["uuid"] for e in batch]
    seen, token = [], ""
    while True:
        resp = await ingest_stub.ListEvents(pb.ListEventsRequest(user_id="pager", page_size=4, page_token=token))
        seen += [e.uuid for e in resp.events]
        token = resp.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(sent) and len(seen) == 15
    times = [
        e.receive_time.ToDatetime()
        for e in (await ingest_stub.ListEvents(pb.ListEventsRequest(user_id="pager"))).events
    ]
    assert times == sorted(times, reverse=True)


async def test_every_accepted_event_is_handed_off_exactly_once(app_stub, ingest_server):
    sent = [event() for _ in range(300)]
    results = await asyncio.gather(*(send_json(app_stub, sent[i : i + 30] + sent[:2]) for i in range(0, 300, 30)))
    assert sum(r.accepted for r in results) == 300
    handed: list[str] = []

    async def handler(job):
        handed.extend(e.event_uuid for e in event_handoff.decode(job.payload).events)

    consumer = Consumer(ingest_server.ctx.pool, EVENT_QUEUE, handler=handler, batch_size=1000)
    while await consumer.run_once():
        pass
    assert sorted(handed) == sorted(e["uuid"] for e in sent)
