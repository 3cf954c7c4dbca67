"""Campaign reports: the rollups folded from links.clicks / links.impressions /
attribution.installs / attribution.conversions, and the report query over them
(cost from tariffs and corrections included). Handlers (reports_handlers.py)
validate requests and shape answers; the rules engine calls ``campaign_report``
in-process.

Definitions (documented in reports.proto and the README too):
- Buckets are UTC hours: clicks and impressions by their create_time, installs
  by install_time, conversions by their event_time. A report covers whole hours.
- Unique click: the first click (by create_time, then click_id) of its IP +
  User-Agent on its campaign in its UTC day. Clicks without an IP are each
  unique. Unique clicks therefore add up over any grouping.
- Conversions: pending + approved (rejected never count). Approved: approved
  only. Revenue: payouts of approved conversions, per currency.
- Installs and conversions without a campaign (organic) are not in campaign
  reports.
- Verdicts (traffic quality): the counts above, revenue and cost are of clean +
  suspicious rows; each count has its suspicious and invalid parts beside it
  (migrations/0006_quality.sql says why as columns). Unique clicks are decided
  within a class, invalid or not (an invalid click never makes a later clean one
  non-unique). Cost is never paid on invalid rows. A verdicts filter narrows
  everything to some verdicts and counts all of them in the main columns (see
  reports.proto).
- Installs are folded by update_time (attribution bumps it on every change, an
  overrule too), like conversions; an operator's overrule of a touch verdict
  (links.touch_overrules) recounts the hours it changed (TrafficRollup.add).
- Cost: the campaign's tariff in force on the event's UTC day (CPC per click,
  CPM per 1000 impressions, CPI per install, CPA per counted conversion of the
  tariff's goal, REVSHARE percent of revenue in the revenue's currency), plus
  corrections: each spread evenly over the UTC days of its period, and within a
  day over the rows in proportion to the campaign's clicks that day (a day
  without clicks puts its share on the campaign's row at 00:00 UTC, link, country,
  device and OS empty).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import decimal
import zoneinfo
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from typing import Any

import asyncpg
from clicktrail.links.v1 import links_pb2

from libs import quality
from libs.errors import InvalidArgument, ResourceExhausted, Validator

# ----------------------------------------------------------------------------- dimensions

SUB_DIMS = tuple(f"sub{i}" for i in range(1, 11))
# Dimension -> its SQL expression over the unioned rollup rows (``$4`` is the time zone).
_DIM_SQL = {
    "campaign": "campaign_id",
    "link": "link_id",
    "partner": "partner_id",
    "app": "app_id",
    "country": "country",
    "device_type": "device_type",
    "os": "os",
    "day": "(hour AT TIME ZONE $4::text)::date",
    "hour": "date_trunc('hour', hour AT TIME ZONE $4::text)",
    **{s: "sub" for s in SUB_DIMS},
}
DIMENSIONS = tuple(_DIM_SQL)
# Dimensions the sub-id rollups do not carry.
NOT_WITH_SUBS = ("link", "country", "device_type", "os", "hour")
FILTERABLE = tuple(d for d in DIMENSIONS if d not in ("day", "hour"))
# The counts split by verdict (ReportRow attributes, and order_by names).
VERDICT_COUNTS = tuple(
    f"{v}_{k}" for k in ("clicks", "impressions", "installs", "conversions") for v in ("clean", "suspicious", "invalid")
)
METRICS = (
    "clicks", "unique_clicks", "impressions", "installs", "conversions", "approved",
    "cr", "revenue", "cost", "profit", "roi", "epc", "cpi", "invalid_rate", *VERDICT_COUNTS,
)  # fmt: skip
CLEAN, SUSPICIOUS, INVALID = quality.CLEAN, quality.SUSPICIOUS, quality.INVALID
ALL_VERDICTS = frozenset({CLEAN, SUSPICIOUS, INVALID})
# What the main columns count without a verdicts filter.
COUNTED = frozenset({CLEAN, SUSPICIOUS})
# analytics.v1.RecordKind: what carried a reason (report_reasons.kind).
KIND_CLICK, KIND_IMPRESSION, KIND_INSTALL, KIND_CONVERSION = 1, 2, 3, 4
TOP_REASONS = 5
# The dimensions the reasons cube keeps: top reasons only for reports within them.
REASON_DIMS = frozenset({"campaign", "partner", "app", "day", "hour"})
DEVICE_TYPES = {
    v: links_pb2.DeviceType.Name(v).removeprefix("DEVICE_TYPE_").lower() for v in links_pb2.DeviceType.values()
}
DEVICE_TYPES[0] = ""
DEVICE_TYPE_CODES = {name: code for code, name in DEVICE_TYPES.items()}

MAX_RANGE = dt.timedelta(days=366)
MAX_ROWS = 100_000
MAX_FILTER_VALUES = 1000
HOUR = dt.timedelta(hours=1)
MONEY_PLACES = decimal.Decimal("0.000001")

# ----------------------------------------------------------------------------- results


@dataclasses.dataclass
class Money:
    """The money of one row in one currency (Decimal, unrounded)."""

    currency: str
    revenue: decimal.Decimal = decimal.Decimal(0)
    cost: decimal.Decimal = decimal.Decimal(0)

    @property
    def profit(self) -> decimal.Decimal:
        return self.revenue - self.cost

    @property
    def roi(self) -> float | None:
        """(revenue - cost) / cost as a fraction (-0.5 is -50 %); None without cost."""
        return float(self.profit / self.cost) if self.cost else None


@dataclasses.dataclass
class GoalFigures:
    goal_id: str
    conversions: int = 0
    approved: int = 0
    revenue: dict[str, decimal.Decimal] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(slots=True)
class ReportRow:
    """One row: ``dims`` maps each group_by dimension to its value (device_type
    as a name like "mobile"; day as YYYY-MM-DD and hour as YYYY-MM-DDTHH:00 in
    the report's zone; "" for none). Counts are ints, money per currency."""

    dims: dict[str, str]
    clicks: int = 0
    unique_clicks: int = 0
    impressions: int = 0
    installs: int = 0
    conversions: int = 0
    approved: int = 0
    goals: dict[str, GoalFigures] = dataclasses.field(default_factory=dict)
    money: dict[str, Money] = dataclasses.field(default_factory=dict)
    # The suspicious and invalid parts (of the verdicts the report counts).
    suspicious_clicks: int = 0
    invalid_clicks: int = 0
    suspicious_impressions: int = 0
    invalid_impressions: int = 0
    suspicious_installs: int = 0
    invalid_installs: int = 0
    suspicious_conversions: int = 0
    invalid_conversions: int = 0
    # Whether the main counts include the invalid part (a verdicts filter with
    # invalid); else it is beside them.
    invalid_in_main: bool = False
    # (reason bit, RecordKind) -> count.
    reasons: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)

    @property
    def cr(self) -> float:
        """Conversions per click, a fraction (0.05 is 5 %); 0 without clicks."""
        return self.conversions / self.clicks if self.clicks else 0.0

    def _clean(self, main: int, suspicious: int, invalid: int) -> int:
        return main - suspicious - (invalid if self.invalid_in_main else 0)

    @property
    def clean_clicks(self) -> int:
        return self._clean(self.clicks, self.suspicious_clicks, self.invalid_clicks)

    @property
    def clean_impressions(self) -> int:
        return self._clean(self.impressions, self.suspicious_impressions, self.invalid_impressions)

    @property
    def clean_installs(self) -> int:
        return self._clean(self.installs, self.suspicious_installs, self.invalid_installs)

    @property
    def clean_conversions(self) -> int:
        return self._clean(self.conversions, self.suspicious_conversions, self.invalid_conversions)

    @property
    def touches(self) -> int:
        """Clicks and impressions of every verdict the report counts."""
        extra = 0 if self.invalid_in_main else self.invalid_clicks + self.invalid_impressions
        return self.clicks + self.impressions + extra

    @property
    def invalid_rate(self) -> float | None:
        """Invalid touches / all touches, a fraction; None without touches."""
        touches = self.touches
        return (self.invalid_clicks + self.invalid_impressions) / touches if touches else None

    def top_reasons(self, n: int = TOP_REASONS) -> list[tuple[str, int, int]]:
        """The ``n`` reasons carried most often: (code, RecordKind, count), most
        first, ties by code and kind."""
        named = [(quality.BY_BIT[bit].code, kind, count) for (bit, kind), count in self.reasons.items()
                 if count and bit in quality.BY_BIT]  # fmt: skip
        named.sort(key=lambda x: (-x[2], x[0], x[1]))
        return named[:n]

    def epc(self, currency: str) -> decimal.Decimal:
        """Revenue per click in ``currency``."""
        m = self.money.get(currency)
        return m.revenue / self.clicks if m and self.clicks else decimal.Decimal(0)

    def cpi(self, currency: str) -> decimal.Decimal:
        """Cost per install in ``currency``."""
        m = self.money.get(currency)
        return m.cost / self.installs if m and self.installs else decimal.Decimal(0)

    def add_money(self, currency: str, revenue: decimal.Decimal, cost: decimal.Decimal) -> None:
        m = self.money.get(currency)
        if m is None:
            m = self.money[currency] = Money(currency)
        m.revenue += revenue
        m.cost += cost

    def drop_zero_money(self) -> None:
        """Forgets the currencies whose revenue and cost came to 0 (say a +10 and a
        -10 correction on two days of the row): a row lists only the currencies it
        has money in, however its records were split."""
        if any(not (m.revenue or m.cost) for m in self.money.values()):
            self.money = {c: m for c, m in self.money.items() if m.revenue or m.cost}

    def add(self, other: ReportRow) -> None:
        self.clicks += other.clicks
        self.unique_clicks += other.unique_clicks
        self.impressions += other.impressions
        self.installs += other.installs
        self.conversions += other.conversions
        self.approved += other.approved
        self.suspicious_clicks += other.suspicious_clicks
        self.invalid_clicks += other.invalid_clicks
        self.suspicious_impressions += other.suspicious_impressions
        self.invalid_impressions += other.invalid_impressions
        self.suspicious_installs += other.suspicious_installs
        self.invalid_installs += other.invalid_installs
        self.suspicious_conversions += other.suspicious_conversions
        self.invalid_conversions += other.invalid_conversions
        for key, count in other.reasons.items():
            self.reasons[key] = self.reasons.get(key, 0) + count
        for gid, g in other.goals.items():
            mine = self.goals.setdefault(gid, GoalFigures(gid))
            mine.conversions += g.conversions
            mine.approved += g.approved
            for cur, amount in g.revenue.items():
                mine.revenue[cur] = mine.revenue.get(cur, decimal.Decimal(0)) + amount
        for cur, m in other.money.items():
            self.add_money(cur, m.revenue, m.cost)

    def is_empty(self) -> bool:
        return not (
            self.clicks or self.impressions or self.installs or self.conversions
            or self.invalid_clicks or self.invalid_impressions or self.invalid_installs or self.invalid_conversions
            or any(m.revenue or m.cost for m in self.money.values())
        )  # fmt: skip


