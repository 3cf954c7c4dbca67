"""Console forms -> protobuf messages, and service field violations -> the form
field they belong to. Pure functions (no I/O): a form is the parsed body."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections.abc import Callable
from typing import Any

from clicktrail.analytics.v1 import metrics_pb2
from clicktrail.analytics.v1 import rules_pb2 as rules_pb
from clicktrail.attribution.v1 import config_pb2
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from console.choices import RULE_ACTIONS
from libs.conditions import parse_goal_condition, parse_rule_condition, parse_window, shown
from libs.flow_text import parse_alias, parse_filter, parse_status_word

# Frozen once a campaign is published (links.v1 UpdateCampaign).
FROZEN_FIELDS = ("type", "traffic_type", "partner_id", "app_id", "target_goal_id")
# What the goal form edits (UpdateGoal's mask: only what changed, so a published campaign's goal can be renamed).
GOAL_FIELDS = ("name", "event", "kind", "occurrence", "nth", "value_path", "currency_path", "conditions")
# What the template form edits (partner_id is fixed at create).
TEMPLATE_FIELDS = ("name", "app_id", "trigger", "goal_id", "sending_mode", "method", "url_template", "body_template",
                   "headers", "enabled")  # fmt: skip
# What the rule form edits (UpdateRule's mask).
RULE_FIELDS = (
    "name", "enabled", "dry_run", "campaign_ids", "grouping", "sub_id_field", "window", "conditions", "action",
    "currency_code",
)  # fmt: skip
# Rule violations by form field: the action's fields, the grouping.
RULE_FIELD_OF = (
    ("action.change_budget", "percent"), ("action.set_budget", "budget"), ("grouping", "group_by"),
    ("sub_id_field", "group_by"), ("currency_code", "currency"),
)  # fmt: skip
UNREADABLE = "Some fields could not be read: see below."
_INDEXED = re.compile(r"(?P<name>\w+)\[(?P<i>\d+)\](?:\.(?P<sub>[\w.]+))?")


class Form:
    """A parsed form body or query string: every value of a name, stripped on reading."""

    def __init__(self, values: dict[str, list[str]] | None = None) -> None:
        self.values: dict[str, list[str]] = values or {}

    def f(self, name: str, default: str = "") -> str:
        values = self.values.get(name)
        return values[0].strip() if values else default

    def fs(self, name: str) -> list[str]:
        return [v.strip() for v in self.values.get(name, []) if v.strip()]

    def flat(self) -> dict[str, str]:
        """The first value of each name, as typed (to show the form again)."""
        return {k: v[0] for k, v in self.values.items() if v}


def to_int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        return 0


def form_fields(violations: dict[str, str], prefix: str) -> dict[str, str]:
    """Field violations keyed by form field: "campaign.budget.amount" -> "budget_amount"."""
    out: dict[str, str] = {}
    for field, description in violations.items():
        name = field.removeprefix(prefix)
        if name.startswith("budget"):
            name = "budget_amount"
        out[name] = description
    return out


def field_errors(
    violations: dict[str, str], prefix: str, lines: dict[str, list[int]] | None = None,
    renames: tuple[tuple[str, str], ...] = (),
) -> dict[str, str]:  # fmt: skip
    """Field violations keyed by form field: "goal.conditions[1].field" -> "conditions"
    ("line 3: field ..." when ``lines`` says which line of the textarea item 1 came
    from); ``renames`` maps a path's start to the form field it belongs to."""
    out: dict[str, str] = {}
    for path, description in violations.items():
        name = path.removeprefix(prefix)
        renamed = next((field for start, field in renames if name.startswith(start)), "")
        m = _INDEXED.fullmatch(name)
        if renamed:
            name = renamed
        elif m:
            name, i = m["name"], int(m["i"])
            numbers = (lines or {}).get(name, [])
            where = f"line {numbers[i]}" if i < len(numbers) else f"item {i + 1}"
            description = f"{where}: {m['sub'] + ' ' if m['sub'] else ''}{description}"
        else:
            name = name.split(".")[0]
        out[name] = f"{out[name]}; {description}" if name in out else description
    return out


