"""Product metrics: the rollups folded from ingest.events and the queries that
read them. The servicer (metric_service.py) checks requests and shapes answers.

Definitions, used once here and documented in metrics.proto and the README:
- A user is ``'u:' || user_id`` when the event carries a user_id, else
  ``'d:' || <device>`` with the first of idfv, android_id, gaid, idfa; kept as
  its 64-bit hash (``hashtextextended``). Events with neither have no user.
- Metrics bucket by the event's own time (``event_time``): a late event counts
  on the day it happened. Rollups follow ``receive_time`` (the partition key,
  written with the row at commit), which the runner's watermark advances over.

Modules: rollups (the folds), days (local days in UTC slots), queries (the
metrics over the rollups).
"""

from services.analytics.codes import EVENT_SCREEN, EVENT_TRACK
from services.analytics.metrics.days import Days, offsets_supported
from services.analytics.metrics.queries import (
    DURATION_BOUNDS,
    SessionStats,
    Step,
    active_users,
    errors,
    funnel,
    funnel_sql,
    per_user,
    reading,
    retention,
    revenue,
    sessions,
    user_flow,
)
from services.analytics.metrics.rollups import ROLLUPS

__all__ = [
    "DURATION_BOUNDS", "EVENT_SCREEN", "EVENT_TRACK", "ROLLUPS", "Days", "SessionStats", "Step", "active_users",
    "errors", "funnel", "funnel_sql", "offsets_supported", "per_user", "reading", "retention", "revenue",
    "sessions", "user_flow",
]  # fmt: skip
