"""The ingest -> attribution hand-off: the contract both sides share.

Each group commit of the ingest service enqueues, in the same transaction,
one job per account on EVENT_QUEUE carrying the events it stored: a
``clicktrail.handoff.v1.StoredEvents`` message (protos/clicktrail/handoff/v1/events.proto)
in the proto3 JSON mapping, field names as in the proto (the ingest.events
columns), so a GDPR erasure still finds and rewrites queued payloads by the ids
in them (libs/queue.redact). Enums (``event``, ``platform``) are written as
their numbers, as json_format's ``use_integers_for_enums`` writes them; a
reader takes names too. A field ingest stores as NULL is left out (unset).

``encode`` / ``decode`` are the one way in and out: ingest encodes the rows it
stored; attribution decodes to messages and reads each through ``fields`` (the
column view goals address by column name). Jobs queued by the version before
the message (``{"columns": [...], "rows": [[...], ...]}``) still decode.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import orjson
from clicktrail.handoff.v1.events_pb2 import StoredEvent, StoredEvents
from google.protobuf import json_format

from libs import exactjson

EVENT_QUEUE = "attribution.events"

# The message's fields: the ingest.events columns a row carries, in the order ingest builds its rows.
COLUMNS: tuple[str, ...] = tuple(f.name for f in StoredEvent.DESCRIPTOR.fields)
# The column view of an empty event: None where unset, else the field's default.
_EMPTY_VIEW = {f.name: None if f.has_presence else f.default_value for f in StoredEvent.DESCRIPTOR.fields}
# Enum fields: the message's constructor takes an enum's name too, the column view holds its number.
_ENUM_FIELDS = tuple(f.name for f in StoredEvent.DESCRIPTOR.fields if f.enum_type is not None)

# GDPR erasure (libs/privacy.py): what an erased event keeps of its properties
# (the fields reports read); the rest is free-form and may hold anything.
KEEP_PROPERTIES = ("error_level", "error_code", "bundle_id", "bundle_paid_amount", "bundle_paid_currency", "platform")
# Cleared in an erased event; its user id becomes the erasure's pseudonym.
ERASED_COLUMNS = (
    "idfa", "gaid", "idfv", "android_id", "ip", "user_agent", "ref", "claimed_ip", "claimed_user_agent",
    "adservices_token", "app_instance_id",
)  # fmt: skip
DEVICE_COLUMNS = ("idfa", "gaid", "idfv", "android_id")


class HandoffError(ValueError):
    """A payload that is not a StoredEvents (nor the JSON of the version before)."""


def _value(v: Any) -> Any:
    """A row value as its field holds it: times as RFC 3339 text, uuids and addresses as text."""
    if v is None or isinstance(v, str | int):
        return v
    if isinstance(v, dt.datetime):
        return v.isoformat()
    return str(v)


def _present(doc: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in doc.items() if v is not None}


def event_of(doc: Mapping[str, Any]) -> StoredEvent:
    """A StoredEvent from a column mapping (None: unset). Raises HandoffError for a
    field it has not or a value of the wrong type."""
    try:  # JSON values (text, numbers) as they come: the common case
        return StoredEvent(**{k: v for k, v in doc.items() if v is not None})
    except (TypeError, ValueError):
        pass
    kw = _present(doc)  # row values: times, uuids, addresses
    try:
        return StoredEvent(**kw)
    except (TypeError, ValueError):
        pass
    try:  # the full JSON mapping: enum names, int64 as text ...
        return json_format.ParseDict(kw, StoredEvent(), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise HandoffError(f"not a StoredEvent: {exc}") from None


def fields(event: StoredEvent) -> dict[str, Any]:
    """The column view of an event: every field by name, None where unset (as
    ingest.events has NULL); enums as their numbers, times as RFC 3339 text."""
    view = dict(_EMPTY_VIEW)
    view.update({f.name: v for f, v in event.ListFields()})
    return view


def _docs(payload: bytes) -> list[Mapping[str, Any]]:
    try:
        doc = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise HandoffError(f"not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise HandoffError("not a JSON object")
    if "columns" in doc:  # queued by the version before StoredEvents
        columns = doc["columns"]
        return [dict(zip(columns, row, strict=True)) for row in doc.get("rows") or ()]
    events = doc.get("events") or []
    if not isinstance(events, list) or not all(isinstance(e, dict) for e in events):
        raise HandoffError("events must be a list of objects")
    return events


def _dump(docs: Iterable[Mapping[str, Any]]) -> bytes:
    return orjson.dumps({"events": list(docs)})


def encode_events(events: Iterable[StoredEvent]) -> bytes:
    """StoredEvents (as messages) to a job payload."""
    return _dump(_present(fields(e)) for e in events)


def encode(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows in COLUMNS order (as ingest stores them) to a job payload: the StoredEvents
    JSON mapping, written by orjson at once (times as RFC 3339, uuids and addresses as
    text; tests/libs/test_event_handoff.py holds it to json_format's reading). The
    consumer's ``decode`` checks every event against the message."""
    return orjson.dumps(
        {"events": [{c: v for c, v in zip(COLUMNS, row, strict=True) if v is not None} for row in rows]},
        default=str,
    )


def decode(payload: bytes) -> StoredEvents:
    """A job payload (either version) to its StoredEvents. Raises HandoffError."""
    return StoredEvents(events=[event_of(d) for d in _docs(payload)])


def _checked_view(doc: Mapping[str, Any]) -> dict[str, Any]:
    """``fields(event_of(doc))``, without reading the message back when the
    document's values are already what its fields hold (the common case)."""
    present = {k: v for k, v in doc.items() if v is not None}
    if any(not isinstance(present.get(name, 0), int) for name in _ENUM_FIELDS):
        return fields(event_of(doc))  # an enum by name: its number through the message
    try:
        StoredEvent(**present)  # the check: names and types as the message has them
    except (TypeError, ValueError):
        return fields(event_of(doc))
    view = dict(_EMPTY_VIEW)
    view.update(present)
    return view


def decode_fields(payload: bytes) -> list[dict[str, Any]]:
    """``decode``, each event in its column view (``fields``)."""
    return [_checked_view(d) for d in _docs(payload)]


def person_keys(event: Mapping[str, Any]) -> list[str]:
    """The ids of an event (column view) an erasure can name: user id, device ids, click id."""
    return [v for c in ("user_id", *DEVICE_COLUMNS, "click_id") if isinstance(v := event.get(c), str) and v]


def erase_event(event: dict[str, Any], pseudonym: str) -> None:
    """Anonymise one event (column view) in place, as ingest anonymises its stored row:
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
    anonymised (written as StoredEvents); the same bytes when it names none."""
    events = decode_fields(payload)
    changed = False
    for event in events:
        pseudonym = pseudonym_of(event)
        if pseudonym is not None and not str(event.get("user_id") or "").startswith("erased:"):
            erase_event(event, pseudonym)
            changed = True
    if not changed:
        return payload
    return _dump(_present(e) for e in events)
