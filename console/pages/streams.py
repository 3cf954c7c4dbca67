"""A campaign's flow: its streams in the order clicks try them (filters, action,
rotation), the add / edit / delete / reorder forms, and the campaign's visitor window."""

from __future__ import annotations

import re
from typing import Any

from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.exceptions import HTTPException
from starlette.responses import Response

from console.choices import STREAM_ACTIONS
from console.forms import STREAM_FIELDS, UNREADABLE, field_errors, stream_from_form
from console.pages.common import delete_page
from console.pages.offers import affiliate, notice
from console.rpc import ServiceError
from console.web import PREFIX, Page, Params, redirect
from libs.flow_text import FILTER_SYNTAX, describe_filter
from libs.vocab.timetext import duration_seconds, format_duration_unit

# Most streams a flow page lists (the flow of a real campaign has a handful).
MAX_STREAMS = 500
# How many landers and offers the stream form lists to pick from.
CATALOG_SIZE = 500
_ROTATED = re.compile(r"stream\.(?P<kind>landers|offers)\[(?P<i>\d+)\](?:\.(?P<sub>\w+))?")


async def all_streams(req: Page, campaign_id: str) -> list[apb.Stream]:
    """The campaign's streams in flow order (every page of ListStreams)."""
    out: list[apb.Stream] = []
    token = ""
    while len(out) < MAX_STREAMS:
        page = await req.call(
            affiliate(req).ListStreams, apb.ListStreamsRequest(campaign_id=campaign_id, page_size=100, page_token=token)
        )
        out.extend(page.streams)
        token = page.next_page_token
        if not token or not page.streams:
            break
    return out


async def _catalog(req: Page, editing: apb.Stream | None) -> tuple[list[apb.Lander], list[apb.Offer]]:
    """The landers and offers the stream form offers (the first CATALOG_SIZE of each), plus
    those the edited stream rotates beyond them: its form keeps every weight it has."""
    svc = affiliate(req)
    landers = list((await req.call(svc.ListLanders, apb.ListLandersRequest(page_size=CATALOG_SIZE))).landers)
    offers = list((await req.call(svc.ListOffers, apb.ListOffersRequest(page_size=CATALOG_SIZE))).offers)
    if editing is not None:
        known = {x.lander_id for x in landers} | {x.offer_id for x in offers}
        for w in editing.landers:
            if w.lander_id not in known:
                landers.append((await req.call(svc.GetLander, apb.GetLanderRequest(lander_id=w.lander_id))).lander)
        for o in editing.offers:
            if o.offer_id not in known:
                offers.append((await req.call(svc.GetOffer, apb.GetOfferRequest(offer_id=o.offer_id))).offer)
    return landers, offers


def stream_view(s: apb.Stream, lander_names: dict[str, str], offer_names: dict[str, str]) -> dict[str, Any]:
    """A stream as the flow table shows it: filters as typed, rotation with shares."""

    def shares(items: list[tuple[str, int]], names: dict[str, str]) -> list[dict[str, Any]]:
        total = sum(w for _, w in items if w > 0) or 1
        return [{"id": i, "name": names.get(i, i), "weight": w, "share": f"{max(w, 0) * 100 / total:.0f}%"}
                for i, w in items]  # fmt: skip

    return {
        "stream": s, "filters": [describe_filter(f) for f in s.filters],
        "landers": shares([(w.lander_id, w.weight) for w in s.landers], lander_names),
        "offers": shares([(w.offer_id, w.weight) for w in s.offers], offer_names),
    }  # fmt: skip


def stream_form(s: apb.Stream) -> dict[str, str]:
    form = {
        "name": s.name, "action": str(s.action), "url": s.url, "paused": "1" if s.paused else "",
        "filters": "\n".join(describe_filter(f) for f in s.filters),
    }  # fmt: skip
    form.update({f"lw.{w.lander_id}": str(w.weight) for w in s.landers})
    form.update({f"ow.{w.offer_id}": str(w.weight) for w in s.offers})
    return form


