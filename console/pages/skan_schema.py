"""An app's SKAN conversion-value schema: the current version (or an older one) as
editable JSON, the versions, and the check's errors by field when a change is
refused (SkanSchemaService; the model is README "SKAN conversion-value schemas")."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import grpc
import orjson
from clicktrail.attribution.v1 import skan_schema_pb2 as pb
from clicktrail.attribution.v1 import skan_schema_pb2_grpc as pb_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from starlette.responses import Response

from console.forms import to_int
from console.rpc import ServiceError
from console.web import PREFIX, Page, Params, redirect

VERSIONS_SHOWN = 20
# What an app without a schema starts from (the fields every schema has; edit and save).
EXAMPLE: dict[str, Any] = {
    "currency": "USD",
    "fine_values": [
        {"value": 0},
        {"value": 1, "value_to": 9, "revenue_min": "0.01", "revenue_max": "10", "events": [{"name": "purchase"}]},
        {"value": 10, "revenue_min": "10", "events": [{"name": "purchase", "count": 2}]},
    ],
    "coarse_values": [
        {"postback": 1, "value": "high", "revenue_min": "10"},
        {"postback": 2, "value": "medium", "events": [{"name": "purchase"}]},
        {"postback": 3, "value": "low", "events": [{"name": "login"}]},
    ],
    "lock_windows": [{"postback": 1, "lock_after_hours": 24}],
}


def schema_text(doc: Any) -> str:
    """The document with one rule a line (readable, and small enough for the form's limit)."""
    if not isinstance(doc, dict):
        return orjson.dumps(doc).decode()
    parts = []
    for key, value in doc.items():
        if isinstance(value, list) and value:
            rows = ",\n".join("    " + orjson.dumps(v).decode() for v in value)
            parts.append(f'  "{key}": [\n{rows}\n  ]')
        else:
            parts.append(f'  "{key}": {orjson.dumps(value).decode()}')
    return "{\n" + ",\n".join(parts) + "\n}"


async def _page(
    req: Page, app_id: str, *, status: int = 200, text: str | None = None, note: str = "", error: str = "",
    fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    app = (await req.call(links.GetApp, lpb.GetAppRequest(app_id=app_id))).app
    svc = req.stub(pb_grpc.SkanSchemaServiceStub, "attribution")
    asked = to_int(req.q("version"))
    current: pb.GetSkanSchemaResponse | None = None
    try:
        current = await req.call(svc.GetSkanSchema, pb.GetSkanSchemaRequest(app_id=app_id, version=max(asked, 0)))
    except ServiceError as exc:
        if exc.code != grpc.StatusCode.NOT_FOUND:
            raise
    versions: list[pb.SkanSchema] = []
    if current is not None:
        listed = await req.call(
            svc.ListSkanSchemaVersions, pb.ListSkanSchemaVersionsRequest(app_id=app_id, page_size=VERSIONS_SHOWN)
        )
        versions = list(listed.versions)
    if text is None:
        text = schema_text(orjson.loads(current.schema_json)) if current is not None else schema_text(EXAMPLE)
    notice = ""
    if req.q("saved"):
        notice = f"Saved as version {req.q('saved')}: postbacks received from now on decode with it."
    elif req.q("unchanged"):
        notice = f"Unchanged: version {req.q('unchanged')} is already this schema."
    elif req.q("valid"):
        notice = f"Valid: it would be version {req.q('valid')} (nothing stored)."
    return req.render(
        "skan_schema.html", status, app=app, schema=current.schema if current is not None else None,
        latest=versions[0].version if versions else 0, versions=versions, text=text, note=note, error=error,
        fields=fields or {}, notice=notice, sdk_path="/v1/skan/schema", warnings=req.qs("warning")[:50],
    )  # fmt: skip


async def skan_schema(req: Page, m: Params) -> Response:
    return await _page(req, m["id"])


async def skan_schema_update(req: Page, m: Params) -> Response:
    text, note, dry = req.f("schema_json"), req.f("note"), bool(req.f("dry_run"))
    svc = req.stub(pb_grpc.SkanSchemaServiceStub, "attribution")
    try:
        resp = await req.call(
            svc.UpdateSkanSchema,
            pb.UpdateSkanSchemaRequest(app_id=m["id"], schema_json=text, note=note, validate_only=dry),
        )
    except ServiceError as exc:
        if exc.code not in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND):
            raise
        error = "The schema was not saved: fix the fields below." if exc.fields else exc.message
        return await _page(
            req, m["id"], status=exc.http_status(400), text=text, note=note, error=error, fields=exc.fields
        )
    key = "valid" if dry else "saved" if resp.changed else "unchanged"
    query = [(key, str(resp.schema.version)), *(("warning", w) for w in resp.warnings)]
    return redirect(f"{PREFIX}/apps/{m['id']}/skan-schema?{urlencode(query)}")
