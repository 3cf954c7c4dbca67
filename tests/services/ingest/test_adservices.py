"""Ingest of the two app-campaign event fields (issue 22), against real Postgres
and real gRPC servers: ``adservices_token`` (install events on iOS 14.3+, the
token AAAttribution.attributionToken() gives) and ``app_instance_id`` (the
Firebase app instance id). Validated naming the field without costing the rest
of the batch, stored, handed to attribution, and cleared by a GDPR erasure.

The token's form: Apple documents it as a Base64 string with a 24-hour TTL, sent
as the text/plain body of ``POST https://api-adservices.apple.com/api/v1/``
(Apple's AAAttribution.attributionToken() page, quoted at
https://pub-web-s1.flutter-io.cn/documentation/pp_asa_attribution/latest , whose
sample token the test sends)."""

from __future__ import annotations

import datetime as dt
import uuid

import asyncpg
import orjson
import pytest
from clicktrail.ingest.v1 import ingest_pb2 as pb
from clicktrail.ingest.v1 import ingest_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb

from libs import event_handoff
from libs.auth import GATEWAY_VOUCH_HEADER
from libs.event_handoff import EVENT_QUEUE
from libs.privacy import Subject
from libs.queue import Consumer
from services.ingest import privacy as ingest_privacy
from tests.conftest import GATEWAY_TOKEN

ACCEPTED, REJECTED = pb.EVENT_STATUS_ACCEPTED, pb.EVENT_STATUS_REJECTED
# Apple's sample token (Base64, from the AAAttribution.attributionToken() documentation), without its line breaks.
APPLE_SAMPLE_TOKEN = (
    "G9i5hC8lQJeGOfmS+MFycll/025oJEjtpZ+rs4AUkDEJh52fT8RrjwIR/h+2JOpXz4MRdmtcemL8WTTHfNN52tjqjbWupke40AAAAVADAAAAvQ"
    "AAAIAgQF1+XF4Tl2IZ7Bw/M6ufUHt+UcIhuBeJT8YenB2v36bnZKEjvq/IH8rqXkRELTHdyiqOYtpy837+UjF/NjE6t1/l7sIn71b0t3FEXJd8"
    "QOtl3Bi6iQyJgGeN8w8X0MK1PDqz9nLJtRD/wl+p112qR2YrMDyyKnwNrbfRhnGB9AAAAB7wAXlwNHelWf5RT2bzSJcGflqELMCGoDEHIl7jF6k"
    "AAACfAb9ylY8ffdbTlyJODQYQ/6V9qbaBAAAAhgUBW39MQI1A0SZgNmZFz4KPaF94BxBzd4rDkjr/eSeuaXWCmEW3ZhBzE/MOM17hAPBVlDhTPc"
    "Z/2ybr3WYIkfb+AAg/7jxGpDXgTtco3fzTytnZpEaI5SenXHALIexQAUTBsfBW2HCMQuTRo+7anoWkf69656ZAWcSc3DEQ1CAkUSKO9X7iAAABBE"
    "QQBQA="
)
INSTANCE_ID = "5D8E3A61C4B0F2A9E7D6C5B4A3928170"
IDFV = "0E7C55C2-6A4B-4D8E-9A41-3F3F5B8E9D10"


def install(**kw) -> dict:
    ev = {"uuid": str(uuid.uuid4()), "event": "install", "timestamp": dt.datetime.now(dt.UTC).isoformat(),
          "device": {"idfv": IDFV, "platform": "ios"}}  # fmt: skip
    ev.update(kw)
    return ev


@pytest.fixture
async def app(links_stub):
    return await links_stub.CreateApp(
        lpb.CreateAppRequest(app=lpb.App(name="Game", platform=lpb.PLATFORM_IOS, bundle_id="com.acme.game"))
    )


async def send(stub, events) -> pb.SendEventsJsonResponse:
    return await stub.SendEventsJson(
        pb.SendEventsJsonRequest(body=orjson.dumps({"events": events}), client_ip="81.2.70.5"),
        metadata=((GATEWAY_VOUCH_HEADER, GATEWAY_TOKEN),),
    )


async def listed(ingest_stub, app) -> dict[str, pb.Event]:
    events = (await ingest_stub.ListEvents(pb.ListEventsRequest(app_id=app.app.app_id))).events
    return {e.uuid: e for e in events}


