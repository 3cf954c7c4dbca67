"""`clicktrail rule ...`: automation rules on campaign report metrics (pause a
campaign, change its budget, blacklist a sub-id), their runs and actions."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import typer
from clicktrail.analytics.v1 import rules_pb2 as pb
from clicktrail.analytics.v1 import rules_pb2_grpc as pb_grpc
from clicktrail.type.v1 import money_pb2
from google.protobuf import duration_pb2

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    account_creds,
    emit,
    emit_deleted,
    emit_list,
    field_mask,
    list_pages,
    note,
    print_json,
    rpc,
    to_dict,
)
from libs.conditions import describe_rule_condition, parse_rule_condition, parse_window, shown

app = typer.Typer(
    help="Automation rules: conditions on campaign report metrics over a rolling window (e.g. ROI < -50% "
    "with at least 1,000 clicks over the last 24 h), checked every 5 minutes, with an action: pause the "
    "campaign, change or set its budget, or blacklist the sub-id. Every run and action is logged (`rule runs`).",
    no_args_is_help=True,
)

Stub = pb_grpc.RuleServiceStub
COLUMNS = ["rule_id", "name", "enabled", "dry_run", "grouping", "sub_id_field", "window", "next_run_time"]
RUN_COLUMNS = ["run_id", "rule_id", "trigger", "dry_run", "status", "groups_evaluated", "groups_matched", "start_time"]
ACTION_COLUMNS = ["campaign_id", "sub_id_field", "sub_id_value", "action", "outcome", "detail"]
RuleId = Annotated[str, typer.Argument(help="The rule's id.", show_default=False)]

ACTIONS = ("pause", "change-budget", "set-budget", "blacklist")
GROUPS = "campaign, or a sub-id field: sub1 .. sub10 (aliases subid, source, creative)"

WHEN_HELP = (
    "A condition 'METRIC OP VALUE'; repeat for several (all must hold). METRIC: clicks, unique_clicks, "
    "impressions, installs, conversions, cr, revenue, cost, profit, roi, epc, cpi, invalid_rate. "
    "OP: < <= > >= == !=. cr, roi and invalid_rate are in percent: 'roi < -50%', 'invalid_rate > 30%'."
)
NameOpt = Annotated[str | None, typer.Option("--name", help="Rule name.")]
CampaignOpt = Annotated[
    list[str] | None,
    typer.Option("--campaign", help="A campaign the rule watches; repeat for several. Default: every campaign."),
]
GroupByOpt = Annotated[str | None, typer.Option("--group-by", help=f"What one checked row is: {GROUPS}.")]
WindowOpt = Annotated[
    str | None, typer.Option("--window", help="The rolling window: 30m, 24h, 7d (1 minute to 90 days).")
]
WhenOpt = Annotated[list[str] | None, typer.Option("--when", help=WHEN_HELP)]
ActionOpt = Annotated[
    str | None,
    typer.Option(
        "--action",
        help="pause | change-budget (with --percent) | set-budget (with --budget, --currency) | blacklist "
        "(needs --group-by sub1..sub10).",
    ),
]
PercentOpt = Annotated[
    str | None, typer.Option("--percent", help="change-budget: e.g. 20 (raise by 20%) or -10.", show_default=False)
]
BudgetOpt = Annotated[str | None, typer.Option("--budget", help="set-budget: the amount, e.g. 150.00.")]
CurrencyOpt = Annotated[
    str | None,
    typer.Option("--currency", help="set-budget currency, and the currency money conditions compare in (ISO 4217)."),
]


def _conditions(when: list[str]) -> list[pb.Condition]:
    out = []
    for text in when:
        try:
            out.append(parse_rule_condition(text))
        except ValueError as exc:
            raise UsageError(f"--when {shown(text)!r}: {exc}") from None
    return out


def _window(text: str) -> duration_pb2.Duration:
    try:
        return parse_window(text)
    except ValueError as exc:
        raise UsageError(f"--window {shown(text)!r}: {exc}") from None


def _action(kind: str, percent: str | None, budget: str | None, currency: str | None) -> pb.RuleAction:
    a = pb.RuleAction()
    kind = kind.strip().lower().replace("_", "-")
    if kind == "pause":
        a.pause_campaign.SetInParent()
    elif kind == "blacklist":
        a.blacklist_sub_id.SetInParent()
    elif kind == "change-budget":
        if percent is None:
            raise UsageError("--action change-budget needs --percent, e.g. --percent 20")
        a.change_budget.percent = percent.removesuffix("%")
    elif kind == "set-budget":
        if budget is None:
            raise UsageError("--action set-budget needs --budget, e.g. --budget 150 --currency USD")
        try:
            amount = Decimal(budget)
        except InvalidOperation:
            raise UsageError(f"--budget {budget!r} is not a decimal amount") from None
        a.set_budget.budget.CopyFrom(money_pb2.Money(amount=str(amount), currency_code=(currency or "USD").upper()))
    else:
        raise UsageError(f"--action {kind!r} is not one of: {', '.join(ACTIONS)}")
    if percent is not None and kind != "change-budget":
        raise UsageError("--percent goes with --action change-budget")
    if budget is not None and kind != "set-budget":
        raise UsageError("--budget goes with --action set-budget")
    return a


def _grouping(group_by: str) -> tuple[pb.RuleGrouping, str]:
    g = group_by.strip().lower()
    if g == "campaign":
        return pb.RULE_GROUPING_CAMPAIGN, ""
    return pb.RULE_GROUPING_SUB_ID, g  # the service checks the sub field and names it


def _emit_rule(rule: pb.Rule, json_out: bool) -> None:
    """--json: the proto fields; else conditions as 'roi < -50%' and the action by name."""
    if json_out:
        emit(rule, True)
        return
    data = to_dict(rule)
    data["conditions"] = [describe_rule_condition(c) for c in rule.conditions]
    kind = rule.action.WhichOneof("kind") or ""
    if kind == "change_budget":
        kind = f"change_budget {rule.action.change_budget.percent}%"
    elif kind == "set_budget":
        b = rule.action.set_budget.budget
        kind = f"set_budget {b.amount} {b.currency_code}"
    data["action"] = kind
    emit(data, False)


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Rule name.")],
    when: Annotated[list[str], typer.Option("--when", help=WHEN_HELP)],
    action: Annotated[
        str,
        typer.Option(
            "--action",
            help="pause | change-budget (with --percent) | set-budget (with --budget) | blacklist "
            "(needs --group-by sub1..sub10).",
        ),
    ],
    window: Annotated[
        str, typer.Option("--window", help="The rolling window: 30m, 24h, 7d (1 minute to 90 days).")
    ] = "24h",
    group_by: Annotated[str, typer.Option("--group-by", help=f"What one checked row is: {GROUPS}.")] = "campaign",
    campaign: CampaignOpt = None,
    percent: PercentOpt = None,
    budget: BudgetOpt = None,
    currency: CurrencyOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Scheduled runs only log what they would do.")] = False,
    disabled: Annotated[bool, typer.Option("--disabled", help="Create it switched off (no scheduled runs).")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create a rule; prints its rule_id. It is checked every 5 minutes (CLICKTRAIL_RULES_INTERVAL_S).

    Example:  clicktrail rule create --name Losers --when "roi < -50%" --when "clicks >= 1000" --action pause

    Example:  clicktrail rule create --name Dead --group-by sub1 --when "conversions == 0" --action blacklist
    """
    grouping, field = _grouping(group_by)
    rule = pb.Rule(
        name=name, enabled=not disabled, dry_run=dry_run, campaign_ids=campaign or [], grouping=grouping,
        sub_id_field=field, window=_window(window), conditions=_conditions(when),
        action=_action(action, percent, budget, currency),
        currency_code=(currency or "").upper(),
    )  # fmt: skip
    resp = rpc("analytics", Stub, "CreateRule", pb.CreateRuleRequest(rule=rule), account_creds(api_key))
    _emit_rule(resp.rule, json_out)


