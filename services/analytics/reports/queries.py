"""The reports' fixed statements, from queries.sql (loaded once)."""

from __future__ import annotations

from pathlib import Path

from services.analytics import sqlfile

QUERIES = sqlfile.load(Path(__file__).with_name("queries.sql"))

BREAKPOINTS_SQL = QUERIES["breakpoints"]
CORRECTED_CAMPAIGNS_SQL = QUERIES["corrected_campaigns"]
EARLIEST_PARTITIONS_SQL = QUERIES["earliest_partitions"]
TABLES_EXIST_SQL = QUERIES["tables_exist"]
OVERRULED_SQL = QUERIES["overruled"]
BUMP_DAY_VERSIONS_SQL = QUERIES["bump_day_versions"]
SET_FOLDED_SQL = QUERIES["set_folded"]
FOLDED_TO_SQL = QUERIES["folded_to"]
OUTCOMES_FIRST_SQL = QUERIES["outcomes_first"]
CONVERSION_FLOW_SQL = QUERIES["conversion_flow"]
INSTALLS_APPLE_SQL = QUERIES["installs_apple"]
APP_FIRST_SQL = QUERIES["app_first"]
APP_UPDATE_TIMES_SQL = QUERIES["app_update_times"]
