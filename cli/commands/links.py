"""`clicktrail link ...`: tracking links (a campaign has any number of them)."""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path
from typing import Annotated

import typer
from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc as apb_grpc
from clicktrail.links.v1 import links_pb2 as pb
from clicktrail.links.v1 import links_pb2_grpc as pb_grpc

from cli.choices import QrFormat
from cli.common import (
    ApiKey,
    CliError,
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
    note,
    print_json,
    rpc,
)
from libs.vocab.timetext import duration_seconds

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
DeepLinkOpt = Annotated[
    str | None,
    typer.Option(
        "--deep-link", show_default=False,
        help="In-app destination the app gets on first launch (deferred deep link, POST /v1/deeplink): a URI "
        "(myapp://product/42?ref={sub1}) or a path (/product/42); macros as in --url. Needs an app (--app or "
        "the campaign's).",
    ),
]  # fmt: skip
DomainOpt = Annotated[
    str | None,
    typer.Option(
        "--domain", show_default=False,
        help="A tracking domain of the account (`clicktrail domain add`): the link is served only there.",
    ),
]  # fmt: skip
ExpiresOpt = Annotated[
    str | None,
    typer.Option(
        "--expires", show_default=False,
        help="When the link stops redirecting to its destination (then the campaign's fallback URL, not recorded): "
        "a time (2026-12-31T23:59:00Z; UTC without an offset) or a duration from now (7d, 12h).",
    ),
]  # fmt: skip
MaxClicksOpt = Annotated[
    int | None,
    typer.Option(
        "--max-clicks", min=0, show_default=False,
        help="After this many recorded clicks the link sends visitors to the fallback URL; 0: no limit.",
    ),
]  # fmt: skip
RedirectOpt = Annotated[
    int | None,
    typer.Option(
        "--redirect-status", help="The redirect's HTTP status: 301, 302 (default) or 307.", show_default=False
    ),
]
REDIRECT_STATUSES = (0, 301, 302, 307)
QR = apb.QrFormat.DESCRIPTOR


def expires_at(text: str, now: dt.datetime | None = None) -> dt.datetime:
    """--expires: a duration from now (7d, 12h) or a time (ISO 8601; UTC without an offset)."""
    try:
        seconds = duration_seconds(text)
    except ValueError:
        pass
    else:
        return (now or dt.datetime.now(dt.UTC)) + dt.timedelta(seconds=seconds)
    try:
        when = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--expires {text!r} is neither a time (2026-12-31T23:59:00Z) nor a duration (7d)") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _options(
    msg: pb.Link, paths: list[str], domain: str | None, expires: str | None, max_clicks: int | None,
    redirect_status: int | None,
) -> None:  # fmt: skip
    """The link options given as flags onto ``msg`` (an empty --expires clears the expiry)."""
    if redirect_status is not None and redirect_status not in REDIRECT_STATUSES:
        raise UsageError(f"--redirect-status {redirect_status} is not one of 301, 302, 307")
    if domain is not None:
        msg.domain = domain.strip().lower()
        paths.append("domain")
    if expires is not None:
        if expires.strip():
            msg.expire_time.FromDatetime(expires_at(expires))
        paths.append("expire_time")
    if max_clicks is not None:
        msg.max_clicks = max_clicks
        paths.append("max_clicks")
    if redirect_status is not None:
        msg.redirect_status = redirect_status
        paths.append("redirect_status")


