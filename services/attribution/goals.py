"""Goals and their rule engine.

A goal is an event (``install``, or a ``track`` action name such as
``purchase``), conditions on the event's fields that must all hold, which of a
user's matching events count (the first, every one, or the Nth), where the
value and its currency are, and a kind: ``purchase`` (credited to the last
click) or ``custom`` (credited to every campaign touched).

The engine checks hand-off events (``libs.event_handoff.fields`` of each StoredEvent, with
``action_properties`` added as a parsed dict) against ``Goal.matches``; a
missing field or a value of the wrong type never matches and never raises.

Condition paths: a top-level hand-off column (``user_id``, ``platform``,
``os_version``, ``click_id``...) or ``action_properties.a.b`` (dict keys;
a segment of digits also indexes a list).

Operators (``Condition.op``):

==============  ===========================================================
``eq``          equal: numbers compare as decimals (``"10"`` equals ``10.0``),
                booleans as ``true``/``false``, anything else as text
``ne``          present and not equal
``gt`` ``gte``  numeric (the field a JSON number or a numeric string)
``lt`` ``lte``
``in``          equal to one of ``values``
``contains``    text: has ``value`` as a substring; list: has a member equal to it
``exists``      present and not null
``not_exists``  missing or null (the one operator a missing field satisfies)
==============  ===========================================================
"""

from __future__ import annotations

import dataclasses
import decimal
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

import orjson
from clicktrail.ingest.v1 import ingest_pb2 as ipb

from libs.cache import TTLCache
from libs.event_handoff import COLUMNS

MAX_GOALS = 25
MAX_CONDITIONS = 20
MAX_VALUES = 100
MAX_OPERAND = 256
MAX_PATH = 256
MAX_EVENT = 128
MAX_NAME = 200
CACHE_TTL_S = 1.0
# Values at or beyond this (Money: at most 18 digits before the point) are no value.
MAX_AMOUNT = Decimal(10) ** 18

KINDS = ("purchase", "custom")
OCCURRENCES = ("first", "every", "nth")
OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "exists", "not_exists")
# Operators without an operand, and the one that takes a list.
NO_OPERAND = ("exists", "not_exists")
LIST_OPERAND = ("in",)
NUMERIC = ("gt", "gte", "lt", "lte")

# EventType numbers of the hand-off (clicktrail.ingest.v1.EventType).
EVENT_INSTALL = ipb.EVENT_TYPE_INSTALL
EVENT_TRACK = ipb.EVENT_TYPE_TRACK
# Names that are event types, not track actions: a goal on them is refused.
NOT_GOAL_EVENTS = ("identify", "track", "screen", "heartbeat")
MONETIZATION_EVENTS = ("monetization_web2", "monetization_web3")
MONETIZATION_VALUE_PATH = "action_properties.bundle_paid_amount"
MONETIZATION_CURRENCY_PATH = "action_properties.bundle_paid_currency"

# Top-level fields a condition may address (the hand-off columns, minus the
# raw properties text and the tenant).
TOP_LEVEL_FIELDS = tuple(c for c in COLUMNS if c not in ("properties", "account_id"))
PROPERTIES = "action_properties"
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_MISSING = object()


class Fetcher(Protocol):
    """An asyncpg pool, connection or pool connection proxy."""

    async def fetch(self, query: str, *args: Any) -> list[Any]: ...


# --------------------------------------------------------------------------- values