def stream_errors(exc: ServiceError, stream: apb.Stream, lines: dict[str, list[int]]) -> dict[str, str]:
    """Violations by form field; a rotated lander's or offer's names the lander or offer."""
    rest: dict[str, str] = {}
    out: dict[str, str] = {}
    for path, description in exc.fields.items():
        m = _ROTATED.fullmatch(path)
        if m is None:
            rest[path] = description
            continue
        items = stream.landers if m["kind"] == "landers" else stream.offers
        i = int(m["i"])
        which = ""
        if i < len(items):
            item = items[i]
            which = item.lander_id if isinstance(item, apb.WeightedLander) else item.offer_id
        text = f"{which or f'item {i + 1}'}: {m['sub'] + ' ' if m['sub'] else ''}{description}"
        out[m["kind"]] = f"{out[m['kind']]}; {text}" if m["kind"] in out else text
    return {**field_errors(rest, "stream.", lines), **out}


async def _flow_page(
    req: Page, campaign_id: str, *, status: int = 200, error: str = "", form: dict[str, str] | None = None,
    fields: dict[str, str] | None = None, editing: apb.Stream | None = None, window_form: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    campaign = (await req.call(links.GetCampaign, lpb.GetCampaignRequest(campaign_id=campaign_id))).campaign
    # The default stream is tried last whatever its position: shown last.
    streams = sorted(await all_streams(req, campaign_id), key=lambda s: s.is_default)
    landers, offers = await _catalog(req, editing)
    lander_names = {x.lander_id: x.name for x in landers}
    offer_names = {x.offer_id: x.name for x in offers}
    window = campaign.visitor_window.seconds if campaign.HasField("visitor_window") else 86400
    return req.render(
        "streams.html" if editing is None else "stream_edit.html", status, campaign=campaign,
        streams=[stream_view(s, lander_names, offer_names) for s in streams], landers=landers, offers=offers,
        form=form if form is not None else {"action": str(apb.STREAM_ACTION_ROTATE)}, fields=fields or {},
        error=error, editing=editing, actions=STREAM_ACTIONS, filter_syntax=FILTER_SYNTAX,
        window_form=window_form or {"visitor_window": format_duration_unit(window)}, notice=notice(req),
    )  # fmt: skip


async def flow(req: Page, m: Params) -> Response:
    return await _flow_page(req, m["id"])


async def stream_create(req: Page, m: Params) -> Response:
    stream, lines, fields = stream_from_form(req.form)
    # Where the new stream goes: blank (or no such field) = after the last; 0 = first.
    position = req.f("position").strip()
    if position.isascii() and position.isdigit() and len(position) <= 9:
        stream.position = int(position)
    elif position:
        fields["position"] = f"{position[:20]!r} is not a position: 0 (first) to 999999999, blank: after the last"
    if fields:
        return await _flow_page(req, m["id"], status=400, error=UNREADABLE, form=req.form.flat(), fields=fields)
    stream.campaign_id = m["id"]
    try:
        await req.call(affiliate(req).CreateStream, apb.CreateStreamRequest(stream=stream))
    except ServiceError as exc:
        return await _flow_page(
            req, m["id"], status=exc.http_status(400), error=exc.message, form=req.form.flat(),
            fields=stream_errors(exc, stream, lines),
        )  # fmt: skip
    return redirect(f"{PREFIX}/campaigns/{m['id']}/flow?done=stream_created")


async def _stream_of(req: Page, m: Params) -> apb.Stream:
    """The stream in the path, if it is in the campaign of the path (else no such page)."""
    s = (await req.call(affiliate(req).GetStream, apb.GetStreamRequest(stream_id=m["sid"]))).stream
    if s.campaign_id != m["id"]:
        raise HTTPException(404)
    return s


async def stream(req: Page, m: Params) -> Response:
    s = await _stream_of(req, m)
    return await _flow_page(req, m["id"], form=stream_form(s), editing=s)


async def stream_update(req: Page, m: Params) -> Response:
    current = await _stream_of(req, m)
    wanted, lines, fields = stream_from_form(req.form)
    if fields:
        return await _flow_page(
            req, m["id"], status=400, error=UNREADABLE, form=req.form.flat(), fields=fields, editing=current
        )
    wanted.stream_id = current.stream_id
    try:
        await req.call(
            affiliate(req).UpdateStream,
            apb.UpdateStreamRequest(stream=wanted, update_mask=field_mask_pb2.FieldMask(paths=list(STREAM_FIELDS))),
        )
    except ServiceError as exc:
        return await _flow_page(
            req, m["id"], status=exc.http_status(400), error=exc.message, form=req.form.flat(),
            fields=stream_errors(exc, wanted, lines), editing=current,
        )  # fmt: skip
    return redirect(f"{PREFIX}/campaigns/{m['id']}/flow?done=stream_saved")


async def stream_move(req: Page, m: Params) -> Response:
    """Up or down one place among the campaign's filtered streams (the default one stays last):
    the new order is written as positions 1, 2, 3... (only the streams whose position changes)."""
    moving = await _stream_of(req, m)
    ordered = [s for s in await all_streams(req, m["id"]) if not s.is_default]
    ids = [s.stream_id for s in ordered]
    if moving.stream_id in ids:
        i = ids.index(moving.stream_id)
        j = i - 1 if req.f("direction") == "up" else i + 1
        if 0 <= j < len(ordered):
            ordered[i], ordered[j] = ordered[j], ordered[i]
    svc = affiliate(req)
    for position, s in enumerate(ordered, 1):
        if s.position != position:
            await req.call(
                svc.UpdateStream,
                apb.UpdateStreamRequest(
                    stream=apb.Stream(stream_id=s.stream_id, position=position),
                    update_mask=field_mask_pb2.FieldMask(paths=["position"]),
                ),
            )
    return redirect(f"{PREFIX}/campaigns/{m['id']}/flow?done=stream_moved")


async def stream_delete(req: Page, m: Params) -> Response:
    s = await _stream_of(req, m)
    svc = affiliate(req)
    return await delete_page(
        req, f"Remove the stream “{s.name}” from the flow?", "Its clicks stay in the reports.",
        f"{PREFIX}/campaigns/{m['id']}/flow",
        lambda: req.call(svc.DeleteStream, apb.DeleteStreamRequest(stream_id=s.stream_id)),
        f"{PREFIX}/campaigns/{m['id']}/flow?done=stream_deleted",
    )  # fmt: skip


async def visitor_window(req: Page, m: Params) -> Response:
    """The campaign's visitor window (how long a visitor keeps the lander and offer first chosen)."""
    text = req.f("visitor_window")
    try:
        seconds = duration_seconds(text)
    except ValueError:
        return await _flow_page(
            req, m["id"], status=400, error=UNREADABLE, window_form=req.form.flat(),
            fields={"visitor_window": f"{text!r} is not a duration like 30m, 24h or 7d"},
        )  # fmt: skip
    campaign = lpb.Campaign(campaign_id=m["id"])
    campaign.visitor_window.seconds = seconds
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    try:
        await req.call(
            links.UpdateCampaign,
            lpb.UpdateCampaignRequest(
                campaign=campaign, update_mask=field_mask_pb2.FieldMask(paths=["visitor_window"])
            ),
        )
    except ServiceError as exc:
        return await _flow_page(
            req, m["id"], status=exc.http_status(400), error=exc.message, window_form=req.form.flat(),
            fields={"visitor_window": "; ".join(exc.fields.values()) or exc.message},
        )  # fmt: skip
    return redirect(f"{PREFIX}/campaigns/{m['id']}/flow?done=window_saved")
