"""What a campaign report is: its rows and totals (counts, verdict parts,
money per currency, goals, reasons), the attribution-settings breakpoints
beside it, and which verdicts it counts. Pure: no SQL, no I/O."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
from collections.abc import Collection

from libs import quality
from libs.vocab import metrics as vocab_metrics
from services.analytics.codes import CLEAN, INVALID, SUSPICIOUS

# The counts split by verdict (ReportRow attributes, and order_by names); every metric.
VERDICT_COUNTS = vocab_metrics.VERDICT_COUNTS
# The affiliate flow's metrics: clicks sent to a lander, click-throughs from it,
# and their ratio (ReportRow attributes, and order_by names).
FLOW_METRICS = vocab_metrics.LANDER_METRICS
# SKAN and re-engagement metrics (ReportRow attributes, and order_by names;
# skan_revenue by the report's first currency).
APP_METRICS = vocab_metrics.APP_METRICS
METRICS = (*vocab_metrics.REPORT_METRICS, *FLOW_METRICS, *APP_METRICS)
ALL_VERDICTS = frozenset({CLEAN, SUSPICIOUS, INVALID})
# What the main columns count without a verdicts filter.
COUNTED = frozenset({CLEAN, SUSPICIOUS})
TOP_REASONS = 5
MONEY_PLACES = decimal.Decimal("0.000001")


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
    # Clicks the flow sent to a lander, and lander click-throughs (by their own
    # time), of the verdicts the main counts count.
    lander_views: int = 0
    lander_clicks: int = 0
    # SKAN / AdAttributionKit postbacks (by receive time) and their estimated
    # revenue per currency; re-engagements and re-attributions (by event time).
    # No verdict: they count as clean.
    skan_installs: int = 0
    skan_conversions: int = 0
    skan_revenue: dict[str, decimal.Decimal] = dataclasses.field(default_factory=dict)
    re_engagements: int = 0
    re_attributions: int = 0
    # Whether the main counts include the invalid part (a verdicts filter with
    # invalid); else it is beside them.
    invalid_in_main: bool = False
    # (reason bit, RecordKind) -> count.
    reasons: dict[tuple[int, int], int] = dataclasses.field(default_factory=dict)

    @property
    def cr(self) -> float:
        """Conversions per click, a fraction (0.05 is 5 %); 0 without clicks."""
        return self.conversions / self.clicks if self.clicks else 0.0

    @property
    def lander_ctr(self) -> float:
        """Lander clicks per lander view, a fraction (0.25 is 25 %); 0 without views."""
        return self.lander_clicks / self.lander_views if self.lander_views else 0.0

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
        self.lander_views += other.lander_views
        self.lander_clicks += other.lander_clicks
        self.skan_installs += other.skan_installs
        self.skan_conversions += other.skan_conversions
        self.re_engagements += other.re_engagements
        self.re_attributions += other.re_attributions
        for cur, amount in other.skan_revenue.items():
            self.skan_revenue[cur] = self.skan_revenue.get(cur, decimal.Decimal(0)) + amount
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
            self.clicks or self.impressions or self.installs or self.conversions or self.lander_clicks
            or self.invalid_clicks or self.invalid_impressions or self.invalid_installs or self.invalid_conversions
            or self.skan_installs or self.skan_conversions or self.re_engagements or self.re_attributions
            or any(self.skan_revenue.values()) or any(m.revenue or m.cost for m in self.money.values())
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


def round_money(amount: decimal.Decimal) -> decimal.Decimal:
    return amount.quantize(MONEY_PLACES, rounding=decimal.ROUND_HALF_EVEN)
