"""Apple Ads: the not-ready (404) retries counted apart from the 5xx ones, and an
install waiting for Apple told to one partner only. A real links, ingest,
attribution and postbacks service, a real HTTP sink for the partners' postbacks
(tests/services/postbacks/sink.py) and the stand-in for Apple's attribution API
(tests/support/apple_ads_standin.py, which cites Apple's documentation: "A 404
response can occur if you make an API call too quickly after receiving a valid
token ... retries at intervals of 5 seconds, with a maximum of three attempts",
https://developer.apple.com/documentation/adservices/aaattribution/attributiontoken()
as quoted at https://pub-web-s1.flutter-io.cn/documentation/pp_asa_attribution/latest).

AppsFlyer and Adjust resolve Apple Ads before they attribute an iOS install, so
only the winner's postback goes out; here the fingerprint network's install
postback is held until Apple has answered."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import orjson
import pytest
from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import apple_ads_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb

from libs import postback_handoff
from libs.queue import Job, Outcome, enqueue
from services.attribution.apple_ads import APPLE_ADS_QUEUE, Resolver
from tests.services.attribution.engine_support import (
    Campaign,
    checks_off,
    drained,
    installs,
    make_campaign,
    replay_all,
    send,
    touch,
)
from tests.services.attribution.test_apple_ads import IPHONE_UA, apple_campaign, ios_event, make_ios_app, resolved
from tests.services.postbacks.sink import Sink
from tests.services.postbacks.support import new_template
from tests.support import apple_ads_standin as apple
from tests.support.apple_ads_standin import AppleAdsStandin
from tests.support.wait import wait_until

MATCH_FINGERPRINT, MATCH_APPLE_ADS = 3, 5


@pytest.fixture
def settings(settings: Any, standin: AppleAdsStandin) -> Any:
    """The attribution service asks the stand-in; a 404 is asked again 0.2 s later."""
    return dataclasses.replace(settings, apple_ads_url=standin.url, apple_ads_retry_s=0.2)


@pytest.fixture
def apple_stub(attribution_stub: Any) -> apple_ads_pb2_grpc.AppleAdsServiceStub:
    return apple_ads_pb2_grpc.AppleAdsServiceStub(attribution_stub.channel)


@pytest.fixture
async def sink() -> AsyncIterator[Sink]:
    s = await Sink().start()
    yield s
    await s.close()


@dataclasses.dataclass
class World:
    app_id: str
    apple: Campaign  # the Apple Ads partner's campaign Apple's campaign 542370539 is mapped to
    network: Campaign  # a fingerprinting network's campaign


@pytest.fixture
async def world(links_stub: Any, attribution_stub: Any, apple_stub: Any) -> World:
    await checks_off(attribution_stub, "click_injection")  # installs milliseconds after their clicks
    app_id = await make_ios_app(links_stub)
    partner = (await links_stub.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Apple Ads")))).partner
    mapped = await apple_campaign(links_stub, app_id, partner.partner_id, "ASA brand")
    network = await make_campaign(links_stub, app_id, "Network")
    await apple_stub.UpdateAppleAdsSettings(pb.UpdateAppleAdsSettingsRequest(
        settings=pb.AppleAdsSettings(enabled=True, partner_id=partner.partner_id)
    ))  # fmt: skip
    await apple_stub.CreateAppleAdsMapping(pb.CreateAppleAdsMappingRequest(
        mapping=pb.AppleAdsMapping(apple_campaign_id=apple.CAMPAIGN_ID, campaign_id=mapped.campaign_id)
    ))  # fmt: skip
    return World(app_id, mapped, network)


async def install_id_of(attribution_stub: Any, event_uuid: str) -> str:
    return next(i.install_id for i in await installs(attribution_stub) if i.event_uuid == event_uuid)


async def test_not_ready_answers_are_counted_apart_from_server_errors(
    world: World, standin: AppleAdsStandin, ingest_stub: Any, attribution_stub: Any, apple_stub: Any, settings: Any,
) -> None:  # fmt: skip
    # A 500 first, then Apple's three not-ready retries, then the answer: credited (before the fix the 500
    # used up one of the three and the third 404 was recorded "not found").
    late = standin.answer("tok-late", apple.DOWN, apple.NOT_READY, apple.NOT_READY, apple.NOT_READY,
                          apple.attributed())  # fmt: skip
    # A 500, then 404 for good: not found after the first 404 and its three retries, not sooner.
    gone = standin.answer("tok-gone", apple.DOWN, apple.NOT_READY)
    events = {t: ios_event(world.app_id, "install", idfv=str(uuid.uuid4()), adservices_token=t) for t in (late, gone)}
    await send(ingest_stub, *events.values())
    await drained(settings)
    ids = {t: await install_id_of(attribution_stub, e.uuid) for t, e in events.items()}
    got = {t: await resolved(settings, apple_stub, ids[t]) for t in events}

    assert got[late].outcome == pb.APPLE_ADS_OUTCOME_CREDITED, got[late]
    assert (got[late].campaign_id, standin.calls_of(late), got[late].attempts) == (world.apple.campaign_id, 5, 5)
    assert got[late].reason == "Apple: attribution true; 3 not-ready answers (HTTP 404)"
    assert got[gone].outcome == pb.APPLE_ADS_OUTCOME_NOT_FOUND, got[gone]
    assert (standin.calls_of(gone), got[gone].attempts) == (5, 5)  # the 500, the first 404 and three retries
    assert got[gone].reason.endswith("; 4 not-ready answers (HTTP 404)"), got[gone].reason


async def test_an_install_waiting_for_apple_is_told_to_one_partner_once(
    world: World, standin: AppleAdsStandin, gateway_links_stub: Any, ingest_stub: Any, attribution_stub: Any,
    apple_stub: Any, postbacks_stub: Any, sink: Sink, settings: Any, account: Any,
) -> None:  # fmt: skip
    url = sink.base + "/{path}?e={event_id}&c={campaign_id}"
    await new_template(postbacks_stub, world.network.partner_id, url.replace("{path}", "net"))
    await new_template(postbacks_stub, world.apple.partner_id, url.replace("{path}", "asa"))
    won = standin.answer("tok-won", apple.attributed())
    lost = standin.answer("tok-lost", apple.NOT_ATTRIBUTED)
    events = {}
    for token, ip in ((won, "81.2.69.50"), (lost, "81.2.69.51")):  # each matched by fingerprint to the network
        await touch(gateway_links_stub, world.network, ip=ip, ua=IPHONE_UA)
        events[token] = ios_event(world.app_id, "install", idfv=str(uuid.uuid4()), ip=ip, adservices_token=token)
    await send(ingest_stub, *events.values())
    await drained(settings)
    ids = {t: await install_id_of(attribution_stub, e.uuid) for t, e in events.items()}
    assert (await resolved(settings, apple_stub, ids[won])).outcome == pb.APPLE_ADS_OUTCOME_CREDITED
    assert (await resolved(settings, apple_stub, ids[lost])).outcome == pb.APPLE_ADS_OUTCOME_NOT_ATTRIBUTED
    assert {i.install_id: i.match_type for i in await installs(attribution_stub)} == {
        ids[won]: MATCH_APPLE_ADS, ids[lost]: MATCH_FINGERPRINT,
    }  # fmt: skip

    conn = await asyncpg.connect(settings.database_url)
    try:

        async def all_sent() -> list[tuple[str, str, str]]:
            # Every outbound event handed over and every delivery finished.
            left = await conn.fetchval(
                "SELECT count(*) FROM queue.jobs WHERE NOT dead"
                " AND queue IN ('postbacks.events', 'postbacks.deliveries')"
            )
            hits = sorted((h.target.split("?")[0], h.query["e"], h.query["c"]) for h in sink.hits)
            assert left == 0 and len(hits) >= 2, (left, hits)
            return hits

        expected = [("/asa", ids[won], world.apple.campaign_id), ("/net", ids[lost], world.network.campaign_id)]
        assert await wait_until(all_sent, "the install postbacks delivered", timeout_s=30) == expected

        # Replayed: the events handed to attribution again and the Apple jobs again, with a held event of
        # another id (were it sent, the network's sink would see it: deliveries are unique per event id).
        await replay_all(settings, account.account_id)
        async with conn.transaction():
            replays = [
                orjson.dumps(
                    {
                        "install_id": ids[t],
                        "token": t,
                        "install_event": {
                            "kind": "install",
                            "account_id": account.account_id,
                            "event_id": ids[t] + "-replayed",
                            "attributed": True,
                            "campaign_id": world.network.campaign_id,
                            "partner_id": world.network.partner_id,
                            "event": "install",
                            "app_id": world.app_id,
                        },
                    }
                )
                for t in (won, lost)
            ]
            await enqueue(conn, APPLE_ADS_QUEUE, replays, account_ids=[account.account_id] * 2)
        await drained(settings)

        async def apple_queue_empty() -> bool:
            return await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = $1", APPLE_ADS_QUEUE) == 0

        await wait_until(apple_queue_empty, "the replayed Apple jobs done")
        assert await wait_until(all_sent, "nothing more to deliver") == expected
        assert await conn.fetchval("SELECT count(*) FROM attribution.apple_ads_lookups") == 2
    finally:
        await conn.close()
    assert (standin.calls_of(won), standin.calls_of(lost)) == (1, 1)  # Apple not asked again
    got = (await postbacks_stub.ListDeliveries(ppb.ListDeliveriesRequest(page_size=100))).deliveries
    assert len(got) == 2


async def test_a_token_given_up_releases_the_install_postback_it_held(
    world: World, standin: AppleAdsStandin, gateway_links_stub: Any, ingest_stub: Any, attribution_stub: Any,
    apple_stub: Any, postbacks_stub: Any, sink: Sink, settings: Any,
) -> None:  # fmt: skip
    """A job that fails every attempt ends as a dead letter (the queue's contract). Its install's
    postback, held for Apple's answer, then goes out as the engine matched it, once, and the
    lookup says why; before, the postback waited for good."""
    await new_template(postbacks_stub, world.network.partner_id, sink.base + "/net?e={event_id}&c={campaign_id}")
    token = standin.answer("tok-never", apple.DOWN)  # Apple down on every attempt: retried, never resolved
    ip = "81.2.69.60"
    await touch(gateway_links_stub, world.network, ip=ip, ua=IPHONE_UA)  # the fingerprint match
    event = ios_event(world.app_id, "install", idfv=str(uuid.uuid4()), ip=ip, adservices_token=token)
    await send(ingest_stub, event)
    await drained(settings)
    install_id = await install_id_of(attribution_stub, event.uuid)
    conn = await asyncpg.connect(settings.database_url)
    try:

        async def asked_once() -> bool:
            assert standin.calls_of(token) >= 1
            return True

        await wait_until(asked_once, "Apple asked about the token")
        assert sink.hits == []  # held for Apple's answer
        # The consumer's finish of a job whose last attempt failed (libs/queue/consumer.py): the
        # hook in the same transaction, then the dead flag. The row is locked, so the resolver
        # (FOR UPDATE SKIP LOCKED) cannot claim it meanwhile.
        async with conn.transaction():
            row = await conn.fetchrow(
                "SELECT job_id, queue, account_id, payload, attempts, max_attempts, create_time FROM queue.jobs"
                " WHERE queue = $1 FOR UPDATE",
                APPLE_ADS_QUEUE,
            )
            job = Job(**dict(row))
            await Resolver.on_finish(conn, [Outcome(job, ConnectionResetError("the database went away"), True, 0.0)])
            await conn.execute("UPDATE queue.jobs SET dead = true WHERE job_id = $1", job.job_id)

        [lookup] = (await apple_stub.ListAppleAdsLookups(pb.ListAppleAdsLookupsRequest(install_id=install_id))).lookups
        assert lookup.outcome == pb.APPLE_ADS_OUTCOME_UNAVAILABLE
        assert lookup.reason == f"given up after {job.attempts} attempts: ConnectionResetError: the database went away"
        assert {i.install_id: i.match_type for i in await installs(attribution_stub)} == {install_id: MATCH_FINGERPRINT}

        async def sent() -> list[tuple[str, str, str]]:
            hits = sorted((h.target.split("?")[0], h.query["e"], h.query["c"]) for h in sink.hits)
            assert hits, "no postback yet"
            return hits

        assert await wait_until(sent, "the held install postback delivered", timeout_s=30) == [
            ("/net", install_id, world.network.campaign_id)
        ]
        # Given up twice (a second finish of the same dead letter): nothing more is recorded or sent
        # (one snapshot: the postbacks service taking jobs meanwhile cannot hide a new one).
        count_events = "SELECT count(*) FROM queue.jobs WHERE queue = $1"
        async with conn.transaction(isolation="repeatable_read"):
            before = await conn.fetchval(count_events, postback_handoff.POSTBACK_QUEUE)
            await Resolver.on_finish(conn, [Outcome(job, ConnectionResetError("again"), True, 0.0)])
            assert await conn.fetchval(count_events, postback_handoff.POSTBACK_QUEUE) == before
        assert await conn.fetchval("SELECT count(*) FROM attribution.apple_ads_lookups") == 1
    finally:
        await conn.close()
