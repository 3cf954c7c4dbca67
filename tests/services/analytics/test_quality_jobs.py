"""Traffic quality in the analytics jobs: an automation rule on invalid_rate
(blacklisting a sub-id, pausing a campaign), and the sub-id flood finder
flagging a sub-id through the real links service, whose later clicks then
carry flood_sub_id until the flag lapses."""

from __future__ import annotations

import dataclasses
import datetime as dt

import asyncpg
import pytest
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.analytics.v1 import rules_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf import duration_pb2

from libs import quality
from libs.config import ConfigError
from libs.partitions import ensure_daily_partitions
from services.analytics.floods import FloodFinder
from services.analytics.rules import LinksActions
from tests.services.analytics.report_support import insert_clicks, runner
from tests.services.analytics.test_quality import QWorld, click, qworld  # noqa: F401  (the fixture)
from tests.services.attribution.engine_support import ANDROID_UA, drained, event, make_app, make_campaign, send
from tests.support.wait import wait_until

DAY = duration_pb2.Duration(seconds=86400)


async def test_a_rule_on_invalid_rate_blacklists_the_sub_id_and_pauses(qworld: QWorld, analytics_server, links_stub,  # noqa: F811
                                                                        account, channels):  # fmt: skip
    rules = rules_pb2_grpc.RuleServiceStub(channels(analytics_server.addr, token=account.api_key))
    w = qworld
    rule = (await rules.CreateRule(pb.CreateRuleRequest(rule=pb.Rule(
        name="Bot sub-ids", window=DAY, grouping=pb.RULE_GROUPING_SUB_ID, sub_id_field="sub1",
        campaign_ids=[w.alpha.campaign_id],
        conditions=[pb.Condition(metric="invalid_rate", comparison=pb.COMPARISON_GREATER, value="50")],
        action=pb.RuleAction(blacklist_sub_id=pb.BlacklistSubId()),
    )))).rule  # fmt: skip
    run = (await rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id))).run
    assert run.status == pb.RUN_STATUS_SUCCEEDED
    # good: 1 of 3 clicks invalid (33 %); bad: both (100 %); "": the impression without a User-Agent.
    got = sorted((a.sub_id_value, a.outcome, a.metrics["invalid_rate"]) for a in run.actions)
    assert got == [("", pb.ACTION_OUTCOME_SKIPPED, "100.0000"), ("bad", pb.ACTION_OUTCOME_APPLIED, "100.0000")]
    entries = (await links_stub.ListSubIdEntries(lpb.ListSubIdEntriesRequest(
        campaign_id=w.alpha.campaign_id, list=lpb.SUB_ID_LIST_BLACKLIST))).entries  # fmt: skip
    assert [(e.sub_field, e.value) for e in entries] == [("sub1", "bad")]

    # By campaign: Alpha (4 of 6 touches invalid) is paused, Beta (none) is not.
    pause = (await rules.CreateRule(pb.CreateRuleRequest(rule=pb.Rule(
        name="Stop bot traffic", window=DAY, grouping=pb.RULE_GROUPING_CAMPAIGN,
        conditions=[pb.Condition(metric="invalid_rate", comparison=pb.COMPARISON_GREATER, value="30")],
        action=pb.RuleAction(pause_campaign=pb.PauseCampaign()),
    )))).rule  # fmt: skip
    assert [c.metric for c in pause.conditions] == ["invalid_rate"]
    run = (await rules.RunRule(pb.RunRuleRequest(rule_id=pause.rule_id))).run
    assert [(a.campaign_id, a.outcome) for a in run.actions] == [(w.alpha.campaign_id, pb.ACTION_OUTCOME_APPLIED)]
    assert (run.groups_evaluated, run.groups_matched) == (2, 1)
    status = (await links_stub.GetCampaign(lpb.GetCampaignRequest(campaign_id=w.alpha.campaign_id))).campaign.status
    assert status == lpb.CAMPAIGN_STATUS_PAUSED


