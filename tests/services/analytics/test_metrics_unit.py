"""The product metrics' pure parts, without Postgres: local days as UTC
half-hour slots, and the funnel statement's shape."""

from __future__ import annotations

import datetime as dt
import zoneinfo

from services.analytics.codes import EVENT_SCREEN, EVENT_TRACK
from services.analytics.metrics import Days, Step, funnel_sql, offsets_supported
from services.analytics.metrics.queries import ACTIVE_SQL, ALL_SLOTS, _with_act

DAY = dt.date(2026, 3, 2)


def test_utc_days_cover_whole_utc_days():
    days = Days(DAY, DAY + dt.timedelta(days=1), zoneinfo.ZoneInfo("UTC"))
    local, utc, masks = days.slot_map()
    assert local == utc == [DAY, DAY + dt.timedelta(days=1)]
    assert masks == [ALL_SLOTS, ALL_SLOTS]
    # Whole UTC days read the activity rows as they are (no slot join).
    assert "JOIN unnest" not in _with_act(ACTIVE_SQL, days)
    assert "JOIN unnest" in _with_act(ACTIVE_SQL, Days(DAY, DAY, zoneinfo.ZoneInfo("Asia/Kolkata")))


def test_a_zone_off_utc_splits_each_local_day_over_two_utc_days():
    days = Days(DAY, DAY, zoneinfo.ZoneInfo("Asia/Kolkata"))  # UTC+5:30
    local, utc, masks = days.slot_map()
    assert local == [DAY, DAY] and utc == [DAY - dt.timedelta(days=1), DAY]
    # 18:30 UTC the day before .. 18:30 UTC: slots 37..47, then 0..36.
    assert masks == [sum(1 << s for s in range(37, 48)), sum(1 << s for s in range(37))]
    assert offsets_supported(days)
    assert not offsets_supported(Days(DAY, DAY, zoneinfo.ZoneInfo("Asia/Kathmandu")))  # UTC+5:45


def test_funnel_sql_chains_steps_and_repeats_strictly_after():
    sql = funnel_sql([Step(EVENT_SCREEN, "home"), Step(EVENT_TRACK, "buy"), Step(EVENT_TRACK, "buy")])
    assert "kind = $8 AND o.name = $9" in sql and "kind = $10 AND o.name = $11" in sql
    assert "o.t >= p.t" in sql and "o.t > p.t" in sql
    counts = ", ".join(f"(SELECT count(*) FROM s{k})" for k in (1, 2, 3))
    assert sql.endswith(f"SELECT ARRAY[{counts}]::bigint[]")
