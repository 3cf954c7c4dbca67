"""Apple Ads attribution (AdServices): the account's settings (on/off, the Apple
Ads partner, the default campaign), the Apple campaign -> campaign mappings (add,
remove) and what Apple answered for install tokens, newest first - AppleAdsService."""

from __future__ import annotations

from typing import Any

from clicktrail.attribution.v1 import apple_ads_pb2 as pb
from clicktrail.attribution.v1 import apple_ads_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from starlette.responses import Response

from console.forms import field_errors
from console.pages.common import delete_page
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect

OUTCOME_NAMES = {
    v.number: v.name.removeprefix("APPLE_ADS_OUTCOME_").lower().replace("_", " ")
    for v in pb.AppleAdsOutcome.DESCRIPTOR.values
    if v.number
}
NOTICES = {
    "settings_saved": "Apple Ads settings saved.",
    "mapping_added": "Mapping added: installs of that Apple campaign are credited to its campaign from now on.",
    "mapping_deleted": "Mapping removed: installs credited before keep their campaign.",
}


def apple_stub(req: Page) -> Any:
    return req.stub(pb_grpc.AppleAdsServiceStub, "attribution")


def _digits(text: str) -> int:
    """A form's Apple campaign id (0 when not a number: the service names the field)."""
    text = text.strip()
    return int(text) if text.isdigit() and len(text) <= 18 else 0


async def apple_ads(req: Page, m: Params, **ctx: Any) -> Response:
    svc = apple_stub(req)
    settings = (await req.call(svc.GetAppleAdsSettings, pb.GetAppleAdsSettingsRequest())).settings
    mappings = await req.call(svc.ListAppleAdsMappings, pb.ListAppleAdsMappingsRequest(page_size=200))
    lookups = await req.call(
        svc.ListAppleAdsLookups, pb.ListAppleAdsLookupsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
    )
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    campaigns = await req.call(links.ListCampaigns, lpb.ListCampaignsRequest(page_size=200))
    partners = await req.call(links.ListPartners, lpb.ListPartnersRequest(page_size=200))
    ctx.setdefault("form", {})
    ctx.setdefault("fields", {})
    ctx.setdefault("settings_form", {})
    ctx.setdefault("settings_fields", {})
    ctx.setdefault("notice", NOTICES.get(req.q("done"), ""))
    return req.render(
        "apple_ads.html", ctx.pop("status", 200), settings=settings, mappings=list(mappings.mappings),
        lookups=list(lookups.lookups), next_page=lookups.next_page_token, query="",
        campaigns=list(campaigns.campaigns), partners=list(partners.partners),
        names={c.campaign_id: c.name for c in campaigns.campaigns},
        partner_names={p.partner_id: p.name for p in partners.partners}, outcomes=OUTCOME_NAMES, **ctx,
    )  # fmt: skip


async def settings_update(req: Page, m: Params) -> Response:
    s = pb.AppleAdsSettings(
        enabled=req.f("enabled") == "on",
        partner_id=req.f("partner_id"),
        default_campaign_id=req.f("default_campaign_id"),
    )
    try:
        await req.call(apple_stub(req).UpdateAppleAdsSettings, pb.UpdateAppleAdsSettingsRequest(settings=s))
    except ServiceError as exc:
        fields = field_errors(exc.fields, "settings.") or {"partner_id": exc.message}
        return await apple_ads(req, m, status=exc.http_status(400), error=exc.message,
                               settings_form=req.form.flat(), settings_fields=fields)  # fmt: skip
    return redirect(f"{PREFIX}/apple-ads?done=settings_saved")


async def mapping_add(req: Page, m: Params) -> Response:
    mapping = pb.AppleAdsMapping(
        apple_campaign_id=_digits(req.f("apple_campaign_id")), campaign_id=req.f("campaign_id")
    )
    try:
        await req.call(apple_stub(req).CreateAppleAdsMapping, pb.CreateAppleAdsMappingRequest(mapping=mapping))
    except ServiceError as exc:  # ALREADY_EXISTS: shown with the Apple campaign id
        fields = field_errors(exc.fields, "mapping.") or {"apple_campaign_id": exc.message}
        return await apple_ads(req, m, status=exc.http_status(400), error=exc.message, form=req.form.flat(),
                               fields=fields)  # fmt: skip
    return redirect(f"{PREFIX}/apple-ads?done=mapping_added")


async def mapping_delete(req: Page, m: Params) -> Response:
    svc = apple_stub(req)
    apple_id = _digits(m["apple_campaign_id"])
    return await delete_page(
        req, f"Remove the mapping of Apple campaign {apple_id}?", "Installs credited before keep their campaign; "
        "later ones go to the default campaign.", f"{PREFIX}/apple-ads",
        lambda: req.call(svc.DeleteAppleAdsMapping, pb.DeleteAppleAdsMappingRequest(apple_campaign_id=apple_id)),
        f"{PREFIX}/apple-ads?done=mapping_deleted",
    )  # fmt: skip
