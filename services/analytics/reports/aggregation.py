"""A report's post-processing: the statements' records added up into rows and
totals, dimension values as the report shows them, and the finished Report
(rows ordered, empty ones dropped, the row limit). Pure: records in, Report out."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from typing import Any

from libs.errors import ResourceExhausted
from services.analytics.codes import INVALID
from services.analytics.reports.model import Breakpoint, GoalFigures, Money, Report, ReportRow, Verdicts
from services.analytics.reports.request import DEVICE_TYPES, MAX_ROWS

# A record: an asyncpg.Record, or a tuple in unit tests (a slice of either is a tuple).
Record = Any


def dim_text(dim: str, value: Any) -> str:
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


def add_app(
    rows: dict[tuple[Any, ...], ReportRow],
    app_records: Sequence[Record],
    group_by: Sequence[str],
    invalid_in_main: bool,
) -> None:
    """Adds app_sql's records (d0..d(n-1), skan_installs, skan_conversions,
    re_engagements, re_attributions, SKAN revenue currencies, amounts) to
    ``rows``; a row only they have (a day of SKAN postbacks alone) is made."""
    n = len(group_by)
    for rec in app_records:
        key = rec[:n]
        row = rows.get(key)
        if row is None:
            row = rows[key] = ReportRow(
                {d: dim_text(d, v) for d, v in zip(group_by, key, strict=True)}, invalid_in_main=invalid_in_main
            )
        skan_installs, skan_conversions, re_engagements, re_attributions, curs, amounts = rec[n:]
        row.skan_installs += skan_installs
        row.skan_conversions += skan_conversions
        row.re_engagements += re_engagements
        row.re_attributions += re_attributions
        for cur, amount in zip(curs or (), amounts or (), strict=True):
            row.skan_revenue[cur] = row.skan_revenue.get(cur, decimal.Decimal(0)) + amount


def add_up(
    records: Sequence[Record],
    reason_records: Sequence[Record],
    group_by: Sequence[str],
    verdicts: Verdicts,
    app_records: Sequence[Record] = (),
) -> tuple[dict[tuple[Any, ...], ReportRow], ReportRow]:
    """The report's rows (by their dimension values) and totals from the
    statements' records (d0..d(n-1), COUNT_COLUMNS (lander views and clicks last), goal ids, goal currencies,
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
                {d: dim_text(d, v) for d, v in zip(group_by, key, strict=True)}, invalid_in_main=invalid_in_main
            )
        (clicks, uniq, imps, s_clicks, i_clicks, s_imps, i_imps, installs, s_installs, i_installs, convs, s_convs,
         i_convs, approved, lander_views, lander_clicks, g_ids, g_curs, g_convs, g_approved, g_revenue, c_curs,
         costs) = rec[n:]  # fmt: skip
        if clicks or imps or i_clicks or i_imps:
            row.clicks += clicks
            row.unique_clicks += uniq
            row.impressions += imps
            if s_clicks or i_clicks or s_imps or i_imps:
                row.suspicious_clicks += s_clicks
                row.invalid_clicks += i_clicks
                row.suspicious_impressions += s_imps
                row.invalid_impressions += i_imps
        if lander_views or lander_clicks:
            row.lander_views += lander_views
            row.lander_clicks += lander_clicks
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
    add_app(rows, app_records, group_by, invalid_in_main)
    totals = ReportRow({}, invalid_in_main=invalid_in_main)
    for row in rows.values():
        row.drop_zero_money()
        totals.add(row)
    totals.drop_zero_money()
    return rows, totals


def finish(
    start: dt.datetime,
    end: dt.datetime,
    time_zone: str,
    group_by: list[str],
    rows: dict[tuple[Any, ...], ReportRow],
    totals: ReportRow,
    breakpoints: Sequence[Mapping[str, Any]],
) -> Report:
    """The Report: rows ordered by their dimension values (goals and currencies
    by name), empty rows left out; raises ResourceExhausted past MAX_ROWS rows."""
    out = []
    for key in sorted(rows):
        row = rows[key]
        if len(row.goals) > 1:
            row.goals = dict(sorted(row.goals.items()))
        if len(row.money) > 1:
            row.money = dict(sorted(row.money.items()))
        if row.skan_revenue:
            row.skan_revenue = {c: a for c, a in sorted(row.skan_revenue.items()) if a}
        if not row.is_empty():
            out.append(row)
    if len(out) > MAX_ROWS:
        raise ResourceExhausted(f"the report has {len(out)} rows; at most {MAX_ROWS}: group by fewer dimensions")
    totals.money = {c: m for c, m in sorted(totals.money.items()) if m.revenue or m.cost}
    totals.goals = dict(sorted(totals.goals.items()))
    totals.skan_revenue = {c: a for c, a in sorted(totals.skan_revenue.items()) if a}
    bps = [
        Breakpoint(
            b["breakpoint_id"],
            b["effective_time"],
            dt.timedelta(seconds=b["conversion_window_s"]),
            dt.timedelta(seconds=b["click_lookback_s"]),
            dt.timedelta(seconds=b["view_lookback_s"]),
            tuple(b["changed"]),
        )
        for b in breakpoints
    ]
    return Report(start, end, time_zone, group_by, out, totals, bps)
