"""Automation rules: what a rule is (validation, storage), how a run evaluates
it over campaign report metrics, and the actions it takes through the links
service's gRPC API.

A run holds a ``FOR NO KEY UPDATE`` lock on its rule row for its whole length
(one run of a rule at a time, across replicas); its log rows are written
beside it as it goes, so a crash leaves a RUNNING run behind, never a silent
action. Scheduled runs are claimed per slot by ``RuleScheduler``."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import decimal
import operator
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import asyncpg
import grpc
import orjson
from clicktrail.accounts.v1 import accounts_pb2, accounts_pb2_grpc
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import field_mask_pb2

from libs.api import format_money, parse_money, to_timestamp
from libs.config import Settings
from libs.errors import FailedPrecondition, InvalidArgument, NotFound, Validator
from libs.grpc_client import make_channel
from libs.ids import new_resource_id
from libs.logging import get_logger
from libs.tls import channel_credentials
from services.analytics import reports
from services.analytics.periodic import run_until_stopped

log = get_logger("analytics.rules")

D = decimal.Decimal
SUB_IDS = tuple(f"sub{i}" for i in range(1, 11))
# The aliases the click path maps onto sub fields (links: SUB_ALIASES), so a rule
# names a sub field the way a tracking link's query string does.
SUB_ALIASES = {"subid": "sub1", "sub_id": "sub1", "source": "sub2", "creative": "sub3"}
METRICS = (
    "clicks", "unique_clicks", "impressions", "installs", "conversions", "cr", "revenue", "cost",
    "profit", "roi", "epc", "cpi", "invalid_rate",
)  # fmt: skip
# Compared in percent (the report's ratio x 100): roi < -50 is ROI below -50 %,
# invalid_rate > 30 is more than 30 % of the touches invalid.
PERCENT_METRICS = frozenset({"cr", "roi", "invalid_rate"})
MONEY_METRICS = frozenset({"revenue", "cost", "profit", "epc", "cpi"})
COMPARISONS: dict[int, tuple[str, Callable[[Any, Any], bool]]] = {
    pb.COMPARISON_LESS: ("<", operator.lt),
    pb.COMPARISON_LESS_OR_EQUAL: ("<=", operator.le),
    pb.COMPARISON_GREATER: (">", operator.gt),
    pb.COMPARISON_GREATER_OR_EQUAL: (">=", operator.ge),
    pb.COMPARISON_EQUAL: ("==", operator.eq),
    pb.COMPARISON_NOT_EQUAL: ("!=", operator.ne),
}
ACTIONS = ("pause_campaign", "change_budget", "set_budget", "blacklist_sub_id")
MAX_NAME = 200
MAX_CONDITIONS = 10
MAX_CAMPAIGNS = 1000
MIN_WINDOW = dt.timedelta(minutes=1)
MAX_WINDOW = dt.timedelta(days=90)
MAX_VALUE = D("1e15")
# Groups acted on per run; more matches are counted (groups_matched) but wait for the next run.
MAX_ACTIONS_PER_RUN = 1000
LOCK_TIMEOUT = "30s"
# links.v1.FlagSubIdsRequest takes at most this many.
MAX_FLAGS_PER_CALL = 1000
CENT = D("0.01")


def canonical_sub_field(name: str) -> str | None:
    k = name.strip().lower()
    if k in SUB_IDS:
        return k
    return SUB_ALIASES.get(k)


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
    def from_row(cls, row: asyncpg.Record) -> Rule:
        return cls(
            account_id=row["account_id"], rule_id=row["rule_id"], name=row["name"], enabled=row["enabled"],
            dry_run=row["dry_run"], campaign_ids=tuple(row["campaign_ids"]), grouping=row["grouping"],
            sub_id_field=row["sub_id_field"], window=dt.timedelta(seconds=row["window_s"]),
            conditions=tuple(
                Condition(c["metric"], c["comparison"], D(c["value"])) for c in orjson.loads(row["conditions"])
            ),
            action=Action.from_json(orjson.loads(row["action"])), currency_code=row["currency_code"],
        )  # fmt: skip


def rule_to_pb(row: asyncpg.Record) -> pb.Rule:
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


def _decimal(text: str) -> decimal.Decimal | None:
    try:
        value = D(text.strip().removesuffix("%"))
    except decimal.InvalidOperation:
        return None
    return value if value.is_finite() and abs(value) < MAX_VALUE else None


def validate_fields(v: Validator, rule: pb.Rule, paths: Sequence[str]) -> dict[str, Any]:
    """Checks the fields named in ``paths`` of ``rule``; returns their column
    values (conditions/action as JSON, window in seconds). Errors name the field."""
    out: dict[str, Any] = {}
    if "name" in paths:
        v.check(bool(rule.name.strip()), "rule.name", "is required")
        v.check(len(rule.name) <= MAX_NAME, "rule.name", f"must be at most {MAX_NAME} characters")
        out["name"] = rule.name.strip()
    if "enabled" in paths:
        out["enabled"] = rule.enabled
    if "dry_run" in paths:
        out["dry_run"] = rule.dry_run
    if "campaign_ids" in paths:
        ids = [c.strip() for c in rule.campaign_ids]
        v.check(len(ids) <= MAX_CAMPAIGNS, "rule.campaign_ids", f"at most {MAX_CAMPAIGNS} campaigns")
        for i, c in enumerate(ids):
            v.check(bool(c), f"rule.campaign_ids[{i}]", "must not be empty")
        out["campaign_ids"] = list(dict.fromkeys(ids))
    if "grouping" in paths:
        v.check(
            rule.grouping in (pb.RULE_GROUPING_CAMPAIGN, pb.RULE_GROUPING_SUB_ID),
            "rule.grouping",
            "is required: campaign or sub_id",
        )
        out["grouping"] = rule.grouping
    if "sub_id_field" in paths:
        field = canonical_sub_field(rule.sub_id_field) if rule.sub_id_field else ""
        if field is None:
            v.add(
                "rule.sub_id_field",
                f"{rule.sub_id_field!r} is not a sub-id field; use sub1 .. sub10 (or subid, source, creative)",
            )
        out["sub_id_field"] = field or ""
    if "window" in paths:
        w = rule.window
        seconds = w.seconds
        v.check(w.nanos == 0, "rule.window", "must be whole seconds")
        v.check(
            MIN_WINDOW.total_seconds() <= seconds <= MAX_WINDOW.total_seconds(),
            "rule.window",
            "is required: from 60s (1 minute) to 7776000s (90 days), e.g. 86400s for the last 24 h",
        )
        out["window_s"] = seconds
    if "conditions" in paths:
        conds = list(rule.conditions)
        v.check(
            1 <= len(conds) <= MAX_CONDITIONS,
            "rule.conditions",
            f"give 1 to {MAX_CONDITIONS} conditions (all must hold)",
        )
        stored = []
        for i, cond in enumerate(conds):
            metric = cond.metric.strip().lower()
            v.check(
                metric in METRICS,
                f"rule.conditions[{i}].metric",
                f"{cond.metric!r} is not a metric; use one of: {', '.join(METRICS)}",
            )
            v.check(
                cond.comparison in COMPARISONS,
                f"rule.conditions[{i}].comparison",
                "is required: less, less_or_equal, greater, greater_or_equal, equal or not_equal",
            )
            value = _decimal(cond.value)
            v.check(
                value is not None, f"rule.conditions[{i}].value", f"{cond.value!r} is not a decimal like 1000 or -50"
            )
            stored.append({"metric": metric, "comparison": cond.comparison, "value": str(value)})
        out["conditions"] = orjson.dumps(stored).decode()
    if "currency_code" in paths:
        code = rule.currency_code.strip().upper()
        v.check(
            code == "" or (len(code) == 3 and code.isalpha()), "rule.currency_code", "is not an ISO 4217 code like USD"
        )
        out["currency_code"] = code
    if "action" in paths:
        kind = rule.action.WhichOneof("kind")
        action: Action | None = None
        if kind is None:
            v.add("rule.action", "is required: pause_campaign, change_budget, set_budget or blacklist_sub_id")
        elif kind == "change_budget":
            pct = _decimal(rule.action.change_budget.percent)
            if pct is None or pct == 0 or not D(-100) <= pct <= D(1000):
                v.add("rule.action.change_budget.percent", "must be a decimal between -100 and 1000, not 0, e.g. 20")
            else:
                action = Action("change_budget", percent=pct)
        elif kind == "set_budget":
            money = rule.action.set_budget.budget
            try:
                amount, currency = parse_money(money.amount, money.currency_code, "rule.action.set_budget.budget")
            except InvalidArgument as exc:  # keep collecting the other fields' problems
                for f, d in exc.violations:
                    v.add(f, d)
            else:
                v.check(amount >= 0, "rule.action.set_budget.budget.amount", "must not be negative")
                action = Action("set_budget", amount=amount, currency_code=currency)
        else:
            action = Action(kind)
        if action is not None:
            out["action"] = orjson.dumps(action.to_json()).decode()
    return out


def check_consistency(v: Validator, values: dict[str, Any]) -> None:
    """Cross-field checks on a rule's full set of column values."""
    grouping, field = values["grouping"], values["sub_id_field"]
    if grouping == pb.RULE_GROUPING_SUB_ID and not field:
        v.add("rule.sub_id_field", "is required when grouping by sub-id: sub1 .. sub10")
    if grouping == pb.RULE_GROUPING_CAMPAIGN and field:
        v.add("rule.sub_id_field", "only applies when grouping by sub-id; leave it empty or set grouping to sub_id")
    if "action" in values:
        kind = orjson.loads(values["action"])["kind"]
        if kind == "blacklist_sub_id" and grouping != pb.RULE_GROUPING_SUB_ID:
            v.add("rule.action.blacklist_sub_id", "needs grouping by sub-id (grouping sub_id with a sub_id_field)")
        if kind in ("change_budget", "set_budget") and grouping != pb.RULE_GROUPING_CAMPAIGN:
            v.add(f"rule.action.{kind}", "needs grouping by campaign")


