"""Sub-id report rows without the campaign (report_subs_derived): what makes a
built day current (the day's fold version and the account's cost fingerprint)
and the statement reading built rows in the shape of the report statements'."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.analytics.reports.request import sub_of
from services.analytics.reports.sql import COUNT_COLUMNS


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
    ($1 account, $2 sub number, $3 days, $4 the sub-id filter's values or NULL),
    in the shape of report_sql's statements, and its arguments after $1 and $3
    (the sub number, the filter's values); None for a report it cannot serve
    (any dimension or filter besides day and the one sub-id; the rows are
    built without a verdicts filter, so callers do not ask with one)."""
    sub = sub_of(group_by, filters)
    if not sub or any(d not in ("day", sub) for d in group_by) or any(d != sub for d in filters):
        return None
    dims = "".join(f"{'day' if d == 'day' else 'sub_value'}, " for d in group_by)
    where = (
        "account_id = $1 AND sub_no = $2 AND day = ANY($3::date[])"
        " AND ($4::text[] IS NULL OR sub_value = ANY($4::text[]))"
    )
    sql = f"""SELECT {dims}{", ".join(COUNT_COLUMNS)}, {", ".join(GOAL_ARRAYS)}, c_curs, costs
FROM analytics.report_subs_derived WHERE {where}"""
    return sql, [int(sub[3:]), list(filters[sub]) if filters else None]