@app.command("get")
def get(rule_id: RuleId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show a rule.

    Example:  clicktrail rule get RULE_ID
    """
    resp = rpc("analytics", Stub, "GetRule", pb.GetRuleRequest(rule_id=rule_id), account_creds(api_key))
    _emit_rule(resp.rule, json_out)


@app.command("list")
def list_(limit: Limit = 50, page_token: PageToken = "", api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """List the account's rules.

    Example:  clicktrail rule list
    """
    items, nxt = list_pages(
        "analytics", Stub, "ListRules", pb.ListRulesRequest(), "rules", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    emit_list(items, "rules", COLUMNS, json_out, nxt)


@app.command("update")
def update(
    rule_id: RuleId,
    name: NameOpt = None,
    enable: Annotated[
        bool | None, typer.Option("--enable/--disable", help="Switch scheduled runs on or off.", show_default=False)
    ] = None,
    dry_run: Annotated[
        bool | None,
        typer.Option("--dry-run/--live", help="Scheduled runs only log (dry run), or act (live).", show_default=False),
    ] = None,
    campaign: CampaignOpt = None,
    all_campaigns: Annotated[bool, typer.Option("--all-campaigns", help="Watch every campaign again.")] = False,
    group_by: GroupByOpt = None,
    window: WindowOpt = None,
    when: WhenOpt = None,
    action: ActionOpt = None,
    percent: PercentOpt = None,
    budget: BudgetOpt = None,
    currency: CurrencyOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a rule; only the fields given change. --when replaces every condition.

    Example:  clicktrail rule update RULE_ID --when "roi < -30%" --when "clicks >= 2000" --live
    """
    rule = pb.Rule(rule_id=rule_id)
    paths: list[str] = []
    if name is not None:
        rule.name = name
        paths.append("name")
    if enable is not None:
        rule.enabled = enable
        paths.append("enabled")
    if dry_run is not None:
        rule.dry_run = dry_run
        paths.append("dry_run")
    if campaign or all_campaigns:
        if campaign and all_campaigns:
            raise UsageError("give --campaign or --all-campaigns, not both")
        rule.campaign_ids.extend(campaign or [])
        paths.append("campaign_ids")
    if group_by is not None:
        rule.grouping, rule.sub_id_field = _grouping(group_by)
        paths += ["grouping", "sub_id_field"]
    if window is not None:
        rule.window.CopyFrom(_window(window))
        paths.append("window")
    if when:
        rule.conditions.extend(_conditions(when))
        paths.append("conditions")
    if action is not None:
        rule.action.CopyFrom(_action(action, percent, budget, currency))
        paths.append("action")
    elif percent is not None or budget is not None:
        raise UsageError("--percent and --budget go with --action")
    if currency is not None:
        rule.currency_code = currency.upper()
        paths.append("currency_code")
    req = pb.UpdateRuleRequest(rule=rule)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("analytics", Stub, "UpdateRule", req, account_creds(api_key))
    _emit_rule(resp.rule, json_out)


@app.command("delete")
def delete(rule_id: RuleId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete a rule and its run log.

    Example:  clicktrail rule delete RULE_ID
    """
    rpc("analytics", Stub, "DeleteRule", pb.DeleteRuleRequest(rule_id=rule_id), account_creds(api_key))
    emit_deleted("rule", rule_id, json_out)


def _print_runs(runs: list[pb.RuleRun], json_out: bool, nxt: str) -> None:
    if json_out:
        print_json({"runs": [to_dict(r) for r in runs], "next_page_token": nxt})
        return
    emit_list(runs, "runs", RUN_COLUMNS, False, nxt)
    for r in runs:
        if r.actions:
            note(f"run {r.run_id} actions:")
            emit_list(r.actions, "actions", ACTION_COLUMNS, False)


@app.command("run")
def run_(
    rule_id: RuleId,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only log what it would do.")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Run a rule now (outside its schedule) and print the run with its actions.

    Example:  clicktrail rule run RULE_ID --dry-run
    """
    resp = rpc(
        "analytics", Stub, "RunRule", pb.RunRuleRequest(rule_id=rule_id, dry_run=dry_run), account_creds(api_key)
    )
    if json_out:
        print_json(to_dict(resp.run))
        return
    _print_runs([resp.run], False, "")


@app.command("runs")
def runs(
    rule_id: Annotated[str, typer.Argument(help="Only this rule's runs.", show_default=False)] = "",
    limit: Limit = 20,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List rule runs, newest first, with their actions.

    Example:  clicktrail rule runs RULE_ID --limit 5
    """
    items, nxt = list_pages(
        "analytics", Stub, "ListRuleRuns", pb.ListRuleRunsRequest(rule_id=rule_id), "runs", account_creds(api_key),
        limit=limit, page_token=page_token,
    )  # fmt: skip
    _print_runs(items, json_out, nxt)
