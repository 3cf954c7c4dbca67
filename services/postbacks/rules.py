"""The delivery rules (pure, no database, no network): what an HTTP answer
means for a delivery, when to try again, and which state that leaves it in."""

from __future__ import annotations

import datetime as dt
import email.utils
from collections.abc import Mapping

MAX_RETRY_AFTER_S = 86_400.0
# The delivery states as stored (postbacks.deliveries.status; DeliveryStatus in the API).
PENDING, RETRYING, DELIVERED, FAILED, DEAD = "pending", "retrying", "delivered", "failed", "dead"


def retry_after(headers: Mapping[str, str], now: dt.datetime | None = None) -> float | None:
    """Retry-After (lower-case header names) in seconds, delta or HTTP date, capped at a day."""
    raw = headers.get("retry-after", "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return min(float(raw), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = now or dt.datetime.now(dt.UTC)
    return min(max(0.0, (when - now).total_seconds()), MAX_RETRY_AFTER_S)


def delivered(status: int) -> bool:
    return 200 <= status < 300


def answer_error(status: int) -> str:
    """The attempt's error text for an HTTP answer ("" when it delivered)."""
    if delivered(status):
        return ""
    error = f"HTTP {status}"
    if 300 <= status < 400:
        error += " (redirects are not followed)"
    return error


def retryable(status: int) -> bool:
    """Is a failed answer worth another attempt (timeouts, rate limits, server errors)?
    Any other 3xx / 4xx fails the delivery at once."""
    return status in (408, 429) or status >= 500


def state_after(failed: bool, permanent: bool, dead: bool) -> str:
    """The delivery's state after an attempt: delivered; failed (refused for good);
    dead (its attempts ran out); retrying otherwise."""
    if not failed:
        return DELIVERED
    if dead:
        return FAILED if permanent else DEAD
    return RETRYING
