"""Where a run's groups come from: the campaign report (read from the rollups,
in-process), by campaign or by campaign and one sub field."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Sequence

import asyncpg

from services.analytics import reports
from services.analytics.rules.domain import Evaluation, Group, row_metrics

# (pool, account_id, start, end, sub_id_field or "", campaign_ids or (), currency) -> the groups
MetricsSource = Callable[[asyncpg.Pool, str, dt.datetime, dt.datetime, str, Sequence[str], str], Awaitable[Evaluation]]


async def report_groups(
    pool: asyncpg.Pool,
    account_id: str,
    start: dt.datetime,
    end: dt.datetime,
    sub_id_field: str,
    campaign_ids: Sequence[str],
    currency: str,
) -> Evaluation:
    """The rule's groups from the campaign report (reports.campaign_report, read
    from the rollups): by campaign, or by campaign and one sub field. The report
    covers the whole UTC hours overlapping [start, end)."""
    group_by = ["campaign", sub_id_field] if sub_id_field else ["campaign"]
    filters = {"campaign": list(campaign_ids)} if campaign_ids else {}
    report = await reports.campaign_report(pool, account_id, start, end, group_by, filters)
    groups = [
        Group(row.dims["campaign"], row.dims.get(sub_id_field, "") if sub_id_field else "", row_metrics(row, currency))
        for row in report.rows
    ]
    return Evaluation(report.start, report.end, groups)
