"""The attribution -> postbacks hand-off: the contract both sides share.

When attribution records an install or a conversion, or a conversion's status
changes, it enqueues (in the same transaction) one job on POSTBACK_QUEUE whose
payload is one ``clicktrail.handoff.v1.OutboundEvent``
(protos/clicktrail/handoff/v1/outbound.proto) in the proto3 JSON mapping, field
names as in the proto. The postbacks service decides which of the partner's
templates fire (by kind, goal and sending mode), renders them with the event's
``fields`` as macros, and delivers them. ``event_id`` is unique per outbound
event, so a job delivered twice never makes two deliveries of one template. An
invalid (rejected) install or conversion goes out as ``<id>:rejected``, so that
one overruled back to clean later still gets its normal delivery once, under
its own id. Jobs queued by the version before the message (a JSON object with
every field) still decode.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from clicktrail.handoff.v1.outbound_pb2 import OutboundEvent
from google.protobuf import json_format

POSTBACK_QUEUE = "postbacks.events"

# reengagement: a retargeting re-engagement or re-attribution (services/attribution/reengagement.py).
KINDS = ("install", "conversion", "status_change", "reengagement")

# Every field is a string ("" when unknown) except `attributed` (bool); each is a postback macro.
FIELDS: tuple[str, ...] = tuple(f.name for f in OutboundEvent.DESCRIPTOR.fields)
_NAMES = frozenset(FIELDS)


class HandoffError(ValueError):
    """A payload or event that is not an OutboundEvent."""


def outbound_event(**values: Any) -> OutboundEvent:
    """An OutboundEvent from field values (None: unset). Unknown fields, values of
    the wrong type and a kind not in KINDS raise HandoffError."""
    try:
        event = OutboundEvent(**{k: v for k, v in values.items() if v is not None})
    except (TypeError, ValueError) as exc:
        raise HandoffError(f"not an outbound event: {exc}") from None
    if event.kind not in KINDS:
        raise HandoffError(f"kind must be one of {KINDS}")
    return event


def encode(event: OutboundEvent | Mapping[str, Any]) -> bytes:
    """An outbound event to a job payload (the JSON mapping; fields at their default left out).
    A mapping of field values is made an OutboundEvent first (``outbound_event``)."""
    if not isinstance(event, OutboundEvent):
        event = outbound_event(**event)
    elif event.kind not in KINDS:
        raise HandoffError(f"kind must be one of {KINDS}")
    # What json_format.MessageToDict(event, preserving_proto_field_name=True) answers for this
    # flat message (strings and a bool), without its per-field walk (tests/libs/test_event_handoff.py).
    return orjson.dumps({f: v for f in FIELDS if (v := getattr(event, f))})


def decode(payload: bytes) -> OutboundEvent:
    """A job payload (either version) to its OutboundEvent. Raises HandoffError (a ValueError)."""
    try:
        doc = orjson.loads(payload)
        if not isinstance(doc, dict):
            raise HandoffError("not a JSON object")
        try:
            return OutboundEvent(**{k: v for k, v in doc.items() if k in _NAMES and v is not None})
        except (TypeError, ValueError):  # the general JSON mapping reads what the constructor does not
            return json_format.ParseDict(doc, OutboundEvent(), ignore_unknown_fields=True)
    except (orjson.JSONDecodeError, json_format.ParseError) as exc:
        raise HandoffError(f"not an outbound event: {exc}") from None


def fields(event: OutboundEvent) -> dict[str, Any]:
    """Every field by name ("" / False when unset): the macro values of a postback."""
    return {f: getattr(event, f) for f in FIELDS}
