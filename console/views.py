"""What the pages show, computed from service answers: report rows, money, the
chart's days, the pager's links, the notices after a redirect, and JSON that is
safe inside a <script> element (the ``script_json`` template filter)."""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from typing import Any
from urllib.parse import urlencode

import markupsafe
import orjson
from clicktrail.analytics.v1 import reports_pb2
from google.protobuf.json_format import MessageToDict
from google.protobuf.message import Message

# The pager's "Previous" link: the tokens of the pages before this one, in the query string (bounded).
MAX_PREV_TOKENS = 20
MAX_TOKEN_LEN = 512

# What a redirect's ?done= shows on the next page.
NOTICES = {
    "created": "Campaign created.",
    "saved": "Campaign saved.",
    "link_created": "Link created.",
    "retried": "Delivery queued for another attempt.",
    "overruled": "Verdict overruled: reports, cost and postbacks follow within a few seconds.",
    "partner_created": "Partner created.",
    "ran": "Rule run recorded below.",
    "tariff_created": "Tariff created.",
    "goal_created": "Goal created.",
    "goal_saved": "Goal saved.",
    "goal_deleted": "Goal deleted.",
    "template_created": "Postback template created.",
    "template_saved": "Postback template saved.",
    "template_deleted": "Postback template deleted.",
    "rule_created": "Rule created.",
    "rule_saved": "Rule saved.",
    "rule_deleted": "Rule deleted.",
}

# What JSON inside a <script> element may not hold as is: "</script>", "<!--", "&" entities,
# and the JavaScript line terminators U+2028 / U+2029.
_SCRIPT_UNSAFE = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}
_SCRIPT_UNSAFE_RE = re.compile("[<>&\u2028\u2029]")


def script_json(value: Any) -> markupsafe.Markup:
    """``{{ data | script_json }}``: JSON that is safe inside a <script> element (the
    same value for JSON.parse; no character that could end the element or start markup)."""
    text = orjson.dumps(value).decode()
    # Markup: JSON with every character that HTML would read as markup escaped above.
    return markupsafe.Markup(_SCRIPT_UNSAFE_RE.sub(lambda m: _SCRIPT_UNSAFE[m.group()], text))  # noqa: S704


def to_dict(msg: Message) -> dict[str, Any]:
    return MessageToDict(msg, preserving_proto_field_name=True)


def money_text(m: Any) -> str:
    if m is None or not m.currency_code:
        return ""
    return f"{m.amount} {m.currency_code}"


def row_view(row: reports_pb2.ReportRow) -> dict[str, Any]:
    """A report row as the tables show it (the first currency's money; how many more there are)."""
    money = row.money[0] if row.money else None
    return {
        "dimensions": dict(row.dimensions),
        "clicks": row.clicks,
        "unique_clicks": row.unique_clicks,
        "impressions": row.impressions,
        "installs": row.installs,
        "conversions": row.conversions,
        "approved": row.approved_conversions,
        "cr": row.cr,
        "revenue": money_text(money.revenue) if money else "",
        "cost": money_text(money.cost) if money else "",
        "profit": money_text(money.profit) if money else "",
        "roi": f"{money.roi * 100:.1f}%" if money and money.HasField("roi") else "",
        "more_currencies": len(row.money) - 1 if row.money else 0,
    }


def local_day(when: dt.datetime, tz: str) -> str:
    try:
        return when.astimezone(zoneinfo.ZoneInfo(tz)).date().isoformat()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return when.date().isoformat()


def today_in(tz: str) -> dt.date:
    try:
        return dt.datetime.now(zoneinfo.ZoneInfo(tz)).date()
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.datetime.now(dt.UTC).date()


def prev_tokens(prev: str) -> list[str]:
    """The page tokens of the pages before this one (``prev=`` in the query), oldest first."""
    tokens = [t for t in prev.split(",") if t and len(t) <= MAX_TOKEN_LEN]
    return tokens[-MAX_PREV_TOKENS:]


def page_href(query: str, token: str = "", prev: list[str] | None = None) -> str:
    """The link to a page of a list: its filters, its token and the stack of earlier tokens."""
    parts = [query] if query else []
    if token:
        parts.append(urlencode({"page_token": token}))
    if prev:
        parts.append(urlencode({"prev": ",".join(prev[-MAX_PREV_TOKENS:])}))
    return "?" + "&".join(parts)
