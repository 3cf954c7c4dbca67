"""Offers (a network's landing with its payout, countries and caps: list, create,
edit, delete) and landers (the pages a stream shows before the offer)."""

from __future__ import annotations

from typing import Any

from clicktrail.links.v1 import affiliate_pb2 as apb
from clicktrail.links.v1 import affiliate_pb2_grpc, links_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.choices import CAP_ACTIONS, OFFER_STATUSES, PAYOUT_TYPES
from console.forms import OFFER_FIELDS, UNREADABLE, field_errors, offer_from_form
from console.pages.common import delete_page
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect

# What a redirect's ?done= shows on the offer and lander pages.
NOTICES = {
    "offer_created": "Offer created.", "offer_saved": "Offer saved.", "offer_deleted": "Offer deleted.",
    "lander_created": "Lander created.", "lander_saved": "Lander saved.", "lander_deleted": "Lander deleted.",
    "domain_added": "Domain added.", "domain_deleted": "Domain removed.",
    "stream_created": "Stream added to the flow.", "stream_saved": "Stream saved.",
    "stream_deleted": "Stream removed from the flow.", "stream_moved": "Flow order saved.",
    "window_saved": "Visitor window saved.", "link_saved": "Link saved.",
}  # fmt: skip
# Offer violations by form field.
OFFER_FIELD_OF = (("payout", "payout_amount"),)


def notice(req: Page) -> str:
    return NOTICES.get(req.q("done"), "")


def affiliate(req: Page) -> Any:
    """The AffiliateService stub (served by the links process)."""
    return req.stub(affiliate_pb2_grpc.AffiliateServiceStub, "links")


async def partner_names(req: Page) -> dict[str, str]:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    page = await req.call(links.ListPartners, lpb.ListPartnersRequest(page_size=200))
    return {p.partner_id: p.name for p in page.partners}


async def offers(req: Page, m: Params) -> Response:
    page = await req.call(
        affiliate(req).ListOffers, apb.ListOffersRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
    )
    return req.render(
        "offers.html", offers=list(page.offers), next_page=page.next_page_token, query="",
        partners=await partner_names(req), notice=notice(req),
    )  # fmt: skip


async def _offer_page(
    req: Page, offer: apb.Offer | None, form: dict[str, str], *, status: int = 200, error: str = "",
    fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    partners = await partner_names(req)
    return req.render(
        "offer_form.html", status, offer=offer, form=form, error=error, fields=fields or {},
        partner_options=list(partners.items()), payout_types=PAYOUT_TYPES, cap_actions=CAP_ACTIONS,
        offer_statuses=OFFER_STATUSES, notice=notice(req),
    )  # fmt: skip


def offer_form(o: apb.Offer) -> dict[str, str]:
    return {
        "name": o.name, "partner_id": o.partner_id, "url": o.url, "payout_type": str(o.payout_type),
        "payout_amount": o.payout.amount, "payout_currency": o.payout.currency_code,
        "countries": ", ".join(o.countries), "daily_cap": str(o.daily_cap or ""),
        "total_cap": str(o.total_cap or ""), "cap_action": str(o.cap_action), "cap_url": o.cap_url,
        "status": str(o.status),
    }  # fmt: skip


async def offer_new(req: Page, m: Params) -> Response:
    form = {
        "payout_type": str(apb.PAYOUT_TYPE_POSTBACK), "cap_action": str(apb.CAP_ACTION_NEXT_OFFER),
        "status": str(apb.OFFER_STATUS_ACTIVE),
    }  # fmt: skip
    return await _offer_page(req, None, form)


async def offer_create(req: Page, m: Params) -> Response:
    offer, fields = offer_from_form(req.form, req.session.currency if req.session else "USD")
    if fields:
        return await _offer_page(req, None, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    try:
        resp = await req.call(affiliate(req).CreateOffer, apb.CreateOfferRequest(offer=offer))
    except ServiceError as exc:
        return await _offer_page(
            req, None, req.form.flat(), status=exc.http_status(400), error=exc.message,
            fields=field_errors(exc.fields, "offer.", renames=OFFER_FIELD_OF),
        )  # fmt: skip
    return redirect(f"{PREFIX}/offers/{resp.offer.offer_id}?done=offer_created")


async def offer(req: Page, m: Params) -> Response:
    o = (await req.call(affiliate(req).GetOffer, apb.GetOfferRequest(offer_id=m["id"]))).offer
    return await _offer_page(req, o, offer_form(o))


async def offer_update(req: Page, m: Params) -> Response:
    svc = affiliate(req)
    current = (await req.call(svc.GetOffer, apb.GetOfferRequest(offer_id=m["id"]))).offer
    wanted, fields = offer_from_form(req.form, req.session.currency if req.session else "USD")
    if fields:
        return await _offer_page(req, current, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    wanted.offer_id = current.offer_id
    try:
        await req.call(
            svc.UpdateOffer,
            apb.UpdateOfferRequest(offer=wanted, update_mask=field_mask_pb2.FieldMask(paths=list(OFFER_FIELDS))),
        )
    except ServiceError as exc:
        return await _offer_page(
            req, current, req.form.flat(), status=exc.http_status(400), error=exc.message,
            fields=field_errors(exc.fields, "offer.", renames=OFFER_FIELD_OF),
        )  # fmt: skip
    return redirect(f"{PREFIX}/offers/{current.offer_id}?done=offer_saved")


async def offer_delete(req: Page, m: Params) -> Response:
    svc = affiliate(req)
    o = (await req.call(svc.GetOffer, apb.GetOfferRequest(offer_id=m["id"]))).offer
    return await delete_page(
        req, f"Delete the offer “{o.name}”?", "Refused while a stream rotates it.", f"{PREFIX}/offers/{o.offer_id}",
        lambda: req.call(svc.DeleteOffer, apb.DeleteOfferRequest(offer_id=o.offer_id)),
        f"{PREFIX}/offers?done=offer_deleted",
    )  # fmt: skip
