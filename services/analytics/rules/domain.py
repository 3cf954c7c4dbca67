"""What a rule is and what it decides, as pure functions: conditions over a
report row's metrics, the groups a run acts on, and what an action does to a
campaign (or a sub-id list) as the links service shows it. No SQL, no network:
the runner (runner.py) fetches, asks these, then calls."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.type.v1 import money_pb2

from libs.api import format_money, to_timestamp
from libs.vocab.metrics import MONEY_METRICS as _MONEY
from libs.vocab.metrics import PERCENT_METRICS as _PERCENT
from libs.vocab.metrics import RULE_METRICS
from services.analytics import reports

D = decimal.Decimal
METRICS = RULE_METRICS
# Compared in percent (the report's ratio x 100): roi < -50 is ROI below -50 %,
# invalid_rate > 30 is more than 30 % of the touches invalid.
PERCENT_METRICS = frozenset(_PERCENT)
MONEY_METRICS = frozenset(_MONEY)
COMPARISONS: dict[int, tuple[str, Callable[[Any, Any], bool]]] = {
    pb.COMPARISON_LESS: ("<", operator.lt),
    pb.COMPARISON_LESS_OR_EQUAL: ("<=", operator.le),
    pb.COMPARISON_GREATER: (">", operator.gt),
    pb.COMPARISON_GREATER_OR_EQUAL: (">=", operator.ge),
    pb.COMPARISON_EQUAL: ("==", operator.eq),
    pb.COMPARISON_NOT_EQUAL: ("!=", operator.ne),
}
ACTIONS = ("pause_campaign", "change_budget", "set_budget", "blacklist_sub_id")
# Groups acted on per run; more matches are counted (groups_matched) but wait for the next run.
MAX_ACTIONS_PER_RUN = 1000
CENT = D("0.01")


# ----------------------------------------------------------------------------- the rule


@dataclasses.dataclass(frozen=True, slots=True)
class Condition:
    metric: str
    comparison: pb.Comparison
    value: decimal.Decimal

    def holds(self, metrics: dict[str, decimal.Decimal | None]) -> bool:
        got = metrics.get(self.metric)
        if got is None:  # a ratio with a zero denominator meets nothing
            return False
        return COMPARISONS[self.comparison][1](got, self.value)

    def text(self) -> str:
        unit = "%" if self.metric in PERCENT_METRICS else ""
        return f"{self.metric} {COMPARISONS[self.comparison][0]} {self.value}{unit}"


@dataclasses.dataclass(frozen=True, slots=True)
class Action:
    kind: str  # one of ACTIONS
    percent: decimal.Decimal | None = None  # change_budget
    amount: decimal.Decimal | None = None  # set_budget
    currency_code: str = ""  # set_budget

    def to_json(self) -> dict[str, str]:
        out = {"kind": self.kind}
        if self.percent is not None:
            out["percent"] = str(self.percent)
        if self.amount is not None:
            out["amount"], out["currency_code"] = str(self.amount), self.currency_code
        return out

    @classmethod
    def from_json(cls, data: dict[str, str]) -> Action:
        return cls(
            kind=data["kind"],
            percent=D(data["percent"]) if "percent" in data else None,
            amount=D(data["amount"]) if "amount" in data else None,
            currency_code=data.get("currency_code", ""),
        )

    def to_pb(self) -> pb.RuleAction:
        a = pb.RuleAction()
        if self.kind == "pause_campaign":
            a.pause_campaign.SetInParent()
        elif self.kind == "change_budget":
            a.change_budget.percent = str(self.percent)
        elif self.kind == "set_budget":
            assert self.amount is not None
            a.set_budget.budget.CopyFrom(
                money_pb2.Money(amount=format_money(self.amount), currency_code=self.currency_code)
            )
        else:
            a.blacklist_sub_id.SetInParent()
        return a


@dataclasses.dataclass(frozen=True, slots=True)
class Rule:
    account_id: str
    rule_id: str
    name: str
    enabled: bool
    dry_run: bool
    campaign_ids: tuple[str, ...]
    grouping: pb.RuleGrouping
    sub_id_field: str
    window: dt.timedelta
    conditions: tuple[Condition, ...]
    action: Action
    currency_code: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Rule:
        return cls(
            account_id=row["account_id"], rule_id=row["rule_id"], name=row["name"], enabled=row["enabled"],
            dry_run=row["dry_run"], campaign_ids=tuple(row["campaign_ids"]), grouping=row["grouping"],
            sub_id_field=row["sub_id_field"], window=dt.timedelta(seconds=row["window_s"]),
            conditions=tuple(
                Condition(c["metric"], c["comparison"], D(c["value"])) for c in orjson.loads(row["conditions"])
            ),
            action=Action.from_json(orjson.loads(row["action"])), currency_code=row["currency_code"],
        )  # fmt: skip


def rule_to_pb(row: Mapping[str, Any]) -> pb.Rule:
    r = Rule.from_row(row)
    msg = pb.Rule(
        rule_id=r.rule_id, name=r.name, enabled=r.enabled, dry_run=r.dry_run, campaign_ids=list(r.campaign_ids),
        grouping=r.grouping, sub_id_field=r.sub_id_field, action=r.action.to_pb(), currency_code=r.currency_code,
        conditions=[
            pb.Condition(metric=c.metric, comparison=c.comparison, value=str(c.value)) for c in r.conditions
        ],
        create_time=to_timestamp(row["create_time"]), update_time=to_timestamp(row["update_time"]),
        last_run_time=to_timestamp(row["last_run_time"]), next_run_time=to_timestamp(row["next_run_time"]),
    )  # fmt: skip
    msg.window.FromTimedelta(r.window)
    return msg


# ----------------------------------------------------------------------------- a run's groups


@dataclasses.dataclass(frozen=True, slots=True)
class Group:
    """One report row a rule checks: its campaign (and sub-id value) and metrics
    (cr, roi and invalid_rate in percent; None where a ratio has no denominator)."""

    campaign_id: str
    sub_id_value: str
    metrics: dict[str, decimal.Decimal | None]


@dataclasses.dataclass(frozen=True, slots=True)
class Evaluation:
    """The groups of one run, over the report's actual window [start, end)."""

    start: dt.datetime
    end: dt.datetime
    groups: list[Group]


