"""SKAdNetwork / AdAttributionKit conversion values through the app's
conversion-value schema: the model, its validation and the pure decoder.

A schema (per account and app, versioned: an update writes a new version and the
old ones stay) says what each value the SDK may set stands for:

- ``fine_values`` (postback 1 only, 0..63; SKAN before 4 sends only these): a rule
  per value or per inclusive value range ``value``..``value_to``.
- ``coarse_values``: a rule per postback (1, 2, 3) and coarse word
  (``low`` | ``medium`` | ``high``). Postbacks 2 and 3 carry only coarse values;
  postback 1 carries a coarse value instead of the fine one when Apple's privacy
  threshold is not met.
- ``lock_windows``: when the SDK locks a postback's value early (SKAN 4
  ``lockWindow``), per postback: after ``lock_after_hours`` from install and/or at
  the first ``lock_on_event``; absent = Apple's full window.

A rule maps the value to a revenue bucket ``revenue_min`` (inclusive) ..
``revenue_max`` (exclusive), in the schema's ``currency``, and/or to events (our
goal / event names with counts). The same fields are the conditions the SDK checks
to set the value: revenue in the bucket and each listed event seen at least
``count`` times in the window; the SDK sets the highest fine value whose
conditions all hold.

Decoding (``decode``): the estimated revenue is the rule's explicit ``revenue``
when given, else the bucket's midpoint (min + max) / 2 (``revenue_min`` alone is
an open bucket "min and above": the estimate is min; ``revenue_max`` alone is
0..max); conversions = the sum of the rule's event counts. A postback with no
value (below Apple's privacy threshold), a value no rule covers, or no schema at
all decodes to 0 conversions and no revenue.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import asyncpg
import orjson

from libs.errors import InvalidArgument, Validator
from libs.logging import get_logger

log = get_logger("attribution.skan_values")

COARSE_VALUES = ("low", "medium", "high")
POSTBACKS = (1, 2, 3)
MAX_FINE = 63
# Apple's conversion windows, hours after install: postback 1 days 0-2, postback 2
# days 3-7, postback 3 days 8-35. A lock window must end inside its postback's window.
WINDOW_HOURS: dict[int, tuple[int, int]] = {1: (0, 48), 2: (48, 168), 3: (168, 840)}
MAX_EVENTS = 25
MAX_EVENT_NAME = 200
MAX_COUNT = 1_000_000
MAX_REVENUE = Decimal("1e15")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
MAX_DECIMALS = 6  # attribution.skan_postbacks.revenue is numeric(24, 6)
AMOUNT_RE = re.compile(rf"^-?[0-9]{{1,18}}(\.[0-9]{{1,{MAX_DECIMALS}}})?$")
RULE_KEYS = ("revenue_min", "revenue_max", "revenue", "events")
FINE_KEYS = ("value", "value_to", *RULE_KEYS)
COARSE_KEYS = ("postback", "value", *RULE_KEYS)
SCHEMA_KEYS = ("currency", "fine_values", "coarse_values", "lock_windows")
LOCK_KEYS = ("postback", "lock_after_hours", "lock_on_event")
EVENT_KEYS = ("name", "count")


@dataclass(frozen=True)
class SkanDecoded:
    conversions: int  # events the value stands for (0 when none / no schema)
    revenue: Decimal | None  # estimated revenue (bucket midpoint or the schema's rule), None when unknown
    currency: str | None
    events: tuple[str, ...]  # event names the value stands for
    schema_version: int | None = None  # the schema version that decoded it (None: no schema / no rule)


NOTHING = SkanDecoded(conversions=0, revenue=None, currency=None, events=())


@dataclass(frozen=True)
class EventCount:
    name: str
    count: int = 1


@dataclass(frozen=True)
class FineRule:
    value: int
    value_to: int  # inclusive; == value for a single value
    revenue_min: Decimal | None = None
    revenue_max: Decimal | None = None
    revenue: Decimal | None = None
    events: tuple[EventCount, ...] = ()


@dataclass(frozen=True)
class CoarseRule:
    postback: int  # 1, 2, 3
    value: str  # low | medium | high
    revenue_min: Decimal | None = None
    revenue_max: Decimal | None = None
    revenue: Decimal | None = None
    events: tuple[EventCount, ...] = ()


@dataclass(frozen=True)
class LockWindow:
    """When the SDK locks a postback's value early (SKAN 4 lockWindow): after the
    hours since install, and/or at the first occurrence of an event."""

    postback: int
    lock_after_hours: int | None = None
    lock_on_event: str | None = None


@dataclass(frozen=True)
class SkanSchema:
    currency: str
    fine_values: tuple[FineRule, ...] = ()
    coarse_values: tuple[CoarseRule, ...] = ()
    lock_windows: tuple[LockWindow, ...] = ()
    version: int = 0
    create_time: datetime | None = None
    _fine: dict[int, FineRule] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for rule in self.fine_values:
            for v in range(rule.value, rule.value_to + 1):
                self._fine.setdefault(v, rule)

    def fine(self, value: int) -> FineRule | None:
        return self._fine.get(value)

    def coarse(self, postback: int, value: str) -> CoarseRule | None:
        for rule in self.coarse_values:
            if rule.postback == postback and rule.value == value:
                return rule
        return None


_SIX = Decimal(1).scaleb(-MAX_DECIMALS)


def _places(d: Decimal) -> int:
    exp = d.as_tuple().exponent
    return -exp if isinstance(exp, int) and exp < 0 else 0


def estimate(rule: FineRule | CoarseRule) -> Decimal | None:
    """The rule's estimated revenue: explicit ``revenue``, else the bucket midpoint
    (an open bucket "min and above" estimates min)."""
    if rule.revenue is not None:
        return rule.revenue
    if rule.revenue_max is not None:
        mid = ((rule.revenue_min or Decimal(0)) + rule.revenue_max) / 2
        # Amounts have at most 6 decimals; half of one may have 7: rounded half-even.
        return mid.quantize(_SIX, rounding=ROUND_HALF_EVEN) if _places(mid) > MAX_DECIMALS else mid
    return rule.revenue_min


def decode(
    schema: SkanSchema | None, *, sequence_index: int, fine_value: int | None, coarse_value: str | None
) -> SkanDecoded:
    """What a postback's value stands for. ``sequence_index`` 0, 1, 2 is postback 1, 2, 3
    (SKAN before 4: 0). A fine value is read on postback 1 only (Apple sends none
    later); when it has no rule, postback 1's coarse value is tried."""
    if schema is None:
        return NOTHING
    postback = sequence_index + 1
    rule: FineRule | CoarseRule | None = None
    if postback == 1 and fine_value is not None:
        rule = schema.fine(fine_value)
    if rule is None and coarse_value is not None:
        rule = schema.coarse(postback, coarse_value.strip().lower())
    if rule is None:
        return NOTHING
    revenue = estimate(rule)
    return SkanDecoded(
        conversions=sum(e.count for e in rule.events),
        revenue=revenue,
        currency=schema.currency if revenue is not None else None,
        events=tuple(e.name for e in rule.events),
        schema_version=schema.version or None,
    )


