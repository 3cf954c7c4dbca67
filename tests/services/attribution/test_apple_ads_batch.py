"""Apple Ads tokens resolved a claim at a time (services/attribution/apple_ads.py's
batch handler): many installs with tokens at once, Apple asked about them
concurrently (each token once), and every install, lookup, moved conversion and
outbound event ends up as its own answer says, however the answers are mixed in
the claim. Apple's side is tests/support/apple_ads_standin.py (it cites Apple's
documentation of the answers), here answering after a short delay so that the
calls' overlap is visible."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from clicktrail.attribution.v1 import apple_ads_pb2 as pb

from libs import postback_handoff
from services.attribution.apple_ads import APPLE_ADS_QUEUE
from tests.services.attribution.engine_support import conversions, drained, installs, send
from tests.services.attribution.test_apple_ads import Setup, apple_stub, ios_event, setup  # noqa: F401 (fixtures)
from tests.support import apple_ads_standin as apple
from tests.support.apple_ads_standin import AppleAdsStandin
from tests.support.wait import wait_until

MATCH_ORGANIC, MATCH_APPLE_ADS = 4, 5
N = 24


class SlowStandin(AppleAdsStandin):
    """Apple's stand-in answering each call 0.2 s late, counting the calls in flight at once."""

    def __init__(self) -> None:
        super().__init__()
        self.inflight = 0
        self.max_inflight = 0

    async def _handle(self, request: web.Request) -> web.Response:
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        try:
            await asyncio.sleep(0.2)
            return await super()._handle(request)
        finally:
            self.inflight -= 1


@pytest.fixture
async def standin():
    s = await SlowStandin().start()
    yield s
    await s.stop()


@pytest.fixture
def settings(settings, standin):
    return dataclasses.replace(settings, apple_ads_url=standin.url, apple_ads_retry_s=0.2)


async def test_a_claim_of_mixed_answers_is_applied_install_by_install(
    setup: Setup, apple_stub: Any, ingest_stub: Any, attribution_stub: Any, standin: SlowStandin, settings: Any,  # noqa: F811
) -> None:  # fmt: skip
    app_id, mapped, default = setup.app_id, setup.apple, setup.default
    # Four kinds of answer, interleaved: mapped campaign, unmapped (the default), attribution false, invalid.
    replies = [apple.attributed(), apple.attributed(999), apple.NOT_ATTRIBUTED, apple.INVALID]
    expect = [
        (pb.APPLE_ADS_OUTCOME_CREDITED, MATCH_APPLE_ADS, mapped.campaign_id),
        (pb.APPLE_ADS_OUTCOME_CREDITED, MATCH_APPLE_ADS, default.campaign_id),
        (pb.APPLE_ADS_OUTCOME_NOT_ATTRIBUTED, MATCH_ORGANIC, ""),
        (pb.APPLE_ADS_OUTCOME_INVALID_TOKEN, MATCH_ORGANIC, ""),
    ]
    tokens = [standin.answer(f"tok-batch-{i}", replies[i % 4]) for i in range(N)]
    events, purchases = [], []
    for i, token in enumerate(tokens):
        install = ios_event(app_id, "install", idfv=str(uuid.uuid4()), adservices_token=token, user_id=f"p{i}")
        events.append(install)
        if i % 3 == 0:  # a purchase of every third person, credited organic first
            purchases.append(ios_event(app_id, "track", idfv=install.device.idfv, action="purchase",
                                       user_id=f"p{i}", props={"revenue": "2.50", "currency": "USD"}))  # fmt: skip
    await send(ingest_stub, *events, *purchases)
    await drained(settings)
    ids = {i.event_uuid: i.install_id for i in await installs(attribution_stub)}
    assert len(ids) == N

    async def all_resolved() -> dict[str, pb.AppleAdsLookup]:
        got = await apple_stub.ListAppleAdsLookups(pb.ListAppleAdsLookupsRequest(page_size=100))
        assert len(got.lookups) == N, len(got.lookups)
        return {lk.install_id: lk for lk in got.lookups}

    lookups = await wait_until(all_resolved, "every token resolved", timeout_s=60)
    assert all(standin.calls_of(t) == 1 for t in tokens), standin.calls  # each token asked once
    assert standin.max_inflight > 1  # asked together, not one after another

    got = {i.install_id: i for i in await installs(attribution_stub)}
    bought = {p.user_id for p in purchases}
    convs = {c.user_id: c for c in await conversions(attribution_stub)}
    assert set(convs) == bought
    for n, ev in enumerate(events):
        outcome, match, campaign = expect[n % 4]
        i, lk = got[ids[ev.uuid]], lookups[ids[ev.uuid]]
        assert (lk.outcome, i.match_type, i.campaign_id) == (outcome, match, campaign), (n, lk, i)
        if outcome == pb.APPLE_ADS_OUTCOME_CREDITED:
            assert (lk.previous_match_type, lk.previous_campaign_id) == (MATCH_ORGANIC, "")
            assert i.partner_id == mapped.partner_id
            assert i.apple_ads_campaign_id == (apple.CAMPAIGN_ID if n % 4 == 0 else 999)
            assert lk.conversions_moved == (1 if ev.user_id in bought else 0), (n, lk)
        if ev.user_id in bought:  # the purchase follows its own install, no other
            assert convs[ev.user_id].campaign_id == campaign, (n, convs[ev.user_id])

    # The outbound events: each credited install and each moved purchase, once, with its new campaign.
    conn = await asyncpg.connect(settings.database_url)
    try:
        payloads = await conn.fetch("SELECT payload FROM queue.jobs WHERE queue = $1", postback_handoff.POSTBACK_QUEUE)
        left = await conn.fetchval("SELECT count(*) FROM queue.jobs WHERE queue = $1", APPLE_ADS_QUEUE)
    finally:
        await conn.close()
    assert left == 0
    sent = [postback_handoff.fields(postback_handoff.decode(bytes(r["payload"]))) for r in payloads]
    # (A conversion's event id may carry its status: "<conversion id>:<status>".)
    apple_events = sorted((e["event_id"].split(":")[0], e["campaign_id"]) for e in sent if e["campaign_id"])
    credited = [n for n in range(N) if expect[n % 4][0] == pb.APPLE_ADS_OUTCOME_CREDITED]
    want = [(ids[events[n].uuid], expect[n % 4][2]) for n in credited]
    moved = [n for n in credited if events[n].user_id in bought]
    want += [(convs[events[n].user_id].conversion_id, expect[n % 4][2]) for n in moved]
    assert apple_events == sorted(want)
