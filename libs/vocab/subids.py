"""Sub-id fields and the click-query names that fill them.

SUB_IDS                       # ('sub1', ..., 'sub10')
canonical_sub_field("Source") # 'sub2'; 'sub7' -> 'sub7'; unknown -> None
SUB_ALIAS_INDEX["source"]     # 1 (the index into SUB_IDS)
CLICK_FIELDS["clickid"]       # 'partner_click_id'
"""

from __future__ import annotations

SUB_IDS: tuple[str, ...] = tuple(f"sub{i}" for i in range(1, 11))
# Names networks use for sub-ids; a subN sent under its own name wins.
SUB_ALIASES: dict[str, str] = {"subid": "sub1", "sub_id": "sub1", "source": "sub2", "creative": "sub3"}
# The same, as indexes into SUB_IDS (the click path's form).
SUB_ALIAS_INDEX: dict[str, int] = {alias: SUB_IDS.index(field) for alias, field in SUB_ALIASES.items()}
# Query parameters that carry the network's own click id.
PARTNER_CLICK_KEYS = frozenset({"clickid", "click_id", "partner_click_id"})
# Query parameters that carry an advertising id -> the field they fill.
DEVICE_ID_KEYS: dict[str, str] = {
    "idfa": "idfa", "gaid": "gaid", "aaid": "gaid", "google_aid": "gaid", "advertising_id": "gaid",
}  # fmt: skip
# Click query parameters -> the touch / outbound-event field they fill.
CLICK_FIELDS: dict[str, str] = {
    **{f: f for f in SUB_IDS}, **SUB_ALIASES, **{k: "partner_click_id" for k in sorted(PARTNER_CLICK_KEYS)},
}  # fmt: skip
# How help texts and error messages name the fields.
SUB_IDS_TEXT = "sub1 .. sub10"
SUB_FIELDS_HELP = "sub1 .. sub10, " + ", ".join(f"{a} ({f})" for a, f in SUB_ALIASES.items())


def canonical_sub_field(name: str) -> str | None:
    """``sub1``..``sub10`` or an alias (any case, spaces around) -> the field; else None."""
    k = name.strip().lower()
    if k in SUB_IDS:
        return k
    return SUB_ALIASES.get(k)
