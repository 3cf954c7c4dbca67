"""`clicktrail click ...` and `clicktrail impression ...`: recorded touches."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc

from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    account_creds,
    emit,
    emit_list,
    list_pages,
    rpc,
    timestamp,
)

clicks = typer.Typer(help="Recorded clicks, newest first.", no_args_is_help=True)
impressions = typer.Typer(help="Recorded impressions (views), newest first.", no_args_is_help=True)

Stub = pb_grpc.LinksServiceStub
CLICK_COLUMNS = ["click_id", "create_time", "link_id", "country", "os", "device_type", "browser", "sub1", "ip"]
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


def _filters(
    req: pb.ListClicksRequest | pb.ListImpressionsRequest,
    campaign: str | None,
    link: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
) -> None:
    req.campaign_id = campaign or ""
    req.link_id = link or ""
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
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List recorded clicks, newest first.

    Shows click_id, link_id, country, os, device_type, browser, sub1, ip and
    create_time; --json has every recorded field (sub1..sub10, user_agent, ...).

    Example:  clicktrail click list --campaign CAMPAIGN_ID --limit 20 --json
    """
    req = pb.ListClicksRequest()
    _filters(req, campaign, link, since, until)
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
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List recorded impressions (views), newest first.

    Example:  clicktrail impression list --campaign CAMPAIGN_ID
    """
    req = pb.ListImpressionsRequest()
    _filters(req, campaign, link, since, until)
    items, nxt = list_pages(
        "links", Stub, "ListImpressions", req, "impressions", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "impressions", IMPRESSION_COLUMNS, json_out, nxt)