def lines_of(text: str) -> list[tuple[int, str]]:
    """The non-blank lines of a textarea with their (1-based) numbers."""
    return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1) if line.strip()]


def parse_lines(form: Form, name: str, parse: Callable[[str], Any]) -> tuple[list[Any], list[int], str]:
    """A textarea of one item per line through the shared parser: the items, the
    line each came from, and what is wrong with the lines that do not parse."""
    items, numbers, problems = [], [], []
    for n, line in lines_of(form.f(name)):
        try:
            items.append(parse(line))
            numbers.append(n)
        except ValueError as exc:
            problems.append(f"line {n} ({shown(line)!r}): {exc}")
    return items, numbers, "; ".join(problems)


def header_lines(text: str) -> dict[str, str]:
    """A template's headers textarea, one "Name: value" a line (blank lines skipped);
    ValueError naming the first line that is not one."""
    out: dict[str, str] = {}
    for _, line in lines_of(text):
        name, found, value = line.partition(":")
        if not found or not name.strip():
            raise ValueError(f"a header line takes NAME: VALUE, got {line!r}")
        out[name.strip()] = value.strip()
    return out


def campaign_from_form(form: Form, currency: str) -> lpb.Campaign:
    """The campaign the form describes (a budget without a currency is in ``currency``)."""
    c = lpb.Campaign(
        name=form.f("name"),
        type=to_int(form.f("type")),  # type: ignore[arg-type]
        traffic_type=to_int(form.f("traffic_type")),  # type: ignore[arg-type]
        partner_id=form.f("partner_id"),
        app_id=form.f("app_id"),
        status=to_int(form.f("status")),  # type: ignore[arg-type]
        fallback_url=form.f("fallback_url"),
        target_goal_id=form.f("target_goal_id"),
    )
    if form.f("budget_amount"):
        c.budget.amount = form.f("budget_amount")
        c.budget.currency_code = form.f("budget_currency") or currency
    return c


def goal_from_form(form: Form) -> tuple[config_pb2.Goal, list[int], dict[str, str]]:
    """The goal the form describes, the line of each condition, and the fields that do not parse."""
    conditions, numbers, problem = parse_lines(form, "conditions", parse_goal_condition)
    occurrence = to_int(form.f("occurrence"))
    goal = config_pb2.Goal(
        name=form.f("name"), event=form.f("event"), kind=to_int(form.f("kind")),  # type: ignore[arg-type]
        occurrence=occurrence,  # type: ignore[arg-type]
        nth=to_int(form.f("nth")) if occurrence == config_pb2.OCCURRENCE_NTH else 0, conditions=conditions,
        value_path=form.f("value_path"), currency_path=form.f("currency_path"),
    )  # fmt: skip
    return goal, numbers, ({"conditions": problem} if problem else {})


def template_from_form(form: Form) -> tuple[ppb.Template, dict[str, str]]:
    """The template the form describes (without partner_id), and the fields that do not parse."""
    fields: dict[str, str] = {}
    headers: dict[str, str] = {}
    try:
        headers = header_lines(form.f("headers"))
    except ValueError as exc:
        fields["headers"] = str(exc)
    trigger = to_int(form.f("trigger"))
    template = ppb.Template(
        name=form.f("name"), app_id=form.f("app_id"), trigger=trigger,  # type: ignore[arg-type]
        goal_id=form.f("goal_id") if trigger == ppb.TRIGGER_GOAL else "",
        sending_mode=to_int(form.f("sending_mode")), method=to_int(form.f("method")),  # type: ignore[arg-type]
        url_template=form.f("url_template"), body_template=form.f("body_template"), headers=headers,
        enabled=form.f("enabled") == "1",
    )  # fmt: skip
    return template, fields


