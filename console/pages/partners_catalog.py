"""Integrated partners: what MyTracker describes as "open the list of partners,
choose the one you need, go to Event sending, choose an app and mark the events".

The list is the postbacks service's catalog (ListCatalog), searchable by name
and filtered by whether the entry was checked against the partner's public
documentation. An entry's page shows its settings (required ones marked, the
documented example as the placeholder), where its templates come from, and a
form: the app, the settings, and per template whether to send it, for which
goal (conversion templates) and in which sending mode. Submitting is one
CreateCatalogPartner call (what ``clicktrail partner create --from-catalog``
does) carrying those choices: the partner and every template are written as
chosen, all or nothing. A template not chosen is written disabled (it never
sends; it can be switched on later on the Postbacks page); a failure leaves
no partner, so submitting again does not make a second one.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from clicktrail.postbacks.v1 import postbacks_pb2 as ppb
from clicktrail.postbacks.v1 import postbacks_pb2_grpc
from starlette.exceptions import HTTPException
from starlette.responses import Response

from console.choices import SENDING_MODES
from console.pages.common import choices
from console.rpc import ServiceError
from console.web import PREFIX, Page, Params, redirect

SHOW = (("", "All partners"), ("documented", "Checked against the partner's docs"), ("verify", "To verify"))
MAX_CATALOG_PAGES = 20
CREATED = "Partner created with its postbacks."


def _svc(req: Page) -> Any:
    return req.stub(postbacks_pb2_grpc.PostbackServiceStub, "postbacks")


async def _catalog(req: Page) -> list[ppb.CatalogEntry]:
    """Every catalog entry (the catalog is small; read page by page)."""
    out: list[ppb.CatalogEntry] = []
    token = ""
    for _ in range(MAX_CATALOG_PAGES):
        page = await req.call(_svc(req).ListCatalog, ppb.ListCatalogRequest(page_size=100, page_token=token))
        out.extend(page.entries)
        token = page.next_page_token
        if not token:
            break
    return out


def matches(e: ppb.CatalogEntry, q: str, show: str) -> bool:
    """The list's search (name, key, description; any case) and filter."""
    text = f"{e.key} {e.name} {e.description}".lower()
    if q and not all(word in text for word in q.lower().split()):
        return False
    return not (show == "documented" and e.verify) and not (show == "verify" and not e.verify)


async def catalog_list(req: Page, m: Params) -> Response:
    entries = await _catalog(req)
    q, show = req.q("q"), req.q("show")
    if show not in dict(SHOW):
        show = ""
    created = req.q("partner_id") if req.q("done") == "catalog_partner_created" else ""
    return req.render(
        "integrated_partners.html", entries=[e for e in entries if matches(e, q, show)], total=len(entries),
        q=q, show=show, shows=SHOW, created=created, notice=CREATED if created else "",
        query=urlencode({k: v for k, v in (("q", q), ("show", show)) if v}),
    )  # fmt: skip


async def _entry(req: Page, key: str) -> ppb.CatalogEntry:
    found = next((e for e in await _catalog(req) if e.key == key), None)
    if found is None:
        raise HTTPException(404)
    return found


def _defaults(e: ppb.CatalogEntry) -> dict[str, str]:
    form = {"name": e.name, "app_id": ""}
    for i, t in enumerate(e.templates):
        form[f"send_{i}"] = "1"
        form[f"mode_{i}"] = str(t.sending_mode)
    return form