# ----------------------------------------------------------------------------- metrics


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


# (pool, account_id, start, end, sub_id_field or "", campaign_ids or (), currency) -> the groups
MetricsSource = Callable[[asyncpg.Pool, str, dt.datetime, dt.datetime, str, Sequence[str], str], Awaitable[Evaluation]]


async def report_groups(
    pool: asyncpg.Pool,
    account_id: str,
    start: dt.datetime,
    end: dt.datetime,
    sub_id_field: str,
    campaign_ids: Sequence[str],
    currency: str,
) -> Evaluation:
    """The rule's groups from the campaign report (reports.campaign_report, read
    from the rollups): by campaign, or by campaign and one sub field. The report
    covers the whole UTC hours overlapping [start, end)."""
    group_by = ["campaign", sub_id_field] if sub_id_field else ["campaign"]
    filters = {"campaign": list(campaign_ids)} if campaign_ids else {}
    report = await reports.campaign_report(pool, account_id, start, end, group_by, filters)
    groups = [
        Group(row.dims["campaign"], row.dims.get(sub_id_field, "") if sub_id_field else "", row_metrics(row, currency))
        for row in report.rows
    ]
    return Evaluation(report.start, report.end, groups)


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


# ----------------------------------------------------------------------------- actions (links service)


@dataclasses.dataclass(slots=True)
class ActionResult:
    outcome: int
    detail: str


