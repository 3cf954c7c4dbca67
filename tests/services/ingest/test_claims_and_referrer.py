"""Ingest and traffic quality, against real Postgres and real gRPC servers: an
SDK event (app key, through the gateway) is stored with its connection's IP and
User-Agent and its different claims kept apart; install events take the Play
install-referrer timestamps."""

from __future__ import annotations

import datetime as dt
import uuid

import orjson
import pytest
from clicktrail.ingest.v1 import ingest_pb2 as pb
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from libs import event_handoff
from libs.auth import GATEWAY_VOUCH_HEADER
from libs.event_handoff import EVENT_QUEUE
from libs.queue import Consumer
from tests.conftest import GATEWAY_TOKEN

ACCEPTED, REJECTED = pb.EVENT_STATUS_ACCEPTED, pb.EVENT_STATUS_REJECTED
WEBVIEW = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile"
DALVIK = "Dalvik/2.1.0 (Linux; U; Android 14; Pixel 8 Build/UQ1A.240105.004)"


def install(**kw) -> dict:
    ev = {"uuid": str(uuid.uuid4()), "event": "install", "timestamp": dt.datetime.now(dt.UTC).isoformat(),
          "device": {"gaid": str(uuid.uuid4()), "platform": "android"}}  # fmt: skip
    ev.update(kw)
    return ev


@pytest.fixture
async def app(links_stub):
    return await links_stub.CreateApp(
        lpb.CreateAppRequest(app=lpb.App(name="Game", platform=lpb.PLATFORM_ANDROID, bundle_id="com.acme.game"))
    )


async def send(stub, events, vouch: str = GATEWAY_TOKEN, **kw) -> pb.SendEventsJsonResponse:
    """SendEventsJson as the gateway calls it: it vouches (its token) for the client address it names."""
    metadata = ((GATEWAY_VOUCH_HEADER, vouch),) if vouch else ()
    return await stub.SendEventsJson(
        pb.SendEventsJsonRequest(body=orjson.dumps({"events": events}), **kw), metadata=metadata
    )


async def listed(ingest_stub, app) -> dict[str, pb.Event]:
    events = (await ingest_stub.ListEvents(pb.ListEventsRequest(app_id=app.app.app_id))).events
    return {e.uuid: e for e in events}


async def test_sdk_events_keep_the_connection_and_the_claims_apart(ingest_server, ingest_stub, app, channels):
    sdk = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app.app_key))
    claims = install(ip="81.2.69.77", user_agent=WEBVIEW)
    same = install(ip="81.2.70.5", user_agent=DALVIK)
    bare = install()
    resp = await send(sdk, [claims, same, bare], client_ip="81.2.70.5", client_user_agent=DALVIK)
    assert resp.accepted == 3, resp
    got = await listed(ingest_stub, app)
    e = got[claims["uuid"]]
    assert (e.ip, e.user_agent, e.claimed_ip, e.claimed_user_agent) == ("81.2.70.5", DALVIK, "81.2.69.77", WEBVIEW)
    for ev in (same, bare):  # nothing claimed, or the same as the connection: nothing kept apart
        e = got[ev["uuid"]]
        assert (e.ip, e.user_agent, e.claimed_ip, e.claimed_user_agent) == ("81.2.70.5", DALVIK, "", "")

    # A back end with the account key speaks for its users: its ip / user_agent are kept as sent.
    s2s = install(ip="81.2.69.77", user_agent=WEBVIEW, app_id=app.app.app_id)
    assert (await send(ingest_stub, [s2s], client_ip="198.51.100.1", client_user_agent="curl/8.5")).accepted == 1
    e = (await listed(ingest_stub, app))[s2s["uuid"]]
    assert (e.ip, e.user_agent, e.claimed_ip) == ("81.2.69.77", WEBVIEW, "")
    # A claimed address is still checked.
    bad = install(ip="not-an-ip")
    [r] = (await send(sdk, [bad], client_ip="81.2.70.5")).results
    assert (r.status, r.field) == (REJECTED, "ip")


