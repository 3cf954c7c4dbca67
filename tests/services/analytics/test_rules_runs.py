"""Rule runs end to end, on real links + attribution + analytics servers: clicks
recorded through the links service, cost from a CPC tariff, revenue from
postbacks, the campaign report from the rollups, actions through the links
service's gRPC API, and the run log."""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Iterator

import asyncpg
import grpc
import pytest
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.analytics.v1 import rules_pb2_grpc
from clicktrail.attribution.v1 import attribution_pb2 as apb
from clicktrail.attribution.v1 import attribution_pb2_grpc
from clicktrail.attribution.v1 import config_pb2 as cpb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from libs.grpc_server import start_service
from services.analytics import rules
from services.analytics.rollup import RollupRunner
from services.analytics.server import ROLLUPS
from services.analytics.server import SPEC as ANALYTICS_SPEC
from tests.conftest import GATEWAY_TOKEN

DAY = duration_pb2.Duration(seconds=86400)
FALLBACK = "https://fallback.example/offers"


@dataclasses.dataclass
class World:
    """One account's stubs, and a way to fold what was recorded into the rollups."""

    links: links_pb2_grpc.LinksServiceStub
    gateway: links_pb2_grpc.LinksServiceStub
    rules: rules_pb2_grpc.RuleServiceStub
    attribution: object
    postbacks: attribution_pb2_grpc.AttributionServiceStub
    runner: RollupRunner
    ips: Iterator[int] = dataclasses.field(default_factory=itertools.count)

    async def campaign(self, name: str, *, budget: str = "") -> tuple[str, str]:
        partner = (await self.links.CreatePartner(lpb.CreatePartnerRequest(partner=lpb.Partner(name="Net")))).partner
        c = lpb.Campaign(
            name=name, partner_id=partner.partner_id, status=lpb.CAMPAIGN_STATUS_ACTIVE, fallback_url=FALLBACK
        )
        if budget:
            c.budget.CopyFrom(money_pb2.Money(amount=budget, currency_code="USD"))
        campaign = (await self.links.CreateCampaign(lpb.CreateCampaignRequest(campaign=c))).campaign
        link = (
            await self.links.CreateLink(
                lpb.CreateLinkRequest(
                    link=lpb.Link(
                        campaign_id=campaign.campaign_id, destination_url="https://offer.example/?c={click_id}"
                    )
                )
            )
        ).link
        # Cost: 0.10 USD per click.
        await self.attribution.tariffs.CreateTariff(  # type: ignore[attr-defined]
            cpb.CreateTariffRequest(
                tariff=cpb.Tariff(
                    campaign_id=campaign.campaign_id,
                    model=cpb.TARIFF_MODEL_CPC,
                    amount=money_pb2.Money(amount="0.10", currency_code="USD"),
                )
            )
        )
        return campaign.campaign_id, link.slug

    async def clicks(self, slug: str, n: int, query: str = "") -> list[lpb.TouchResult]:
        # A new address per click (across calls too): people, not duplicates or a flood.
        inputs = [
            lpb.TouchInput(slug=slug, raw_query=query.encode(), ip=f"81.{2 + i // 62500}.{i // 250 % 250}.{i % 250}",
                           user_agent="UA")
            for i in (next(self.ips) for _ in range(n))
        ]  # fmt: skip
        return list((await self.gateway.RecordClicks(lpb.RecordClicksRequest(clicks=inputs))).results)

    async def sale(self, click_id: str, payout: str) -> None:
        await self.postbacks.RecordPostback(
            apb.RecordPostbackRequest(
                click_id=click_id, payout=payout, currency="USD", status="approved", txid=uuid.uuid4().hex
            )
        )

    async def status(self, campaign_id: str) -> int:
        return (await self.links.GetCampaign(lpb.GetCampaignRequest(campaign_id=campaign_id))).campaign.status


@pytest.fixture
async def analytics_server(settings, links_server):
    """The analytics service whose background rollup pass runs only at start: the
    test folds rows in itself (lag 0) once they are durable, so a click committed
    late on a loaded machine is never left behind a watermark (the hourly
    recount would only catch it 10 minutes later)."""
    svc = await start_service(
        ANALYTICS_SPEC,
        dataclasses.replace(settings, links_addr=links_server.addr, analytics_rollup_interval_s=3600.0),
        listen="127.0.0.1:0",
    )
    yield svc
    await svc.stop(grace=1.0)


@pytest.fixture
async def rollup_pool(db_url):
    pool = await asyncpg.create_pool(db_url, min_size=1, max_size=3)
    yield pool
    await pool.close()