class LinksActions:
    """The links service calls rules (and the sub-id flood finder) make, with the
    internal token acting for the rule's account (``x-account-id``)."""

    def __init__(self, settings: Settings) -> None:
        self._channel = make_channel(
            settings.links_addr, token=settings.internal_token, tls=channel_credentials(settings)
        )
        self._stub = links_pb2_grpc.LinksServiceStub(self._channel)
        self._accounts = accounts_pb2_grpc.AccountServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    @staticmethod
    def _md(account_id: str) -> tuple[tuple[str, str], ...]:
        return (("x-account-id", account_id),)

    async def campaign(self, account_id: str, campaign_id: str) -> lpb.Campaign | None:
        try:
            resp = await self._stub.GetCampaign(
                lpb.GetCampaignRequest(campaign_id=campaign_id), metadata=self._md(account_id)
            )
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return None
            raise
        return resp.campaign

    async def update_campaign(self, account_id: str, campaign: lpb.Campaign, paths: list[str]) -> lpb.Campaign:
        resp = await self._stub.UpdateCampaign(
            lpb.UpdateCampaignRequest(campaign=campaign, update_mask=field_mask_pb2.FieldMask(paths=paths)),
            metadata=self._md(account_id),
        )
        return resp.campaign

    async def currency(self, account_id: str) -> str:
        """The account's reporting currency (money conditions compare in it by default)."""
        resp = await self._accounts.GetAccount(
            accounts_pb2.GetAccountRequest(account_id=account_id), metadata=self._md(account_id)
        )
        return resp.account.currency_code or "USD"

    async def sub_id_entries(self, account_id: str, campaign_id: str, field: str) -> dict[int, set[str]]:
        """The campaign's black- and whitelisted values of one sub field."""
        out: dict[int, set[str]] = {lpb.SUB_ID_LIST_BLACKLIST: set(), lpb.SUB_ID_LIST_WHITELIST: set()}
        token = ""
        while True:
            resp = await self._stub.ListSubIdEntries(
                lpb.ListSubIdEntriesRequest(campaign_id=campaign_id, sub_field=field, page_size=1000, page_token=token),
                metadata=self._md(account_id),
            )
            for e in resp.entries:
                out[e.list].add(e.value)
            token = resp.next_page_token
            if not token:
                return out

    async def blacklist(self, account_id: str, campaign_id: str, field: str, value: str, reason: str) -> bool:
        resp = await self._stub.AddSubIdEntry(
            lpb.AddSubIdEntryRequest(
                entry=lpb.SubIdEntry(
                    campaign_id=campaign_id, list=lpb.SUB_ID_LIST_BLACKLIST, sub_field=field, value=value,
                    reason=reason,
                )
            ),
            metadata=self._md(account_id),
        )  # fmt: skip
        return resp.created

    async def flag_sub_ids(self, account_id: str, flags: Sequence[lpb.FlaggedSubId]) -> int:
        """Flags sub-id values as flooding (links gives their clicks
        ``flood_sub_id`` until each flag's expire_time); returns how many."""
        done = 0
        for i in range(0, len(flags), MAX_FLAGS_PER_CALL):
            resp = await self._stub.FlagSubIds(
                lpb.FlagSubIdsRequest(sub_ids=flags[i : i + MAX_FLAGS_PER_CALL]), metadata=self._md(account_id)
            )
            done += resp.flagged
        return done