async def handed_off(pool) -> dict[str, dict]:
    handed: dict[str, dict] = {}

    async def take(job):
        for row in event_handoff.decode_fields(job.payload):
            handed[row["event_uuid"]] = row

    consumer = Consumer(pool, EVENT_QUEUE, handler=take, batch_size=100)
    while await consumer.run_once():
        pass
    return handed


async def test_token_and_instance_id_are_stored_and_handed_to_attribution(ingest_server, ingest_stub, app, channels):
    sdk = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app.app_key))
    good = install(adservices_token=APPLE_SAMPLE_TOKEN, app_instance_id=INSTANCE_ID)
    track = {**install(adservices_token=APPLE_SAMPLE_TOKEN, app_instance_id=INSTANCE_ID.lower()), "event": "track",
             "action": "level_up"}  # fmt: skip
    bad = [
        install(adservices_token="x" * 4097),  # too long
        install(adservices_token="token\x01with a control character"),
        install(adservices_token=12345),
        install(app_instance_id="not-hex-" + "0" * 24),
        install(app_instance_id=INSTANCE_ID[:31]),
        install(app_instance_id=INSTANCE_ID + "\n"),  # 33 characters: a regex's $ must not let the newline through
    ]
    resp = await send(sdk, [good, track, *bad])
    assert [r.status for r in resp.results] == [ACCEPTED, ACCEPTED] + [REJECTED] * 6, resp
    assert [r.field for r in resp.results[2:]] == ["adservices_token"] * 3 + ["app_instance_id"] * 3
    assert "4096" in resp.results[2].reason and "printable" in resp.results[3].reason
    assert "32 hex" in resp.results[5].reason

    got = await listed(ingest_stub, app)
    assert got[good["uuid"]].adservices_token == APPLE_SAMPLE_TOKEN
    assert got[good["uuid"]].app_instance_id == INSTANCE_ID.lower()  # one spelling, as Firebase gives it
    # Only an install carries a token (Apple's answer is about the install); any event its instance id.
    assert got[track["uuid"]].adservices_token == "" and got[track["uuid"]].app_instance_id == INSTANCE_ID.lower()

    # Typed gRPC events carry them too.
    typed = pb.Event(uuid=str(uuid.uuid4()), event=pb.EVENT_TYPE_INSTALL, app_id=app.app.app_id,
                     adservices_token=APPLE_SAMPLE_TOKEN, app_instance_id=INSTANCE_ID)  # fmt: skip
    typed.timestamp.FromDatetime(dt.datetime.now(dt.UTC))
    typed.device.idfv, typed.device.platform = IDFV, pb.DEVICE_PLATFORM_IOS
    bad_typed = pb.Event(uuid=str(uuid.uuid4()), event=pb.EVENT_TYPE_INSTALL, app_id=app.app.app_id,
                         app_instance_id="zz")  # fmt: skip
    bad_typed.timestamp.FromDatetime(dt.datetime.now(dt.UTC))
    resp2 = await ingest_stub.SendEvents(pb.SendEventsRequest(events=[typed, bad_typed]))
    assert (resp2.accepted, resp2.rejected, resp2.results[1].field) == (1, 1, "app_instance_id")

    handed = await handed_off(ingest_server.ctx.pool)
    assert handed[good["uuid"]]["adservices_token"] == APPLE_SAMPLE_TOKEN
    assert handed[good["uuid"]]["app_instance_id"] == INSTANCE_ID.lower()
    assert handed[typed.uuid]["adservices_token"] == APPLE_SAMPLE_TOKEN
    assert handed[track["uuid"]]["adservices_token"] is None


