"""An app's page: its ids and the identities deep links and SKAdNetwork need (Apple
team id + App Store id, Android signing certificate fingerprints), with the form
that changes them and the association files a tracking domain serves from them."""

from __future__ import annotations

from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.forms import field_errors, lines_of
from console.pages.links import domain_names
from console.rpc import ServiceError
from console.web import PREFIX, Page, Params, redirect

APP_FORM_FIELDS = ("name", "store_url", "apple_team_id", "apple_app_id", "android_sha256_fingerprints")
SAVED = "App saved."


def app_form(app: lpb.App) -> dict[str, str]:
    return {
        "name": app.name, "store_url": app.store_url, "apple_team_id": app.apple_team_id,
        "apple_app_id": app.apple_app_id, "android_sha256_fingerprints": "\n".join(app.android_sha256_fingerprints),
    }  # fmt: skip


async def _app_page(
    req: Page, app_id: str, *, status: int = 200, error: str = "", form: dict[str, str] | None = None,
    fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    app = (await req.call(links.GetApp, lpb.GetAppRequest(app_id=app_id))).app
    return req.render(
        "app.html", status, app=app, error=error, form=form if form is not None else app_form(app),
        fields=fields or {}, domains=await domain_names(req), notice=SAVED if req.q("done") == "app_saved" else "",
    )  # fmt: skip


async def app_page(req: Page, m: Params) -> Response:
    return await _app_page(req, m["id"])


async def app_update(req: Page, m: Params) -> Response:
    prints = lines_of(req.f("android_sha256_fingerprints"))
    wanted = lpb.App(
        app_id=m["id"], name=req.f("name"), store_url=req.f("store_url"), apple_team_id=req.f("apple_team_id"),
        apple_app_id=req.f("apple_app_id"), android_sha256_fingerprints=[line for _, line in prints],
    )  # fmt: skip
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    try:
        await req.call(
            links.UpdateApp,
            lpb.UpdateAppRequest(app=wanted, update_mask=field_mask_pb2.FieldMask(paths=list(APP_FORM_FIELDS))),
        )
    except ServiceError as exc:
        lines = {"android_sha256_fingerprints": [n for n, _ in prints]}
        return await _app_page(
            req, m["id"], status=exc.http_status(400), error=exc.message, form=req.form.flat(),
            fields=field_errors(exc.fields, "app.", lines),
        )  # fmt: skip
    return redirect(f"{PREFIX}/apps/{m['id']}?done=app_saved")