def rule_from_form(form: Form, currency: str) -> tuple[rules_pb.Rule, list[int], dict[str, str]]:
    """The rule the form describes, the line of each condition, and the fields that do not parse
    (a set budget without a currency is in ``currency``)."""
    fields: dict[str, str] = {}
    conditions, numbers, problem = parse_lines(form, "conditions", parse_rule_condition)
    if problem:
        fields["conditions"] = problem
    window = duration_pb2.Duration()
    try:
        window = parse_window(form.f("window"))
    except ValueError as exc:
        fields["window"] = str(exc)
    group = form.f("group_by") or "campaign"
    chosen_currency = form.f("currency").upper()
    action = rules_pb.RuleAction()
    kind = form.f("action")
    if kind == "change_budget":
        action.change_budget.percent = form.f("percent").removesuffix("%").strip()
    elif kind == "set_budget":
        action.set_budget.budget.CopyFrom(money_pb2.Money(
            amount=form.f("budget"), currency_code=chosen_currency or currency,
        ))  # fmt: skip
    elif kind in dict(RULE_ACTIONS):
        getattr(action, kind).SetInParent()
    rule = rules_pb.Rule(
        name=form.f("name"), enabled=form.f("enabled") == "1", dry_run=form.f("dry_run") == "1",
        campaign_ids=form.fs("campaign_ids"),
        grouping=rules_pb.RULE_GROUPING_CAMPAIGN if group == "campaign" else rules_pb.RULE_GROUPING_SUB_ID,
        sub_id_field="" if group == "campaign" else group, window=window, conditions=conditions, action=action,
        currency_code=chosen_currency,
    )  # fmt: skip
    return rule, numbers, fields


def funnel_steps(text: str) -> list[metrics_pb2.FunnelStep]:
    """ "screen:home, action:purchase" -> funnel steps (a bare name is a screen)."""
    steps = []
    for part in text.split(","):
        kind, sep, name = part.strip().partition(":")
        if not part.strip():
            continue
        if not sep:
            steps.append(metrics_pb2.FunnelStep(screen=kind.strip()))
        elif kind.strip() == "action":
            steps.append(metrics_pb2.FunnelStep(action=name.strip()))
        else:
            steps.append(metrics_pb2.FunnelStep(screen=name.strip()))
    return steps


# ---- issue 21: offers, landers, a campaign's streams, link options

# What the offer / lander / stream forms edit (their Update masks).
OFFER_FIELDS = ("name", "partner_id", "url", "payout_type", "payout", "countries", "daily_cap", "total_cap",
                "cap_action", "cap_url", "status")  # fmt: skip
LANDER_FIELDS = ("name", "url", "type", "macros")
STREAM_FIELDS = ("name", "filters", "action", "landers", "offers", "url", "paused")
LINK_OPTION_FIELDS = ("domain", "expire_time", "max_clicks", "redirect_status", "deep_link")
REDIRECT_STATUSES = ((0, "302 (default)"), (301, "301 permanent"), (307, "307 temporary, keeps the method"))


def _count(form: Form, name: str, fields: dict[str, str], what: str = "a whole number") -> int:
    text = form.f(name)
    if not text:
        return 0
    try:
        return int(text)
    except ValueError:
        fields[name] = f"{text!r} is not {what}"
        return 0


def offer_from_form(form: Form, currency: str) -> tuple[apb.Offer, dict[str, str]]:
    """The offer the form describes and the fields that do not parse (a payout without
    a currency is in ``currency``; countries split on commas or spaces)."""
    fields: dict[str, str] = {}
    offer = apb.Offer(
        name=form.f("name"), partner_id=form.f("partner_id"), url=form.f("url"),
        payout_type=to_int(form.f("payout_type")), cap_action=to_int(form.f("cap_action")),  # type: ignore[arg-type]
        cap_url=form.f("cap_url"), status=to_int(form.f("status")),  # type: ignore[arg-type]
        countries=[c.upper() for c in re.split(r"[\s,]+", form.f("countries")) if c],
        daily_cap=_count(form, "daily_cap", fields), total_cap=_count(form, "total_cap", fields),
    )  # fmt: skip
    if form.f("payout_amount") or form.f("payout_currency"):
        offer.payout.amount = form.f("payout_amount")
        offer.payout.currency_code = (form.f("payout_currency") or currency).upper()
    return offer, fields