def _status(value: int) -> str:
    return lpb.CampaignStatus.Name(value).removeprefix("CAMPAIGN_STATUS_").lower()


def _money_text(m: money_pb2.Money) -> str:
    return f"{m.amount} {m.currency_code}"


# ----------------------------------------------------------------------------- runs

_INSERT_RUN = """
INSERT INTO analytics.rule_runs (account_id, run_id, rule_id, trigger, slot_time, dry_run, status,
                                 window_start, window_end)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
"""
_FINISH_RUN = """
UPDATE analytics.rule_runs SET status = $3, error = $4, end_time = clock_timestamp(),
       groups_evaluated = $5, groups_matched = $6, window_start = $7, window_end = $8
WHERE account_id = $1 AND run_id = $2
"""
_INSERT_ACTION = """
INSERT INTO analytics.rule_actions (account_id, run_id, n, campaign_id, sub_id_field, sub_id_value, action,
                                    outcome, detail, metrics)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
"""


class RuleRunner:
    """Runs rules: evaluate the metrics, act through the links service, log it all."""

    def __init__(self, pool: asyncpg.Pool, links: LinksActions, metrics: MetricsSource, concurrency: int = 2) -> None:
        self._pool = pool
        self._links = links
        self._metrics = metrics
        # A run holds one pool connection (its rule's lock) and uses another: a bound
        # on concurrent runs keeps manual runs from draining the pool.
        self._slots = asyncio.Semaphore(concurrency)

    async def run(
        self,
        account_id: str,
        rule_id: str,
        *,
        trigger: int,
        dry_run: bool = False,
        slot_time: dt.datetime | None = None,
    ) -> str | None:
        """Runs one rule under its row lock (waiting up to LOCK_TIMEOUT for a
        run in progress); returns the run id, None when a scheduled run finds
        the rule deleted or disabled meanwhile."""
        async with self._slots, self._pool.acquire() as conn, conn.transaction():
            await conn.execute(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'")
            try:
                row = await conn.fetchrow(
                    "SELECT * FROM analytics.rules WHERE account_id = $1 AND rule_id = $2 FOR NO KEY UPDATE",
                    account_id,
                    rule_id,
                )
            except asyncpg.LockNotAvailableError:
                raise FailedPrecondition(f"rule {rule_id} is running now; try again in a moment") from None
            if row is None:
                if trigger == pb.RUN_TRIGGER_MANUAL:
                    raise NotFound(f"rule {rule_id!r} not found")
                return None
            rule = Rule.from_row(row)
            if trigger == pb.RUN_TRIGGER_SCHEDULE and not rule.enabled:
                return None
            return await self._run_locked(rule, trigger, dry_run or rule.dry_run, slot_time, conn)

    async def _run_locked(
        self, rule: Rule, trigger: int, dry_run: bool, slot_time: dt.datetime | None, conn: asyncpg.Connection
    ) -> str:
        end: dt.datetime = await conn.fetchval("SELECT clock_timestamp()")
        start = end - rule.window
        run_id = new_resource_id("run")
        await self._pool.execute(
            _INSERT_RUN, rule.account_id, run_id, rule.rule_id, trigger, slot_time, dry_run,
            pb.RUN_STATUS_RUNNING, start, end,
        )  # fmt: skip
        log.info("rule_run_start", account_id=rule.account_id, rule_id=rule.rule_id, run_id=run_id, dry_run=dry_run)
        try:
            currency = rule.currency_code or await self._links.currency(rule.account_id)
            evaluation = await self._metrics(
                self._pool, rule.account_id, start, end,
                rule.sub_id_field if rule.grouping == pb.RULE_GROUPING_SUB_ID else "",
                rule.campaign_ids, currency,
            )  # fmt: skip
        except Exception as exc:
            log.warning("rule_run_failed", rule_id=rule.rule_id, run_id=run_id, error=str(exc))
            await self._pool.execute(
                _FINISH_RUN, rule.account_id, run_id, pb.RUN_STATUS_FAILED, f"cannot read the metrics: {exc}",
                0, 0, start, end,
            )  # fmt: skip
            return run_id
        scope = set(rule.campaign_ids)
        groups = [g for g in evaluation.groups if not scope or g.campaign_id in scope]
        matched = [g for g in groups if all(c.holds(g.metrics) for c in rule.conditions)]
        failed = 0
        acted_on: set[str] = set()
        lists: dict[str, dict[int, set[str]]] = {}
        for n, group in enumerate(matched[:MAX_ACTIONS_PER_RUN]):
            per_campaign = rule.action.kind != "blacklist_sub_id"
            if per_campaign and group.campaign_id in acted_on:
                continue  # one campaign action per run, even when several of its groups match
            acted_on.add(group.campaign_id)
            try:
                result = await self._act(rule, run_id, group, dry_run, lists)
            except grpc.aio.AioRpcError as err:
                result = ActionResult(pb.ACTION_OUTCOME_FAILED, f"links service: {err.code().name}: {err.details()}")
            if result.outcome == pb.ACTION_OUTCOME_FAILED:
                failed += 1
            metrics = {k: str(v) for k, v in group.metrics.items() if v is not None}
            await self._pool.execute(
                _INSERT_ACTION, rule.account_id, run_id, n, group.campaign_id,
                rule.sub_id_field if rule.grouping == pb.RULE_GROUPING_SUB_ID else "", group.sub_id_value,
                rule.action.kind, result.outcome, result.detail, orjson.dumps(metrics).decode(),
            )  # fmt: skip
            log.info(
                "rule_action", rule_id=rule.rule_id, run_id=run_id, campaign_id=group.campaign_id,
                sub_id_value=group.sub_id_value, action=rule.action.kind,
                outcome=pb.ActionOutcome.Name(result.outcome), detail=result.detail,
            )  # fmt: skip
        status = pb.RUN_STATUS_PARTIAL if failed else pb.RUN_STATUS_SUCCEEDED
        await self._pool.execute(
            _FINISH_RUN, rule.account_id, run_id, status, f"{failed} action(s) failed" if failed else "",
            len(groups), len(matched), evaluation.start, evaluation.end,
        )  # fmt: skip
        return run_id

    async def _act(
        self, rule: Rule, run_id: str, group: Group, dry_run: bool, lists: dict[str, dict[int, set[str]]]
    ) -> ActionResult:
        account, cid, kind = rule.account_id, group.campaign_id, rule.action.kind
        if kind == "blacklist_sub_id":
            value, field = group.sub_id_value, rule.sub_id_field
            if not value:
                return ActionResult(pb.ACTION_OUTCOME_SKIPPED, "clicks without a sub-id value cannot be blacklisted")
            if cid not in lists:
                lists[cid] = await self._links.sub_id_entries(account, cid, field)
            if value in lists[cid][lpb.SUB_ID_LIST_WHITELIST]:
                return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"{field}={value!r} is whitelisted")
            if value in lists[cid][lpb.SUB_ID_LIST_BLACKLIST]:
                return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"{field}={value!r} is already blacklisted")
            if dry_run:
                return ActionResult(pb.ACTION_OUTCOME_DRY_RUN, f"would blacklist {field}={value!r}")
            try:
                created = await self._links.blacklist(
                    account, cid, field, value, f"rule {rule.rule_id} ({rule.name[:100]}) run {run_id}"
                )
            except grpc.aio.AioRpcError as err:
                if err.code() == grpc.StatusCode.FAILED_PRECONDITION:  # whitelisted meanwhile
                    return ActionResult(pb.ACTION_OUTCOME_SKIPPED, err.details() or "whitelisted")
                raise
            lists[cid][lpb.SUB_ID_LIST_BLACKLIST].add(value)
            if not created:
                return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"{field}={value!r} is already blacklisted")
            return ActionResult(pb.ACTION_OUTCOME_APPLIED, f"blacklisted {field}={value!r}")

        campaign = await self._links.campaign(account, cid)
        if campaign is None:
            return ActionResult(pb.ACTION_OUTCOME_SKIPPED, "campaign not found")
        if kind == "pause_campaign":
            if campaign.status != lpb.CAMPAIGN_STATUS_ACTIVE:
                return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"campaign is {_status(campaign.status)}")
            if dry_run:
                return ActionResult(pb.ACTION_OUTCOME_DRY_RUN, "would pause: active -> paused")
            await self._links.update_campaign(
                account, lpb.Campaign(campaign_id=cid, status=lpb.CAMPAIGN_STATUS_PAUSED), ["status"]
            )
            return ActionResult(pb.ACTION_OUTCOME_APPLIED, "paused: active -> paused")
        if campaign.status == lpb.CAMPAIGN_STATUS_ARCHIVED:
            return ActionResult(pb.ACTION_OUTCOME_SKIPPED, "campaign is archived")
        old = campaign.budget if campaign.HasField("budget") and campaign.budget.currency_code else None
        if kind == "change_budget":
            if old is None:
                return ActionResult(pb.ACTION_OUTCOME_SKIPPED, "campaign has no budget to change (set_budget sets one)")
            assert rule.action.percent is not None
            amount = (D(old.amount) * (1 + rule.action.percent / 100)).quantize(CENT, decimal.ROUND_HALF_EVEN)
            new = money_pb2.Money(amount=format_money(max(amount, D(0))), currency_code=old.currency_code)
        else:
            assert rule.action.amount is not None
            new = money_pb2.Money(amount=format_money(rule.action.amount), currency_code=rule.action.currency_code)
        before = _money_text(old) if old is not None else "none"
        if old is not None and old.currency_code == new.currency_code and D(old.amount) == D(new.amount):
            return ActionResult(pb.ACTION_OUTCOME_SKIPPED, f"budget is already {before}")
        if dry_run:
            return ActionResult(pb.ACTION_OUTCOME_DRY_RUN, f"would change budget {before} -> {_money_text(new)}")
        await self._links.update_campaign(account, lpb.Campaign(campaign_id=cid, budget=new), ["budget"])
        return ActionResult(pb.ACTION_OUTCOME_APPLIED, f"budget {before} -> {_money_text(new)}")


