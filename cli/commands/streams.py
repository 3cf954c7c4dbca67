"""`clicktrail stream ...`: a campaign's flow, its ordered streams (filters and an action)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from clicktrail.links.v1 import affiliate_pb2 as pb
from clicktrail.links.v1 import affiliate_pb2_grpc as pb_grpc
from rich.table import Table
from rich.text import Text

from cli.choices import StreamAction
from cli.common import (
    ApiKey,
    JsonOut,
    Limit,
    PageToken,
    UsageError,
    _print_table,
    account_creds,
    emit,
    emit_deleted,
    emit_list,
    enum_number,
    field_mask,
    list_pages,
    note,
    rpc,
    to_dict,
)
from libs.flow_text import FILTER_SYNTAX, WEIGHT_SYNTAX, describe_filter, parse_filter, parse_weighted

app = typer.Typer(
    help="Streams: a campaign's flow. A click tries the campaign's streams by position; the first whose "
    "filters all hold wins (paused ones skipped; the default stream, without filters, catches the rest) and "
    "its action decides: rotate (a lander by weight, then an offer by weight), url, fallback or safe_page. "
    "A campaign without streams sends clicks to its links' destinations as before.",
    no_args_is_help=True,
)

Stub = pb_grpc.AffiliateServiceStub
ACTION = pb.StreamAction.DESCRIPTOR
COLUMNS = ["position", "stream_id", "name", "action", "filters", "landers", "offers", "url", "paused"]
StreamId = Annotated[str, typer.Argument(help="The stream's id.", show_default=False)]
FiltersOpt = Annotated[
    list[str] | None,
    typer.Option("--filter", show_default=False, help=f"A condition, repeatable (all must hold): {FILTER_SYNTAX}"),
]
LandersOpt = Annotated[
    list[str] | None,
    typer.Option("--lander", show_default=False, help=f"A lander to rotate, repeatable: {WEIGHT_SYNTAX}."),
]
OffersOpt = Annotated[
    list[str] | None,
    typer.Option("--offer", show_default=False, help=f"An offer to rotate, repeatable: {WEIGHT_SYNTAX}."),
]
ActionOpt = Annotated[
    StreamAction | None,
    typer.Option(
        "--action", case_sensitive=False, show_default=False,
        help="rotate (default: landers then offers by weight), url (--url), fallback (the campaign's fallback "
        "URL) or safe_page (--url, for bots and reviewers).",
    ),
]  # fmt: skip
UrlOpt = Annotated[
    str | None,
    typer.Option(
        "--url", help="With --action url or safe_page: where the visitor goes (click macros).", show_default=False
    ),
]
PositionOpt = Annotated[
    int | None,
    typer.Option(
        "--position", help="Where in the flow (lower first; 0 = first; default: after the last).", show_default=False
    ),
]


def filters(values: list[str]) -> list[pb.StreamFilter]:
    out = []
    for text in values:
        try:
            out.append(parse_filter(text))
        except ValueError as exc:
            raise UsageError(f"--filter: {exc} (see `clicktrail stream create --help`)") from None
    return out


def weighted(flag: str, values: list[str]) -> list[tuple[str, int]]:
    out = []
    for text in values:
        try:
            out.append(parse_weighted(text))
        except ValueError as exc:
            raise UsageError(f"{flag}: {exc}") from None
    return out


def _fill(
    msg: pb.Stream, paths: list[str], *, name: str | None, position: int | None, filter_: list[str] | None,
    action: str | None, lander: list[str] | None, offer: list[str] | None, url: str | None,
) -> None:  # fmt: skip
    """Sets each given flag's field on ``msg`` and names it in ``paths``."""
    if name is not None:
        msg.name = name
        paths.append("name")
    if position is not None:
        msg.position = position
        paths.append("position")
    if filter_ is not None:
        msg.filters.extend(filters(filter_))
        paths.append("filters")
    if action is not None:
        msg.action = enum_number(ACTION, action)
        paths.append("action")
    if lander is not None:
        msg.landers.extend(pb.WeightedLander(lander_id=i, weight=w) for i, w in weighted("--lander", lander))
        paths.append("landers")
    if offer is not None:
        msg.offers.extend(pb.WeightedOffer(offer_id=i, weight=w) for i, w in weighted("--offer", offer))
        paths.append("offers")
    if url is not None:
        msg.url = url
        paths.append("url")


def readable(s: pb.Stream) -> dict[str, Any]:
    """A stream as the text output shows it: filters and weights as the flags take them."""
    data = to_dict(s)
    data["filters"] = [describe_filter(f) for f in s.filters] or (
        ["(default: catches the rest)"] if s.is_default else []
    )
    data["landers"] = [f"{w.lander_id}:{w.weight}" for w in s.landers]
    data["offers"] = [f"{w.offer_id}:{w.weight}" for w in s.offers]
    return data


def _emit(s: pb.Stream, json_out: bool) -> None:
    emit(s if json_out else readable(s), json_out)