@dataclasses.dataclass(frozen=True)
class Breakpoint:
    """An attribution-settings change in force from ``effective_time``."""

    breakpoint_id: int
    effective_time: dt.datetime
    conversion_window: dt.timedelta
    click_lookback: dt.timedelta
    view_lookback: dt.timedelta
    changed: tuple[str, ...]


@dataclasses.dataclass
class Report:
    start: dt.datetime  # UTC, a whole hour
    end: dt.datetime  # UTC, a whole hour, exclusive
    time_zone: str
    group_by: list[str]
    rows: list[ReportRow]
    totals: ReportRow
    breakpoints: list[Breakpoint]


# ----------------------------------------------------------------------------- validation


def zone(v: Validator, field: str, name: str) -> zoneinfo.ZoneInfo | None:
    name = name or "UTC"
    try:
        if len(name) > 64 or ".." in name or name.startswith("/"):
            raise ValueError
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        v.add(field, f"{name!r} is not an IANA time zone like Europe/Berlin")
        return None


def offsets_multiple(tz: zoneinfo.ZoneInfo, start: dt.datetime, end: dt.datetime, seconds: int) -> bool:
    """Whether the zone's UTC offset is a multiple of ``seconds`` all through
    [start, end) (3600: whole hours; 86400: no offset at all)."""
    t = start
    while t < end + dt.timedelta(days=1):
        off = t.astimezone(tz).utcoffset() or dt.timedelta()
        if off.total_seconds() % seconds:
            return False
        t += dt.timedelta(hours=6)
    return True


def check_request(
    v: Validator,
    start: dt.datetime,
    end: dt.datetime,
    tz: zoneinfo.ZoneInfo | None,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    *,
    fields: Mapping[str, str] | None = None,
) -> None:
    """Adds a violation per bad part; ``fields`` renames fields for the caller's API."""
    f = {"start": "start", "end": "end", "time_zone": "time_zone", "group_by": "group_by", "filters": "filters"}
    f.update(fields or {})
    if end <= start:
        v.add(f["end"], f"{end.isoformat()} is not after the start {start.isoformat()}: swap them")
    elif end - start > MAX_RANGE + dt.timedelta(days=1):
        v.add(f["end"], f"the range is {(end - start).days} days; at most {MAX_RANGE.days} are allowed")
    elif tz is not None and not offsets_multiple(tz, start, end, 3600):
        v.add(
            f["time_zone"],
            f"{tz.key} is not a whole number of hours from UTC in this range; reports are kept in UTC hours:"
            " use a zone with a whole-hour offset (or UTC)",
        )
    unknown = [d for d in group_by if d not in _DIM_SQL]
    if unknown:
        v.add(f["group_by"], f"unknown dimension {', '.join(map(repr, unknown))}; known: {', '.join(DIMENSIONS)}")
    if len(set(group_by)) != len(group_by):
        v.add(f["group_by"], "names a dimension twice")
    for key, values in filters.items():
        if key not in FILTERABLE:
            hint = "; the date range selects days and hours" if key in ("day", "hour") else ""
            v.add(f"{f['filters']}.{key}", f"unknown filter dimension{hint}; known: {', '.join(FILTERABLE)}")
        elif not values:
            v.add(f"{f['filters']}.{key}", "needs at least one value")
        elif len(values) > MAX_FILTER_VALUES:
            v.add(f"{f['filters']}.{key}", f"at most {MAX_FILTER_VALUES} values")
        elif key == "device_type":
            bad = [x for x in values if x not in DEVICE_TYPE_CODES]
            if bad:
                known = ", ".join(n for n in DEVICE_TYPE_CODES if n)
                v.add(f"{f['filters']}.device_type", f"unknown device type {bad[0]!r}; known: {known}")
    subs = sorted({d for d in [*group_by, *filters] if d in SUB_DIMS})
    if len(subs) > 1:
        v.add(f["group_by"], f"a report takes one sub-id at a time (got {', '.join(subs)}): run one report per sub-id")
    elif subs:
        clash = [d for d in [*group_by, *filters] if d in NOT_WITH_SUBS]
        if clash:
            v.add(
                f["group_by"],
                f"{subs[0]} does not combine with {', '.join(sorted(set(clash)))}: sub-id reports group by"
                " campaign, partner, app, day (UTC) and the one sub-id",
            )
        elif tz is not None and end > start and not offsets_multiple(tz, start, end, 86400):
            v.add(f["time_zone"], f"sub-id reports are kept by UTC day: use time_zone UTC (not {tz.key})")


# ----------------------------------------------------------------------------- rollups


@dataclasses.dataclass(frozen=True)
class Cube:
    """One rollup table pair (analytics.report_traffic<suffix> and
    analytics.report_outcomes<suffix>): a time grain and the dimensions kept."""

    suffix: str
    grain: str  # "hour" (column hour, timestamptz) or "day" (column day, date; UTC days)
    dims: tuple[str, ...]
    subs: bool = False  # one row per (sub_no, sub_value) besides dims


ALL_DIMS = ("campaign_id", "link_id", "partner_id", "app_id", "country", "device_type", "os")
# The rollups, smallest first (see migrations/0002_reports.sql for the why).
LINKS = Cube("_links", "hour", ("campaign_id", "link_id", "partner_id", "app_id"))
FULL = Cube("", "hour", ALL_DIMS)
DAILY = Cube("_daily", "day", ("campaign_id", "partner_id", "app_id", "country", "device_type", "os"))
SUBS = Cube("_subs", "day", ("campaign_id", "partner_id", "app_id"), subs=True)
CUBES = (LINKS, FULL, DAILY, SUBS)

_EARLIEST_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = 'links' AND p.relname = $1
ORDER BY c.relname
"""


async def _earliest_traffic(conn: asyncpg.Connection) -> dt.datetime | None:
    """The earliest click or impression: each table's first non-empty daily
    partition's minimum (partition names sort by day)."""
    found: list[dt.datetime] = []
    for table in ("clicks", "impressions"):
        for row in await conn.fetch(_EARLIEST_PARTITIONS, table):
            first = await conn.fetchval(f'SELECT min(create_time) FROM links."{row["relname"]}"')
            if first is not None:
                found.append(first)
                break
    return min(found) if found else None


# Each cube's measures, folded from source rows carrying the same names: the
# counts of clean + suspicious rows (what reports always showed), then their
# suspicious and their invalid parts (migrations/0006_quality.sql).
TRAFFIC_MEASURES = (
    "clicks", "unique_clicks", "impressions", "suspicious_clicks", "suspicious_unique", "suspicious_impressions",
    "invalid_clicks", "invalid_unique", "invalid_impressions",
)  # fmt: skip
OUTCOME_MEASURES = (
    "installs", "conversions", "approved", "revenue", "suspicious_installs", "suspicious_conversions",
    "suspicious_approved", "suspicious_revenue", "invalid_installs", "invalid_conversions", "invalid_approved",
    "invalid_revenue",
)  # fmt: skip
# The reason codes' bits, for expanding a reasons bitmask into rows.
REASON_BITS = "{" + ",".join(str(r.bit) for r in sorted(quality.REASONS, key=lambda r: r.bit)) + "}"


def _measures(kind: str) -> tuple[str, ...]:
    return TRAFFIC_MEASURES if kind == "traffic" else OUTCOME_MEASURES


def _fold(cube: Cube, kind: str, source: str, time_col: str, hourly_where: str) -> str:
    """INSERT ... SELECT ... GROUP BY ... ON CONFLICT add, of ``source`` rows into one cube."""
    measures = _measures(kind)
    dims = cube.dims + (("goal_id", "currency") if kind == "outcomes" else ())
    if cube.grain == "hour":
        t = f"date_trunc('hour', {time_col}, 'UTC')" if time_col != "hour" else "hour"
    else:
        t = f"({time_col} AT TIME ZONE 'UTC')::date"
    key = ["account_id", cube.grain, *(["sub_no"] if cube.subs else []), *dims, *(["sub_value"] if cube.subs else [])]
    sel = ["r.account_id", t.replace(time_col, f"r.{time_col}"), *(["s.n"] if cube.subs else []),
           *(f"r.{d}" for d in dims), *(["s.v"] if cube.subs else [])]  # fmt: skip
    frm = f"{source} r" + (" CROSS JOIN LATERAL unnest(r.subs) WITH ORDINALITY AS s(v, n)" if cube.subs else "")
    where = [w for w in (hourly_where if cube.grain == "hour" else "", "s.v <> ''" if cube.subs else "") if w]
    sets = ", ".join(f"{m} = c.{m} + excluded.{m}" for m in measures)
    return f"""INSERT INTO analytics.report_{kind}{cube.suffix} AS c ({", ".join(key)}, {", ".join(measures)})
    SELECT {", ".join(sel)}, {", ".join(f"sum(r.{m})" for m in measures)}
    FROM {frm} {"WHERE " + " AND ".join(where) if where else ""}
    GROUP BY {", ".join(str(i) for i in range(1, len(key) + 1))}
    ON CONFLICT ({", ".join(key)}) DO UPDATE SET {sets}"""


