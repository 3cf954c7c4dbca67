"""Postback formats: per partner (network), the parameter names of each postback
field and the network's status words, on top of a built-in preset; the presets."""

from __future__ import annotations

import re
from typing import Any

from clicktrail.attribution.v1 import config_pb2, config_pb2_grpc
from clicktrail.links.v1 import links_pb2 as lpb
from clicktrail.links.v1 import links_pb2_grpc
from google.protobuf import field_mask_pb2
from starlette.responses import Response

from console.forms import UNREADABLE, field_errors, postback_format_from_form
from console.pages.common import delete_page
from console.rpc import ServiceError
from console.web import PREFIX, Page, Params, redirect
from libs.flow_text import ALIAS_SYNTAX, WORD_SYNTAX

NOTICES = {"format_saved": "Postback format saved.", "format_deleted": "Postback format deleted: the defaults apply."}
FORMAT_FIELDS = ("preset_id", "aliases", "status_words")
_WORD = re.compile(r"format\.status_words\[(?P<word>.*)\]")


def _svc(req: Page) -> Any:
    return req.stub(config_pb2_grpc.PostbackFormatServiceStub, "attribution")


async def _presets(req: Page) -> list[config_pb2.PostbackPreset]:
    return list((await req.call(_svc(req).ListPostbackPresets, config_pb2.ListPostbackPresetsRequest())).presets)


async def formats(req: Page, m: Params) -> Response:
    """Every partner with its format (or the defaults), and the presets."""
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    partners = await req.call(links.ListPartners, lpb.ListPartnersRequest(page_size=200))
    stored = await req.call(_svc(req).ListPostbackFormats, config_pb2.ListPostbackFormatsRequest(page_size=200))
    return req.render(
        "postback_formats.html", partners=list(partners.partners),
        formats={f.partner_id: f for f in stored.formats}, presets=await _presets(req),
        notice=NOTICES.get(req.q("done"), ""),
    )  # fmt: skip


def _form_of(f: config_pb2.PostbackFormat) -> dict[str, str]:
    return {
        "preset_id": f.preset_id,
        "aliases": "\n".join(f"{a.field}={','.join(a.params)}" for a in f.aliases),
        "status_words": "\n".join(f"{w}={s}" for w, s in sorted(f.status_words.items())),
    }


async def _format_page(
    req: Page, partner_id: str, *, status: int = 200, form: dict[str, str] | None = None, error: str = "",
    fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    links = req.stub(links_pb2_grpc.LinksServiceStub, "links")
    partner = (await req.call(links.GetPartner, lpb.GetPartnerRequest(partner_id=partner_id))).partner
    stored: config_pb2.PostbackFormat | None = None
    try:
        stored = (
            await req.call(_svc(req).GetPostbackFormat, config_pb2.GetPostbackFormatRequest(partner_id=partner_id))
        ).format
    except ServiceError as exc:
        if exc.http_status() != 404:
            raise
    return req.render(
        "postback_format_form.html", status, partner=partner, stored=stored, presets=await _presets(req),
        form=form if form is not None else (_form_of(stored) if stored else {}), error=error, fields=fields or {},
        alias_syntax=ALIAS_SYNTAX, word_syntax=WORD_SYNTAX, notice=NOTICES.get(req.q("done"), ""),
    )  # fmt: skip


async def format_page(req: Page, m: Params) -> Response:
    return await _format_page(req, m["id"])


def _errors(exc: ServiceError, lines: dict[str, list[int]]) -> dict[str, str]:
    """Violations by form field; a status word's names the word."""
    rest: dict[str, str] = {}
    words: list[str] = []
    for path, description in exc.fields.items():
        m = _WORD.fullmatch(path)
        if m:
            words.append(f"{m['word']}: {description}")
        else:
            rest[path] = description
    out = field_errors(rest, "format.", lines)
    if words:
        out["status_words"] = "; ".join(words)
    return out


async def format_update(req: Page, m: Params) -> Response:
    fmt, lines, fields = postback_format_from_form(req.form)
    if fields:
        return await _format_page(req, m["id"], status=400, form=req.form.flat(), error=UNREADABLE, fields=fields)
    fmt.partner_id = m["id"]
    try:
        await req.call(
            _svc(req).UpdatePostbackFormat,
            config_pb2.UpdatePostbackFormatRequest(
                format=fmt, update_mask=field_mask_pb2.FieldMask(paths=list(FORMAT_FIELDS)), allow_missing=True
            ),
        )
    except ServiceError as exc:
        return await _format_page(
            req, m["id"], status=exc.http_status(400), form=req.form.flat(), error=exc.message,
            fields=_errors(exc, lines),
        )  # fmt: skip
    return redirect(f"{PREFIX}/postback-formats/{m['id']}?done=format_saved")


async def format_delete(req: Page, m: Params) -> Response:
    svc = _svc(req)
    return await delete_page(
        req, "Delete this partner's postback format?", "Its postbacks are read with the defaults again.",
        f"{PREFIX}/postback-formats/{m['id']}",
        lambda: req.call(svc.DeletePostbackFormat, config_pb2.DeletePostbackFormatRequest(partner_id=m["id"])),
        f"{PREFIX}/postback-formats?done=format_deleted",
    )  # fmt: skip
