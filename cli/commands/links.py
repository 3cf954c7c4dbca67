"""`clicktrail link ...`: tracking links (a campaign has any number of them)."""

from __future__ import annotations

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
    emit_deleted,
    emit_list,
    field_mask,
    list_pages,
    rpc,
)

app = typer.Typer(
    help="Tracking links. A link's click URL records a click and redirects to its destination "
    "URL template with macros filled: {click_id}, {campaign_id}, {link_id}, {sub1}..{sub10}, "
    "{partner_click_id}, {country}, {os}.",
    no_args_is_help=True,
)

Stub = pb_grpc.LinksServiceStub
COLUMNS = ["link_id", "name", "campaign_id", "click_url", "destination_url"]
LinkId = Annotated[str, typer.Argument(help="The link's id.", show_default=False)]
NameOpt = Annotated[str | None, typer.Option("--name", help="A name for the link.")]
UrlOpt = Annotated[str | None, typer.Option("--url", help="Destination URL template with macros.")]
IosOpt = Annotated[str | None, typer.Option("--ios-url", help="Smart link: destination for iOS.")]
AndroidOpt = Annotated[str | None, typer.Option("--android-url", help="Smart link: destination for Android.")]
DesktopOpt = Annotated[str | None, typer.Option("--desktop-url", help="Smart link: destination for desktops.")]
AppOpt = Annotated[str | None, typer.Option("--app", help="App this link installs (default: the campaign's app).")]


@app.command("create")
def create(
    campaign: Annotated[str, typer.Option("--campaign", help="Campaign id.")],
    url: Annotated[str, typer.Option("--url", help="Destination URL template with macros.")],
    ios_url: IosOpt = None,
    android_url: AndroidOpt = None,
    desktop_url: DesktopOpt = None,
    name: NameOpt = None,
    app_id: AppOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create a tracking link; prints its link_id, slug, click_url and impression_url.

    When the template has no {click_id} macro, click_id=<id> is appended to it.
    With --ios-url/--android-url/--desktop-url it is a smart link: the destination is
    chosen from the User-Agent, falling back to --url.

    Example:  clicktrail link create --campaign CAMPAIGN_ID --url 'https://acme.example/land?cid={click_id}&src={sub1}'
    """
    msg = pb.Link(
        campaign_id=campaign,
        destination_url=url,
        ios_url=ios_url or "",
        android_url=android_url or "",
        desktop_url=desktop_url or "",
        name=name or "",
        app_id=app_id or "",
    )
    resp = rpc("links", Stub, "CreateLink", pb.CreateLinkRequest(link=msg), account_creds(api_key))
    emit(resp.link, json_out)


@app.command("list")
def list_(
    campaign: Annotated[str | None, typer.Option("--campaign", help="Only this campaign's links.")] = None,
    limit: Limit = 50,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """List tracking links, optionally of one campaign.

    Example:  clicktrail link list --campaign CAMPAIGN_ID
    """
    req = pb.ListLinksRequest(campaign_id=campaign or "")
    items, nxt = list_pages(
        "links", Stub, "ListLinks", req, "links", account_creds(api_key), limit=limit, page_token=page_token
    )
    emit_list(items, "links", COLUMNS, json_out, nxt)


@app.command("get")
def get(link_id: LinkId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one tracking link.

    Example:  clicktrail link get LINK_ID
    """
    resp = rpc("links", Stub, "GetLink", pb.GetLinkRequest(link_id=link_id), account_creds(api_key))
    emit(resp.link, json_out)


@app.command("update")
def update(
    link_id: LinkId,
    url: UrlOpt = None,
    ios_url: IosOpt = None,
    android_url: AndroidOpt = None,
    desktop_url: DesktopOpt = None,
    name: NameOpt = None,
    app_id: AppOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a link's destinations, name or app: only the flags given change.

    An empty value (e.g. --ios-url '') clears a smart-link destination. The slug and
    click URL never change.

    Example:  clicktrail link update LINK_ID --url 'https://acme.example/v2?cid={click_id}'
    """
    msg = pb.Link(link_id=link_id)
    paths: list[str] = []
    for path, value in (
        ("destination_url", url),
        ("ios_url", ios_url),
        ("android_url", android_url),
        ("desktop_url", desktop_url),
        ("name", name),
        ("app_id", app_id),
    ):
        if value is not None:
            setattr(msg, path, value)
            paths.append(path)
    req = pb.UpdateLinkRequest(link=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("links", Stub, "UpdateLink", req, account_creds(api_key))
    emit(resp.link, json_out)


@app.command("delete")
def delete(link_id: LinkId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Delete a tracking link: its click URL answers 404 from then on.

    Example:  clicktrail link delete LINK_ID
    """
    rpc("links", Stub, "DeleteLink", pb.DeleteLinkRequest(link_id=link_id), account_creds(api_key))
    emit_deleted("link", link_id, json_out)
