"""`clicktrail click ...` and `clicktrail impression ...`: recorded touches."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc

from cli.choices import Verdict
from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    account_creds,
    emit,
    emit_list,
    enum_number,
    list_pages,
    rpc,
    timestamp,
)
from cli.verdicts import VERDICT, note_option, overrule_verdict_option, reason_filter
from libs import quality as q

clicks = typer.Typer(help="Recorded clicks, newest first.", no_args_is_help=True)
impressions = typer.Typer(help="Recorded impressions (views), newest first.", no_args_is_help=True)

Stub = pb_grpc.LinksServiceStub
CLICK_COLUMNS = [
    "click_id", "create_time", "link_id", "country", "os", "device_type", "browser", "sub1", "ip", "verdict", "reasons",
]  # fmt: skip
TOUCH_REASONS = [r.code for r in q.REASONS if r.applies_to in ("touch", "any")]
IMPRESSION_COLUMNS = ["impression_id", *CLICK_COLUMNS[1:]]

CampaignOpt = Annotated[str | None, typer.Option("--campaign", help="Only this campaign's.")]
LinkOpt = Annotated[str | None, typer.Option("--link", help="Only this link's.")]
SinceOpt = Annotated[
    dt.datetime | None,
    typer.Option("--since", help="Only from this time on (UTC unless it has an offset).", show_default=False),
]
UntilOpt = Annotated[
    dt.datetime | None,
    typer.Option("--until", help="Only before this time (UTC unless it has an offset).", show_default=False),
]
VerdictOpt = Annotated[
    Verdict | None,
    typer.Option(
        "--verdict", case_sensitive=False, show_default=False,
        help="Only touches with this traffic-quality verdict.",
    ),
]  # fmt: skip
ReasonOpt = Annotated[
    str | None,
    typer.Option(
        "--reason", show_default=False,
        help="Only touches with this reason code: " + ", ".join(TOUCH_REASONS) + ".",
    ),
]  # fmt: skip


def _filters(
    req: pb.ListClicksRequest | pb.ListImpressionsRequest,
    campaign: str | None,
    link: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    verdict: Verdict | None = None,
    reason: str | None = None,
) -> None:
    req.campaign_id = campaign or ""
    req.link_id = link or ""
    req.verdict = enum_number(VERDICT, verdict)
    req.reason = reason_filter(reason, TOUCH_REASONS, "a touch")
    start, end = timestamp(since), timestamp(until)
    if start is not None:
        req.start_time.CopyFrom(start)
    if end is not None:
        req.end_time.CopyFrom(end)


@clicks.command("list")
def list_clicks(
    campaign: CampaignOpt = None,
    link: LinkOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    verdict: VerdictOpt = None,
    reason: ReasonOpt = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List recorded clicks, newest first.

    Shows click_id, link_id, country, os, device_type, browser, sub1, ip,
    create_time and the traffic-quality verdict with its reasons; --json has
    every recorded field (sub1..sub10, user_agent, ...).

    Examples:
      clicktrail click list --campaign CAMPAIGN_ID --limit 20 --json
      clicktrail click list --verdict invalid --reason datacenter
    """
    req = pb.ListClicksRequest()
    _filters(req, campaign, link, since, until, verdict, reason)
    items, nxt = list_pages(
        "links", Stub, "ListClicks", req, "clicks", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "clicks", CLICK_COLUMNS, json_out, nxt)


@clicks.command("get")
def get_click(
    click_id: Annotated[str, typer.Argument(help="The click id.", show_default=False)],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Show everything recorded for one click.

    Example:  clicktrail click get CLICK_ID --json
    """
    resp = rpc("links", Stub, "GetClick", pb.GetClickRequest(click_id=click_id), account_creds(api_key))
    emit(resp.click, json_out)


@impressions.command("list")
def list_impressions(
    campaign: CampaignOpt = None,
    link: LinkOpt = None,
    since: SinceOpt = None,
    until: UntilOpt = None,
    verdict: VerdictOpt = None,
    reason: ReasonOpt = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List recorded impressions (views), newest first.

    Example:  clicktrail impression list --campaign CAMPAIGN_ID --verdict suspicious
    """
    req = pb.ListImpressionsRequest()
    _filters(req, campaign, link, since, until, verdict, reason)
    items, nxt = list_pages(
        "links", Stub, "ListImpressions", req, "impressions", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "impressions", IMPRESSION_COLUMNS, json_out, nxt)


OverruleVerdict = Annotated[Verdict, overrule_verdict_option("attribution")]
NoteOpt = Annotated[str, note_option("overrule")]


def _overrule(field: str, touch_id: str, verdict: Verdict, note: str, api_key: str, json_out: bool) -> None:
    req = pb.OverruleTouchVerdictRequest(verdict=enum_number(VERDICT, verdict), note=note)
    setattr(req, field, touch_id)
    resp = rpc("links", Stub, "OverruleTouchVerdict", req, account_creds(api_key))
    emit(resp.overrule, json_out)


@clicks.command("overrule")
def overrule_click(
    click_id: Annotated[str, typer.Argument(help="The click id.", show_default=False)],
    verdict: OverruleVerdict,
    note: NoteOpt = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Overrule a click's traffic-quality verdict. The click keeps its reasons and
    gains `operator`; the overrule is kept (previous and new verdict, note).

    Example:  clicktrail click overrule CLICK_ID --verdict clean --note "our QA phone"
    """
    _overrule("click_id", click_id, verdict, note, api_key, json_out)


@impressions.command("overrule")
def overrule_impression(
    impression_id: Annotated[str, typer.Argument(help="The impression id.", show_default=False)],
    verdict: OverruleVerdict,
    note: NoteOpt = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Overrule an impression's traffic-quality verdict (as `click overrule`).

    Example:  clicktrail impression overrule IMPRESSION_ID --verdict invalid --note "ad stacking"
    """
    _overrule("impression_id", impression_id, verdict, note, api_key, json_out)