async def _entry_page(
    req: Page, e: ppb.CatalogEntry, form: dict[str, str], *, status: int = 200, error: str = "",
    fields: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    picks = await choices(req)
    return req.render(
        "integrated_partner.html", status, entry=e, form=form, error=error, fields=fields or {},
        modes=SENDING_MODES, app_options=picks["app_options"], goal_options=picks["goal_options"],
        conversion=ppb.TRIGGER_CONVERSION, shown=_shown(e),
    )  # fmt: skip


def _shown(e: ppb.CatalogEntry) -> list[str]:
    """The form fields that show their own error (any other shows under the form)."""
    per_template = [f"{f}_{i}" for i in range(len(e.templates)) for f in ("goal", "mode")]
    return ["name", "app_id", "events", *(f"setting_{s.name}" for s in e.settings), *per_template]


async def catalog_entry(req: Page, m: Params) -> Response:
    e = await _entry(req, m["id"])
    return await _entry_page(req, e, _defaults(e))


def read_choices(
    req: Page, e: ppb.CatalogEntry, apps: set[str], goals: set[str]
) -> tuple[dict[str, str], list[tuple[bool, int, str]], dict[str, str]]:
    """The settings given, per template (send it, sending mode, goal id or ""), and
    the form's field errors."""
    fields: dict[str, str] = {}
    app_id = req.f("app_id")
    if app_id and app_id not in apps:
        fields["app_id"] = "is not one of this account's apps: pick one from the list (or all apps)"
    known = {s.name for s in e.settings}
    settings = {n: req.f(f"setting_{n}") for n in sorted(known) if req.f(f"setting_{n}")}
    modes = {str(n): n for n, _ in SENDING_MODES}
    picked: list[tuple[bool, int, str]] = []
    for i, t in enumerate(e.templates):
        send = req.f(f"send_{i}") == "1"
        mode = modes.get(req.f(f"mode_{i}", str(t.sending_mode)))
        if mode is None:
            fields[f"mode_{i}"] = "must be attributed or all"
        goal = req.f(f"goal_{i}") if t.trigger == ppb.TRIGGER_CONVERSION else ""
        if goal and goal not in goals:
            fields[f"goal_{i}"] = "is not one of this account's goals"
        picked.append((send, mode or t.sending_mode, goal))
    if not any(send for send, _, _ in picked):
        fields["events"] = "choose at least one event to send to the partner"
    return settings, picked, fields


def _form_field(path: str) -> str:
    """The form input a CreateCatalogPartner field violation is about."""
    if path.startswith("settings["):
        return "setting_" + path.removeprefix("settings[").removesuffix("]")
    found = re.fullmatch(r"choices\[(\d+)\]\.(goal_id|sending_mode)", path)
    if found:  # the page sends choices[i] for template i
        return ("goal_" if found[2] == "goal_id" else "mode_") + found[1]
    return path


async def catalog_create(req: Page, m: Params) -> Response:
    e = await _entry(req, m["id"])
    picks = await choices(req)
    apps = {a for a, _ in picks["app_options"]}
    goals = {g for g, _ in picks["goal_options"]}
    settings, picked, fields = read_choices(req, e, apps, goals)
    if fields:
        return await _entry_page(req, e, req.form.flat(), status=400, error="Fix the fields marked below.",
                                 fields=fields)  # fmt: skip
    svc = _svc(req)
    request = ppb.CreateCatalogPartnerRequest(
        catalog_key=e.key, name=req.f("name"), settings=settings, app_id=req.f("app_id"),
        choices=[
            ppb.CatalogTemplateChoice(template_index=i, enabled=send, sending_mode=mode, goal_id=goal)  # type: ignore[arg-type]
            for i, (send, mode, goal) in enumerate(picked)
        ],
    )  # fmt: skip
    try:
        made = await req.call(svc.CreateCatalogPartner, request)
    except ServiceError as exc:
        # settings[sdk_key] -> the setting's input; choices[2].goal_id -> goal_2; name; anything
        # else shows as the page's error.
        for path, why in exc.fields.items():
            fields[_form_field(path)] = why
        return await _entry_page(req, e, req.form.flat(), status=exc.http_status(400), error=exc.message,
                                 fields=fields)  # fmt: skip
    return redirect(f"{PREFIX}/integrated-partners?done=catalog_partner_created&partner_id={made.partner_id}")