async def test_the_tracking_status_and_app_version_are_stored_listed_and_handed_to_attribution(
    ingest_server, ingest_stub, app, channels
):
    """device.tracking_status: iOS ATT (ATTrackingManager.trackingAuthorizationStatus's
    authorized / denied / restricted / notDetermined) or Android's limit ad tracking
    (off: authorized, on: denied); a wrong value is refused naming the field, alone."""
    sdk = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app.app_key))

    def with_status(status: object) -> dict:
        return install(device={"idfv": IDFV, "platform": "ios", "tracking_status": status})

    sent = {name: with_status(name) for name in ("authorized", "denied", "restricted", "not_determined")}
    unsaid, upper = install(), with_status("Denied")
    bad = [with_status("allowed"), with_status(1), with_status("tracking_status_denied ")]
    resp = await send(sdk, [*sent.values(), unsaid, upper, *bad])
    assert [r.status for r in resp.results] == [ACCEPTED] * 6 + [REJECTED] * 3, resp
    assert {r.field for r in resp.results[6:]} == {"device.tracking_status"}
    assert "authorized, denied, restricted or not_determined" in resp.results[6].reason

    got = await listed(ingest_stub, app)
    assert {name: got[ev["uuid"]].device.tracking_status for name, ev in sent.items()} == {
        "authorized": pb.TRACKING_STATUS_AUTHORIZED, "denied": pb.TRACKING_STATUS_DENIED,
        "restricted": pb.TRACKING_STATUS_RESTRICTED, "not_determined": pb.TRACKING_STATUS_NOT_DETERMINED,
    }  # fmt: skip
    assert got[unsaid["uuid"]].device.tracking_status == pb.TRACKING_STATUS_UNSPECIFIED
    assert got[upper["uuid"]].device.tracking_status == pb.TRACKING_STATUS_DENIED

    typed = pb.Event(uuid=str(uuid.uuid4()), event=pb.EVENT_TYPE_INSTALL, app_id=app.app.app_id)
    typed.timestamp.FromDatetime(dt.datetime.now(dt.UTC))
    typed.device.idfv, typed.device.platform = IDFV, pb.DEVICE_PLATFORM_IOS
    typed.device.tracking_status = pb.TRACKING_STATUS_RESTRICTED
    assert (await ingest_stub.SendEvents(pb.SendEventsRequest(events=[typed]))).accepted == 1

    # The app's version: any event, at most 64 characters.
    versioned, too_long = install(app_version="2.4.0 (1187)"), install(app_version="9" * 65)
    resp = await send(sdk, [versioned, too_long])
    assert [(r.status, r.field) for r in resp.results] == [(ACCEPTED, ""), (REJECTED, "app_version")], resp
    assert (await listed(ingest_stub, app))[versioned["uuid"]].app_version == "2.4.0 (1187)"

    handed = await handed_off(ingest_server.ctx.pool)
    assert handed[versioned["uuid"]]["app_version"] == "2.4.0 (1187)"
    assert handed[sent["denied"]["uuid"]]["tracking_status"] == pb.TRACKING_STATUS_DENIED
    assert handed[typed.uuid]["tracking_status"] == pb.TRACKING_STATUS_RESTRICTED
    assert not handed[unsaid["uuid"]]["tracking_status"]


async def test_an_erasure_clears_the_token_and_the_instance_id(ingest_server, app, channels, settings, account):
    sdk = ingest_pb2_grpc.IngestServiceStub(channels(ingest_server.addr, token=app.app_key))
    mine = install(user_id="player-42", adservices_token=APPLE_SAMPLE_TOKEN, app_instance_id=INSTANCE_ID)
    other = install(user_id="player-7", adservices_token=APPLE_SAMPLE_TOKEN, app_instance_id=INSTANCE_ID,
                    device={"idfv": str(uuid.uuid4()), "platform": "ios"})  # fmt: skip
    assert (await send(sdk, [mine, other])).accepted == 2
    conn = await asyncpg.connect(settings.database_url)
    try:
        who = Subject(user_ids={"player-42"}, device_ids=set(), click_ids=set(), pseudonym="erased:abcdef0123456789")
        async with conn.transaction():
            found = await ingest_privacy.erase(conn, account.account_id, who, True)
        assert found.rows["ingest.events"] == 1
        rows = {
            str(r["event_uuid"]): r
            for r in await conn.fetch("SELECT event_uuid, adservices_token, app_instance_id FROM ingest.events")
        }
    finally:
        await conn.close()
    assert (rows[mine["uuid"]]["adservices_token"], rows[mine["uuid"]]["app_instance_id"]) == (None, None)
    assert rows[other["uuid"]]["adservices_token"] == APPLE_SAMPLE_TOKEN  # a bystander keeps theirs


def test_an_erased_queued_event_loses_them_too() -> None:
    ev: dict[str, object] = {c: None for c in event_handoff.COLUMNS}
    ev.update(user_id="player-42", adservices_token=APPLE_SAMPLE_TOKEN, app_instance_id=INSTANCE_ID.lower())
    event_handoff.erase_event(ev, "erased:abcdef0123456789")
    assert (ev["adservices_token"], ev["app_instance_id"]) == (None, None)
