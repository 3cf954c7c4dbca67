"""The cube rows a report statement reads: each cube's rows in the union's
columns, its measures summed for the verdicts the report counts. Fixed
snippets over the cubes' definitions (plan.CUBES), never request text."""

from __future__ import annotations

from collections.abc import Sequence

from services.analytics.codes import CLEAN, INVALID, SUSPICIOUS
from services.analytics.reports.model import Verdicts
from services.analytics.reports.plan import SUBS, UNION_COLS, Cube


def _verdict_sum(base: str, suspicious: str, invalid: str, verdicts: frozenset[int]) -> str:
    """The SQL sum of a cube measure's parts for ``verdicts`` (the cube's ``base``
    column counts clean + suspicious; clean is base - suspicious)."""
    parts = []
    if CLEAN in verdicts:
        parts.append(base if SUSPICIOUS in verdicts else f"{base} - {suspicious}")
    elif SUSPICIOUS in verdicts:
        parts.append(suspicious)
    if INVALID in verdicts:
        parts.append(invalid)
    return " + ".join(parts) or "0"


# The union's measures: the main counts (for Verdicts.main), then the parts (s:
# suspicious, i: invalid; for Verdicts.split), as int4 per cube row (a row never
# holds 2^31 events: sum(int4) is a bigint, much cheaper than the numeric that
# sum(bigint) makes). Traffic rows carry the lander views and clicks (lv, lc:
# the main verdicts') and ``carrier`` (a correction's day without clicks);
# outcomes ``irev``, the invalid revenue, when cost needs it.
TRAFFIC_UNION = ("clicks", "uniq", "imps", "sc", "ic", "si", "ii", "lv", "lc", "carrier")
OUTCOME_UNION = ("installs", "convs", "approved", "revenue", "sn", "inn", "sv", "iv")
NUMERIC = frozenset({"revenue", "irev"})


def union_measures(kind: str, verdicts: Verdicts) -> tuple[str, ...]:
    if kind == "traffic":
        return TRAFFIC_UNION
    return (*OUTCOME_UNION, "irev") if verdicts.paid == "minus" else OUTCOME_UNION


def _cube_measures(kind: str, verdicts: Verdicts) -> list[str]:
    """The union's measures (union_measures) as SQL over a cube's columns."""
    m, s = verdicts.main, verdicts.split

    def part(verdict: int, column: str) -> str:
        return f"{column}::int" if verdict in s else "0"

    if kind == "traffic":
        return [
            f"({_verdict_sum('clicks', 'suspicious_clicks', 'invalid_clicks', m)})::int",
            f"({_verdict_sum('unique_clicks', 'suspicious_unique', 'invalid_unique', m)})::int",
            f"({_verdict_sum('impressions', 'suspicious_impressions', 'invalid_impressions', m)})::int",
            part(SUSPICIOUS, "suspicious_clicks"), part(INVALID, "invalid_clicks"),
            part(SUSPICIOUS, "suspicious_impressions"), part(INVALID, "invalid_impressions"),
            f"({_verdict_sum('lander_views', 'suspicious_lander_views', 'invalid_lander_views', m)})::int",
            f"({_verdict_sum('lander_clicks', 'suspicious_lander_clicks', 'invalid_lander_clicks', m)})::int", "0",
        ]  # fmt: skip
    out = [
        f"({_verdict_sum('installs', 'suspicious_installs', 'invalid_installs', m)})::int",
        f"({_verdict_sum('conversions', 'suspicious_conversions', 'invalid_conversions', m)})::int",
        f"({_verdict_sum('approved', 'suspicious_approved', 'invalid_approved', m)})::int",
        _verdict_sum("revenue", "suspicious_revenue", "invalid_revenue", m),
        part(SUSPICIOUS, "suspicious_installs"), part(INVALID, "invalid_installs"),
        part(SUSPICIOUS, "suspicious_conversions"), part(INVALID, "invalid_conversions"),
    ]  # fmt: skip
    if verdicts.paid == "minus":
        out.append("invalid_revenue")
    return out


# Hourly rows: the range minus its whole UTC days [$7, $8) (all of it when $7 = $8);
# daily rows: those days.
_HOURS = "account_id = $1 AND hour >= $2 AND hour < $3 AND (hour < $7 OR hour >= $8)"
_DAYS = "account_id = $1 AND day >= ($7 AT TIME ZONE 'UTC')::date AND day < ($8 AT TIME ZONE 'UTC')::date"


def _cube_select(cube: Cube, kind: str, verdicts: Verdicts, *, sub_no: int = 0, skip_days: str = "") -> str:
    """One cube's rows in the union's columns (hour, plan.UNION_COLS, sub, goal_id,
    currency, the measures);
    for the sub-id cube without the days in ``skip_days`` (a date[] parameter)."""
    if kind == "traffic" and cube.traffic_from is not None:
        cube = cube.traffic_from  # an outcomes-only cube's traffic
    when = "hour" if cube.grain == "hour" else "day::timestamp AT TIME ZONE 'UTC'"
    cols = [d if d in cube.dims else ("0::smallint" if d == "device_type" else "''") for d in UNION_COLS]
    sub = "sub_value" if cube.subs else "''"
    money = "goal_id, currency" if kind == "outcomes" else "'', ''"
    where = _HOURS if cube.grain == "hour" else _DAYS
    if cube.subs:
        where += f" AND sub_no = {sub_no}"
        if skip_days:
            where += f" AND NOT (day = ANY({skip_days}::date[]))"
    return (
        f"SELECT {when}, {', '.join(cols)}, {sub}, {money}, {', '.join(_cube_measures(kind, verdicts))}"
        f" FROM analytics.report_{kind}{cube.suffix} WHERE {where}"
    )


def union(cubes: Sequence[Cube], sub_no: int | None, kind: str, verdicts: Verdicts, skip_days: str = "") -> str:
    """The ``kind`` rollup rows of the range from ``cubes`` (hourly ones outside the
    whole days [$7, $8), daily ones inside), or for a sub-id from its cube alone
    (without the days in ``skip_days``: those are read from report_subs_derived)."""
    if sub_no is not None:
        return _cube_select(SUBS, kind, verdicts, sub_no=sub_no, skip_days=skip_days)
    return "\nUNION ALL\n".join(_cube_select(c, kind, verdicts) for c in cubes)


UNION_DIMS = f"hour, {', '.join(UNION_COLS)}, sub, goal_id, currency"
