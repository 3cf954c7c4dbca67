"""A tracking link's page: its URLs, its QR code (shown, and downloadable as SVG and
PNG through AffiliateService.GetLinkQrCode) and the form of its options (custom
domain, expiry, click limit, redirect status, deep link)."""

from __future__ import annotations

import base64
import datetime as dt

from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.forms import LINK_OPTION_FIELDS, REDIRECT_STATUSES, UNREADABLE, field_errors, link_options_from_form, zone
from console.pages.offers import affiliate, notice
from console.rpc import ServiceError
from console.web import PREFIX, Page, Params, redirect

QR_FORMATS = {"svg": apb.QR_FORMAT_SVG, "png": apb.QR_FORMAT_PNG}
# Expiry violations name the proto field; the form's field is "expires".
LINK_FIELD_OF = (("expire_time", "expires"),)


async def domain_names(req: Page) -> list[str]:
    """The account's tracking domains a link may use; none when they cannot be read
    (the link forms still work, on the gateway's own host)."""
    try:
        page = await req.call(affiliate(req).ListDomains, apb.ListDomainsRequest(page_size=200))
    except ServiceError:
        return []
    return [d.name for d in page.domains]


def options_form(link: lpb.Link, time_zone: str) -> dict[str, str]:
    expires = ""
    if link.HasField("expire_time"):
        when = link.expire_time.ToDatetime(dt.UTC).astimezone(zone(time_zone))
        expires = when.replace(tzinfo=None).isoformat(timespec="minutes")
    return {
        "domain": link.domain, "expires": expires, "max_clicks": str(link.max_clicks or ""),
        "redirect_status": str(link.redirect_status if link.redirect_status in (301, 307) else 0),
        "deep_link": link.deep_link,
    }  # fmt: skip


async def _link_page(
    req: Page, link_id: str, *, status: int = 200, error: str = "", form: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    link = (await req.call(links.GetLink, lpb.GetLinkRequest(link_id=link_id))).link
    qr_src, qr_error = "", ""
    try:
        qr = await req.call(
            affiliate(req).GetLinkQrCode, apb.GetLinkQrCodeRequest(link_id=link_id, format=apb.QR_FORMAT_SVG)
        )
        # An SVG in <img> runs no script; the CSP allows data: images.
        qr_src = f"data:{qr.content_type};base64,{base64.b64encode(qr.image).decode()}"
    except ServiceError as exc:  # the page still shows the link and its options
        qr_error = f"The QR code is unavailable: {exc.message}"
    return req.render(
        "link.html", status, link=link, qr_src=qr_src, qr_error=qr_error, error=error,
        form=form if form is not None else options_form(link, req.time_zone), fields=fields or {},
        domains=await domain_names(req), redirect_statuses=REDIRECT_STATUSES, notice=notice(req),
    )  # fmt: skip


async def link(req: Page, m: Params) -> Response:
    return await _link_page(req, m["id"])


async def link_update(req: Page, m: Params) -> Response:
    wanted = lpb.Link(link_id=m["id"])
    fields = link_options_from_form(req.form, req.time_zone, wanted)
    if fields:
        return await _link_page(req, m["id"], status=400, error=UNREADABLE, form=req.form.flat(), fields=fields)
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    try:
        await req.call(
            links.UpdateLink,
            lpb.UpdateLinkRequest(link=wanted, update_mask=field_mask_pb2.FieldMask(paths=list(LINK_OPTION_FIELDS))),
        )
    except ServiceError as exc:
        return await _link_page(
            req, m["id"], status=exc.http_status(400), error=exc.message, form=req.form.flat(),
            fields=field_errors(exc.fields, "link.", renames=LINK_FIELD_OF),
        )  # fmt: skip
    return redirect(f"{PREFIX}/links/{m['id']}?done=link_saved")


async def link_qr(req: Page, m: Params) -> Response:
    """/links/{id}/qr.svg and qr.png: the image as a download."""
    fmt = m["fmt"]
    qr = await req.call(affiliate(req).GetLinkQrCode, apb.GetLinkQrCodeRequest(link_id=m["id"], format=QR_FORMATS[fmt]))
    disposition = f'attachment; filename="link-{m["id"]}.{fmt}"'
    return Response(qr.image, 200, {"content-disposition": disposition}, qr.content_type)
