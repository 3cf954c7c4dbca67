"""What the lander click-through changes on its click (review2 H3, M2; review1 #8):
the click's offer is the one the click-through sent the visitor to (what
attribution reads), an operator's overrule moves the lander click's verdict with
the click's, and a campaign paused since the click sends the click-through to its
fallback unrecorded."""

# ruff: noqa: F811 - the world fixture is imported from test_lander_clicks

from __future__ import annotations

import asyncio
import datetime as dt
from urllib.parse import urlsplit

import asyncpg
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.type.v1 import quality_pb2
from google.protobuf.timestamp_pb2 import Timestamp

from tests.services.links.conftest import ANDROID_UA
from tests.services.links.test_lander_clicks import (  # noqa: F401 (the fixture)
    World,
    cap,
    click,
    lander,
    lander_clicks,
    offer,
    stream,
    through,
    world,
)


async def capped_click_through(w: World) -> tuple[str, str, str, str]:
    """Two clicks given offer a, which reaches its cap before the first one's
    click-through: it goes to b. Returns (that click's id, the other's, a, b)."""
    a, b = await offer(w, "a", total_cap=1), await offer(w, "b")
    s = await stream(w, [await lander(w)], [a])
    r, kept = await click(w), await click(w)
    upd = apb.Stream(stream_id=s.stream_id, offers=[apb.WeightedOffer(offer_id=a, weight=1),
                                                     apb.WeightedOffer(offer_id=b, weight=1)])  # fmt: skip
    await w.affiliate.UpdateStream(apb.UpdateStreamRequest(stream=upd))
    await cap(w, a, "conv-1")
    got = (await through(w, r.touch_id))[0]
    assert got.location.startswith("https://b.offer.example/"), got.location
    return r.touch_id, kept.touch_id, a, b


def window() -> tuple[Timestamp, Timestamp]:
    start, end = Timestamp(), Timestamp()
    now = dt.datetime.now(dt.UTC)
    start.FromDatetime(now - dt.timedelta(hours=1))
    end.FromDatetime(now + dt.timedelta(hours=1))
    return start, end


async def test_a_click_is_of_the_offer_its_click_through_went_to(world, links_stub):
    click_id, kept, a, b = await capped_click_through(world)
    # the click with no click-through keeps its click-time offer
    assert (await links_stub.GetClick(pb.GetClickRequest(click_id=kept))).click.offer_id == a

    got = (await links_stub.GetClick(pb.GetClickRequest(click_id=click_id))).click
    assert (got.offer_id, got.HasField("lander_click_time")) == (b, True)
    listed = {c.click_id: c.offer_id for c in (await links_stub.ListClicks(pb.ListClicksRequest())).clicks}
    assert listed == {click_id: b, kept: a}
    # What attribution reads: by click id, and by fingerprint (the same IP + UA as the click).
    start, end = window()
    fp = pb.Fingerprint(ip="9.9.0.2", user_agent=ANDROID_UA)
    found = await links_stub.LookupTouches(pb.LookupTouchesRequest(lookups=[
        pb.TouchLookup(click_id=click_id),
        pb.TouchLookup(fingerprint=fp, start_time=start, end_time=end),
    ]))  # fmt: skip
    assert [[c.offer_id for c in r.clicks] for r in found.results] == [[b], [b]]
    by_fp = await links_stub.FindTouches(pb.FindTouchesRequest(fingerprint=fp, start_time=start, end_time=end))
    assert [(c.click_id, c.offer_id) for c in by_fp.clicks] == [(click_id, b)]


async def test_an_overrule_moves_the_lander_clicks_verdict_with_the_clicks(world, links_stub):
    click_id, _kept, _a, b = await capped_click_through(world)
    reply = await links_stub.OverruleTouchVerdict(
        pb.OverruleTouchVerdictRequest(click_id=click_id, verdict=quality_pb2.VERDICT_INVALID, note="bot")
    )
    assert (reply.click.verdict, reply.click.offer_id) == (quality_pb2.VERDICT_INVALID, b)
    assert await lander_click_verdicts(world) == {click_id: quality_pb2.VERDICT_INVALID}
    await links_stub.OverruleTouchVerdict(
        pb.OverruleTouchVerdictRequest(click_id=click_id, verdict=quality_pb2.VERDICT_CLEAN, note="a person")
    )
    assert await lander_click_verdicts(world) == {click_id: quality_pb2.VERDICT_CLEAN}


