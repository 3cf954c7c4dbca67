"""The integrated-partner catalog, shipped as data (catalog.json).

Every macro a catalog template uses must be known when the partner is created
with only its required settings: an event macro (``render.EVENT_MACROS``) or
one of the entry's settings, each either required or with a non-empty
``default``. Sub-ids and the partner click id a template sends must be fed by
the entry's ``click_params`` (what the tracking link given to the partner
passes). ``problems`` checks all of this; a test runs it over every entry.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from libs.errors import Validator
from libs.macros import macros_in
from libs.vocab.subids import CLICK_FIELDS
from services.postbacks.render import EVENT_MACROS, SETTING_DEFAULTS, check_template

PATH = Path(__file__).parent / "catalog.json"

# Click query parameters (links service) -> the outbound-event field they fill.
_CLICK_FIELDS = CLICK_FIELDS
_FROM_CLICK = frozenset(_CLICK_FIELDS.values())


@functools.cache
def entries() -> list[dict[str, Any]]:
    data = json.loads(PATH.read_text())
    return sorted(data["entries"], key=lambda e: e["key"])


def entry(key: str) -> dict[str, Any] | None:
    return next((e for e in entries() if e["key"] == key), None)


def template_macros(t: Mapping[str, Any]) -> set[str]:
    """Every macro a catalog template uses (URL, body, header values)."""
    text = t["url_template"] + t.get("body_template", "") + "".join((t.get("headers") or {}).values())
    return set(macros_in(text))


def settings_for(
    e: Mapping[str, Any], given: Mapping[str, str], v: Validator, field: str = "settings"
) -> dict[str, str]:
    """The settings a partner made from entry ``e`` gets: the given ones plus the
    defaults of optional ones; unknown or missing ones are field violations."""
    known = {s["name"]: s for s in e["settings"]}
    for name in sorted(set(given) - set(known)):
        v.add(f"{field}[{name}]", f"{e['name']} has no setting {name!r}; it takes: {', '.join(sorted(known))}")
    out: dict[str, str] = {}
    for name, s in known.items():
        value = (given.get(name) or "").strip() or s.get("default", "")
        if not value and s.get("required"):
            v.add(f"{field}[{name}]", f"is required by the {e['name']} catalog entry ({s.get('description', '')})")
        elif value:
            out[name] = value
    return out


def problems(e: Mapping[str, Any]) -> list[str]:
    """Why catalog entry ``e`` would not work when created with its documented
    (example) settings; empty when it is sound."""
    out: list[str] = []
    names = [s["name"] for s in e["settings"]]
    for s in e["settings"]:
        if s["name"] in EVENT_MACROS and s["name"] not in SETTING_DEFAULTS:
            out.append(f"setting {s['name']} shadows an event macro")
        if not s.get("required") and not s.get("default"):
            out.append(f"optional setting {s['name']} has no default: its macro would render empty")
        if not s.get("example"):
            out.append(f"setting {s['name']} has no documented example value")
    fed = {_CLICK_FIELDS.get(k) for k in e.get("click_params", {})}
    for key in e.get("click_params", {}):
        if key not in _CLICK_FIELDS and key not in ("idfa", "gaid"):
            out.append(f"click_params {key!r} is not a click parameter that fills an event field")
    for t in e["templates"]:
        where = f"template {t['name']!r}"
        for m in sorted(template_macros(t)):
            if m not in EVENT_MACROS and m not in names:
                out.append(f"{where}: {{{m}}} is neither an event macro nor a setting of the entry")
            elif m in _FROM_CLICK and m not in fed:
                out.append(f"{where}: {{{m}}} comes from the click, but click_params does not say what fills it")
        v = Validator()
        example = {s["name"]: s.get("example", "x") for s in e["settings"]}
        check_template({**t, "partner_id": "prt_x", "settings": example, "goal_id": ""}, v)
        out.extend(f"{where}: {f} {msg}" for f, msg in v.violations)
    return out