def _fold_subs(kind: str, source: str, time_col: str) -> list[str]:
    """CTEs folding ``source`` into the sub-id cube: a row per non-empty value,
    and per sub number a row with value '' for the rest (the group's total minus
    its valued rows), so a sub-id report reads this cube alone."""
    measures = _measures(kind)
    dims = [*SUBS.dims, *(("goal_id", "currency") if kind == "outcomes" else ())]
    day = f"(r.{time_col} AT TIME ZONE 'UTC')::date"
    grp = ", ".join(str(i) for i in range(1, len(dims) + 3))  # account_id, day, dims
    named_grp = ", ".join(str(i) for i in range(1, len(dims) + 5))  # account_id, day, sub_no, dims, sub_value
    sums = ", ".join(f"sum(r.{m}) AS {m}" for m in measures)
    on = " AND ".join(f"x.{c} = t.{c}" for c in ["account_id", "day", *dims])
    rest = ", ".join(f"t.{m} - coalesce(x.{m}, 0)" for m in measures)
    nonzero = " OR ".join(f"t.{m} - coalesce(x.{m}, 0) <> 0" for m in measures)
    key = ["account_id", "day", "sub_no", *dims, "sub_value"]
    sets = ", ".join(f"{m} = c.{m} + excluded.{m}" for m in measures)
    cols = ", ".join(dims)
    return [
        f"""{kind}_named AS MATERIALIZED (
    SELECT r.account_id, {day} AS day, s.n AS sub_no, {", ".join(f"r.{d}" for d in dims)}, s.v AS sub_value, {sums}
    FROM {source} r CROSS JOIN LATERAL unnest(r.subs) WITH ORDINALITY AS s(v, n) WHERE s.v <> ''
    GROUP BY {named_grp}
)""",
        f"""{kind}_total AS (
    SELECT r.account_id, {day} AS day, {", ".join(f"r.{d}" for d in dims)}, {sums} FROM {source} r GROUP BY {grp}
)""",
        f"""{kind}_subs AS (
    INSERT INTO analytics.report_{kind}_subs AS c ({", ".join(key)}, {", ".join(measures)})
    SELECT account_id, day, sub_no, {cols}, sub_value, {", ".join(measures)} FROM {kind}_named
    UNION ALL
    SELECT t.account_id, t.day, k.n, {", ".join(f"t.{d}" for d in dims)}, '', {rest}
    FROM {kind}_total t CROSS JOIN generate_series(1, 10) AS k(n)
    LEFT JOIN (
        SELECT account_id, day, sub_no, {cols}, {", ".join(f"sum({m}) AS {m}" for m in measures)}
        FROM {kind}_named GROUP BY account_id, day, sub_no, {cols}
    ) x ON {on} AND x.sub_no = k.n
    WHERE {nonzero}
    ON CONFLICT ({", ".join(key)}) DO UPDATE SET {sets}
)""",
    ]


def _fold_reasons(kind: str, source: str, time_col: str, hourly_where: str) -> list[str]:
    """CTEs folding the reasons of ``source`` rows (columns verdict, reasons,
    rkind: a RecordKind, n: what the row counts, 1 or a delta's sign) into
    report_reasons and report_reasons_daily: the rows are added up per reasons
    bitmask first (a few distinct masks), then each mask is taken apart into
    its bits."""
    out = []
    for grain, table in (("hour", "report_reasons"), ("day", "report_reasons_daily")):
        if grain == "hour":
            t = "r.hour" if time_col == "hour" else f"date_trunc('hour', r.{time_col}, 'UTC')"
        else:
            t = f"(r.{time_col} AT TIME ZONE 'UTC')::date"
        where = " AND ".join(["r.reasons <> 0", *([hourly_where] if grain == "hour" and hourly_where else [])])
        key = f"account_id, {grain}, campaign_id, partner_id, app_id, kind, verdict, reason"
        out.append(f"""{kind}_reasons_{grain} AS (
    INSERT INTO analytics.{table} AS c ({key}, n)
    SELECT g.account_id, g.t, g.campaign_id, g.partner_id, g.app_id, g.kind, g.verdict, b.bit, sum(g.n)
    FROM (
        SELECT r.account_id, {t} AS t, r.campaign_id, r.partner_id, r.app_id, r.rkind::smallint AS kind,
               r.verdict, r.reasons, sum(r.n) AS n
        FROM {source} r WHERE {where}
        GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    ) g
    CROSS JOIN LATERAL unnest('{REASON_BITS}'::smallint[]) AS b(bit)
    WHERE g.reasons & (1::bigint << b.bit) <> 0
    GROUP BY 1, 2, 3, 4, 5, 6, 7, 8
    HAVING sum(g.n) <> 0
    ON CONFLICT ({key}) DO UPDATE SET n = c.n + excluded.n
)""")
    return out


def _fold_all(kind: str, source: str, time_col: str, hourly_where: str) -> str:
    """Data-modifying CTEs folding ``source`` into every cube and the reasons
    cubes, and counting the fold in each (account, UTC day) it touched
    (report_day_versions), then a final SELECT."""
    parts = [f"f{i} AS ({_fold(c, kind, source, time_col, hourly_where)})" for i, c in enumerate(CUBES) if not c.subs]
    versions = f"""{kind}_days AS (
    INSERT INTO analytics.report_day_versions AS v (account_id, day, version)
    SELECT DISTINCT account_id, ({time_col} AT TIME ZONE 'UTC')::date AS day, 1 FROM {source}
    ORDER BY account_id, day  -- row locks in one order with the other rollup's folds and a recount's bump
    ON CONFLICT (account_id, day) DO UPDATE SET version = v.version + 1
)"""
    reasons = _fold_reasons(kind, source, time_col, hourly_where)
    return ",\n".join([*parts, *_fold_subs(kind, source, time_col), *reasons, versions]) + "\nSELECT 1"


_SUBS = ", ".join(f"k.sub{i}" for i in range(1, 11))
_TRAFFIC_COLS = f"""k.account_id, k.create_time, k.campaign_id, k.link_id, k.partner_id,
    coalesce(k.app_id, '') AS app_id, coalesce(k.country, '') AS country, k.device_type,
    coalesce(k.os, '') AS os, ARRAY[{_SUBS}] AS subs, k.verdict, k.reasons"""
# What the raw rows' SELECTs take from links.clicks / links.impressions.
_RAW_COLS = (
    "k.account_id, k.create_time, k.campaign_id, k.link_id, k.partner_id, k.app_id, k.country, k.device_type, k.os, "
    + ", ".join(f"k.sub{i}" for i in range(1, 11))
    + ", k.verdict, k.reasons"
)
# TRAFFIC_MEASURES of a click whose uniqueness (1 or 0, within its class) is k.u,
# and of an impression; then RecordKind and n for the reasons fold. Verdict 3 is
# invalid, 2 suspicious, anything else clean.
_CLICK_MEASURES = """(k.verdict <> 3)::int AS clicks, k.u * (k.verdict <> 3)::int AS unique_clicks, 0 AS impressions,
    (k.verdict = 2)::int AS suspicious_clicks, k.u * (k.verdict = 2)::int AS suspicious_unique,
    0 AS suspicious_impressions, (k.verdict = 3)::int AS invalid_clicks, k.u * (k.verdict = 3)::int AS invalid_unique,
    0 AS invalid_impressions, 1 AS rkind, 1 AS n"""
_IMPRESSION_MEASURES = """0, 0, (k.verdict <> 3)::int, 0, 0, (k.verdict = 2)::int, 0, 0, (k.verdict = 3)::int, 2, 1"""

# Clicks and impressions with create_time in [$1, $2). Unique: no earlier click
# of the same class (invalid or not), IP + User-Agent on the campaign that UTC
# day (clicks_ip index). (OFFSET 0: u is worked out once per click, not once
# per use.)
TRAFFIC_RAW_ADD = f"""
SELECT {_TRAFFIC_COLS}, {_CLICK_MEASURES}
FROM (
    SELECT {_RAW_COLS}, (k.ip IS NULL OR NOT EXISTS (
        SELECT 1 FROM links.clicks p
        WHERE p.account_id = k.account_id AND p.ip = k.ip
          AND p.create_time >= date_trunc('day', k.create_time, 'UTC') AND p.create_time <= k.create_time
          AND (p.create_time < k.create_time OR p.click_id < k.click_id)
          AND p.campaign_id = k.campaign_id AND p.user_agent IS NOT DISTINCT FROM k.user_agent
          AND (p.verdict = 3) = (k.verdict = 3)
    ))::int AS u
    FROM links.clicks k WHERE k.create_time >= $1 AND k.create_time < $2
    OFFSET 0
) k
UNION ALL
SELECT {_TRAFFIC_COLS}, {_IMPRESSION_MEASURES}
FROM links.impressions k WHERE k.create_time >= $1 AND k.create_time < $2
"""

# The same rows for a recount, over [$1, $2): uniqueness by a window over the
# whole UTC days, so $1 must be a UTC midnight.
TRAFFIC_RAW_RECOUNT = f"""
SELECT {_TRAFFIC_COLS}, {_CLICK_MEASURES}
FROM (
    SELECT {_RAW_COLS}, (k.ip IS NULL OR row_number() OVER (
        PARTITION BY k.account_id, k.campaign_id, k.ip, k.user_agent, date_trunc('day', k.create_time, 'UTC'),
                     k.verdict = 3
        ORDER BY k.create_time, k.click_id
    ) = 1)::int AS u
    FROM links.clicks k WHERE k.create_time >= $1 AND k.create_time < $2
) k
UNION ALL
SELECT {_TRAFFIC_COLS}, {_IMPRESSION_MEASURES}
FROM links.impressions k WHERE k.create_time >= $1 AND k.create_time < $2
"""