def resolve(event: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path, or ``_MISSING``. Never raises."""
    parts = path.split(".")
    cur: Any = event
    for part in parts:
        if isinstance(cur, Mapping):
            if part not in cur:
                return _MISSING
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit():
            idx = int(part)
            if idx >= len(cur):
                return _MISSING
            cur = cur[idx]
        else:
            return _MISSING
    return cur


def to_decimal(value: Any) -> Decimal | None:
    """A finite Decimal for a JSON number or a numeric string; None otherwise (booleans too)."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, Decimal):
            d = value
        elif isinstance(value, int):
            return Decimal(value)
        elif isinstance(value, float):
            d = Decimal(repr(value))
        elif isinstance(value, str):
            s = value.strip()
            if not s or len(s) > 64:
                return None
            d = Decimal(s)
        else:
            return None
    except (decimal.InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _equals(field: Any, operand: str) -> bool:
    if isinstance(field, bool):
        return operand.strip().lower() == ("true" if field else "false")
    if isinstance(field, int | float | Decimal):
        a, b = to_decimal(field), to_decimal(operand)
        return a is not None and b is not None and a == b
    if isinstance(field, str):
        if field == operand:
            return True
        # "10" vs "10.0": numeric strings compare as numbers too.
        a, b = to_decimal(field), to_decimal(operand)
        return a is not None and b is not None and a == b
    return False


# --------------------------------------------------------------------------- conditions


@dataclasses.dataclass(frozen=True)
class Condition:
    path: str
    op: str
    value: str = ""
    values: tuple[str, ...] = ()

    def holds(self, event: Mapping[str, Any]) -> bool:
        try:
            return self._holds(event)
        except Exception:  # a rule never breaks the pipeline
            return False

    def _holds(self, event: Mapping[str, Any]) -> bool:
        field = resolve(event, self.path)
        if self.op == "not_exists":
            return field is _MISSING or field is None
        if field is _MISSING or field is None:
            return False
        op = self.op
        if op == "exists":
            return True
        if op == "eq":
            return _equals(field, self.value)
        if op == "ne":
            return not isinstance(field, dict | list) and not _equals(field, self.value)
        if op == "in":
            return any(_equals(field, v) for v in self.values)
        if op == "contains":
            if isinstance(field, str):
                return self.value in field
            if isinstance(field, list):
                return any(_equals(m, self.value) for m in field if m is not None)
            return False
        if op in NUMERIC:
            a, b = to_decimal(field), to_decimal(self.value)
            if a is None or b is None:
                return False
            if op == "gt":
                return a > b
            if op == "gte":
                return a >= b
            if op == "lt":
                return a < b
            return a <= b
        return False

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "op": self.op, "value": self.value, "values": list(self.values)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Condition:
        return cls(str(d["path"]), str(d["op"]), str(d.get("value", "")), tuple(str(v) for v in d.get("values", ())))

    def describe(self) -> str:
        if self.op in NO_OPERAND:
            return f"{self.path} {self.op}"
        if self.op in LIST_OPERAND:
            return f"{self.path} in [{', '.join(self.values)}]"
        return f"{self.path} {self.op} {self.value}"


def check_path(path: str) -> str | None:
    """A problem with a condition or value path, or None."""
    if not path:
        return "is required"
    if len(path) > MAX_PATH:
        return f"must be at most {MAX_PATH} characters"
    parts = path.split(".")
    if any(not p for p in parts):
        return f"{path!r} has an empty segment"
    if parts[0] == PROPERTIES:
        if len(parts) < 2:
            return f"name a property: {PROPERTIES}.<key>"
        return None
    if len(parts) > 1 or parts[0] not in TOP_LEVEL_FIELDS:
        return f"{path!r} is not an event field; use one of {', '.join(TOP_LEVEL_FIELDS)} or {PROPERTIES}.<key>"
    return None


def check_condition(c: Condition) -> list[tuple[str, str]]:
    """Problems as (sub-field, description) pairs."""
    out: list[tuple[str, str]] = []
    problem = check_path(c.path)
    if problem:
        out.append(("path", problem))
    if c.op not in OPERATORS:
        out.append(("operator", f"is required: one of {', '.join(OPERATORS)}"))
        return out
    if c.op in NO_OPERAND:
        if c.value or c.values:
            out.append(("value", f"{c.op} takes no value"))
    elif c.op in LIST_OPERAND:
        if not c.values:
            out.append(("values", "in needs at least one value"))
        if len(c.values) > MAX_VALUES:
            out.append(("values", f"at most {MAX_VALUES} values"))
        if any(len(v) > MAX_OPERAND for v in c.values):
            out.append(("values", f"each value must be at most {MAX_OPERAND} characters"))
        if c.value:
            out.append(("value", "in takes a list: set values, not value"))
    else:
        if c.values:
            out.append(("values", f"{c.op} takes one value: set value, not values"))
        if len(c.value) > MAX_OPERAND:
            out.append(("value", f"must be at most {MAX_OPERAND} characters"))
        if c.op in NUMERIC and to_decimal(c.value) is None:
            out.append(("value", f"{c.value!r} is not a finite number; {c.op} compares numbers"))
        elif c.op in ("eq", "ne", "contains") and c.value == "":
            out.append(("value", f"is required for {c.op}"))
    return out


# --------------------------------------------------------------------------- goals


@dataclasses.dataclass(frozen=True)
class Goal:
    goal_id: str
    account_id: str
    name: str
    kind: str  # "purchase" | "custom"
    event: str  # "install" or a track action name
    conditions: tuple[Condition, ...]
    occurrence: str  # "first" | "every" | "nth"
    nth: int  # for "nth"
    value_path: str  # dotted path of the amount, "" = none
    currency_path: str  # dotted path of the currency code, "" = the default currency

    def matches(self, event: Mapping[str, Any]) -> bool:
        """The event is this goal's event and every condition holds."""
        try:
            code = event.get("event")
            if self.event == "install":
                if code != EVENT_INSTALL:
                    return False
            elif code != EVENT_TRACK or event.get("action") != self.event:
                return False
        except Exception:
            return False
        return all(c.holds(event) for c in self.conditions)

    def counts(self, occurrence_number: int) -> bool:
        """Whether the user's ``occurrence_number``-th (1-based) matching event counts."""
        if occurrence_number < 1:
            return False
        if self.occurrence == "first":
            return occurrence_number == 1
        if self.occurrence == "nth":
            return occurrence_number == self.nth
        return self.occurrence == "every"

    def value(self, event: Mapping[str, Any], default_currency: str) -> tuple[Decimal | None, str]:
        """The event's amount (None when there is no value path, or no usable number: not a
        decimal, or 18 digits or more before the point, beyond Money) and its currency (the
        currency field when it is an ISO 4217 code, else ``default_currency``)."""
        if not self.value_path:
            return None, default_currency
        try:
            amount = to_decimal(resolve(event, self.value_path))
            if amount is not None and abs(amount) >= MAX_AMOUNT:
                amount = None
            currency = default_currency
            if self.currency_path:
                raw = resolve(event, self.currency_path)
                if isinstance(raw, str) and _CURRENCY.match(raw.strip().upper()):
                    currency = raw.strip().upper()
        except Exception:
            return None, default_currency
        return amount, currency


def goal_from_row(row: Mapping[str, Any]) -> Goal:
    conditions = row["conditions"]
    if isinstance(conditions, str | bytes):
        conditions = orjson.loads(conditions)
    return Goal(
        goal_id=row["goal_id"], account_id=row["account_id"], name=row["name"], kind=row["kind"],
        event=row["event"], conditions=tuple(Condition.from_json(c) for c in conditions),
        occurrence=row["occurrence"], nth=row["nth"], value_path=row["value_path"],
        currency_path=row["currency_path"],
    )  # fmt: skip


_cache: TTLCache[str, list[Goal]] = TTLCache(CACHE_TTL_S)


def invalidate_goals(account_id: str | None = None) -> None:
    """Drop cached goals (this process); other replicas see changes within CACHE_TTL_S."""
    _cache.invalidate(account_id)


async def load_goals(conn_or_pool: Fetcher, account_id: str) -> list[Goal]:
    """The account's goals, oldest first; cached for CACHE_TTL_S (changes made
    through this process's GoalService invalidate the cache at once)."""

    async def load() -> list[Goal]:
        rows = await conn_or_pool.fetch(
            "SELECT * FROM attribution.goals WHERE account_id = $1 ORDER BY goal_id", account_id
        )
        return [goal_from_row(r) for r in rows]

    return await _cache.get_or_load(account_id, load)
