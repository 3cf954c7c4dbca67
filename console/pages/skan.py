"""SKAdNetwork / AdAttributionKit: the mappings of ad networks' source
identifiers (campaign ids before SKAN 4) to campaigns (add, remove), and the
postbacks received, newest first (all, or only the unmapped ones) - SkanService."""

from __future__ import annotations

from typing import Any

from clicktrail.attribution.v1 import skan_pb2 as pb
from clicktrail.attribution.v1 import skan_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from starlette.responses import Response

from console.forms import field_errors
from console.pages.common import delete_page
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect

KIND_NAMES = {pb.SKAN_KIND_SKADNETWORK: "SKAdNetwork", pb.SKAN_KIND_ADATTRIBUTIONKIT: "AdAttributionKit"}
VIA_NAMES = {pb.SKAN_CHANNEL_DEVELOPER_COPY: "developer copy", pb.SKAN_CHANNEL_NETWORK: "network"}
NOTICES = {
    "mapping_added": "Mapping added.",
    "mapping_deleted": "Mapping removed: the postbacks it credited keep their campaign.",
}


def skan_stub(req: Page) -> Any:
    return req.stub(pb_grpc.SkanServiceStub, "attribution")


async def skan(req: Page, m: Params, **ctx: Any) -> Response:
    svc = skan_stub(req)
    unmapped = req.q("unmapped") == "1"
    mappings = await req.call(svc.ListSkanMappings, pb.ListSkanMappingsRequest(page_size=200))
    postbacks = await req.call(
        svc.ListSkanPostbacks,
        pb.ListSkanPostbacksRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"), unmapped=unmapped),
    )
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    campaigns = await req.call(links.ListCampaigns, lpb.ListCampaignsRequest(page_size=200))
    names = {c.campaign_id: c.name for c in campaigns.campaigns}
    ctx.setdefault("form", {})
    ctx.setdefault("fields", {})
    notice = NOTICES.get(req.q("done"), "")
    if req.q("remapped"):
        notice += f" {req.q('remapped')} postback(s) stored unmapped before now credit its campaign."
    ctx.setdefault("notice", notice.strip())
    return req.render(
        "skan.html", ctx.pop("status", 200), mappings=list(mappings.mappings), postbacks=list(postbacks.postbacks),
        next_page=postbacks.next_page_token, query="unmapped=1" if unmapped else "", unmapped=unmapped,
        campaigns=list(campaigns.campaigns), names=names, kinds=KIND_NAMES, via=VIA_NAMES, **ctx,
    )  # fmt: skip


async def mapping_add(req: Page, m: Params) -> Response:
    mapping = pb.SkanMapping(
        ad_network_id=req.f("ad_network_id"), source_identifier=req.f("source_identifier"),
        store_app_id=req.f("store_app_id"), campaign_id=req.f("campaign_id"),
    )  # fmt: skip
    try:
        made = await req.call(skan_stub(req).CreateSkanMapping, pb.CreateSkanMappingRequest(mapping=mapping))
    except ServiceError as exc:  # ALREADY_EXISTS names the existing mapping: shown with the source
        fields = field_errors(exc.fields, "mapping.") or {"source_identifier": exc.message}
        return await skan(req, m, status=exc.http_status(400), error=exc.message, form=req.form.flat(), fields=fields)
    return redirect(f"{PREFIX}/skan?done=mapping_added&remapped={made.remapped}")


async def mapping_delete(req: Page, m: Params) -> Response:
    svc = skan_stub(req)
    return await delete_page(
        req, f"Remove the SKAN mapping {m['id']}?", "Postbacks it credited keep their campaign; later ones "
        "arrive unmapped.", f"{PREFIX}/skan",
        lambda: req.call(svc.DeleteSkanMapping, pb.DeleteSkanMappingRequest(mapping_id=m["id"])),
        f"{PREFIX}/skan?done=mapping_deleted",
    )  # fmt: skip