# ----------------------------------------------------------------------------- the schedule

# Claims due rules: each gets its next slot on the interval grid (the first one after
# now) in the same statement, so no other replica sees it due for this slot.
_CLAIM = """
WITH due AS (
    SELECT account_id, rule_id, next_run_time AS slot FROM analytics.rules
    WHERE enabled AND next_run_time <= clock_timestamp()
    ORDER BY next_run_time LIMIT $2
    FOR UPDATE SKIP LOCKED
)
UPDATE analytics.rules r
SET next_run_time = due.slot + make_interval(
        secs => $1 * (floor(extract(epoch FROM clock_timestamp() - due.slot) / $1) + 1)),
    last_run_time = clock_timestamp()
FROM due
WHERE r.account_id = due.account_id AND r.rule_id = due.rule_id
RETURNING r.account_id, r.rule_id, due.slot
"""


class RuleScheduler:
    """Every ``rules_interval_s`` each enabled rule runs once per slot. Any
    number of replicas can run this loop: a slot is claimed by exactly one."""

    def __init__(self, pool: asyncpg.Pool, runner: RuleRunner, interval_s: float, batch: int = 20) -> None:
        self._pool = pool
        self._runner = runner
        self.interval_s = interval_s
        self._batch = batch
        self._stopping = asyncio.Event()

    async def run_due_once(self) -> list[str]:
        """Claims and runs the rules that are due; returns the run ids."""
        runs: list[str] = []
        while True:
            claimed = await self._pool.fetch(_CLAIM, self.interval_s, self._batch)
            for row in claimed:
                try:
                    run_id = await self._runner.run(
                        row["account_id"], row["rule_id"], trigger=pb.RUN_TRIGGER_SCHEDULE, slot_time=row["slot"]
                    )
                except Exception as exc:  # one rule's trouble does not stop the others
                    log.warning("rule_run_error", rule_id=row["rule_id"], error=str(exc))
                    continue
                if run_id:
                    runs.append(run_id)
            if len(claimed) < self._batch:
                return runs

    async def run(self) -> None:
        await run_until_stopped(self.run_due_once, self._stopping, min(self.interval_s, 5.0), log, "rules pass failed")

    async def stop(self) -> None:
        self._stopping.set()