# Folds ``raw`` into the hourly cubes (rows with create_time in [$3, $4)) and
# the daily ones (every row).
_TRAFFIC_FOLDS = _fold_all("traffic", "raw", "create_time", "r.create_time >= $3 AND r.create_time < $4")
TRAFFIC_ADD_SQL = f"WITH raw AS MATERIALIZED ({TRAFFIC_RAW_ADD}),\n{_TRAFFIC_FOLDS}"
TRAFFIC_RECOUNT_SQL = f"WITH raw AS MATERIALIZED ({TRAFFIC_RAW_RECOUNT}),\n{_TRAFFIC_FOLDS}"
# (The reasons cubes hold the outcomes' kinds too: a traffic recount clears its own.)
TRAFFIC_CLEAR_HOURS = (
    *(f"DELETE FROM analytics.report_traffic{c.suffix} WHERE hour >= $1 AND hour < $2" for c in CUBES
      if c.grain == "hour"),
    f"DELETE FROM analytics.report_reasons WHERE hour >= $1 AND hour < $2 AND kind IN ({KIND_CLICK},"
    f" {KIND_IMPRESSION})",
)  # fmt: skip
_DAY_RANGE = "day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date"
TRAFFIC_CLEAR_DAYS = (
    *(f"DELETE FROM analytics.report_traffic{c.suffix} WHERE {_DAY_RANGE}" for c in CUBES if c.grain == "day"),
    f"DELETE FROM analytics.report_reasons_daily WHERE {_DAY_RANGE} AND kind IN ({KIND_CLICK}, {KIND_IMPRESSION})",
)
# A recount replaces a UTC day's traffic of every account: what was built from it is stale.
BUMP_DAY_VERSIONS = """
UPDATE analytics.report_day_versions v SET version = v.version + 1
FROM (
    SELECT account_id, day FROM analytics.report_day_versions
    WHERE day = ($1::timestamptz AT TIME ZONE 'UTC')::date
    ORDER BY account_id FOR UPDATE  -- in the folds' (account, day) order: no deadlock with a concurrent fold
) l
WHERE v.account_id = l.account_id AND v.day = l.day
"""
# How far the traffic rollup has folded in this transaction: the state's
# watermark, or the end of an add earlier in the same transaction (the runner
# adds, then recounts, then stores the new watermark).
_FOLDED_SETTING = "analytics.reports_traffic_folded"
_FOLDED_TO = f"""
SELECT greatest(
    (SELECT watermark FROM analytics.rollup_state WHERE name = $1),
    nullif(current_setting('{_FOLDED_SETTING}', true), '')::timestamptz
)
"""


