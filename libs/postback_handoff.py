"""The attribution -> postbacks hand-off: the contract both sides share.

When attribution records an install or a conversion, or a conversion's status
changes, it enqueues (in the same transaction) one job on POSTBACK_QUEUE whose
payload is one JSON object, an *outbound event*, with the fields below. The
postbacks service decides which of the partner's templates fire (by kind,
goal and sending mode), renders them with these values as macros, and
delivers them. ``event_id`` is unique per outbound event, so a job delivered
twice never makes two deliveries of one template. An invalid (rejected) install
or conversion goes out as ``<id>:rejected``, so that one overruled back to
clean later still gets its normal delivery once, under its own id.
"""

from __future__ import annotations

from typing import Any

import orjson

POSTBACK_QUEUE = "postbacks.events"

KINDS = ("install", "conversion", "status_change")

# Every field is a string ("" when unknown) except `attributed` (bool).
FIELDS = (
    "event_id",  # unique id of this outbound event
    "kind",  # install | conversion | status_change
    "account_id", "app_id",
    "partner_id",  # the credited campaign's partner; "" for organic
    "campaign_id", "campaign_name", "link_id",
    "click_id", "partner_click_id",
    "sub1", "sub2", "sub3", "sub4", "sub5", "sub6", "sub7", "sub8", "sub9", "sub10",
    "event",  # the name partners know: "install", or the goal's name
    "goal_id", "goal",  # conversions: the goal's id and name
    "status",  # conversions: pending | approved | rejected
    "payout", "revenue", "currency",  # decimal strings and an ISO 4217 code
    "txid",
    "idfa", "gaid", "country", "os", "ip",
    "install_time", "event_time",  # RFC 3339
    # Traffic quality: clean | suspicious | invalid ("" from before: clean), and the
    # reason codes, comma-separated. Only `rejected` templates fire for invalid ones.
    "verdict", "reasons",
    "attributed",  # bool: credited to a campaign (false: organic)
)  # fmt: skip


def encode(event: dict[str, Any]) -> bytes:
    """An outbound event to a job payload; unknown keys are refused, missing ones become ""."""
    unknown = set(event) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown outbound event fields: {sorted(unknown)}")
    if event.get("kind") not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}")
    full = {f: event.get(f, False if f == "attributed" else "") for f in FIELDS}
    return orjson.dumps(full, default=str)


def decode(payload: bytes) -> dict[str, Any]:
    event = orjson.loads(payload)
    return {f: event.get(f, False if f == "attributed" else "") for f in FIELDS}
