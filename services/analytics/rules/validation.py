"""A rule's fields checked: each field a create or update names (errors name
the field, ``rule.<field>``), and the checks across fields. Pure."""

from __future__ import annotations

import decimal
from collections.abc import Sequence
from typing import Any

import orjson
from clicktrail.analytics.v1 import rules_pb2 as pb

from libs.api import parse_money
from libs.errors import InvalidArgument, Validator
from libs.vocab.subids import canonical_sub_field
from libs.vocab.windows import RULE_WINDOW_MAX as MAX_WINDOW
from libs.vocab.windows import RULE_WINDOW_MIN as MIN_WINDOW
from services.analytics.rules.domain import COMPARISONS, METRICS, Action

D = decimal.Decimal
MAX_NAME = 200
MAX_CONDITIONS = 10
MAX_CAMPAIGNS = 1000
MAX_VALUE = D("1e15")


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