@pytest.fixture
def world_of(analytics_server, attribution_server, links_server, channels, settings, attribution_stub, rollup_pool):
    runner = RollupRunner(rollup_pool, ROLLUPS, dataclasses.replace(settings, analytics_rollup_lag_s=0.0))

    def make(acct, attribution) -> World:
        return World(
            links=links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=acct.api_key)),
            gateway=links_pb2_grpc.LinksServiceStub(channels(links_server.addr, token=GATEWAY_TOKEN)),
            rules=rules_pb2_grpc.RuleServiceStub(channels(analytics_server.addr, token=acct.api_key)),
            attribution=attribution,
            postbacks=attribution_pb2_grpc.AttributionServiceStub(
                channels(attribution_server.addr, token=acct.postback_token)
            ),
            runner=runner,
        )

    return make


@pytest.fixture
def world(world_of, account, attribution_stub) -> World:
    return world_of(account, attribution_stub)


def losers_rule(**kw) -> pb.Rule:
    return pb.Rule(
        name="Stop losers",
        window=DAY,
        conditions=[
            pb.Condition(metric="roi", comparison=pb.COMPARISON_LESS, value="-50"),
            pb.Condition(metric="clicks", comparison=pb.COMPARISON_GREATER_OR_EQUAL, value="1000"),
        ],
        action=pb.RuleAction(pause_campaign=pb.PauseCampaign()),
        **kw,
    )


async def test_losing_campaign_is_paused_dry_run_changes_nothing(world: World):
    losing, losing_slug = await world.campaign("Losing")  # 1000 clicks, cost 100, revenue 10: ROI -90 %
    winning, winning_slug = await world.campaign("Winning")  # 1000 clicks, cost 100, revenue 200: ROI +100 %
    small, small_slug = await world.campaign("Small")  # 10 clicks, no revenue: ROI -100 % but too few clicks
    lost = await world.clicks(losing_slug, 1000)
    won = await world.clicks(winning_slug, 1000)
    await world.clicks(small_slug, 10)
    await world.sale(lost[0].touch_id, "10")
    await world.sale(won[0].touch_id, "120")
    await world.sale(won[1].touch_id, "80")
    await world.runner.run_once()

    rule = (await world.rules.CreateRule(pb.CreateRuleRequest(rule=losers_rule()))).rule

    dry = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id, dry_run=True))).run
    assert dry.status == pb.RUN_STATUS_SUCCEEDED and dry.dry_run and dry.trigger == pb.RUN_TRIGGER_MANUAL
    assert (dry.groups_evaluated, dry.groups_matched) == (3, 1)
    assert [(a.campaign_id, a.outcome) for a in dry.actions] == [(losing, pb.ACTION_OUTCOME_DRY_RUN)]
    assert dry.actions[0].metrics["roi"] == "-90.0000" and dry.actions[0].metrics["clicks"] == "1000"
    assert dry.actions[0].metrics["cost"] == "100.000000" and dry.actions[0].metrics["revenue"] == "10.000000"
    assert await world.status(losing) == lpb.CAMPAIGN_STATUS_ACTIVE  # the dry run changed nothing

    run = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id))).run
    assert run.status == pb.RUN_STATUS_SUCCEEDED and not run.dry_run
    assert [(a.campaign_id, a.action, a.outcome) for a in run.actions] == [
        (losing, "pause_campaign", pb.ACTION_OUTCOME_APPLIED)
    ]
    assert await world.status(losing) == lpb.CAMPAIGN_STATUS_PAUSED
    assert await world.status(winning) == lpb.CAMPAIGN_STATUS_ACTIVE
    assert await world.status(small) == lpb.CAMPAIGN_STATUS_ACTIVE
    # Its next click goes to the fallback URL (paused: not recorded).
    nxt = (await world.clicks(losing_slug, 1))[0]
    assert (nxt.outcome, nxt.location, nxt.touch_id) == (lpb.TOUCH_OUTCOME_FALLBACK, FALLBACK, "")

    # Run again: nothing left to do, and that is logged too.
    again = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id))).run
    assert [(a.outcome, a.detail) for a in again.actions] == [(pb.ACTION_OUTCOME_SKIPPED, "campaign is paused")]

    # The log: newest first, with actions, paged.
    listed, token = [], ""
    while True:
        page = await world.rules.ListRuleRuns(
            pb.ListRuleRunsRequest(rule_id=rule.rule_id, page_size=2, page_token=token)
        )
        listed += list(page.runs)
        token = page.next_page_token
        if not token:
            break
    assert [r.run_id for r in listed] == [again.run_id, run.run_id, dry.run_id]
    assert listed[1] == run
    assert run.window_end.ToDatetime() - run.window_start.ToDatetime() >= DAY.ToTimedelta()