async def test_a_click_through_takes_the_clicks_verdict_as_overruled_before_it(world, links_stub):
    a = await offer(world, "a")
    await stream(world, [await lander(world)], [a])
    r = await click(world)
    await links_stub.OverruleTouchVerdict(
        pb.OverruleTouchVerdictRequest(click_id=r.touch_id, verdict=quality_pb2.VERDICT_SUSPICIOUS, note="odd")
    )
    await through(world, r.touch_id)
    assert await lander_click_verdicts(world) == {r.touch_id: quality_pb2.VERDICT_SUSPICIOUS}


async def lander_click_verdicts(w: World) -> dict[str, int]:
    conn = await asyncpg.connect(w.db_url)
    try:
        rows = await conn.fetch("SELECT click_id, verdict FROM links.lander_clicks")
    finally:
        await conn.close()
    return {r["click_id"]: r["verdict"] for r in rows}


async def test_a_click_through_of_a_paused_or_archived_campaign_goes_to_its_fallback_unrecorded(world, links_stub):
    a = await offer(world, "a")
    await stream(world, [await lander(world)], [a])
    first, second, third = await click(world), await click(world), await click(world)
    await through(world, second.touch_id)  # one click-through before the pause
    fallback = (
        await links_stub.GetCampaign(pb.GetCampaignRequest(campaign_id=world.campaign_id))
    ).campaign.fallback_url

    async def set_status(status: pb.CampaignStatus) -> None:
        await links_stub.UpdateCampaign(pb.UpdateCampaignRequest(
            campaign=pb.Campaign(campaign_id=world.campaign_id, status=status), update_mask={"paths": ["status"]}
        ))  # fmt: skip

    async def assert_fallback(*click_ids: str) -> None:
        for got in await through(world, *click_ids):
            assert (got.outcome, got.location) == (pb.TOUCH_OUTCOME_FALLBACK, fallback)

    await set_status(pb.CAMPAIGN_STATUS_ACTIVE)  # from draft
    await set_status(pb.CAMPAIGN_STATUS_PAUSED)
    await assert_fallback(first.touch_id, second.touch_id)
    assert [c for c, _ in await lander_clicks(world)] == [second.touch_id]  # the pause recorded none
    await set_status(pb.CAMPAIGN_STATUS_ACTIVE)
    got = (await through(world, first.touch_id))[0]
    assert (got.outcome, got.location) == (
        pb.TOUCH_OUTCOME_RECORDED, f"https://a.offer.example/?c={first.touch_id}&s=pub7"
    )  # fmt: skip
    await set_status(pb.CAMPAIGN_STATUS_ARCHIVED)
    await assert_fallback(first.touch_id, third.touch_id)
    assert sorted(c for c, _ in await lander_clicks(world)) == sorted([first.touch_id, second.touch_id])


async def test_concurrent_click_throughs_of_a_click_go_to_the_offer_it_records(world):
    """review1 #12: the click's offer is capped and two offers are eligible; the click-throughs
    of a click arriving together (separate calls) all go to the offer its lander click names."""
    a, b, c = await offer(world, "a", total_cap=1), await offer(world, "b"), await offer(world, "c")
    s = await stream(world, [await lander(world)], [a])
    clicks = [(await click(world)).touch_id for _ in range(12)]
    upd = apb.Stream(stream_id=s.stream_id, offers=[apb.WeightedOffer(offer_id=i, weight=1) for i in (a, b, c)])
    await world.affiliate.UpdateStream(apb.UpdateStreamRequest(stream=upd))
    await cap(world, a, "conv-1")
    answers = await asyncio.gather(*(through(world, cid) for cid in clicks for _ in range(3)))
    stored = dict(await lander_clicks(world))
    hosts = {"b": b, "c": c}
    for n, cid in enumerate(clicks):
        went = {hosts[urlsplit(r[0].location).netloc.split(".")[0]] for r in answers[3 * n : 3 * n + 3]}
        assert went == {stored[cid]}, cid
