"""The account's custom tracking domains: the list, the add form, removal."""

from __future__ import annotations

from typing import Any

from clicktrail.links.v1 import affiliate_pb2 as apb
from starlette.responses import Response

from console.forms import field_errors
from console.pages.common import delete_page
from console.pages.offers import affiliate, notice
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect


async def domains(req: Page, m: Params, **ctx: Any) -> Response:
    page = await req.call(
        affiliate(req).ListDomains, apb.ListDomainsRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
    )
    ctx.setdefault("form", {})
    ctx.setdefault("fields", {})
    ctx.setdefault("notice", notice(req))
    return req.render(
        "domains.html", ctx.pop("status", 200), domains=list(page.domains), next_page=page.next_page_token,
        query="", **ctx,
    )  # fmt: skip


async def domain_add(req: Page, m: Params) -> Response:
    domain = apb.Domain(name=req.f("name"), root_url=req.f("root_url"))
    try:
        await req.call(affiliate(req).CreateDomain, apb.CreateDomainRequest(domain=domain))
    except ServiceError as exc:  # ALREADY_EXISTS (another account has it) shows as the name's problem
        fields = field_errors(exc.fields, "domain.") or {"name": exc.message}
        return await domains(
            req, m, status=exc.http_status(400), error=exc.message, form=req.form.flat(), fields=fields
        )
    return redirect(f"{PREFIX}/domains?done=domain_added")


async def domain_delete(req: Page, m: Params) -> Response:
    svc = affiliate(req)
    found = (await req.call(svc.GetDomain, apb.GetDomainRequest(name=m["name"]))).domain
    return await delete_page(
        req, f"Remove the domain {found.name}?", "Refused while links are served on it.", f"{PREFIX}/domains",
        lambda: req.call(svc.DeleteDomain, apb.DeleteDomainRequest(name=found.name)),
        f"{PREFIX}/domains?done=domain_deleted",
    )  # fmt: skip