# --- validation: a JSON document (the CLI file, the stored jsonb, the proto as a dict) -> SkanSchema


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _money(v: Validator, raw: Any, path: str) -> Decimal | None:
    """A decimal string ("4.99"; a JSON number is taken too) with at most MAX_DECIMALS places."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        v.add(path, 'must be a decimal amount such as "4.99"')
        return None
    if isinstance(raw, float) and not math.isfinite(raw):
        v.add(path, "must be a finite decimal amount")
        return None
    text = str(raw).strip() if not isinstance(raw, float) else format(Decimal(repr(raw)), "f")
    if not AMOUNT_RE.match(text):
        v.add(path, f'{raw!r} is not a decimal amount like "4.99" (a point, at most {MAX_DECIMALS} decimals)')
        return None
    d = Decimal(text)
    if d < 0 or text.startswith("-"):  # "-0" too
        v.add(path, "must not be negative")
        return None
    if d >= MAX_REVENUE:
        v.add(path, f"must be below {MAX_REVENUE:f}")
        return None
    return d


def _unknown(v: Validator, doc: Mapping[str, Any], allowed: Sequence[str], path: str) -> None:
    for key in doc:
        if key not in allowed:
            v.add(f"{path}.{key}", f"unknown field; expected one of {', '.join(allowed)}")


def _events(v: Validator, raw: Any, path: str) -> tuple[EventCount, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        v.add(path, 'must be a list of {"name": ..., "count": ...}')
        return ()
    if len(raw) > MAX_EVENTS:
        v.add(path, f"at most {MAX_EVENTS} events per rule")
        return ()
    out: list[EventCount] = []
    seen: set[str] = set()
    for i, item in enumerate(raw):
        p = f"{path}[{i}]"
        if isinstance(item, str):
            item = {"name": item}
        if not isinstance(item, Mapping):
            v.add(p, 'must be an event name or {"name": ..., "count": ...}')
            continue
        _unknown(v, item, EVENT_KEYS, p)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            v.add(f"{p}.name", "is required: a goal's event or an action name (e.g. purchase)")
            continue
        name = name.strip()
        if len(name) > MAX_EVENT_NAME or any(ch.isspace() or ord(ch) < 32 for ch in name):
            v.add(f"{p}.name", f"{name[:40]!r} is not an event name (no spaces, at most {MAX_EVENT_NAME} characters)")
            continue
        if name in seen:
            v.add(f"{p}.name", f"{name!r} is listed twice in this rule: give it one count")
            continue
        seen.add(name)
        count = item.get("count")
        if count is None:
            count = 1  # left out: one occurrence (the proto's unset 0 arrives as absent: pb_to_doc)
        if not _is_int(count) or not 1 <= count <= MAX_COUNT:
            v.add(f"{p}.count", f"must be a whole number from 1 to {MAX_COUNT}")
            continue
        out.append(EventCount(name, count))
    return tuple(out)


def _rule_body(v: Validator, doc: Mapping[str, Any], path: str) -> dict[str, Any]:
    lo = _money(v, doc.get("revenue_min"), f"{path}.revenue_min")
    hi = _money(v, doc.get("revenue_max"), f"{path}.revenue_max")
    rev = _money(v, doc.get("revenue"), f"{path}.revenue")
    if lo is not None and hi is not None and hi <= lo:
        v.add(
            f"{path}.revenue_max", f"must be above revenue_min ({lo}): the bucket is min (inclusive) to max (exclusive)"
        )
    elif rev is not None and ((lo is not None and rev < lo) or (hi is not None and rev >= hi)):
        # The SDK sets the value only for revenue in the bucket: the estimate must be one of those amounts.
        bucket = f"[{lo if lo is not None else 0}, {hi})" if hi is not None else f"{lo} and above"
        v.add(f"{path}.revenue", f"must lie in the rule's bucket {bucket}: the value is set only for revenue in it")
    return {
        "revenue_min": lo,
        "revenue_max": hi,
        "revenue": rev,
        "events": _events(v, doc.get("events"), f"{path}.events"),
    }


def _list(v: Validator, doc: Mapping[str, Any], key: str, path: str) -> list[Any]:
    raw = doc.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        v.add(f"{path}.{key}", "must be a list")
        return []
    return raw


_INF = Decimal("Infinity")


def _clashes(rules: Sequence[FineRule | CoarseRule], group: Any = None) -> list[tuple[int, int]]:
    """Pairs (i, j) of rules the SDK cannot tell apart: the same events (and the same
    ``group`` key) and overlapping revenue buckets, or both without a bucket; j is the
    later rule (one pair per rule found clashing). Sorted by bucket start: O(n log n)."""
    groups: dict[Any, list[int]] = {}
    for n, r in enumerate(rules):
        groups.setdefault((group(r) if group else None, frozenset(r.events)), []).append(n)
    out: list[tuple[int, int]] = []
    for members in groups.values():
        bare = [n for n in members if rules[n].revenue_min is None and rules[n].revenue_max is None]
        out += [(bare[0], n) for n in bare[1:]]
        bucketed = sorted((rules[n].revenue_min or Decimal(0), n) for n in members if n not in bare)
        widest, widest_hi = -1, Decimal(0)
        for lo, n in bucketed:
            top = rules[n].revenue_max
            hi: Decimal = top if top is not None else _INF
            if widest >= 0 and lo < widest_hi:
                out.append((min(widest, n), max(widest, n)))
            if widest < 0 or hi > widest_hi:
                widest, widest_hi = n, hi
    return sorted(out, key=lambda pair: pair[1])


def _get(doc: Mapping[str, Any], key: str) -> Any:
    return doc.get(key)


def parse_schema(
    doc: Any, *, path: str = "schema", version: int = 0, create_time: datetime | None = None
) -> SkanSchema:
    """The schema document checked: every problem at once, as INVALID_ARGUMENT
    field violations named like ``schema.fine_values[3].revenue_min``."""
    v = Validator()
    if not isinstance(doc, Mapping):
        v.add(path, "must be a JSON object with currency, fine_values, coarse_values, lock_windows")
        v.raise_if_any()
    _unknown(v, doc, SCHEMA_KEYS, path)
    currency = doc.get("currency")
    if not isinstance(currency, str) or not CURRENCY_RE.match(currency.strip().upper()):
        v.add(f"{path}.currency", "is required: a three-letter ISO 4217 code such as USD")
        currency = ""
    currency = currency.strip().upper()

    fine: list[FineRule] = []
    fine_src: list[int] = []  # each rule's index in the document
    owner: dict[int, int] = {}
    for i, raw in enumerate(_list(v, doc, "fine_values", path)):
        p = f"{path}.fine_values[{i}]"
        if not isinstance(raw, Mapping):
            v.add(p, "must be an object with value (0-63) and revenue_min / revenue_max / events")
            continue
        _unknown(v, raw, FINE_KEYS, p)
        value, value_to = _get(raw, "value"), _get(raw, "value_to")
        if not _is_int(value) or not 0 <= value <= MAX_FINE:
            v.add(f"{p}.value", f"must be a fine conversion value from 0 to {MAX_FINE}")
            continue
        if value_to is None:
            value_to = value
        elif not _is_int(value_to) or not value <= value_to <= MAX_FINE:
            v.add(f"{p}.value_to", f"must be from value ({value}) to {MAX_FINE} (inclusive range end)")
            continue
        body = _rule_body(v, raw, p)
        clash = sorted({owner[x] for x in range(value, value_to + 1) if x in owner})
        if clash:
            v.add(f"{p}.value", f"overlaps schema.fine_values[{clash[0]}]: each fine value has at most one rule")
            continue
        for x in range(value, value_to + 1):
            owner[x] = i
        fine.append(FineRule(value=value, value_to=value_to, **body))
        fine_src.append(i)

    coarse: list[CoarseRule] = []
    coarse_at: dict[tuple[int, str], int] = {}
    for i, raw in enumerate(_list(v, doc, "coarse_values", path)):
        p = f"{path}.coarse_values[{i}]"
        if not isinstance(raw, Mapping):
            v.add(p, "must be an object with postback (1-3), value (low|medium|high) and revenue / events")
            continue
        _unknown(v, raw, COARSE_KEYS, p)
        postback, word = _get(raw, "postback"), _get(raw, "value")
        ok = True
        if not _is_int(postback) or postback not in POSTBACKS:
            v.add(f"{p}.postback", "must be 1, 2 or 3 (the postback's window: days 0-2, 3-7, 8-35)")
            ok = False
        if not isinstance(word, str) or word.strip().lower() not in COARSE_VALUES:
            v.add(f"{p}.value", f"{word!r} is not a coarse value: use low, medium or high")
            ok = False
        body = _rule_body(v, raw, p)
        if not ok:
            continue
        word = word.strip().lower()
        if (postback, word) in coarse_at:
            v.add(
                f"{p}.value",
                f"postback {postback} {word!r} is already schema.coarse_values[{coarse_at[postback, word]}]",
            )
            continue
        coarse_at[postback, word] = i
        coarse.append(CoarseRule(postback=postback, value=word, **body))

    locks: list[LockWindow] = []
    lock_at: dict[int, int] = {}
    for i, raw in enumerate(_list(v, doc, "lock_windows", path)):
        p = f"{path}.lock_windows[{i}]"
        if not isinstance(raw, Mapping):
            v.add(p, "must be an object with postback (1-3) and lock_after_hours and/or lock_on_event")
            continue
        _unknown(v, raw, LOCK_KEYS, p)
        postback, hours, event = _get(raw, "postback"), _get(raw, "lock_after_hours"), _get(raw, "lock_on_event")
        if not _is_int(postback) or postback not in POSTBACKS:
            v.add(f"{p}.postback", "must be 1, 2 or 3")
            continue
        lo, hi = WINDOW_HOURS[postback]
        if hours in (None, 0):
            hours = None
        elif not _is_int(hours) or not lo < hours <= hi:
            v.add(
                f"{p}.lock_after_hours",
                f"postback {postback}'s window is hours {lo}-{hi} after install: lock after {lo + 1}..{hi}",
            )
            continue
        if event in (None, ""):
            event = None
        elif not isinstance(event, str) or any(ch.isspace() or ord(ch) < 32 for ch in event) or len(event) > 200:
            v.add(f"{p}.lock_on_event", "must be an event name (no spaces, at most 200 characters)")
            continue
        if hours is None and event is None:
            v.add(p, "give lock_after_hours and/or lock_on_event (or leave the postback out: Apple's full window)")
            continue
        if postback in lock_at:
            v.add(
                f"{p}.postback",
                f"postback {postback} already has a lock window (schema.lock_windows[{lock_at[postback]}])",
            )
            continue
        lock_at[postback] = i
        locks.append(LockWindow(postback, hours, event))

    # Rules the SDK could not choose between: same events, overlapping revenue buckets
    # (only checked on rules that passed, so one mistake is not reported twice).
    v.raise_if_any()
    for a_n, b_n in _clashes(fine):
        v.add(
            f"{path}.fine_values[{fine_src[b_n]}].revenue_min",
            f"same events as the rule for value {fine[a_n].value} and an overlapping revenue bucket: "
            "the SDK could not tell them apart",
        )
    for c_n, d_n in _clashes(coarse, group=lambda r: r.postback):
        c, d = coarse[c_n], coarse[d_n]
        v.add(
            f"{path}.coarse_values[{coarse_at[d.postback, d.value]}].revenue_min",
            f"same events as postback {c.postback} {c.value!r} and an overlapping revenue bucket: "
            "the SDK could not tell them apart",
        )
    if not fine and not coarse:
        v.add(f"{path}.fine_values", "the schema needs at least one fine or coarse value rule")
    v.raise_if_any()
    return SkanSchema(
        currency=currency, fine_values=tuple(fine), coarse_values=tuple(coarse), lock_windows=tuple(locks),
        version=version, create_time=create_time,
    )  # fmt: skip


def _money_out(d: Decimal | None) -> str | None:
    return None if d is None else format(d.normalize(), "f")


def _rule_doc(rule: FineRule | CoarseRule) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("revenue_min", "revenue_max", "revenue"):
        val = _money_out(getattr(rule, key))
        if val is not None:
            out[key] = val
    if rule.events:
        out["events"] = [{"name": e.name, "count": e.count} for e in rule.events]
    return out


def _lock_doc(w: LockWindow) -> dict[str, Any]:
    out: dict[str, Any] = {"postback": w.postback}
    if w.lock_after_hours is not None:
        out["lock_after_hours"] = w.lock_after_hours
    if w.lock_on_event is not None:
        out["lock_on_event"] = w.lock_on_event
    return out


def to_doc(schema: SkanSchema) -> dict[str, Any]:
    """The schema as its JSON document (money as decimal strings): what is stored and shown."""
    fine = []
    for r in schema.fine_values:
        d: dict[str, Any] = {"value": r.value}
        if r.value_to != r.value:
            d["value_to"] = r.value_to
        fine.append(d | _rule_doc(r))
    return {
        "currency": schema.currency,
        "fine_values": fine,
        "coarse_values": [{"postback": r.postback, "value": r.value} | _rule_doc(r) for r in schema.coarse_values],
        "lock_windows": [_lock_doc(w) for w in schema.lock_windows],
    }


# --- storage (attribution.skan_schemas, migration 0009)

# Versions never change once written: each is parsed once per process (a full schema
# takes milliseconds to check; a postback's receipt then costs one indexed read).
MAX_PARSED = 4096
_PARSED: dict[tuple[str, str, int], SkanSchema] = {}

_LOAD_SQL = """
SELECT version, schema, create_time FROM attribution.skan_schemas
WHERE account_id = $1 AND app_id = $2 AND ($3::timestamptz IS NULL OR create_time <= $3)
ORDER BY version DESC LIMIT 1
"""


async def load_schema(
    conn: asyncpg.Connection | asyncpg.Pool, account_id: str, app_id: str, *, at: datetime | None = None
) -> SkanSchema | None:
    """The app's schema in force now (or at ``at``): its latest version, None when it has none."""
    row = await conn.fetchrow(_LOAD_SQL, account_id, app_id, at)
    if row is None:
        return None
    key = (account_id, app_id, row["version"])
    cached = _PARSED.get(key)
    if cached is not None:
        return cached
    doc = row["schema"]
    if isinstance(doc, (str, bytes)):
        doc = orjson.loads(doc)
    try:
        schema = parse_schema(doc, version=row["version"], create_time=row["create_time"])
    except InvalidArgument as exc:
        # Checked when written; a version a later, stricter check refuses must not refuse
        # the postback being received: it decodes to nothing and the operator is told.
        log.warning("skan_schema_unreadable", account_id=account_id, app_id=app_id, version=row["version"],
                    problem=exc.message)  # fmt: skip
        return None
    if len(_PARSED) >= MAX_PARSED:
        _PARSED.pop(next(iter(_PARSED)))  # the oldest entry
    _PARSED[key] = schema
    return schema