def row_metrics(row: reports.ReportRow, currency: str) -> dict[str, decimal.Decimal | None]:
    """A report row's metrics as rules compare them: counts; cr, roi and
    invalid_rate in percent; money in ``currency``; None where a ratio has no
    denominator."""
    money = row.money.get(currency) or reports.Money(currency)
    roi = money.roi
    invalid = row.invalid_rate
    return {
        "clicks": D(row.clicks),
        "unique_clicks": D(row.unique_clicks),
        "impressions": D(row.impressions),
        "installs": D(row.installs),
        "conversions": D(row.conversions),
        "cr": (D(row.conversions) * 100 / row.clicks).quantize(D("0.0001")) if row.clicks else None,
        "revenue": reports.round_money(money.revenue),
        "cost": reports.round_money(money.cost),
        "profit": reports.round_money(money.profit),
        "roi": (D(repr(roi)) * 100).quantize(D("0.0001")) if roi is not None else None,
        "epc": reports.round_money(row.epc(currency)) if row.clicks else None,
        "cpi": reports.round_money(row.cpi(currency)) if row.installs else None,
        # Invalid touches / all touches (clicks and impressions of every verdict).
        "invalid_rate": (D(repr(invalid)) * 100).quantize(D("0.0001")) if invalid is not None else None,
    }


def select_groups(rule: Rule, groups: Sequence[Group]) -> tuple[list[Group], list[Group], list[tuple[int, Group]]]:
    """A run's groups in the rule's campaign scope, those meeting every
    condition, and the (n, group) it acts on: the first MAX_ACTIONS_PER_RUN
    matches (n their place among them), one action per campaign unless the
    action is per sub-id (blacklist_sub_id)."""
    scope = set(rule.campaign_ids)
    in_scope = [g for g in groups if not scope or g.campaign_id in scope]
    matched = [g for g in in_scope if all(c.holds(g.metrics) for c in rule.conditions)]
    per_campaign = rule.action.kind != "blacklist_sub_id"
    acted_on: set[str] = set()
    todo: list[tuple[int, Group]] = []
    for n, group in enumerate(matched[:MAX_ACTIONS_PER_RUN]):
        if per_campaign and group.campaign_id in acted_on:
            continue  # one campaign action per run, even when several of its groups match
        acted_on.add(group.campaign_id)
        todo.append((n, group))
    return in_scope, matched, todo