def lander_from_form(form: Form) -> tuple[apb.Lander, list[int], dict[str, str]]:
    """The lander the form describes (macros one NAME=VALUE a line), the line of each macro,
    and the fields that do not parse."""
    macros: dict[str, str] = {}
    numbers, problems = [], []
    for n, line in lines_of(form.f("macros")):
        name, found, value = line.partition("=")
        if not found or not name.strip():
            problems.append(f"line {n} ({shown(line)!r}): a macro takes NAME=VALUE")
            continue
        macros[name.strip()] = value.strip()
        numbers.append(n)
    lander = apb.Lander(name=form.f("name"), url=form.f("url"), type=to_int(form.f("type")), macros=macros)  # type: ignore[arg-type]
    return lander, numbers, ({"macros": "; ".join(problems)} if problems else {})


def stream_from_form(form: Form) -> tuple[apb.Stream, dict[str, list[int]], dict[str, str]]:
    """The stream the form describes: filters one ``[!]FIELD=V1,V2`` a line, a weight per
    lander (``lw.<id>``) and offer (``ow.<id>``) — blank: not rotated. Returns the stream,
    the line of each filter, and the fields that do not parse."""
    fields: dict[str, str] = {}
    filters, numbers, problem = parse_lines(form, "filters", parse_filter)
    if problem:
        fields["filters"] = problem
    stream = apb.Stream(
        name=form.f("name"), action=to_int(form.f("action")), filters=filters,  # type: ignore[arg-type]
        url=form.f("url"), paused=form.f("paused") == "1",
    )  # fmt: skip
    for prefix, kind in (("lw.", "landers"), ("ow.", "offers")):
        bad = []
        for name in sorted(form.values):
            text = form.f(name)
            if not name.startswith(prefix) or not text:
                continue
            try:
                weight = int(text)
            except ValueError:
                bad.append(f"{name.removeprefix(prefix)}: {text!r} is not a whole number")
                continue
            if kind == "landers":
                stream.landers.append(apb.WeightedLander(lander_id=name.removeprefix(prefix), weight=weight))
            else:
                stream.offers.append(apb.WeightedOffer(offer_id=name.removeprefix(prefix), weight=weight))
        if bad:
            fields[kind] = "; ".join(bad)
    return stream, {"filters": numbers}, fields


def link_options_from_form(form: Form, time_zone: str, link: lpb.Link) -> dict[str, str]:
    """Sets the link options the form gives on ``link`` (expires: a datetime-local in the
    account's time zone; blank: none); returns the fields that do not parse."""
    fields: dict[str, str] = {}
    link.domain = form.f("domain")
    link.deep_link = form.f("deep_link")  # the in-app destination (deferred deep link)
    link.max_clicks = _count(form, "max_clicks", fields)
    link.redirect_status = _count(form, "redirect_status", fields)
    link.ClearField("expire_time")
    if form.f("expires"):
        try:
            when = dt.datetime.fromisoformat(form.f("expires"))
        except ValueError:
            fields["expires"] = f"{form.f('expires')!r} is not a date and time (2026-12-31T23:59)"
        else:
            if when.tzinfo is None:
                when = when.replace(tzinfo=zone(time_zone))
            link.expire_time.FromDatetime(when)
    return fields


def zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def postback_format_from_form(form: Form) -> tuple[config_pb2.PostbackFormat, dict[str, list[int]], dict[str, str]]:
    """A partner's postback format from its form (aliases one ``FIELD=P1,P2`` a line,
    status words one ``WORD=STATUS`` a line): the format (without partner_id), the line
    of each item, and the fields that do not parse."""
    aliases, alias_lines, alias_problem = parse_lines(form, "aliases", parse_alias)
    words, word_lines, word_problem = parse_lines(form, "status_words", parse_status_word)
    fmt = config_pb2.PostbackFormat(
        preset_id=form.f("preset_id"),
        aliases=[config_pb2.ParameterAliases(field=f, params=p) for f, p in aliases],
        status_words=dict(words),
    )
    fields = {k: v for k, v in (("aliases", alias_problem), ("status_words", word_problem)) if v}
    return fmt, {"aliases": alias_lines, "status_words": word_lines}, fields