def _day_floor(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _day_ceil(t: dt.datetime) -> dt.datetime:
    f = _day_floor(t)
    return f if f == t else f + dt.timedelta(days=1)


_TABLES_EXIST = "SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL"


async def _sources_exist(conn: asyncpg.Connection, *tables: str) -> bool:
    """Whether the raw tables exist (a deployment may run analytics before the
    service owning them ever migrated): a missing source folds nothing."""
    return bool(await conn.fetchval(_TABLES_EXIST, *tables))


# A recount statement (one UTC day) may run longer than the pool's command timeout.
RECOUNT_TIMEOUT_S = 900.0


# The hours of the touches whose verdict an operator overruled in [$1, $2).
OVERRULED_SQL = """
SELECT DISTINCT kind::text, date_trunc('hour', touch_time, 'UTC') AS hour
FROM links.touch_overrules WHERE create_time >= $1 AND create_time < $2
"""


def overruled_ranges(
    touches: Sequence[tuple[str, dt.datetime]], end: dt.datetime
) -> list[tuple[dt.datetime, dt.datetime]]:
    """The ranges a traffic fold up to ``end`` recounts for overruled touches
    (kind 'c' click or 'i' impression, the touch's UTC hour), merged: an
    impression's hour; a click's hour to the end of its UTC day (its verdict
    moves its class, and so the uniqueness of the later clicks of its IP +
    User-Agent that day). Nothing past ``end``: the hours above are folded by
    later passes, from the rows as they are then."""
    ranges = sorted(
        (hour, min(end, _day_ceil(hour + HOUR) if kind == "c" else hour + HOUR)) for kind, hour in touches if hour < end
    )
    merged: list[tuple[dt.datetime, dt.datetime]] = []
    for lo, hi in ranges:
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


class TrafficRollup:
    """Clicks, unique clicks and impressions (by verdict) into every cube, their
    reasons into the reasons cubes; an operator's overrule of a touch verdict
    (links.touch_overrules, by its create_time) recounts the touch's hours."""

    name = "reports_traffic"
    sources = ("links.clicks", "links.impressions")

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        return await _earliest_traffic(conn)

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if not await _sources_exist(conn, *self.sources):
            return
        await conn.execute(TRAFFIC_ADD_SQL, start, end, start, end)
        await conn.execute(f"SELECT set_config('{_FOLDED_SETTING}', $1::timestamptz::text, true)", end)
        # Overrules committed in [start, end) (the watermark's rules hold for them as
        # for clicks): recount what they changed, in this transaction, under the
        # rollup's lock (a recount beside a concurrent add could lose the add's rows).
        if await _sources_exist(conn, "links.touch_overrules", "links.touch_overrules"):
            touches = [(r["kind"], r["hour"]) for r in await conn.fetch(OVERRULED_SQL, start, end)]
            for lo, hi in overruled_ranges(touches, end):
                await self.recount(conn, lo, hi)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        """Replaces the hours [start, end) of the hourly cubes, and rebuilds the
        UTC days they touch in the daily cubes from the raw rows up to what is
        folded so far. Unique clicks of a later hour of the same UTC day can
        change with a late click: recount whole UTC days (the runner's passes
        recount hours in order). ``end`` may fall inside an hour only where the
        fold stands (an add's end in the same transaction): that hour is then
        rebuilt from the rows before ``end``."""
        if not await _sources_exist(conn, *self.sources):
            return
        folded = await conn.fetchval(_FOLDED_TO, self.name)
        hi = max(min(_day_ceil(end), folded) if folded is not None else end, end)
        await conn.execute("SET LOCAL work_mem = '256MB'")
        # A UTC day per statement: bounded memory and time on a long range.
        day = _day_floor(start)
        while day < end:
            next_day = day + dt.timedelta(days=1)
            hours = (max(start, day), min(end, next_day))
            for sql in TRAFFIC_CLEAR_HOURS:
                await conn.execute(sql, *hours, timeout=RECOUNT_TIMEOUT_S)
            for sql in TRAFFIC_CLEAR_DAYS:
                await conn.execute(sql, day, next_day, timeout=RECOUNT_TIMEOUT_S)
            await conn.execute(BUMP_DAY_VERSIONS, day)
            await conn.execute(TRAFFIC_RECOUNT_SQL, day, min(next_day, hi), *hours, timeout=RECOUNT_TIMEOUT_S)
            day = next_day


def _by_verdict(measure: str, condition: str, value: str = "1") -> str:
    """A delta's three parts of one OUTCOME_MEASURES measure: the clean +
    suspicious count, the suspicious part, the invalid part (``condition`` says
    whether the fact counts at all, ``value`` what it counts)."""
    one = "sign" if value == "1" else f"sign * {value}"
    parts = (("", "verdict <> 3"), ("suspicious_", "verdict = 2"), ("invalid_", "verdict = 3"))
    return ",\n           ".join(
        f"CASE WHEN {condition} AND {test} THEN {one} ELSE 0 END AS {prefix}{measure}" for prefix, test in parts
    )


# The facts' columns, in report_facts' order.
_FACT_COLS = (
    "account_id, kind, fact_id, hour, campaign_id, link_id, partner_id, app_id, country, device_type, os, subs,"
    " goal_id, currency, status, payout, verdict, reasons"
)
# What a fact's contribution depends on (a change in any moves it).
_FACT_STATE = "goal_id, currency, status, payout, hour, verdict, reasons, campaign_id, link_id, partner_id, app_id"

# Installs and conversions updated in [$1, $2) (by update_time, the time the
# row last changed: attribution bumps it on every change, an overrule too),
# compared with what report_facts last folded of them: the changed ones add
# their new contribution and take back the old one. Invalid ones are counted
# in their own parts (and their reasons), never in the clean + suspicious ones.
OUTCOMES_SQL = f"""
WITH src AS (
    SELECT i.account_id, 'i'::"char" AS kind, i.install_id AS fact_id,
           date_trunc('hour', i.install_time, 'UTC') AS hour,
           i.campaign_id, coalesce(i.link_id, '') AS link_id, coalesce(i.partner_id, '') AS partner_id,
           i.app_id, i.click_id, i.touch_type, i.touch_time, '' AS goal_id, '' AS currency,
           0::smallint AS status, 0::numeric(24, 6) AS payout, i.verdict, i.reasons
    FROM attribution.installs i
    WHERE i.update_time >= $1 AND i.update_time < $2 AND i.campaign_id IS NOT NULL
    UNION ALL
    SELECT c.account_id, 'c', c.conversion_id, date_trunc('hour', c.event_time, 'UTC'),
           c.campaign_id, coalesce(c.link_id, ''), coalesce(c.partner_id, ''), coalesce(c.app_id, ''),
           c.click_id, 0, c.touch_time,
           CASE WHEN c.goal_id <> '' THEN c.goal_id WHEN c.goal <> '' THEN c.goal ELSE '(none)' END,
           coalesce(c.currency, ''), c.status, coalesce(c.payout, 0), c.verdict, c.reasons
    FROM attribution.conversions c
    WHERE c.update_time >= $1 AND c.update_time < $2 AND c.campaign_id IS NOT NULL
),
old AS MATERIALIZED (
    SELECT {", ".join(f"f.{c.strip()}" for c in _FACT_COLS.split(","))} FROM analytics.report_facts f
    JOIN src s ON f.account_id = s.account_id AND f.kind = s.kind AND f.fact_id = s.fact_id
),
changed AS MATERIALIZED (
    SELECT s.account_id, s.kind, s.fact_id, s.hour, s.campaign_id, s.link_id, s.partner_id, s.app_id,
           coalesce(t.country, '') AS country, coalesce(t.device_type, 0)::smallint AS device_type,
           coalesce(t.os, '') AS os, coalesce(t.subs, '{{}}') AS subs, s.goal_id, s.currency, s.status, s.payout,
           s.verdict, s.reasons
    FROM src s
    LEFT JOIN old o ON o.account_id = s.account_id AND o.kind = s.kind AND o.fact_id = s.fact_id
    LEFT JOIN LATERAL (
        SELECT k.country, k.device_type, k.os, ARRAY[{_SUBS}] AS subs
        FROM links.clicks k
        WHERE s.touch_type <> 2 AND k.account_id = s.account_id AND k.click_id = s.click_id
          AND k.create_time = s.touch_time
        UNION ALL
        SELECT k.country, k.device_type, k.os, ARRAY[{_SUBS}]
        FROM links.impressions k
        WHERE s.touch_type <> 1 AND k.account_id = s.account_id AND k.impression_id = s.click_id
          AND k.create_time = s.touch_time
        LIMIT 1
    ) t ON s.click_id IS NOT NULL AND s.touch_time IS NOT NULL
    WHERE o.fact_id IS NULL
       OR ({", ".join(f"o.{c.strip()}" for c in _FACT_STATE.split(","))})
          IS DISTINCT FROM ({", ".join(f"s.{c.strip()}" for c in _FACT_STATE.split(","))})
),
save AS (
    INSERT INTO analytics.report_facts AS f ({_FACT_COLS}) SELECT * FROM changed
    ON CONFLICT (account_id, kind, fact_id) DO UPDATE
    SET {", ".join(f"{c.strip()} = excluded.{c.strip()}" for c in _FACT_COLS.split(",")[3:])}
),
delta AS MATERIALIZED (
    SELECT account_id, hour, {", ".join(ALL_DIMS)}, goal_id, currency, subs, verdict, reasons,
           CASE kind WHEN 'i' THEN {KIND_INSTALL} ELSE {KIND_CONVERSION} END AS rkind,
           sign * (kind = 'i' OR status <> 3)::int AS n,
           {_by_verdict("installs", "kind = 'i'")},
           {_by_verdict("conversions", "kind = 'c' AND status <> 3")},
           {_by_verdict("approved", "kind = 'c' AND status = 2")},
           {_by_verdict("revenue", "kind = 'c' AND status = 2", "payout")}
    FROM (
        SELECT 1 AS sign, * FROM changed
        UNION ALL
        SELECT -1, o.* FROM old o JOIN changed c USING (account_id, kind, fact_id)
    ) d
),
{_fold_all("outcomes", "delta", "hour", "")}
"""

_OUTCOMES_FIRST = """
SELECT least((SELECT min(update_time) FROM attribution.installs),
             (SELECT min(update_time) FROM attribution.conversions))
"""


class OutcomesRollup:
    """Attributed installs and conversions (count, approved, revenue per goal
    and currency) into every cube, with the touch's country, device, OS and
    sub-ids. Folding is by delta against report_facts, so it is idempotent: a
    recount of [start, end) is the same statement as an add."""

    name = "reports_outcomes"
    sources = ("attribution.installs", "attribution.conversions")

    async def first_time(self, conn: asyncpg.Connection) -> dt.datetime | None:
        if not await _sources_exist(conn, *self.sources):
            return None
        return await conn.fetchval(_OUTCOMES_FIRST)  # type: ignore[no-any-return]

    async def add(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if await _sources_exist(conn, *self.sources):
            await conn.execute(OUTCOMES_SQL, start, end)

    async def recount(self, conn: asyncpg.Connection, start: dt.datetime, end: dt.datetime) -> None:
        if not await _sources_exist(conn, *self.sources):
            return
        t = start
        while t < end:  # a UTC day per statement
            step = min(end, _day_floor(t) + dt.timedelta(days=1))
            await conn.execute(OUTCOMES_SQL, t, step, timeout=RECOUNT_TIMEOUT_S)
            t = step


# ----------------------------------------------------------------------------- the report query


@dataclasses.dataclass(frozen=True)
class Verdicts:
    """What a report counts: ``main`` the verdicts in its main columns (clicks,
    installs, revenue ...), ``split`` those its suspicious and invalid parts
    count. Without a filter: clean + suspicious, and all three; with one: its
    verdicts in both."""

    main: frozenset[int] = COUNTED
    split: frozenset[int] = ALL_VERDICTS

    @classmethod
    def of(cls, verdicts: Collection[int] | None) -> Verdicts:
        return cls(frozenset(verdicts), frozenset(verdicts)) if verdicts else cls()

    @property
    def filtered(self) -> bool:
        return (self.main, self.split) != (COUNTED, ALL_VERDICTS)

    @property
    def paid(self) -> str:
        """What cost is paid on: "main" (the main counts have no invalid rows),
        "minus" (the main counts less their invalid part) or "none"."""
        if INVALID not in self.main:
            return "main"
        return "none" if self.main == {INVALID} else "minus"

    @property
    def reasons(self) -> frozenset[int]:
        """The verdicts whose reasons the top reasons count: the flagged ones, or the filter's."""
        return self.main if self.filtered else frozenset({SUSPICIOUS, INVALID})


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
# sum(bigint) makes). Traffic rows carry ``carrier`` too (a correction's day
# without clicks); outcomes ``irev``, the invalid revenue, when cost needs it.
TRAFFIC_UNION = ("clicks", "uniq", "imps", "sc", "ic", "si", "ii", "carrier")
OUTCOME_UNION = ("installs", "convs", "approved", "revenue", "sn", "inn", "sv", "iv")
_NUMERIC = frozenset({"revenue", "irev"})


def _union_measures(kind: str, verdicts: Verdicts) -> tuple[str, ...]:
    if kind == "traffic":
        return TRAFFIC_UNION
    return (*OUTCOME_UNION, "irev") if verdicts.paid == "minus" else OUTCOME_UNION


def _cube_measures(kind: str, verdicts: Verdicts) -> list[str]:
    """The union's measures (_union_measures) as SQL over a cube's columns."""
    m, s = verdicts.main, verdicts.split

    def part(verdict: int, column: str) -> str:
        return f"{column}::int" if verdict in s else "0"

    if kind == "traffic":
        return [
            f"({_verdict_sum('clicks', 'suspicious_clicks', 'invalid_clicks', m)})::int",
            f"({_verdict_sum('unique_clicks', 'suspicious_unique', 'invalid_unique', m)})::int",
            f"({_verdict_sum('impressions', 'suspicious_impressions', 'invalid_impressions', m)})::int",
            part(SUSPICIOUS, "suspicious_clicks"), part(INVALID, "invalid_clicks"),
            part(SUSPICIOUS, "suspicious_impressions"), part(INVALID, "invalid_impressions"), "0",
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
    """One cube's rows in the union's columns (hour, campaign_id, link_id, partner_id,
    app_id, country, device_type, os, sub, goal_id, currency, the measures);
    for the sub-id cube without the days in ``skip_days`` (a date[] parameter)."""
    when = "hour" if cube.grain == "hour" else "day::timestamp AT TIME ZONE 'UTC'"
    cols = [d if d in cube.dims else ("0::smallint" if d == "device_type" else "''") for d in ALL_DIMS]
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


def _union(cubes: Sequence[Cube], sub_no: int | None, kind: str, verdicts: Verdicts, skip_days: str = "") -> str:
    """The ``kind`` rollup rows of the range from ``cubes`` (hourly ones outside the
    whole days [$7, $8), daily ones inside), or for a sub-id from its cube alone
    (without the days in ``skip_days``: those are read from report_subs_derived)."""
    if sub_no is not None:
        return _cube_select(SUBS, kind, verdicts, sub_no=sub_no, skip_days=skip_days)
    return "\nUNION ALL\n".join(_cube_select(c, kind, verdicts) for c in cubes)


_UNION_DIMS = "hour, campaign_id, link_id, partner_id, app_id, country, device_type, os, sub, goal_id, currency"
# The counts of a statement's records, after the dimensions: then come the goal
# arrays (GOAL_ARRAYS), the cost currencies and the costs.
COUNT_COLUMNS = (
    "clicks", "uniq", "imps", "s_clicks", "i_clicks", "s_imps", "i_imps", "installs", "s_installs", "i_installs",
    "convs", "s_convs", "i_convs", "approved",
)  # fmt: skip


def report_sql(
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    cubes: Sequence[Cube],
    verdicts: Verdicts = Verdicts(),
) -> tuple[str, str, str, list[Any]]:
    """The report's statements over ``cubes`` (traffic, corrections, outcomes)
    and their parameters after $1..$8 (account, start, end, zone, first and last
    UTC day of the range, and the whole UTC days [$7, $8) read from the daily
    cubes); the filters' values follow, and last (not in the list returned) the
    ids of the campaigns with corrections in the range (CORRECTED_CAMPAIGNS_SQL)
    and the days a sub-id report reads from report_subs_derived (no others: '{}').
    ``corrections`` is "" when nothing in the report can carry a correction.

    Their rows (d0..dn, then COUNT_COLUMNS, GOAL_ARRAYS, cost currencies, costs),
    each statement one hash aggregate (one grouping each is much cheaper than
    grouping sets, and separate statements cheaper than their UNION ALL, and
    they can run at once): traffic counts and CPC / CPM cost per cost currency;
    corrections per currency; outcome counts, goals with revenue per revenue
    currency and CPI / CPA / RevShare cost per cost currency. The caller adds
    them up per row. Cost is paid on the main counts' clean and suspicious rows
    only (Verdicts.paid)."""
    subs = [d for d in [*group_by, *filters] if d in SUB_DIMS]
    sub_no = int(subs[0][3:]) if subs else None
    params: list[Any] = []
    conds = []
    for key, values in filters.items():
        params.append([DEVICE_TYPE_CODES[x] for x in values] if key == "device_type" else list(values))
        col = "device_type" if key == "device_type" else _DIM_SQL[key]
        cast = "smallint[]" if key == "device_type" else "text[]"
        conds.append(f"{col} = ANY(${8 + len(params)}::{cast})")
    dims = "".join(f"{_DIM_SQL[d]} AS d{i}, " for i, d in enumerate(group_by))
    dsel = "".join(f"d{i}, " for i in range(len(group_by)))
    vsel = "".join(f"v.d{i}, " for i in range(len(group_by)))

    # The corrected campaigns' ids (the corrections statement reads only their rows),
    # and the days a sub-id report reads from report_subs_derived instead.
    corrected, derived_days = f"${9 + len(params)}", f"${10 + len(params)}"

    def rows(kind: str, extra: str = "", *, only_corrected: bool = False) -> str:
        """The cube rows of ``kind`` with their dimension values, campaign and UTC day;
        from hourly cubes alone added up per (dimension values, campaign, UTC day,
        goal, currency) first: the tariff and correction joins then see one row
        where 24 hours of cube rows were many. (A daily cube's rows are few enough
        per day that adding them up first costs more than it saves: measured.)"""
        measures = _union_measures(kind, verdicts)
        conds_here = [*conds, *([f"campaign_id = ANY({corrected}::text[])"] if only_corrected else [])]
        where_here = f"WHERE {' AND '.join(conds_here)}" if conds_here else ""
        cube_rows = f"""SELECT {dims}campaign_id AS _c, (hour AT TIME ZONE 'UTC')::date AS _day, goal_id, currency,
               {", ".join(measures)}
        FROM (
            {_union(cubes, sub_no, kind, verdicts, derived_days)}{extra}
        ) AS x ({_UNION_DIMS}, {", ".join(measures)})
        {where_here}"""
        if sub_no is not None or DAILY in cubes:
            return cube_rows
        key = f"{dsel}_c, _day, goal_id, currency"
        sums = ", ".join(f"sum({m}){'' if m in _NUMERIC else '::int'} AS {m}" for m in measures)
        return f"""SELECT {key}, {sums}
        FROM ({cube_rows}) AS c
        GROUP BY {key}"""

    carriers = f"""
            UNION ALL
            SELECT k.day::timestamp AT TIME ZONE 'UTC', k.campaign_id, '', coalesce(cm.partner_id, ''),
                   coalesce(cm.app_id, ''), '', 0::smallint, '', '', '', '', {"0, " * (len(TRAFFIC_UNION) - 1)}1
            FROM carriers k LEFT JOIN links.campaigns cm ON cm.account_id = $1 AND cm.campaign_id = k.campaign_id"""
    # Each statement uses only some of $1..$8: an unused CTE gives them their types.
    args = f"""args AS (
    SELECT $1::text, $2::timestamptz, $3::timestamptz, $4::text, $5::date, $6::date, $7::timestamptz, $8::timestamptz,
           {corrected}::text[], {derived_days}::date[]
),"""
    # The tariffs of each campaign in force in the range, from f until t_end.
    tp = """tp AS MATERIALIZED (
    SELECT * FROM (
        SELECT t.campaign_id, t.model, t.amount, t.currency, t.percent,
               coalesce(t.goal_id, nullif(cm.target_goal_id, '')) AS goal_id, t.effective_date AS f,
               coalesce(lead(t.effective_date) OVER (PARTITION BY t.campaign_id ORDER BY t.effective_date),
                        'infinity'::date) AS t_end
        FROM attribution.tariffs t
        LEFT JOIN links.campaigns cm ON cm.account_id = t.account_id AND cm.campaign_id = t.campaign_id
        WHERE t.account_id = $1 AND t.effective_date <= $6::date
    ) AS t WHERE t_end > $5::date
)"""
    # What cost is paid on: the main counts less their invalid part (invalid rows cost nothing).
    paid = verdicts.paid

    def payable(main: str, invalid: str) -> str:
        return main if paid == "main" else f"({main} - {invalid})"

    def tariff_join(models: str) -> str:
        on = "tp.campaign_id = v._c AND v._day >= tp.f AND v._day < tp.t_end"
        return f"LEFT JOIN tp ON {on} AND tp.model IN ({models})"

    # One record per row and statement; money and goals in arrays (a row has a few
    # currencies and goals): fewer, wider records are much cheaper to read.
    money_arrays = """array_agg(cost_cur) FILTER (WHERE cost_cur IS NOT NULL AND cost <> 0),
       array_agg(cost) FILTER (WHERE cost_cur IS NOT NULL AND cost <> 0)"""
    live_goal = "goal_id <> '' AND (convs <> 0 OR approved <> 0 OR revenue <> 0)"
    goal_arrays = ", ".join(
        f"array_agg({c}) FILTER (WHERE {live_goal})" for c in ("goal_id", "currency", "convs", "approved", "revenue")
    )
    outer_group = f"GROUP BY {dsel.rstrip(', ')}" if group_by else ""
    no_goals = "NULL::text[], NULL::text[], NULL::bigint[], NULL::bigint[], NULL::numeric[]"
    traffic_counts = ("clicks", "uniq", "imps", "sc", "ic", "si", "ii")
    if paid == "none":
        cpc_join, cpc_cur, cpc_cost = "", "NULL::text", "NULL::numeric"
    else:
        cpc_join = tariff_join("1, 2")
        cpc_cur = "tp.currency"
        cpc_cost = (f"sum(CASE tp.model WHEN 1 THEN {payable('v.clicks', 'v.ic')} * tp.amount"
                    f" WHEN 2 THEN {payable('v.imps', 'v.ii')} * tp.amount / 1000 END)")  # fmt: skip
    traffic = f"""
WITH {args}
{tp}
-- Traffic: counts, and CPC / CPM cost in the tariff's currency.
SELECT {dsel}{", ".join(f"sum({c})::bigint" for c in traffic_counts)}, {", ".join(["0::bigint"] * 7)},
       {no_goals},
       {money_arrays}
FROM (
    SELECT {vsel}{cpc_cur} AS cost_cur, {", ".join(f"sum(v.{c}) AS {c}" for c in traffic_counts)},
           {cpc_cost} AS cost
    FROM ({rows("traffic")}) v
    {cpc_join}
    GROUP BY {vsel}cost_cur
) z
{outer_group}
"""
    corrections = f"""
WITH {args}
corr_day AS MATERIALIZED (
    SELECT c.campaign_id, d::date AS day, c.currency, c.amount / (c.end_date - c.start_date + 1) AS share
    FROM attribution.corrections c
    CROSS JOIN LATERAL generate_series(greatest(c.start_date, $5::date), least(c.end_date, $6::date),
                                       interval '1 day') AS d
    WHERE c.account_id = $1 AND c.end_date >= $5::date AND c.start_date <= $6::date
),
day_clicks AS MATERIALIZED (
    SELECT campaign_id, day, sum(clicks) AS clicks
    FROM analytics.report_traffic_daily
    WHERE account_id = $1 AND day >= $5::date AND day <= $6::date
      AND campaign_id IN (SELECT campaign_id FROM corr_day)
    GROUP BY 1, 2
),
-- Each campaign-day's corrections per currency, and its (clean + suspicious) clicks.
corr_rate AS MATERIALIZED (
    SELECT cd.campaign_id, cd.day, cd.currency, sum(cd.share) AS share, coalesce(min(dc.clicks), 0) AS day_clicks
    FROM corr_day cd LEFT JOIN day_clicks dc ON dc.campaign_id = cd.campaign_id AND dc.day = cd.day
    GROUP BY 1, 2, 3
),
carriers AS (
    SELECT DISTINCT campaign_id, day FROM corr_rate
    WHERE day_clicks = 0
      AND (day::timestamp AT TIME ZONE 'UTC') >= $2 AND (day::timestamp AT TIME ZONE 'UTC') < $3
      AND NOT (day = ANY({derived_days}::date[]))
)
-- Corrections (per ``currency``): a campaign-day's share over its rows by their
-- payable clicks (a day without any goes with the clean ones). Only the corrected
-- campaign-days' rows join.
SELECT {dsel}{", ".join(["0::bigint"] * len(COUNT_COLUMNS))},
       {no_goals},
       {money_arrays}
FROM (
    SELECT {vsel}cr.currency AS cost_cur,
           sum(CASE WHEN cr.day_clicks > 0 THEN cr.share * {payable("v.clicks", "v.ic")} / cr.day_clicks
                    ELSE cr.share * v.carrier END) AS cost
    FROM ({rows("traffic", carriers if CLEAN in verdicts.main else "", only_corrected=True)}) v
    JOIN corr_rate cr ON cr.campaign_id = v._c AND cr.day = v._day
    GROUP BY {vsel}cr.currency
) z
{outer_group}
"""
    if paid == "none":
        corrections = ""  # nothing in the report carries cost
    outcome_counts = ("installs", "sn", "inn", "convs", "sv", "iv", "approved")
    if paid == "none":
        cpi_join, cpi_cur, cpi_cost = "", "NULL::text", "NULL::numeric"
    else:
        cpi_join = tariff_join("3, 4, 5")
        cpi_cur = "CASE WHEN tp.model = 5 THEN nullif(v.currency, '') ELSE tp.currency END"
        cpi_cost = f"""CASE tp.model WHEN 3 THEN {payable("v.installs", "v.inn")} * tp.amount
                   WHEN 4 THEN CASE WHEN v.goal_id = tp.goal_id THEN {payable("v.convs", "v.iv")} * tp.amount END
                   WHEN 5 THEN CASE WHEN v.currency <> '' THEN {payable("v.revenue", "v.irev")} * tp.percent / 100
                               END END"""  # fmt: skip
    outcomes = f"""
WITH {args}
{tp}
-- Outcomes: counts and revenue per goal and currency, and CPI / CPA / RevShare
-- cost (in the tariff's currency, RevShare's in the revenue's).
SELECT {dsel}{", ".join(["0::bigint"] * 7)}, {", ".join(f"sum({c})::bigint" for c in outcome_counts)},
       {goal_arrays},
       {money_arrays}
FROM (
    SELECT {dsel}goal_id, currency, cost_cur, {", ".join(f"sum({c}) AS {c}" for c in outcome_counts)},
           sum(revenue) AS revenue, sum(cost) AS cost
    FROM (
        SELECT {vsel}v.goal_id, v.currency, {", ".join(f"v.{c}" for c in outcome_counts)}, v.revenue,
               {cpi_cur} AS cost_cur,
               {cpi_cost} AS cost
        FROM ({rows("outcomes")}) v
        {cpi_join}
    ) y
    GROUP BY {dsel}goal_id, currency, cost_cur
) z
{outer_group}
"""
    return traffic, corrections, outcomes, params


def reasons_sql(
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    verdicts: Verdicts,
) -> tuple[str, list[Any]] | None:
    """The statement of a report's reasons (d0..dn, kind, reason bit, count) from
    the reasons cubes, hourly outside the whole UTC days [$5, $6) and daily in
    them ($1 account, $2 start, $3 end, $4 zone), and its parameters after $6
    (the verdicts, the filters' values); None for a report it cannot serve (a
    dimension or filter besides campaign, partner, app, day and hour)."""
    if not set(group_by) <= REASON_DIMS or not set(filters) <= REASON_DIMS - {"day", "hour"}:
        return None
    params: list[Any] = [sorted(verdicts.reasons)]
    conds = []
    for key, values in filters.items():
        params.append(list(values))
        conds.append(f" AND {_DIM_SQL[key]} = ANY(${6 + len(params)}::text[])")
    dims = "".join(f"{_DIM_SQL[d]} AS d{i}, " for i, d in enumerate(group_by))
    dsel = "".join(f"d{i}, " for i in range(len(group_by)))
    sql = f"""
WITH args AS (SELECT $1::text, $2::timestamptz, $3::timestamptz, $4::text, $5::timestamptz, $6::timestamptz)
SELECT {dims}kind, reason, sum(n)::bigint
FROM (
    SELECT hour, campaign_id, partner_id, app_id, kind, verdict, reason, n FROM analytics.report_reasons
    WHERE account_id = $1 AND hour >= $2 AND hour < $3 AND (hour < $5 OR hour >= $6)
    UNION ALL
    SELECT day::timestamp AT TIME ZONE 'UTC', campaign_id, partner_id, app_id, kind, verdict, reason, n
    FROM analytics.report_reasons_daily
    WHERE account_id = $1 AND day >= ($5 AT TIME ZONE 'UTC')::date AND day < ($6 AT TIME ZONE 'UTC')::date
) AS x (hour, campaign_id, partner_id, app_id, kind, verdict, reason, n)
WHERE verdict = ANY($7::smallint[]){"".join(conds)}
GROUP BY {dsel}kind, reason
HAVING sum(n) <> 0
"""
    return sql, params


BREAKPOINTS_SQL = """
SELECT breakpoint_id, effective_time, conversion_window_s, click_lookback_s, view_lookback_s, changed
FROM attribution.settings_history
WHERE account_id = $1 AND effective_time >= $2 AND effective_time < $3
ORDER BY effective_time, breakpoint_id
"""


def _floor_hour(t: dt.datetime) -> dt.datetime:
    return t.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def _ceil_hour(t: dt.datetime) -> dt.datetime:
    f = _floor_hour(t)
    return f if f == t else f + HOUR


def _dim_text(dim: str, value: Any) -> str:
    """A dimension value as the report shows it."""
    if value is None:
        return ""
    if dim == "device_type":
        return DEVICE_TYPES.get(int(value), "")
    if dim == "hour":
        return value.strftime("%Y-%m-%dT%H:00")  # type: ignore[no-any-return]
    if dim == "day":
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value)


@contextlib.asynccontextmanager
async def _connection(db: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            yield conn
    else:
        yield db


# plan_cache_mode: a statement is prepared once and run with other parameters,
# and a generic plan cannot tell which cube parts the parameters leave empty.
# work_mem and enable_sort: hash aggregates over the cube rows (the row estimates
# are poor). jit: compiling costs ~100 ms, more than it saves on a few hundred
# thousand rows.
_REPORT_SETTINGS = (
    "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '64MB';"
    " SET LOCAL enable_sort = off; SET LOCAL jit = off"
)
# How long a report waits for a second connection before it runs its two
# statements one after the other on one.
SECOND_CONNECTION_WAIT_S = 0.02
RELEASE_TIMEOUT_S = 5.0


# ----------------------------------------------------------------------------- sub-id rows without the campaign


def cost_fingerprint(account: str) -> str:
    """An SQL expression: the md5 of what the cost of ``account`` (an SQL
    expression) depends on besides the cubes: its tariffs, its campaigns' target
    goals (CPA) and its corrections."""
    return f"""md5(
    coalesce((SELECT string_agg(concat_ws('|', t.tariff_id, t.campaign_id, t.model, t.amount, t.currency, t.percent,
                                          t.goal_id, t.effective_date, cm.target_goal_id), ',' ORDER BY t.tariff_id)
              FROM attribution.tariffs t
              LEFT JOIN links.campaigns cm ON cm.account_id = t.account_id AND cm.campaign_id = t.campaign_id
              WHERE t.account_id = {account}), '')
    || '/' ||
    coalesce((SELECT string_agg(concat_ws('|', c.correction_id, c.campaign_id, c.amount, c.currency, c.start_date,
                                          c.end_date), ',' ORDER BY c.correction_id)
              FROM attribution.corrections c WHERE c.account_id = {account}), ''))"""


# The days in [$2, $3] whose report_subs_derived rows are current for account $1.
DERIVED_DAYS_SQL = f"""
SELECT coalesce(array_agg(d.day), '{{}}') FROM analytics.report_subs_derived_days d
JOIN analytics.report_day_versions v ON v.account_id = d.account_id AND v.day = d.day
WHERE d.account_id = $1 AND d.day >= $2 AND d.day <= $3 AND d.version = v.version
  AND d.fingerprint = (SELECT {cost_fingerprint("$1")})
"""


# report_subs_derived's goal arrays (one entry per goal and revenue currency).
GOAL_ARRAYS = ("g_ids", "g_curs", "g_convs", "g_approved", "g_revenue")


def derived_sql(group_by: Sequence[str], filters: Mapping[str, Sequence[str]]) -> tuple[str, list[Any]] | None:
    """The statement reading a sub-id report's rows from report_subs_derived
    ($1 account, $2 sub number, $3 days, $4 the sub-id filter's values if any),
    in the shape of report_sql's statements, and its arguments after $1 and $3
    (the sub number, the filter's values); None for a report it cannot serve
    (any dimension or filter besides day and the one sub-id; the rows are
    built without a verdicts filter, so callers do not ask with one)."""
    subs = [d for d in [*group_by, *filters] if d in SUB_DIMS]
    if not subs or any(d not in ("day", subs[0]) for d in group_by) or any(d != subs[0] for d in filters):
        return None
    dims = "".join(f"{'day' if d == 'day' else 'sub_value'}, " for d in group_by)
    where = "account_id = $1 AND sub_no = $2 AND day = ANY($3::date[])"
    if filters:
        where += " AND sub_value = ANY($4::text[])"
    sql = f"""SELECT {dims}{", ".join(COUNT_COLUMNS)}, {", ".join(GOAL_ARRAYS)}, c_curs, costs
FROM analytics.report_subs_derived WHERE {where}"""
    return sql, [int(subs[0][3:]), *([filters[subs[0]]] if filters else [])]


# The campaigns with corrections in [$2, $3] (dates).
CORRECTED_CAMPAIGNS_SQL = """
SELECT coalesce(array_agg(DISTINCT campaign_id), '{}') FROM attribution.corrections
WHERE account_id = $1 AND end_date >= $2 AND start_date <= $3
"""


Statement = tuple[str, list[Any]]


async def _run_split(
    db: asyncpg.Pool | asyncpg.Connection,
    conn: asyncpg.Connection,
    first: list[Statement],
    second: list[Statement],
) -> list[list[asyncpg.Record]]:
    """The records of each statement (with its arguments) of ``first`` (on
    ``conn``, in its transaction) and ``second``: on a second connection of the
    pool ``db`` at once, in the same snapshot, if one is free; else after
    ``first`` on ``conn``."""

    async def run(c: asyncpg.Connection, statements: list[Statement]) -> list[list[asyncpg.Record]]:
        return [await c.fetch(sql, *args) for sql, args in statements]

    other: asyncpg.Connection | None = None
    if isinstance(db, asyncpg.Pool) and first and second:
        with contextlib.suppress(asyncio.TimeoutError):
            other = await db.acquire(timeout=SECOND_CONNECTION_WAIT_S)
    if other is None:
        return await run(conn, [*first, *second])
    try:
        snapshot = await conn.fetchval("SELECT pg_export_snapshot()")
        begin = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"
        await other.execute(f"{begin}; SET TRANSACTION SNAPSHOT '{snapshot}'; {_REPORT_SETTINGS}")
        # Both run to their end before either's error is raised: a connection
        # goes back to the pool only when it is idle.
        got = await asyncio.gather(run(conn, first), run(other, second), return_exceptions=True)
        for result in got:
            if isinstance(result, BaseException):
                raise result
        return [*got[0], *got[1]]  # type: ignore[misc]
    finally:
        try:
            if other.is_in_transaction():
                await other.execute("ROLLBACK")
        except (asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            other.terminate()  # the pool replaces it
        # (Without a timeout the release would inherit the acquire's 20 ms.)
        await db.release(other, timeout=RELEASE_TIMEOUT_S)  # type: ignore[union-attr]


async def _fetch_report(
    db: asyncpg.Pool | asyncpg.Connection,
    traffic: str,
    corrections: str,
    outcomes: str,
    args: list[Any],
    derived: tuple[str, list[Any]] | None = None,
    reasons: Statement | None = None,
) -> tuple[list[asyncpg.Record], list[asyncpg.Record], list[asyncpg.Record]]:
    """The report's records, its reasons' records and its breakpoints, read in one
    snapshot. ``derived`` (a sub-id report's derived_sql and its arguments after
    the account): the days whose report_subs_derived rows are current come from
    there, the rest from the cubes. ``reasons``: reasons_sql with all its
    arguments. From a pool with a connection to spare, traffic (then
    corrections, if any) and outcomes (then reasons) run at once on two
    connections sharing an exported snapshot (each statement is one backend's
    work: on several cores the report takes as long as the longer side)."""
    account_id, start, end, first_day, last_day = args[0], args[1], args[2], args[4], args[5]
    async with contextlib.AsyncExitStack() as stack:
        conn = await stack.enter_async_context(_connection(db))
        # A caller's connection may be in its own transaction already (a savepoint then).
        mode: dict[str, Any] = {} if conn.is_in_transaction() else {"isolation": "repeatable_read", "readonly": True}
        await stack.enter_async_context(conn.transaction(**mode))
        await conn.execute(_REPORT_SETTINGS)
        records: list[asyncpg.Record] = []
        days: list[dt.date] = []
        if derived is not None:
            days = await conn.fetchval(DERIVED_DAYS_SQL, account_id, first_day, last_day)
            if days:
                records = await conn.fetch(derived[0], account_id, derived[1][0], days, *derived[1][1:])
        corrected = await conn.fetchval(CORRECTED_CAMPAIGNS_SQL, account_id, first_day, last_day) if corrections else []
        args = [*args, corrected, days]
        first: list[Statement] = [(traffic, args), *([(corrections, args)] if corrected else [])]
        second: list[Statement] = [(outcomes, args)]
        if len(days) > (last_day - first_day).days:  # every day from report_subs_derived
            first, second = [], []
        if reasons is not None:
            second.append(reasons)
        got = await _run_split(db, conn, first, second)
        if reasons is not None:
            *got, reason_records = got
        else:
            reason_records = []
        records += [rec for part in got for rec in part]
        bps = await conn.fetch(BREAKPOINTS_SQL, account_id, start, end)
    return records, reason_records, bps


def plan(
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    start: dt.datetime,
    end: dt.datetime,
    tz: zoneinfo.ZoneInfo,
) -> tuple[dt.datetime, dt.datetime, list[Cube]]:
    """Which cubes answer a report: the smallest that hold its dimensions. The
    daily cubes serve the whole UTC days [days_from, days_to) unless rows are by
    hour, by link, or by days of a zone that is not UTC; hourly cubes the rest."""
    used = {*group_by, *filters}
    if used & set(SUB_DIMS):
        return start, end, [SUBS]
    if not used & {"country", "device_type", "os"}:
        return start, start, [LINKS]
    days_from, days_to = _day_ceil(start), _day_floor(end)
    by_hour = "hour" in used or "link" in used or ("day" in used and not offsets_multiple(tz, start, end, 86400))
    if by_hour or days_to <= days_from:
        return start, start, [FULL]
    return days_from, days_to, [FULL, DAILY]


def _add_up(
    records: Sequence[asyncpg.Record],
    reason_records: Sequence[asyncpg.Record],
    group_by: Sequence[str],
    verdicts: Verdicts,
) -> tuple[dict[tuple[Any, ...], ReportRow], ReportRow]:
    """The report's rows (by their dimension values) and totals from the
    statements' records (d0..d(n-1), COUNT_COLUMNS, goal ids, goal currencies,
    goal conversions, goal approved, goal revenue, cost currencies, costs; the
    arrays NULL or of one length each) and the reasons' (d0..d(n-1), kind,
    reason bit, count). A hot loop: a report may have 30,000 records."""
    rows: dict[tuple[Any, ...], ReportRow] = {}
    n = len(group_by)
    zero = decimal.Decimal(0)
    get = rows.get
    invalid_in_main = INVALID in verdicts.main
    for rec in records:
        key = rec[:n]
        row = get(key)
        if row is None:
            row = rows[key] = ReportRow(
                {d: _dim_text(d, v) for d, v in zip(group_by, key, strict=True)}, invalid_in_main=invalid_in_main
            )
        (clicks, uniq, imps, s_clicks, i_clicks, s_imps, i_imps, installs, s_installs, i_installs, convs, s_convs,
         i_convs, approved, g_ids, g_curs, g_convs, g_approved, g_revenue, c_curs, costs) = rec[n:]  # fmt: skip
        if clicks or imps or i_clicks or i_imps:
            row.clicks += clicks
            row.unique_clicks += uniq
            row.impressions += imps
            if s_clicks or i_clicks or s_imps or i_imps:
                row.suspicious_clicks += s_clicks
                row.invalid_clicks += i_clicks
                row.suspicious_impressions += s_imps
                row.invalid_impressions += i_imps
        if installs or i_installs:
            row.installs += installs
            row.suspicious_installs += s_installs
            row.invalid_installs += i_installs
        if convs or approved or i_convs:
            row.conversions += convs
            row.suspicious_conversions += s_convs
            row.invalid_conversions += i_convs
            row.approved += approved
        money = row.money
        if g_ids:
            goals = row.goals
            for goal_id, cur, g_conv, g_appr, revenue in zip(
                g_ids, g_curs, g_convs, g_approved, g_revenue, strict=True
            ):
                goal = goals.get(goal_id)
                if goal is None:
                    goal = goals[goal_id] = GoalFigures(goal_id)
                goal.conversions += g_conv
                goal.approved += g_appr
                if cur and revenue:
                    goal.revenue[cur] = goal.revenue.get(cur, zero) + revenue
                    m = money.get(cur)
                    if m is None:
                        m = money[cur] = Money(cur)
                    m.revenue += revenue
        if c_curs:
            for cur, cost in zip(c_curs, costs, strict=True):
                m = money.get(cur)
                if m is None:
                    m = money[cur] = Money(cur)
                m.cost += cost
    for rec in reason_records:
        row = get(rec[:n])
        if row is not None:
            kind, bit, count = rec[n:]
            row.reasons[(bit, kind)] = row.reasons.get((bit, kind), 0) + count
    totals = ReportRow({}, invalid_in_main=invalid_in_main)
    for row in rows.values():
        row.drop_zero_money()
        totals.add(row)
    totals.drop_zero_money()
    return rows, totals


def check_verdicts(v: Validator, field: str, verdicts: Sequence[int]) -> None:
    """A verdicts filter names clean, suspicious or invalid (each any number of times)."""
    for i, x in enumerate(verdicts):
        if x not in ALL_VERDICTS:
            v.add(f"{field}[{i}]", "is not a verdict: VERDICT_CLEAN, VERDICT_SUSPICIOUS or VERDICT_INVALID")


def _reason_days(
    group_by: Sequence[str], start: dt.datetime, end: dt.datetime, tz: zoneinfo.ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """The whole UTC days [from, to) a report reads from report_reasons_daily:
    none when it is by hour or by the days of a zone that is not UTC."""
    days_from, days_to = _day_ceil(start), _day_floor(end)
    if "hour" in group_by or ("day" in group_by and not offsets_multiple(tz, start, end, 86400)):
        return start, start
    return (days_from, days_to) if days_to > days_from else (start, start)


async def campaign_report(
    db: asyncpg.Pool | asyncpg.Connection,
    account_id: str,
    start: dt.datetime,
    end: dt.datetime,
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]] | None = None,
    *,
    time_zone: str = "UTC",
    verdicts: Collection[int] | None = None,
) -> Report:
    """The campaign report of one account over [start, end), read from the rollups.

    ``start`` / ``end`` are aware datetimes; the report covers the whole UTC
    hours that overlap them (start floored, end ceiled to the hour). For "the
    last 24 h" pass ``now - 24h, now``. ``group_by``: any of DIMENSIONS (empty:
    one row for everything); ``filters``: dimension -> accepted values (any of
    FILTERABLE; device_type by name: desktop, mobile, tablet, bot, other; a
    sub-id's "" is "no value"). At most one sub-id per report, and then only
    beside campaign / partner / app / day, over whole UTC days (start floored
    and end ceiled to UTC midnight) and with time_zone UTC. ``time_zone`` (IANA)
    shapes the day / hour dimension values; its offset must be whole hours.
    ``verdicts`` (libs.quality values): only the rows with these verdicts, all
    of them in the main counts (see reports.proto); None or empty: clean +
    suspicious in the main counts, the invalid ones beside.

    Returns a Report: ``rows`` (every row, ordered by the dimension values;
    rows with nothing in them left out), ``totals`` (their sum) and the
    attribution-settings ``breakpoints`` in the range. Counts are ints; money is
    Decimal per currency in ``row.money[currency]`` (revenue, cost, profit,
    roi); ``row.cr`` is conversions per click; the verdict parts, invalid_rate
    and top_reasons() beside. See the module docstring for the definitions.

    Raises InvalidArgument (fields start, end, time_zone, group_by, filters.<dim>,
    verdicts[i]) and ResourceExhausted (more than MAX_ROWS rows: group more
    coarsely).
    """
    filters = {k: list(v) for k, v in (filters or {}).items()}
    group_by = list(group_by)
    v = Validator()
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidArgument("start", "start and end must carry a time zone")
    start, end = _floor_hour(start), _ceil_hour(end)
    by_sub = any(d in SUB_DIMS for d in [*group_by, *filters])
    if by_sub:
        start, end = _day_floor(start), _day_ceil(end)
    tz = zone(v, "time_zone", time_zone)
    check_request(v, start, end, tz, group_by, filters)
    check_verdicts(v, "verdicts", list(verdicts or ()))
    v.raise_if_any()
    assert tz is not None
    counted = Verdicts.of(verdicts)
    # The whole UTC days come from the daily rollups, unless rows are by hour or
    # by days of a zone that is not UTC.
    days_from, days_to, cubes = plan(group_by, filters, start, end, tz)
    traffic, corrections, outcomes, params = report_sql(group_by, filters, cubes, counted)
    first_day = start.date()
    last_day = (end - dt.timedelta(microseconds=1)).date()
    args = [account_id, start, end, tz.key, first_day, last_day, days_from, days_to, *params]
    # Built sub-id rows are of the unfiltered report only.
    derived = None if counted.filtered else derived_sql(group_by, filters)
    reasons: Statement | None = None
    by_reasons = reasons_sql(group_by, filters, counted)
    if by_reasons is not None:
        r_from, r_to = _reason_days(group_by, start, end, tz)
        reasons = (by_reasons[0], [account_id, start, end, tz.key, r_from, r_to, *by_reasons[1]])
    records, reason_records, bps = await _fetch_report(db, traffic, corrections, outcomes, args, derived, reasons)
    rows, totals = _add_up(records, reason_records, group_by, counted)
    out = []
    for key in sorted(rows):
        row = rows[key]
        if len(row.goals) > 1:
            row.goals = dict(sorted(row.goals.items()))
        if len(row.money) > 1:
            row.money = dict(sorted(row.money.items()))
        if not row.is_empty():
            out.append(row)
    if len(out) > MAX_ROWS:
        raise ResourceExhausted(f"the report has {len(out)} rows; at most {MAX_ROWS}: group by fewer dimensions")
    totals.money = {c: m for c, m in sorted(totals.money.items()) if m.revenue or m.cost}
    totals.goals = dict(sorted(totals.goals.items()))
    breakpoints = [
        Breakpoint(
            b["breakpoint_id"],
            b["effective_time"],
            dt.timedelta(seconds=b["conversion_window_s"]),
            dt.timedelta(seconds=b["click_lookback_s"]),
            dt.timedelta(seconds=b["view_lookback_s"]),
            tuple(b["changed"]),
        )
        for b in bps
    ]
    return Report(start, end, tz.key, group_by, out, totals, breakpoints)


def round_money(amount: decimal.Decimal) -> decimal.Decimal:
    return amount.quantize(MONEY_PLACES, rounding=decimal.ROUND_HALF_EVEN)