@app.command("create")
def create(
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign's id.")],
    name: Annotated[str, typer.Option("--name", help="The stream's name.")],
    filter_: FiltersOpt = None,
    action: ActionOpt = None,
    lander: LandersOpt = None,
    offer: OffersOpt = None,
    url: UrlOpt = None,
    position: PositionOpt = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused (skipped by the flow).")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Add a stream to a campaign's flow; prints its stream_id. Without --filter it is the
    campaign's default stream (at most one), tried last.

    Example:  clicktrail stream create --campaign CAMPAIGN_ID --name "US mobile" \\
      --filter "country=US,CA" --filter "device_type=mobile" --filter "!verdict=invalid" \\
      --lander LANDER_A:50 --lander LANDER_B:50 --offer OFFER_1:70 --offer OFFER_2:30

    Example:  clicktrail stream create --campaign CAMPAIGN_ID --name Bots --filter "verdict=invalid" \\
      --action safe_page --url https://acme.example/about

    Example:  clicktrail stream create --campaign CAMPAIGN_ID --name Default --offer OFFER_1
    """
    msg = pb.Stream(campaign_id=campaign, paused=paused, action=enum_number(ACTION, action or "rotate"))
    _fill(msg, [], name=name, position=position, filter_=filter_, action=None, lander=lander, offer=offer, url=url)
    resp = rpc("links", Stub, "CreateStream", pb.CreateStreamRequest(stream=msg), account_creds(api_key))
    _emit(resp.stream, json_out)


@app.command("list")
def list_(
    campaign: Annotated[str, typer.Option("--campaign", help="The campaign's id.")],
    limit: Limit = 100,
    page_token: PageToken = "",
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """A campaign's streams in the order the flow tries them.

    Example:  clicktrail stream list --campaign CAMPAIGN_ID
    """
    req = pb.ListStreamsRequest(campaign_id=campaign)
    items, nxt = list_pages(
        "links", Stub, "ListStreams", req, "streams", account_creds(api_key), limit=limit, page_token=page_token
    )
    if json_out:
        emit_list(items, "streams", COLUMNS, json_out, nxt)
        return
    if not items:
        note("no streams: the campaign's links send clicks to their destinations")
    else:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for col in COLUMNS:
            table.add_column(col, overflow="fold")
        for s in items:
            row = readable(s)
            cells = {**row, "filters": "; ".join(row["filters"]), "landers": ", ".join(row["landers"]),
                     "offers": ", ".join(row["offers"]), "paused": "yes" if s.paused else "no"}  # fmt: skip
            table.add_row(*(Text(str(cells.get(col, ""))) for col in COLUMNS))
        _print_table(table)
    if nxt:
        note(f"more: --page-token {nxt}")


@app.command("get")
def get(stream_id: StreamId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Show one stream.

    Example:  clicktrail stream get STREAM_ID
    """
    resp = rpc("links", Stub, "GetStream", pb.GetStreamRequest(stream_id=stream_id), account_creds(api_key))
    _emit(resp.stream, json_out)


@app.command("update")
def update(
    stream_id: StreamId,
    name: Annotated[str | None, typer.Option("--name", help="New name.", show_default=False)] = None,
    filter_: FiltersOpt = None,
    clear_filters: Annotated[
        bool, typer.Option("--clear-filters", help="Remove every filter: the stream becomes the default one.")
    ] = False,
    action: ActionOpt = None,
    lander: LandersOpt = None,
    clear_landers: Annotated[
        bool, typer.Option("--clear-landers", help="Rotate no lander: straight to the offer.")
    ] = False,
    offer: OffersOpt = None,
    url: UrlOpt = None,
    position: PositionOpt = None,
    pause: Annotated[bool, typer.Option("--pause", help="Pause it (the flow skips it).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Resume a paused stream.")] = False,
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Change a stream: only the flags given change. --filter, --lander and --offer replace
    the whole list they give (repeat them for several). Changes reach clicks within seconds.

    Example:  clicktrail stream update STREAM_ID --offer OFFER_1:50 --offer OFFER_3:50

    Example:  clicktrail stream update STREAM_ID --position 1 --filter "country=DE,AT" --filter "language=de"
    """
    for a, b, names in ((filter_, clear_filters, "--filter and --clear-filters"),
                        (lander, clear_landers, "--lander and --clear-landers")):  # fmt: skip
        if a and b:
            raise UsageError(f"{names} exclude each other")
    if pause and resume:
        raise UsageError("--pause and --resume exclude each other")
    msg = pb.Stream(stream_id=stream_id)
    paths: list[str] = []
    _fill(
        msg, paths, name=name, position=position, filter_=[] if clear_filters else filter_, action=action,
        lander=[] if clear_landers else lander, offer=offer, url=url,
    )  # fmt: skip
    if pause or resume:
        msg.paused = pause
        paths.append("paused")
    req = pb.UpdateStreamRequest(stream=msg)
    req.update_mask.paths.extend(field_mask(paths))
    resp = rpc("links", Stub, "UpdateStream", req, account_creds(api_key))
    _emit(resp.stream, json_out)


@app.command("move")
def move(
    stream_id: StreamId,
    position: Annotated[int, typer.Option("--position", help="The new position (lower is tried first).")],
    api_key: ApiKey = "",
    json_out: JsonOut = False,
) -> None:
    """Move a stream in its campaign's flow (the same as `stream update --position`).

    Example:  clicktrail stream move STREAM_ID --position 1
    """
    req = pb.UpdateStreamRequest(stream=pb.Stream(stream_id=stream_id, position=position))
    req.update_mask.paths.append("position")
    resp = rpc("links", Stub, "UpdateStream", req, account_creds(api_key))
    _emit(resp.stream, json_out)


@app.command("delete")
def delete(stream_id: StreamId, api_key: ApiKey = "", json_out: JsonOut = False) -> None:
    """Remove a stream from its campaign's flow.

    Example:  clicktrail stream delete STREAM_ID
    """
    rpc("links", Stub, "DeleteStream", pb.DeleteStreamRequest(stream_id=stream_id), account_creds(api_key))
    emit_deleted("stream", stream_id, json_out)
