"""Landers and pre-landers (list, create, edit, delete): the pages a stream shows
before the offer, with their own macros."""

from __future__ import annotations

from clicktrail.links.v1 import affiliate_pb2 as apb
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.choices import LANDER_TYPES
from console.forms import LANDER_FIELDS, UNREADABLE, field_errors, lander_from_form
from console.pages.common import delete_page
from console.pages.offers import affiliate, notice
from console.rpc import ServiceError
from console.web import PAGE_SIZE, PREFIX, Page, Params, redirect


async def landers(req: Page, m: Params) -> Response:
    page = await req.call(
        affiliate(req).ListLanders, apb.ListLandersRequest(page_size=PAGE_SIZE, page_token=req.q("page_token"))
    )
    return req.render(
        "landers.html", landers=list(page.landers), next_page=page.next_page_token, query="", notice=notice(req)
    )


def _lander_page(
    req: Page, lander: apb.Lander | None, form: dict[str, str], *, status: int = 200, error: str = "",
    fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    return req.render(
        "lander_form.html", status, lander=lander, form=form, error=error, fields=fields or {},
        lander_types=LANDER_TYPES, notice=notice(req),
    )  # fmt: skip


def _errors(exc: ServiceError, lines: list[int]) -> dict[str, str]:
    # A macro's violation names its key ("lander.macros[headline]"): it belongs to the macros textarea.
    return field_errors(exc.fields, "lander.", {"macros": lines}, (("macros", "macros"),))


async def lander_new(req: Page, m: Params) -> Response:
    return _lander_page(req, None, {"type": str(apb.LANDER_TYPE_LANDER)})


async def lander_create(req: Page, m: Params) -> Response:
    lander, lines, fields = lander_from_form(req.form)
    if fields:
        return _lander_page(req, None, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    try:
        resp = await req.call(affiliate(req).CreateLander, apb.CreateLanderRequest(lander=lander))
    except ServiceError as exc:
        return _lander_page(
            req, None, req.form.flat(), status=exc.http_status(400), error=exc.message, fields=_errors(exc, lines)
        )
    return redirect(f"{PREFIX}/landers/{resp.lander.lander_id}?done=lander_created")


def lander_form(lander: apb.Lander) -> dict[str, str]:
    return {
        "name": lander.name, "url": lander.url, "type": str(lander.type),
        "macros": "\n".join(f"{k}={v}" for k, v in sorted(lander.macros.items())),
    }  # fmt: skip


async def lander(req: Page, m: Params) -> Response:
    found = (await req.call(affiliate(req).GetLander, apb.GetLanderRequest(lander_id=m["id"]))).lander
    return _lander_page(req, found, lander_form(found))


async def lander_update(req: Page, m: Params) -> Response:
    svc = affiliate(req)
    current = (await req.call(svc.GetLander, apb.GetLanderRequest(lander_id=m["id"]))).lander
    wanted, lines, fields = lander_from_form(req.form)
    if fields:
        return _lander_page(req, current, req.form.flat(), status=400, error=UNREADABLE, fields=fields)
    wanted.lander_id = current.lander_id
    try:
        await req.call(
            svc.UpdateLander,
            apb.UpdateLanderRequest(lander=wanted, update_mask=field_mask_pb2.FieldMask(paths=list(LANDER_FIELDS))),
        )
    except ServiceError as exc:
        return _lander_page(
            req, current, req.form.flat(), status=exc.http_status(400), error=exc.message, fields=_errors(exc, lines)
        )
    return redirect(f"{PREFIX}/landers/{current.lander_id}?done=lander_saved")


async def lander_delete(req: Page, m: Params) -> Response:
    svc = affiliate(req)
    found = (await req.call(svc.GetLander, apb.GetLanderRequest(lander_id=m["id"]))).lander
    return await delete_page(
        req, f"Delete the lander “{found.name}”?", "Refused while a stream rotates it.",
        f"{PREFIX}/landers/{found.lander_id}",
        lambda: req.call(svc.DeleteLander, apb.DeleteLanderRequest(lander_id=found.lander_id)),
        f"{PREFIX}/landers?done=lander_deleted",
    )  # fmt: skip