async def test_zero_converting_sub_id_is_blacklisted_whitelisted_stays(world: World):
    cid, slug = await world.campaign("Subs")
    await world.links.AddSubIdEntry(
        lpb.AddSubIdEntryRequest(
            entry=lpb.SubIdEntry(campaign_id=cid, list=lpb.SUB_ID_LIST_WHITELIST, sub_field="sub1", value="vip")
        )
    )
    await world.clicks(slug, 300, "sub1=dead")
    await world.clicks(slug, 300, "sub1=vip")
    good = await world.clicks(slug, 300, "sub1=good")
    await world.clicks(slug, 10, "sub1=few")
    await world.clicks(slug, 200)  # no sub1 at all
    await world.sale(good[0].touch_id, "5")
    await world.runner.run_once()

    rule = pb.Rule(
        name="Dead subs", window=DAY, grouping=pb.RULE_GROUPING_SUB_ID, sub_id_field="sub1", campaign_ids=[cid],
        conditions=[
            pb.Condition(metric="clicks", comparison=pb.COMPARISON_GREATER_OR_EQUAL, value="100"),
            pb.Condition(metric="conversions", comparison=pb.COMPARISON_EQUAL, value="0"),
        ],
        action=pb.RuleAction(blacklist_sub_id=pb.BlacklistSubId()),
    )  # fmt: skip
    rule = (await world.rules.CreateRule(pb.CreateRuleRequest(rule=rule))).rule
    run = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id))).run
    assert run.status == pb.RUN_STATUS_SUCCEEDED
    got = sorted((a.sub_id_field, a.sub_id_value, a.outcome) for a in run.actions)
    assert got == [
        ("sub1", "", pb.ACTION_OUTCOME_SKIPPED),  # clicks without sub1 cannot be blacklisted
        ("sub1", "dead", pb.ACTION_OUTCOME_APPLIED),
        ("sub1", "vip", pb.ACTION_OUTCOME_SKIPPED),  # whitelisted: kept safe
    ]
    assert next(a.detail for a in run.actions if a.sub_id_value == "vip") == "sub1='vip' is whitelisted"

    entries = (
        await world.links.ListSubIdEntries(lpb.ListSubIdEntriesRequest(campaign_id=cid, list=lpb.SUB_ID_LIST_BLACKLIST))
    ).entries
    assert [(e.sub_field, e.value) for e in entries] == [("sub1", "dead")]
    assert rule.rule_id in entries[0].reason and run.run_id in entries[0].reason

    dead = (await world.clicks(slug, 1, "sub1=dead"))[0]
    assert (dead.outcome, dead.location) == (lpb.TOUCH_OUTCOME_FALLBACK, FALLBACK) and dead.touch_id
    for value in ("vip", "good", "few"):
        r = (await world.clicks(slug, 1, f"sub1={value}"))[0]
        assert r.outcome == lpb.TOUCH_OUTCOME_RECORDED and r.location.startswith("https://offer.example/")

    # Dry run after: dead is already blacklisted, nothing would change.
    dry = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id, dry_run=True))).run
    assert {a.sub_id_value: a.outcome for a in dry.actions}["dead"] == pb.ACTION_OUTCOME_SKIPPED


