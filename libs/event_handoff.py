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

from collections.abc import Sequence
from typing import Any

import orjson

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


def encode(rows: Sequence[Sequence[Any]]) -> bytes:
    """Rows in COLUMNS order (as ingest stores them) to a job payload."""
    return orjson.dumps({"columns": COLUMNS, "rows": rows}, default=str)


def decode(payload: bytes) -> list[dict[str, Any]]:
    """A job payload to one dict per event, keyed by column name."""
    doc = orjson.loads(payload)
    columns = doc["columns"]
    return [dict(zip(columns, row, strict=True)) for row in doc["rows"]]