@app.command("create")
def create(
    campaign: Annotated[str, typer.Option("--campaign", help="Campaign id.")],
    url: Annotated[str, typer.Option("--url", help="Destination URL template with macros.")],
    ios_url: IosOpt = None,
    android_url: AndroidOpt = None,
    desktop_url: DesktopOpt = None,
    name: NameOpt = None,
    app_id: AppOpt = None,
    deep_link: DeepLinkOpt = None,
    domain: DomainOpt = None,
    expires: ExpiresOpt = None,
    max_clicks: MaxClicksOpt = None,
    redirect_status: RedirectOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Create a tracking link; prints its link_id, slug, click_url, impression_url and qr_url.

    When the template has no {click_id} macro, click_id=<id> is appended to it.
    With --ios-url/--android-url/--desktop-url it is a smart link: the destination is
    chosen from the User-Agent, falling back to --url.

    Options: --domain serves it on a custom domain only; --expires / --max-clicks end it
    (then the campaign's fallback URL); --redirect-status 301/307 instead of 302.

    Example:  clicktrail link create --campaign CAMPAIGN_ID --url 'https://acme.example/land?cid={click_id}&src={sub1}'
    Example:  clicktrail link create --campaign CAMPAIGN_ID --url 'https://acme.example/' --domain track.acme.example \\
      --expires 30d --max-clicks 10000 --redirect-status 307
    Example:  clicktrail link create --campaign CAMPAIGN_ID --url 'https://apps.apple.com/app/id1234567890' \\
      --deep-link 'acme://product/42?ref={sub1}'
    """
    msg = pb.Link(
        campaign_id=campaign,
        destination_url=url,
        ios_url=ios_url or "",
        android_url=android_url or "",
        desktop_url=desktop_url or "",
        name=name or "",
        app_id=app_id or "",
        deep_link=deep_link or "",
    )
    _options(msg, [], domain, expires, max_clicks, redirect_status)
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
    deep_link: DeepLinkOpt = None,
    domain: DomainOpt = None,
    expires: ExpiresOpt = None,
    max_clicks: MaxClicksOpt = None,
    redirect_status: RedirectOpt = None,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a link's destinations, name, app or options: only the flags given change.

    An empty value (e.g. --ios-url '', --expires '', --domain '') clears it; --max-clicks 0
    lifts the limit. The slug never changes (the click URL follows --domain).

    Example:  clicktrail link update LINK_ID --url 'https://acme.example/v2?cid={click_id}'
    Example:  clicktrail link update LINK_ID --deep-link '/product/42'
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
        ("deep_link", deep_link),
    ):
        if value is not None:
            setattr(msg, path, value)
            paths.append(path)
    _options(msg, paths, domain, expires, max_clicks, redirect_status)
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


@app.command("qr")
def qr(
    link_id: LinkId,
    format_: Annotated[QrFormat, typer.Option("--format", case_sensitive=False, help="svg or png.")] = QrFormat("svg"),
    output: Annotated[
        str, typer.Option("-o", "--output", help="File to write ('-': standard output, svg only on a terminal).")
    ] = "-",
    scale: Annotated[int, typer.Option("--scale", min=1, max=40, help="Pixels (PNG) or units (SVG) per module.")] = 8,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """The link's click URL as a QR code (SVG or PNG). The gateway serves the same image
    publicly at the link's qr_url (/qr/SLUG.svg or .png).

    Example:  clicktrail link qr LINK_ID --format png -o link.png
    """
    req = apb.GetLinkQrCodeRequest(link_id=link_id, format=enum_number(QR, format_), scale=scale)
    resp = rpc("links", apb_grpc.AffiliateServiceStub, "GetLinkQrCode", req, account_creds(api_key))
    if output == "-":
        if resp.content_type != "image/svg+xml" and sys.stdout.isatty():
            raise UsageError("a PNG is no text for the terminal: pass -o FILE (or pipe it)")
        binary = getattr(sys.stdout, "buffer", None)
        if binary is not None:
            binary.write(resp.image)
        else:  # a text stream (captured output): an SVG is text
            sys.stdout.write(resp.image.decode("utf-8", "replace"))
        sys.stdout.flush()
        return
    try:
        Path(output).write_bytes(resp.image)
    except OSError as exc:
        raise CliError(f"cannot write {output}: {exc.strerror}") from None
    if json_out:
        print_json({"file": output, "url": resp.url, "content_type": resp.content_type, "bytes": len(resp.image)})
    else:
        note(f"wrote {output} ({resp.content_type}, {len(resp.image)} bytes) encoding {resp.url}")