async def test_budget_actions(world: World):
    cid, slug = await world.campaign("Budget", budget="100")
    clicks = await world.clicks(slug, 500)
    for c in clicks[:5]:
        await world.sale(c.touch_id, "30")  # CR 1 %, revenue 150, cost 50: ROI +200 %
    await world.runner.run_once()
    raise_rule = pb.Rule(
        name="Scale winners", window=DAY,
        conditions=[pb.Condition(metric="cr", comparison=pb.COMPARISON_GREATER, value="0.5")],
        action=pb.RuleAction(change_budget=pb.ChangeBudget(percent="20")),
    )  # fmt: skip
    rule = (await world.rules.CreateRule(pb.CreateRuleRequest(rule=raise_rule))).rule
    run = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id))).run
    assert [(a.outcome, a.detail) for a in run.actions] == [(pb.ACTION_OUTCOME_APPLIED, "budget 100 USD -> 120 USD")]
    got = (await world.links.GetCampaign(lpb.GetCampaignRequest(campaign_id=cid))).campaign.budget
    assert (got.amount, got.currency_code) == ("120", "USD")

    set_rule = pb.Rule(
        name="Cap", window=DAY,
        conditions=[pb.Condition(metric="revenue", comparison=pb.COMPARISON_GREATER_OR_EQUAL, value="150")],
        action=pb.RuleAction(set_budget=pb.SetBudget(budget=money_pb2.Money(amount="75.5", currency_code="USD"))),
    )  # fmt: skip
    rule2 = (await world.rules.CreateRule(pb.CreateRuleRequest(rule=set_rule))).rule
    run2 = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule2.rule_id))).run
    assert [a.detail for a in run2.actions] == ["budget 120 USD -> 75.5 USD"]
    # Money conditions in another currency see no revenue: nothing matches.
    await world.rules.UpdateRule(
        pb.UpdateRuleRequest(
            rule=pb.Rule(rule_id=rule2.rule_id, currency_code="EUR"), update_mask={"paths": ["currency_code"]}
        )
    )
    run3 = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule2.rule_id))).run
    assert (run3.groups_evaluated, run3.groups_matched, list(run3.actions)) == (1, 0, [])


async def test_another_accounts_campaigns_are_untouched_and_runs_invisible(
    world: World, world_of, new_account, attribution_server, channels
):
    from clicktrail.attribution.v1 import config_pb2_grpc

    from tests.conftest import AttributionStubs  # the fixture's shape, for the second account

    other = await new_account("Other")
    ch = channels(attribution_server.addr, token=other.api_key)
    theirs = world_of(
        other,
        AttributionStubs(
            goals=config_pb2_grpc.GoalServiceStub(ch), settings=config_pb2_grpc.AttributionSettingsServiceStub(ch),
            tariffs=config_pb2_grpc.TariffServiceStub(ch), corrections=config_pb2_grpc.CorrectionServiceStub(ch),
            channel=ch,
        ),
    )  # fmt: skip
    mine, my_slug = await world.campaign("Mine")
    their, their_slug = await theirs.campaign("Theirs")
    for w, slug in ((world, my_slug), (theirs, their_slug)):
        await w.clicks(slug, 1000)  # cost 100, no revenue: ROI -100 %
    await world.runner.run_once()

    rule = (await world.rules.CreateRule(pb.CreateRuleRequest(rule=losers_rule()))).rule  # every campaign
    run = (await world.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id))).run
    assert run.groups_evaluated == 1 and [a.campaign_id for a in run.actions] == [mine]
    assert await world.status(mine) == lpb.CAMPAIGN_STATUS_PAUSED
    assert await theirs.status(their) == lpb.CAMPAIGN_STATUS_ACTIVE
    assert list((await theirs.rules.ListRuleRuns(pb.ListRuleRunsRequest())).runs) == []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await theirs.rules.RunRule(pb.RunRuleRequest(rule_id=rule.rule_id))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_scheduled_run_acts_like_a_manual_one(
    world: World, analytics_server, links_server, settings, rollup_pool
):
    losing, slug = await world.campaign("Losing")
    await world.clicks(slug, 1000)  # cost 100, no revenue
    await world.runner.run_once()
    rule = (await world.rules.CreateRule(pb.CreateRuleRequest(rule=losers_rule()))).rule
    assert rule.next_run_time.ToDatetime() > rule.create_time.ToDatetime()  # not due yet
    await rollup_pool.execute("UPDATE analytics.rules SET next_run_time = now() - interval '1 second'")
    links = rules.LinksActions(dataclasses.replace(settings, links_addr=links_server.addr))
    try:
        scheduler = rules.RuleScheduler(
            rollup_pool, rules.RuleRunner(rollup_pool, links, rules.report_groups), interval_s=300.0
        )
        await scheduler.run_due_once()  # (or the service's own scheduler took the slot first)
    finally:
        await links.close()
    runs = (await world.rules.ListRuleRuns(pb.ListRuleRunsRequest(rule_id=rule.rule_id))).runs
    assert [(r.trigger, r.status, r.dry_run) for r in runs] == [
        (pb.RUN_TRIGGER_SCHEDULE, pb.RUN_STATUS_SUCCEEDED, False)
    ]
    assert [(a.campaign_id, a.outcome) for a in runs[0].actions] == [(losing, pb.ACTION_OUTCOME_APPLIED)]
    assert await world.status(losing) == lpb.CAMPAIGN_STATUS_PAUSED
