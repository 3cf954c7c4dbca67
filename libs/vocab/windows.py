"""Time limits several services and the clients agree on.

ATTRIBUTION_WINDOW_DEFAULTS["click_lookback"]   # timedelta(days=7)
ATTRIBUTION_WINDOW_BOUNDS["view_lookback"]      # (1 hour, 30 days), inclusive
MAX_TOUCH_WINDOW                                # 90 days: links FindTouches and attribution look-ups
"""

from __future__ import annotations

import datetime as dt

# Attribution settings: the defaults and the inclusive bounds of each window.
ATTRIBUTION_WINDOW_DEFAULTS: dict[str, dt.timedelta] = {
    "click_lookback": dt.timedelta(days=7),
    "view_lookback": dt.timedelta(hours=24),
    "fingerprint_window": dt.timedelta(hours=24),
    "conversion_window": dt.timedelta(days=30),
    # Retargeting (services/attribution/reengagement.py): how long a re-engagement credits
    # the user's conversions, and from an install how long a reinstall is only a reinstall.
    "re_engagement_window": dt.timedelta(days=30),
    "reinstall_window": dt.timedelta(days=90),
}
ATTRIBUTION_WINDOW_BOUNDS: dict[str, tuple[dt.timedelta, dt.timedelta]] = {
    "click_lookback": (dt.timedelta(hours=1), dt.timedelta(days=90)),
    "view_lookback": (dt.timedelta(hours=1), dt.timedelta(days=30)),
    "fingerprint_window": (dt.timedelta(minutes=1), dt.timedelta(days=7)),
    "conversion_window": (dt.timedelta(hours=1), dt.timedelta(days=90)),
    "re_engagement_window": (dt.timedelta(hours=1), dt.timedelta(days=90)),
    "reinstall_window": (dt.timedelta(days=1), dt.timedelta(days=730)),
}
# A touch look-up (links FindTouches; attribution asks for no more) spans at most this.
MAX_TOUCH_WINDOW = dt.timedelta(days=90)
# An automation rule's window.
RULE_WINDOW_MIN = dt.timedelta(minutes=1)
RULE_WINDOW_MAX = dt.timedelta(days=90)
# Sub-id flood finder: its window in days.
FLOOD_MAX_WINDOW_DAYS = 90
# Metrics (retention, cohorts): lookback days.
MAX_LOOKBACK_DAYS = 365
# A report's date range.
MAX_REPORT_RANGE = dt.timedelta(days=366)
