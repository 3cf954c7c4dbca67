"""`clicktrail campaign ...`: campaigns and their life cycle
(draft -> active -> paused/active -> archived)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated

import grpc
import typer
from clicktrail.attribution.v1 import config_pb2 as attribution_pb
from clicktrail.attribution.v1 import config_pb2_grpc as attribution_grpc
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc
from clicktrail.type.v1 import money_pb2

from cli.choices import CampaignStatus, CampaignType, InvalidTrafficAction, TrafficType
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
    enum_number,
    field_mask,
    list_pages,
    rpc,
    run_async,
)
from cli.options import duration_opt, parse_duration
from libs.clients import CallError, ServiceClient

app = typer.Typer(
    help="Campaigns: a partner's traffic for your apps or sites. A draft can change freely; "
    "once published (active) its app, partner and type are frozen.",
    no_args_is_help=True,
)

Stub = pb_grpc.LinksServiceStub
STATUS = pb.CampaignStatus.DESCRIPTOR
TYPE = pb.CampaignType.DESCRIPTOR
TRAFFIC = pb.TrafficType.DESCRIPTOR
INVALID_ACTION = pb.InvalidTrafficAction.DESCRIPTOR
COLUMNS = ["campaign_id", "name", "status", "type", "partner_id", "app_id", "create_time"]
CampaignId = Annotated[str, typer.Argument(help="The campaign's id.", show_default=False)]

AppOpt = Annotated[str | None, typer.Option("--app", help="App id the campaign installs.")]
PartnerOpt = Annotated[str | None, typer.Option("--partner", help="Partner id.")]
TypeOpt = Annotated[
    CampaignType | None, typer.Option("--type", case_sensitive=False, help="Campaign type.", show_default=False)
]
TrafficOpt = Annotated[
    TrafficType | None, typer.Option("--traffic-type", case_sensitive=False, help="Traffic type.", show_default=False)
]
FallbackOpt = Annotated[
    str | None, typer.Option("--fallback-url", help="Where clicks go while the campaign is paused or archived.")
]
BudgetOpt = Annotated[str | None, typer.Option("--budget", help="Budget, a decimal amount, e.g. 100.00.")]
InvalidTrafficOpt = Annotated[
    InvalidTrafficAction | None,
    typer.Option(
        "--invalid-traffic", case_sensitive=False, show_default=False,
        help="What invalid clicks (bots, data centres, floods...) get: redirect as usual (default), the "
        "fallback URL, or block (no redirect). Recorded either way; can change at any time.",
    ),
]  # fmt: skip
CurrencyOpt = Annotated[
    str | None, typer.Option("--currency", help="Budget currency, ISO 4217 (default: USD).", show_default=False)
]


VisitorWindowOpt = Annotated[
    str | None,
    duration_opt(
        "--visitor-window",
        "How long a visitor counts as returning (its flow cookie; same IP + User-Agent): it keeps the lander "
        "and offer first chosen. 1m to 90d; default 24h.",
    ),
]
GoalOpt = Annotated[
    str | None,
    typer.Option(
        "--goal",
        help="Target goal id (from `goal create`): the event this campaign buys. Frozen once published.",
        show_default=False,
    ),
]


def _check_goal(goal_id: str, api_key: str) -> None:
    """The links service stores target_goal_id without knowing goals (they live in the
    attribution service), so the CLI checks the goal exists before setting it."""

    async def call(c: ServiceClient) -> bool:
        try:
            await c.stub(attribution_grpc.GoalServiceStub).GetGoal(attribution_pb.GetGoalRequest(goal_id=goal_id))
        except CallError as err:
            if err.code() == grpc.StatusCode.NOT_FOUND:
                return False
            raise
        return True

    if not run_async(call, "attribution", account_creds(api_key)):
        raise UsageError(f"--goal {goal_id}: no such goal in this account (see `clicktrail goal list`)")


def _money(amount: str, currency: str | None) -> money_pb2.Money:
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise UsageError(f"--budget {amount!r} is not a decimal amount") from None
    if not value.is_finite():
        raise UsageError(f"--budget {amount!r} is not a decimal amount")
    return money_pb2.Money(amount=str(value), currency_code=(currency or "USD").upper())


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="Campaign name.")],
    partner: Annotated[str, typer.Option("--partner", help="Partner id (from `partner create`).")],
    app_id: AppOpt = None,
    type_: TypeOpt = None,
    traffic_type: TrafficOpt = None,
    fallback_url: FallbackOpt = None,
    budget: BudgetOpt = None,
    currency: CurrencyOpt = None,
    goal: GoalOpt = None,
    invalid_traffic: InvalidTrafficOpt = None,
    visitor_window: VisitorWindowOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create a draft campaign; prints its campaign_id. Publish it with `campaign publish`.

    The type defaults to app_install with --app and to web without.

    Example:  clicktrail campaign create --name "Spring UA" --app APP_ID --partner PARTNER_ID --fallback-url https://acme.example/
    """
    kind: str = type_ or ("app_install" if app_id else "web")
    msg = pb.Campaign(
        name=name,
        partner_id=partner,
        app_id=app_id or "",
        type=enum_number(TYPE, kind),
        traffic_type=enum_number(TRAFFIC, traffic_type),
        fallback_url=fallback_url or "",
        invalid_traffic_action=enum_number(INVALID_ACTION, invalid_traffic),
    )
    if budget is not None:
        msg.budget.CopyFrom(_money(budget, currency))
    elif currency is not None:
        raise UsageError("--currency needs --budget")
    if goal:
        _check_goal(goal, api_key)
        msg.target_goal_id = goal
    if visitor_window is not None:
        msg.visitor_window.CopyFrom(parse_duration("--visitor-window", visitor_window))
    resp = rpc("links", Stub, "CreateCampaign", pb.CreateCampaignRequest(campaign=msg), account_creds(api_key))
    emit(resp.campaign, json_out)