@pytest.fixture
async def finder_pool(settings):
    pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=3)
    yield pool
    await pool.close()


async def test_the_flood_finder_flags_a_sub_id_and_the_flag_lapses(
    settings, account, links_server, links_stub, gateway_links_stub, ingest_server, ingest_stub,
    attribution_server, attribution_stub, finder_pool,
):  # fmt: skip
    app_id = await make_app(links_stub)
    c = await make_campaign(links_stub, app_id, "Spray")
    two_hours_ago = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    base = {"account_id": account.account_id, "campaign_id": c.campaign_id, "link_id": c.link_id,
            "partner_id": c.partner_id, "app_id": c.app_id, "user_agent": ANDROID_UA}  # fmt: skip
    async with finder_pool.acquire() as conn:
        await ensure_daily_partitions(conn, "links", "clicks", days_back=2, days_ahead=1)
        # 1,000 clicks of each: flood (no install), fine (one install: 0.1 %); small has 999, none installed.
        ids = {}
        for sub1, n in (("flood", 1000), ("fine", 1000), ("small", 999)):
            ids[sub1] = await insert_clicks(conn, [
                {**base, "create_time": two_hours_ago + dt.timedelta(milliseconds=i), "sub1": sub1,
                 "ip": f"10.{len(ids)}.{i // 250}.{i % 250}"} for i in range(n)
            ])  # fmt: skip
    await send(
        ingest_stub,
        event(app_id, "install", click_id=ids["fine"][7], device={"gaid": "9d92078a-8246-4ba4-ae5b-76104861e7d0"}),
    )
    await drained(settings)
    await runner(finder_pool, settings).run_once()
    here = dataclasses.replace(settings, links_addr=links_server.addr)
    links = LinksActions(here)
    try:
        finder = FloodFinder(finder_pool, links, here)
        assert [(f.sub_field, f.value, f.clicks, f.installs) for f in await finder.find()] == [
            ("sub1", "flood", 1000, 0)
        ]
        assert await finder.run_once(force=True) == 1
        assert await finder.run_once() is None  # not due again for interval_s
        flags = (await links_stub.ListFlaggedSubIds(lpb.ListFlaggedSubIdsRequest())).sub_ids
        assert [(f.campaign_id, f.sub_field, f.value) for f in flags] == [(c.campaign_id, "sub1", "flood")]
        assert flags[0].reason.startswith("1,000 clicks, 0 installs in the last 7 days")
        # The links click path marks later clicks of the flagged value (suspicious: still counted).
        later = await click(gateway_links_stub, c, "81.2.69.160", ANDROID_UA, "sub1=flood")
        assert later.verdict == quality.SUSPICIOUS
        other = await click(gateway_links_stub, c, "81.2.69.161", ANDROID_UA, "sub1=fine")
        assert other.verdict == quality.CLEAN

        # A flag lasts flag_ttl_s after the last run that found it; then it lapses.
        brief = FloodFinder(finder_pool, links, dataclasses.replace(here, analytics_flood_flag_ttl_s=1.0))
        assert await brief.run_once(force=True) == 1

        async def lapsed() -> bool:
            return not (await links_stub.ListFlaggedSubIds(lpb.ListFlaggedSubIdsRequest())).sub_ids

        await wait_until(lapsed, "the flag to lapse (its TTL: 1 s)")
        addresses = (f"81.2.69.{n}" for n in range(162, 255))

        async def clean_again() -> bool:
            again = await click(gateway_links_stub, c, next(addresses), ANDROID_UA, "sub1=flood")
            return again.verdict == quality.CLEAN

        # The links replica's settings cache (2 s) forgets the flag.
        await wait_until(clean_again, "a click of the lapsed flag's value to be clean", every_s=0.5)
    finally:
        await links.close()
    with pytest.raises(ConfigError, match="ANALYTICS_FLOOD_MAX_INSTALL_RATE"):
        FloodFinder(finder_pool, links, dataclasses.replace(here, analytics_flood_max_install_rate=2.0))