# ----------------------------------------------------------------------------- what an action does


@dataclasses.dataclass(slots=True)
class ActionResult:
    outcome: int
    detail: str


def campaign_status_name(value: int) -> str:
    return lpb.CampaignStatus.Name(value).removeprefix("CAMPAIGN_STATUS_").lower()


def money_text(m: money_pb2.Money) -> str:
    return f"{m.amount} {m.currency_code}"


def blacklist_decision(
    field: str, value: str, lists: Mapping[int, set[str]] | None, dry_run: bool
) -> ActionResult | None:
    """What blacklisting ``field``=``value`` comes to given the campaign's sub-id
    lists (SubIdList -> values; None: not needed yet, the value is empty): a
    result without calling links, or None (call AddSubIdEntry)."""
    if not value:
        return ActionResult(pb.ACTION_OUTCOME_SKIPPED, "clicks without a sub-id value cannot be blacklisted")
    assert lists is not None
    if value in lists[lpb.SUB_ID_LIST_WHITELIST]:
        return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"{field}={value!r} is whitelisted")
    if value in lists[lpb.SUB_ID_LIST_BLACKLIST]:
        return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"{field}={value!r} is already blacklisted")
    if dry_run:
        return ActionResult(pb.ACTION_OUTCOME_DRY_RUN, f"would blacklist {field}={value!r}")
    return None


@dataclasses.dataclass(frozen=True, slots=True)
class CampaignChange:
    """What a campaign action comes to: its result, and the update to send
    (campaign with the changed fields, their paths) when there is one; the
    result holds once the update is done."""

    result: ActionResult
    update: lpb.Campaign | None = None
    paths: tuple[str, ...] = ()


def campaign_change(action: Action, cid: str, campaign: lpb.Campaign | None, dry_run: bool) -> CampaignChange:
    """pause_campaign, change_budget or set_budget applied to campaign ``cid``
    (``campaign`` as GetCampaign returned it; None: not found)."""
    if campaign is None:
        return CampaignChange(ActionResult(pb.ACTION_OUTCOME_SKIPPED, "campaign not found"))
    if action.kind == "pause_campaign":
        if campaign.status != lpb.CAMPAIGN_STATUS_ACTIVE:
            status = campaign_status_name(campaign.status)
            return CampaignChange(ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"campaign is {status}"))
        if dry_run:
            return CampaignChange(ActionResult(pb.ACTION_OUTCOME_DRY_RUN, "would pause: active -> paused"))
        return CampaignChange(
            ActionResult(pb.ACTION_OUTCOME_APPLIED, "paused: active -> paused"),
            lpb.Campaign(campaign_id=cid, status=lpb.CAMPAIGN_STATUS_PAUSED),
            ("status",),
        )
    if campaign.status == lpb.CAMPAIGN_STATUS_ARCHIVED:
        return CampaignChange(ActionResult(pb.ACTION_OUTCOME_SKIPPED, "campaign is archived"))
    old = campaign.budget if campaign.HasField("budget") and campaign.budget.currency_code else None
    if action.kind == "change_budget":
        if old is None:
            return CampaignChange(
                ActionResult(pb.ACTION_OUTCOME_SKIPPED, "campaign has no budget to change (set_budget sets one)")
            )
        assert action.percent is not None
        amount = (D(old.amount) * (1 + action.percent / 100)).quantize(CENT, decimal.ROUND_HALF_EVEN)
        new = money_pb2.Money(amount=format_money(max(amount, D(0))), currency_code=old.currency_code)
    else:
        assert action.amount is not None
        new = money_pb2.Money(amount=format_money(action.amount), currency_code=action.currency_code)
    before = money_text(old) if old is not None else "none"
    if old is not None and old.currency_code == new.currency_code and D(old.amount) == D(new.amount):
        return CampaignChange(ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"budget is already {before}"))
    if dry_run:
        return CampaignChange(
            ActionResult(pb.ACTION_OUTCOME_DRY_RUN, f"would change budget {before} -> {money_text(new)}")
        )
    return CampaignChange(
        ActionResult(pb.ACTION_OUTCOME_APPLIED, f"budget {before} -> {money_text(new)}"),
        lpb.Campaign(campaign_id=cid, budget=new),
        ("budget",),
    )