def _set_status(campaign_id: str, status: str, api_key: str, json_out: bool) -> None:
    req = pb.UpdateCampaignRequest(campaign=pb.Campaign(campaign_id=campaign_id, status=enum_number(STATUS, status)))
    req.update_mask.paths.append("status")
    resp = rpc("links", Stub, "UpdateCampaign", req, account_creds(api_key))
    emit(resp.campaign, json_out)


@app.command("publish")
def publish(campaign_id: CampaignId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Publish a campaign (status active), or resume a paused one.

    From its first publication on, its app, partner and type can no longer change.

    Example:  clicktrail campaign publish CAMPAIGN_ID
    """
    _set_status(campaign_id, "active", api_key, json_out)


@app.command("pause")
def pause(campaign_id: CampaignId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Pause a campaign: its clicks go to the fallback URL (404 without one) and are not recorded.

    Example:  clicktrail campaign pause CAMPAIGN_ID
    """
    _set_status(campaign_id, "paused", api_key, json_out)


@app.command("archive")
def archive(campaign_id: CampaignId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Archive a campaign for good; its clicks behave as when paused.

    Example:  clicktrail campaign archive CAMPAIGN_ID
    """
    _set_status(campaign_id, "archived", api_key, json_out)


@app.command("list")
def list_(
    status: Annotated[
        CampaignStatus | None,
        typer.Option("--status", case_sensitive=False, help="Only campaigns in this status.", show_default=False),
    ] = None,
    partner: PartnerOpt = None,
    app_id: AppOpt = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List the account's campaigns, optionally by status, partner or app.

    Example:  clicktrail campaign list --status active --limit 20
    """
    req = pb.ListCampaignsRequest(status=enum_number(STATUS, status), partner_id=partner or "", app_id=app_id or "")
    items, nxt = list_pages(
        "links", Stub, "ListCampaigns", req, "campaigns", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "campaigns", COLUMNS, json_out, nxt)


@app.command("get")
def get(campaign_id: CampaignId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one campaign.

    Example:  clicktrail campaign get CAMPAIGN_ID --json
    """
    resp = rpc("links", Stub, "GetCampaign", pb.GetCampaignRequest(campaign_id=campaign_id), account_creds(api_key))
    emit(resp.campaign, json_out)


@app.command("update")
def update(
    campaign_id: CampaignId,
    name: Annotated[str | None, typer.Option("--name", help="New name.")] = None,
    fallback_url: FallbackOpt = None,
    budget: BudgetOpt = None,
    currency: CurrencyOpt = None,
    app_id: AppOpt = None,
    partner: PartnerOpt = None,
    type_: TypeOpt = None,
    traffic_type: TrafficOpt = None,
    goal: GoalOpt = None,
    invalid_traffic: InvalidTrafficOpt = None,
    visitor_window: VisitorWindowOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a campaign: only the flags given change.

    Name, fallback URL, budget, --invalid-traffic and --visitor-window can always change; app, partner, type
    and target goal (--goal) only while it is a draft. An empty value (e.g. --fallback-url '') clears a field.

    Example:  clicktrail campaign update CAMPAIGN_ID --name "Spring UA (EU)" --fallback-url https://acme.example/eu
    """
    msg = pb.Campaign(campaign_id=campaign_id)
    paths: list[str] = []
    for path, value in (("name", name), ("fallback_url", fallback_url), ("app_id", app_id), ("partner_id", partner)):
        if value is not None:
            setattr(msg, path, value)
            paths.append(path)
    if type_ is not None:
        msg.type = enum_number(TYPE, type_)  # type: ignore[assignment]
        paths.append("type")
    if traffic_type is not None:
        msg.traffic_type = enum_number(TRAFFIC, traffic_type)  # type: ignore[assignment]
        paths.append("traffic_type")
    if budget is not None:
        if budget != "":
            msg.budget.CopyFrom(_money(budget, currency))
        paths.append("budget")
    elif currency is not None:
        raise UsageError("--currency needs --budget")
    if goal is not None:
        if goal:
            _check_goal(goal, api_key)
        msg.target_goal_id = goal
        paths.append("target_goal_id")
    if invalid_traffic is not None:
        msg.invalid_traffic_action = enum_number(INVALID_ACTION, invalid_traffic)
        paths.append("invalid_traffic_action")
    if visitor_window is not None:
        msg.visitor_window.CopyFrom(parse_duration("--visitor-window", visitor_window))
        paths.append("visitor_window")
    req = pb.UpdateCampaignRequest(campaign=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("links", Stub, "UpdateCampaign", req, account_creds(api_key))
    emit(resp.campaign, json_out)


@app.command("delete")
def delete(campaign_id: CampaignId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete a draft campaign with its links (archive a published one instead).

    Example:  clicktrail campaign delete CAMPAIGN_ID
    """
    rpc("links", Stub, "DeleteCampaign", pb.DeleteCampaignRequest(campaign_id=campaign_id), account_creds(api_key))
    emit_deleted("campaign", campaign_id, json_out)
