"""The ingest -> attribution hand-off: the contract both sides share.

Each group commit of the ingest service enqueues, in the same transaction,
one job per account on EVENT_QUEUE carrying the events it stored. The payload
is JSON (orjson): ``{"columns": [...], "rows": [[...], ...]}`` with the
columns below; times are RFC 3339 strings, uuids and IPs strings,
``properties`` the action_properties JSON text, ``event`` and ``platform``
the numbers of clicktrail.ingest.v1.EventType / DevicePlatform. A consumer
reads columns by name (a payload from before a column was added lacks it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import orjson

from libs import exactjson

EVENT_QUEUE = "attribution.events"

COLUMNS = (
    "account_id", "app_id", "event_uuid", "event", "event_time", "receive_time", "session_id",
    "session_offset", "user_id", "ref", "idfa", "gaid", "idfv", "android_id", "platform", "os_version",
    "device_model", "locale", "ip", "user_agent", "action", "properties", "click_id",
    # App-key (SDK) events: the IP / User-Agent the client claimed when its
    # connection's differ (ip / user_agent are then the connection's).
    "claimed_ip", "claimed_user_agent",
    # Install events: the Play install-referrer timestamps, when the SDK sends them.
    "install_begin_time", "referrer_click_time",
)  # fmt: skip


# GDPR erasure (libs/privacy.py): what an erased event keeps of its properties
# (the fields reports read); the rest is free-form and may hold anything.
KEEP_PROPERTIES = ("error_level", "error_code", "bundle_id", "bundle_paid_amount", "bundle_paid_currency", "platform")
# Cleared in an erased event; its user id becomes the erasure's pseudonym.
ERASED_COLUMNS = ("idfa", "gaid", "idfv", "android_id", "ip", "user_agent", "ref", "claimed_ip", "claimed_user_agent")
DEVICE_COLUMNS = ("idfa", "gaid", "idfv", "android_id")


def person_keys(event: dict[str, Any]) -> list[str]:
    """The ids of an event an erasure can name: user id, device ids, click id."""
    return [v for c in ("user_id", *DEVICE_COLUMNS, "click_id") if isinstance(v := event.get(c), str) and v]


def erase_event(event: dict[str, Any], pseudonym: str) -> None:
    """Anonymise one hand-off event in place, as ingest anonymises its stored row:
    no device ids, IP, User-Agent, referrer or free-form properties; the pseudonym
    as user id. Its click id stays (a touch, not a person), so it is attributed alike."""
    for col in ERASED_COLUMNS:
        if col in event:
            event[col] = None
    event["user_id"] = pseudonym
    props = event.get("properties")
    if props:
        try:
            parsed = exactjson.loads(props)  # the kept amounts digit for digit (no float on the way)
        except ValueError:
            parsed = None
        kept = {k: v for k, v in parsed.items() if k in KEEP_PROPERTIES} if isinstance(parsed, dict) else {}
        event["properties"] = exactjson.dumps(kept).decode() if kept else None


def erase_in_payload(payload: bytes, pseudonym_of: Callable[[dict[str, Any]], str | None]) -> bytes:
    """A job payload with the events ``pseudonym_of`` names (a pseudonym, else None)
    anonymised; the same bytes when it names none."""
    doc = orjson.loads(payload)
    columns = doc["columns"]
    rows = []
    changed = False
    for row in doc["rows"]:
        event = dict(zip(columns, row, strict=True))
        pseudonym = pseudonym_of(event)
        if pseudonym is not None and not str(event.get("user_id") or "").startswith("erased:"):
            erase_event(event, pseudonym)
            changed = True
        rows.append([event[c] for c in columns])
    if not changed:
        return payload
    return orjson.dumps({"columns": columns, "rows": rows})


def encode(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows in COLUMNS order (as ingest stores them) to a job payload."""
    return orjson.dumps({"columns": COLUMNS, "rows": rows}, default=str)


def decode(payload: bytes) -> list[dict[str, Any]]:
    """A job payload to one dict per event, keyed by column name."""
    doc = orjson.loads(payload)
    columns = doc["columns"]
    return [dict(zip(columns, row, strict=True)) for row in doc["rows"]]
