"""Postbacks: the templates (list, create, edit, delete), the delivery log with
its retry button, and the inbound postbacks."""

from __future__ import annotations

from urllib.parse import urlencode

from clicktrail.attribution.v1 import attribution_pb2, attribution_pb2_grpc
from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console import views
from console.choices import DEAD_LETTERS, DELIVERY_STATUSES, HTTP_METHODS, SENDING_MODES, TEMPLATE_TRIGGERS
from console.forms import TEMPLATE_FIELDS, UNREADABLE, field_errors, template_from_form, to_int
from console.pages.common import choices, delete_page
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect


async def templates(req: Page, m: Params) -> Response:
    svc = req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
    partner_id = req.q("partner_id")
    page = await req.call(
        svc.ListTemplates,
        ppb.ListTemplatesRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"), partner_id=partner_id),
    )
    picks = await choices(req)
    return req.render(
        "templates.html", templates=list(page.templates), next_page=page.next_page_token,
        partner_id=partner_id, partner_names=dict(picks["partner_options"]),
        goal_names=dict(picks["goal_options"]), query=urlencode({"partner_id": partner_id}) if partner_id else "",
    )  # fmt: skip


async def _template_page(
    req: Page, template: ppb.Template | None, form: dict[str, str], *, status: int = 200,
    error: str = "", fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    return req.render(
        "template_form.html", status, postback=template, form=form, error=error, fields=fields or {},
        trigger_options=TEMPLATE_TRIGGERS, modes=SENDING_MODES, methods=HTTP_METHODS, **await choices(req),
    )  # fmt: skip


async def template_new(req: Page, m: Params) -> Response:
    form = {
        "partner_id": req.q("partner_id"), "trigger": str(ppb.TRIGGER_INSTALL),
        "sending_mode": str(ppb.SENDING_MODE_ATTRIBUTED), "method": str(ppb.HTTP_METHOD_GET),
    }  # fmt: skip
    return await _template_page(req, None, form)


async def template_create(req: Page, m: Params) -> Response:
    template, fields = template_from_form(req.form)
    if fields:
        return await _template_page(req, None, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    template.partner_id = req.f("partner_id")
    svc = req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
    try:
        await req.call(svc.CreateTemplate, ppb.CreateTemplateRequest(template=template))
    except ServiceError as exc:
        return await _template_page(
            req, None, req.form.flat(), status=exc.http_status(400), error=exc.message,
            fields=field_errors(exc.fields, "template."),
        )  # fmt: skip
    return redirect(f"{PREFIX}/postbacks?done=template_created")


async def template(req: Page, m: Params) -> Response:
    svc = req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
    t = (await req.call(svc.GetTemplate, ppb.GetTemplateRequest(template_id=m["id"]))).template
    form = {
        "name": t.name, "app_id": t.app_id, "trigger": str(t.trigger), "goal_id": t.goal_id,
        "sending_mode": str(t.sending_mode), "method": str(t.method), "url_template": t.url_template,
        "body_template": t.body_template, "headers": "\n".join(f"{k}: {v}" for k, v in sorted(t.headers.items())),
        "enabled": "1" if t.enabled else "",
    }  # fmt: skip
    return await _template_page(req, t, form)


async def template_update(req: Page, m: Params) -> Response:
    svc = req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
    current = (await req.call(svc.GetTemplate, ppb.GetTemplateRequest(template_id=m["id"]))).template
    wanted, fields = template_from_form(req.form)
    if fields:
        return await _template_page(req, current, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    wanted.template_id = current.template_id
    mask = field_mask_pb2.FieldMask(paths=TEMPLATE_FIELDS)
    try:
        await req.call(svc.UpdateTemplate, ppb.UpdateTemplateRequest(template=wanted, update_mask=mask))
    except ServiceError as exc:
        return await _template_page(
            req, current, req.form.flat(), status=exc.http_status(400), error=exc.message,
            fields=field_errors(exc.fields, "template."),
        )  # fmt: skip
    return redirect(f"{PREFIX}/postbacks?done=template_saved")


async def template_delete(req: Page, m: Params) -> Response:
    svc = req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
    t = (await req.call(svc.GetTemplate, ppb.GetTemplateRequest(template_id=m["id"]))).template
    return await delete_page(
        req, f"Delete the postback template “{t.name or t.template_id}”?",
        "Deliveries already queued still go out; nothing more is sent with it.",
        f"{PREFIX}/postbacks/{t.template_id}",
        lambda: req.call(svc.DeleteTemplate, ppb.DeleteTemplateRequest(template_id=t.template_id)),
        f"{PREFIX}/postbacks?done=template_deleted",
    )  # fmt: skip


async def deliveries(req: Page, m: Params) -> Response:
    svc = req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
    statuses = [n for n in (to_int(s) for s in req.qs("status")) if n in dict(DELIVERY_STATUSES)]
    page = await req.call(
        svc.ListDeliveries,
        ppb.ListDeliveriesRequest(
            page_size=PAGE_SIZE, page_token=req.q("page_token"), statuses=statuses,  # type: ignore[arg-type]
        ),
    )  # fmt: skip
    return req.render(
        "deliveries.html", deliveries=list(page.deliveries), next_page=page.next_page_token,
        statuses=DELIVERY_STATUSES, chosen=statuses, dead=DEAD_LETTERS,
        query=urlencode({"status": statuses}, doseq=True),
    )  # fmt: skip


async def retry(req: Page, m: Params) -> Response:
    svc = req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")
    await req.call(svc.RetryDelivery, ppb.RetryDeliveryRequest(delivery_id=m["id"]))
    return redirect(f"{PREFIX}/postbacks/deliveries?done=retried")


async def inbound(req: Page, m: Params) -> Response:
    svc = req.stub(attribution_pb2_grpc.AttributionServiceStub, "attribution")
    page = await req.call(
        svc.ListInboundPostbacks,
        attribution_pb2.ListInboundPostbacksRequest(page_size=PAGE_SIZE, page_token=req.q("page_token")),
    )
    rows = [views.to_dict(p) for p in page.postbacks]
    columns = list(dict.fromkeys(k for r in rows for k in r)) or ["postback_id"]
    return req.render(
        "list.html", title="Inbound postbacks", rows=rows, next_page=page.next_page_token,
        columns=columns[:9], query="",
    )  # fmt: skip