async def test_an_app_key_calling_ingest_directly_cannot_choose_its_address(ingest_server, ingest_stub, app, channels):
    """Only the gateway (its token beside the key) may name the client's address: an app key
    calling gRPC itself gets its own connection's, typed events too, and its claims kept apart."""
    sdk = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app.app_key))
    unvouched, wrong = install(ip="81.2.69.77", user_agent=WEBVIEW), install(ip="81.2.69.77", user_agent=WEBVIEW)
    assert (await send(sdk, [unvouched], vouch="", client_ip="81.2.69.77", client_user_agent=WEBVIEW)).accepted == 1
    assert (await send(sdk, [wrong], vouch="forged", client_ip="81.2.69.77", client_user_agent=WEBVIEW)).accepted == 1
    typed = pb.Event(uuid=str(uuid.uuid4()), event=pb.EVENT_TYPE_INSTALL, ip="81.2.69.77", user_agent=WEBVIEW)
    typed.timestamp.FromDatetime(dt.datetime.now(dt.UTC))
    typed.device.gaid, typed.device.platform = str(uuid.uuid4()), pb.DEVICE_PLATFORM_ANDROID
    assert (await sdk.SendEvents(pb.SendEventsRequest(events=[typed]))).accepted == 1
    got = await listed(ingest_stub, app)
    for ev_uuid in (unvouched["uuid"], wrong["uuid"], typed.uuid):
        e = got[ev_uuid]
        assert (e.ip, e.claimed_ip, e.claimed_user_agent) == ("127.0.0.1", "81.2.69.77", WEBVIEW)
        assert e.user_agent.startswith("grpc-python")  # what the connection showed


async def test_install_referrer_timestamps(ingest_server, ingest_stub, app, channels, settings):
    sdk = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app.app_key))
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    begin = int(now.timestamp()) - 120
    epoch = install(install_begin_time=begin, referrer_click_time=str(begin - 30))  # as Play gives them
    iso = install(install_begin_time=(now - dt.timedelta(minutes=1)).isoformat())
    unknown = install(install_begin_time=0, referrer_click_time=0)  # Play's "not available"
    bad = [
        install(install_begin_time="yesterday"),
        install(referrer_click_time=int((now + dt.timedelta(days=2)).timestamp())),
        install(install_begin_time=int((now - dt.timedelta(days=400)).timestamp())),
    ]
    resp = await send(sdk, [epoch, iso, unknown, *bad], client_ip="81.2.70.5")
    assert [r.status for r in resp.results] == [ACCEPTED] * 3 + [REJECTED] * 3
    assert [r.field for r in resp.results[3:]] == ["install_begin_time", "referrer_click_time", "install_begin_time"]
    got = await listed(ingest_stub, app)
    e = got[epoch["uuid"]]
    assert e.install_begin_time.ToDatetime(tzinfo=dt.UTC) == now - dt.timedelta(minutes=2)
    assert e.referrer_click_time.ToDatetime(tzinfo=dt.UTC) == now - dt.timedelta(minutes=2, seconds=30)
    assert got[iso["uuid"]].install_begin_time.ToDatetime(tzinfo=dt.UTC) == now - dt.timedelta(minutes=1)
    assert not got[unknown["uuid"]].HasField("install_begin_time")

    # Typed events carry them too, and the hand-off to attribution has them.
    ev = pb.Event(uuid=str(uuid.uuid4()), event=pb.EVENT_TYPE_INSTALL, app_id=app.app.app_id)
    ev.timestamp.FromDatetime(now)
    ev.install_begin_time.FromDatetime(now - dt.timedelta(seconds=40))
    assert (await ingest_stub.SendEvents(pb.SendEventsRequest(events=[ev]))).accepted == 1
    handed: dict[str, dict] = {}

    async def take(job):
        for row in event_handoff.decode_fields(job.payload):
            handed[row["event_uuid"]] = row

    consumer = Consumer(ingest_server.ctx.pool, EVENT_QUEUE, handler=take, batch_size=100)
    while await consumer.run_once():
        pass
    assert dt.datetime.fromisoformat(handed[ev.uuid]["install_begin_time"]) == now - dt.timedelta(seconds=40)
    assert dt.datetime.fromisoformat(handed[epoch["uuid"]]["referrer_click_time"]) == now - dt.timedelta(
        minutes=2, seconds=30
    )
    assert handed[epoch["uuid"]]["claimed_ip"] is None
