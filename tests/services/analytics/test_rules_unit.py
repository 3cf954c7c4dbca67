"""The rules' pure parts, without Postgres or the links service: validation,
conditions over a report row, the groups a run acts on, what an action does."""

from __future__ import annotations

import datetime as dt
import decimal

import orjson
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2

from libs.errors import Validator
from services.analytics.reports.model import ReportRow
from services.analytics.rules import domain, validation
from services.analytics.rules.domain import Action, Condition, Group, Rule

D = decimal.Decimal


def _rule(kind: str = "pause_campaign", campaign_ids: tuple[str, ...] = (), **action: D | str) -> Rule:
    return Rule(
        "acc", "rul_1", "losers", True, False, campaign_ids, pb.RULE_GROUPING_CAMPAIGN, "", dt.timedelta(days=1),
        (Condition("clicks", pb.COMPARISON_GREATER_OR_EQUAL, D(10)), Condition("roi", pb.COMPARISON_LESS, D(-50))),
        Action(kind, **action),  # type: ignore[arg-type]
        "USD",
    )  # fmt: skip


def test_validate_fields_collects_every_problem_and_stores_columns():
    r = pb.Rule(name=" ", sub_id_field="source", conditions=[pb.Condition(metric="ROI", comparison=1, value="-50%")])
    r.window.FromSeconds(30)
    r.action.change_budget.percent = "0"
    v = Validator()
    out = validation.validate_fields(v, r, ["name", "sub_id_field", "window", "conditions", "action"])
    assert [f for f, _ in v.violations] == ["rule.name", "rule.window", "rule.action.change_budget.percent"]
    assert out["sub_id_field"] == "sub2"
    assert orjson.loads(out["conditions"]) == [{"metric": "roi", "comparison": 1, "value": "-50"}]


def test_consistency_ties_actions_to_groupings():
    v = Validator()
    action = orjson.dumps({"kind": "blacklist_sub_id"}).decode()
    validation.check_consistency(v, {"grouping": pb.RULE_GROUPING_CAMPAIGN, "sub_id_field": "", "action": action})
    assert [f for f, _ in v.violations] == ["rule.action.blacklist_sub_id"]


def test_row_metrics_and_conditions():
    row = ReportRow({"campaign": "c"}, clicks=200, conversions=3, installs=4)
    row.add_money("USD", D("10"), D("40"))
    m = domain.row_metrics(row, "USD")
    assert (m["cr"], m["roi"], m["cpi"], m["profit"]) == (D("1.5"), D("-75.0000"), D("10"), D("-30"))
    assert domain.row_metrics(ReportRow({}), "USD")["roi"] is None
    roi = Condition("roi", pb.COMPARISON_LESS, D(-50))
    assert roi.holds(m) and not roi.holds({"roi": None}) and roi.text() == "roi < -50%"


def test_select_groups_scopes_matches_and_acts_once_per_campaign():
    bad = {"clicks": D(20), "roi": D(-80)}
    good = {"clicks": D(20), "roi": D(10)}
    groups = [Group("a", "x", bad), Group("a", "y", bad), Group("b", "", good), Group("c", "", bad)]
    in_scope, matched, todo = domain.select_groups(_rule(campaign_ids=("a", "b")), groups)
    assert [g.campaign_id for g in in_scope] == ["a", "a", "b"]
    assert len(matched) == 2 and [(n, g.sub_id_value) for n, g in todo] == [(0, "x")]
    # A sub-id action acts on every matching group.
    assert [n for n, _ in domain.select_groups(_rule("blacklist_sub_id"), groups)[2]] == [0, 1, 2]


def test_campaign_change_decides_without_calling_links():
    active = lpb.Campaign(campaign_id="a", status=lpb.CAMPAIGN_STATUS_ACTIVE)
    pause = domain.campaign_change(Action("pause_campaign"), "a", active, dry_run=False)
    assert pause.update == lpb.Campaign(campaign_id="a", status=lpb.CAMPAIGN_STATUS_PAUSED)
    assert pause.paths == ("status",) and pause.result.outcome == pb.ACTION_OUTCOME_APPLIED
    dry = domain.campaign_change(Action("pause_campaign"), "a", active, dry_run=True)
    assert dry.update is None and dry.result.outcome == pb.ACTION_OUTCOME_DRY_RUN
    paused = lpb.Campaign(campaign_id="a", status=lpb.CAMPAIGN_STATUS_PAUSED)
    assert domain.campaign_change(Action("pause_campaign"), "a", paused, False).result.detail == "campaign is paused"
    assert domain.campaign_change(Action("pause_campaign"), "a", None, False).result.detail == "campaign not found"

    funded = lpb.Campaign(campaign_id="a", budget=money_pb2.Money(amount="100", currency_code="USD"))
    more = domain.campaign_change(Action("change_budget", percent=D("12.345")), "a", funded, False)
    assert more.update is not None and more.update.budget.amount == "112.34" and more.paths == ("budget",)
    assert more.result.detail == "budget 100 USD -> 112.34 USD"  # half to even
    same = domain.campaign_change(Action("set_budget", amount=D("100.00"), currency_code="USD"), "a", funded, False)
    assert same.update is None and same.result.detail == "budget is already 100 USD"
    bare = lpb.Campaign(campaign_id="a")
    assert domain.campaign_change(Action("change_budget", percent=D(5)), "a", bare, False).update is None


def test_blacklist_decision():
    lists = {lpb.SUB_ID_LIST_BLACKLIST: {"old"}, lpb.SUB_ID_LIST_WHITELIST: {"vip"}}
    skipped = pb.ACTION_OUTCOME_SKIPPED
    assert domain.blacklist_decision("sub1", "", None, False).outcome == skipped  # type: ignore[union-attr]
    assert domain.blacklist_decision("sub1", "vip", lists, False).outcome == skipped  # type: ignore[union-attr]
    assert domain.blacklist_decision("sub1", "old", lists, False).outcome == skipped  # type: ignore[union-attr]
    dry = domain.blacklist_decision("sub1", "new", lists, True)
    assert dry is not None and dry.outcome == pb.ACTION_OUTCOME_DRY_RUN
    assert domain.blacklist_decision("sub1", "new", lists, False) is None
