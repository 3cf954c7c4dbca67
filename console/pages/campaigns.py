"""Campaigns (the list with today's figures, the create and edit forms, their
links) and partners."""

from __future__ import annotations

from typing import Any

from clicktrail.analytics.v1 import reports_pb2, reports_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console import views
from console.choices import CAMPAIGN_STATUSES
from console.forms import (
    FROZEN_FIELDS,
    REDIRECT_STATUSES,
    UNREADABLE,
    campaign_from_form,
    form_fields,
    link_options_from_form,
)
from console.pages.common import choices
from console.pages.links import LINK_FIELD_OF, domain_names
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect


async def campaigns(req: Page, m: Params) -> Response:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    page = await req.call(
        links.ListCampaigns, lpb.ListCampaignsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
    )
    campaigns = list(page.campaigns)
    today = req.today().isoformat()
    stats: dict[str, Any] = {}
    error = ""
    if campaigns:
        # One report call for the whole page: today's figures grouped by campaign.
        try:
            ids = [c.campaign_id for c in campaigns]
            report = await req.call(
                req.stub(reports_pb2_grpc.ReportServiceStub, "analytics").RunCampaignReport,
                reports_pb2.RunCampaignReportRequest(
                    start_date=today, end_date=today, time_zone=req.session.time_zone if req.session else "UTC",
                    group_by=["campaign"], filters=[reports_pb2.ReportFilter(dimension="campaign", values=ids)],
                    page_size=len(campaigns),
                ),
            )  # fmt: skip
            stats = {row.dimensions["campaign"]: views.row_view(row) for row in report.rows}
        except ServiceError as exc:  # the list still shows; the figures say why they are missing
            error = f"Today's figures are unavailable: {exc.message}"
    return req.render(
        "campaigns.html", campaigns=campaigns, stats=stats, today=today, error=error,
        next_page=page.next_page_token, statuses=CAMPAIGN_STATUSES,
    )  # fmt: skip


async def campaign_new(req: Page, m: Params) -> Response:
    form = {"status": str(lpb.CAMPAIGN_STATUS_DRAFT), "type": str(lpb.CAMPAIGN_TYPE_APP_INSTALL)}
    return req.render("campaign_form.html", campaign=None, form=form, fields={}, **await choices(req))


async def campaign_create(req: Page, m: Params) -> Response:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    try:
        resp = await req.call(
            links.CreateCampaign,
            lpb.CreateCampaignRequest(
                campaign=campaign_from_form(req.form, req.session.currency if req.session else "USD")
            ),
        )
    except ServiceError as exc:
        return req.render(
            "campaign_form.html", 400, campaign=None, form=req.form.flat(), error=exc.message,
            fields=form_fields(exc.fields, "campaign."), **await choices(req),
        )  # fmt: skip
    return redirect(f"{PREFIX}/campaigns/{resp.campaign.campaign_id}?done=created")


async def _campaign_page(
    req: Page, campaign_id: str, *, status: int = 200, form: dict[str, str] | None = None,
    error: str = "", fields: dict[str, str] | None = None, link_form: dict[str, str] | None = None,
    link_fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    campaign = (await req.call(links.GetCampaign, lpb.GetCampaignRequest(campaign_id=campaign_id))).campaign
    page = await req.call(
        links.ListLinks,
        lpb.ListLinksRequest(campaign_id=campaign_id, page_size=PAGE_SIZE, page_token=req.q("page_token")),
    )
    if form is None:
        form = {
            "name": campaign.name, "type": str(campaign.type), "traffic_type": str(campaign.traffic_type),
            "partner_id": campaign.partner_id, "app_id": campaign.app_id, "status": str(campaign.status),
            "fallback_url": campaign.fallback_url, "target_goal_id": campaign.target_goal_id,
            "budget_amount": campaign.budget.amount, "budget_currency": campaign.budget.currency_code,
        }  # fmt: skip
    return req.render(
        "campaign_form.html", status, campaign=campaign, form=form, error=error, fields=fields or {},
        links=list(page.links), next_page=page.next_page_token, link_form=link_form or {},
        link_fields=link_fields or {}, link_domains=await domain_names(req), redirect_statuses=REDIRECT_STATUSES,
        **{**await choices(req), "published": campaign.HasField("publish_time")},
    )  # fmt: skip


async def campaign(req: Page, m: Params) -> Response:
    return await _campaign_page(req, m["id"])


async def campaign_update(req: Page, m: Params) -> Response:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    current = (await req.call(links.GetCampaign, lpb.GetCampaignRequest(campaign_id=m["id"]))).campaign
    wanted = campaign_from_form(req.form, req.session.currency if req.session else "USD")
    wanted.campaign_id = current.campaign_id
    published = current.HasField("publish_time")
    paths = ["name", "status", "fallback_url", "budget"]
    if not published:
        paths += list(FROZEN_FIELDS)
    try:
        await req.call(
            links.UpdateCampaign,
            lpb.UpdateCampaignRequest(campaign=wanted, update_mask=field_mask_pb2.FieldMask(paths=paths)),
        )
    except ServiceError as exc:
        return await _campaign_page(
            req, m["id"], status=400, form=req.form.flat(), error=exc.message,
            fields=form_fields(exc.fields, "campaign."),
        )  # fmt: skip
    return redirect(f"{PREFIX}/campaigns/{current.campaign_id}?done=saved")


async def link_create(req: Page, m: Params) -> Response:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    link = lpb.Link(
        campaign_id=m["id"], name=req.f("name"), destination_url=req.f("destination_url"),
        ios_url=req.f("ios_url"), android_url=req.f("android_url"), desktop_url=req.f("desktop_url"),
    )  # fmt: skip
    unreadable = link_options_from_form(req.form, req.time_zone, link)
    if unreadable:
        return await _campaign_page(
            req, m["id"], status=400, error=UNREADABLE, link_form=req.form.flat(), link_fields=unreadable
        )
    try:
        await req.call(links.CreateLink, lpb.CreateLinkRequest(link=link))
    except ServiceError as exc:
        fields = {dict(LINK_FIELD_OF).get(k, k): v for k, v in form_fields(exc.fields, "link.").items()}
        return await _campaign_page(
            req, m["id"], status=400, error=exc.message, link_form=req.form.flat(), link_fields=fields
        )
    return redirect(f"{PREFIX}/campaigns/{m['id']}?done=link_created#links")


async def partners(req: Page, m: Params, **ctx: Any) -> Response:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    page = await req.call(
        links.ListPartners, lpb.ListPartnersRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
    )
    apps = await req.call(links.ListApps, lpb.ListAppsRequest(page_size=PAGE_SIZE))
    ctx.setdefault("form", {})
    ctx.setdefault("fields", {})
    return req.render(
        "partners.html", ctx.pop("status", 200), partners=list(page.partners), apps=list(apps.apps),
        next_page=page.next_page_token, **ctx,
    )  # fmt: skip


async def partner_create(req: Page, m: Params) -> Response:
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    try:
        await req.call(links.CreatePartner, lpb.CreatePartnerRequest(partner=lpb.Partner(name=req.f("name"))))
    except ServiceError as exc:
        return await partners(
            req, m, status=400, error=exc.message, form=req.form.flat(), fields=form_fields(exc.fields, "partner.")
        )
    return redirect(f"{PREFIX}/partners?done=partner_created")
