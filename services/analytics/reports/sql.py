"""The report statements over the rollups (traffic, corrections, outcomes; the
reasons), composed from fixed snippets: the dimensions' and measures' SQL come
from the tables below, never from request text; filters are bound parameters
in fixed slots (``($n IS NULL OR col = ANY($n))``), and so are the enum
numbers they compare with (CODE_ARGS, from services.analytics.codes)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from services.analytics.codes import (
    CLEAN,
    TARIFF_CPA,
    TARIFF_CPC,
    TARIFF_CPI,
    TARIFF_CPM,
    TARIFF_REVSHARE,
)
from services.analytics.reports.cube_sql import NUMERIC, TRAFFIC_UNION, UNION_DIMS, union, union_measures
from services.analytics.reports.model import Verdicts
from services.analytics.reports.plan import DAILY, UNION_COLS, Cube
from services.analytics.reports.request import DEVICE_TYPE_CODES, REASON_DIMS, SUB_DIMS, sub_of

# Dimension -> its SQL expression over the unioned rollup rows (``$4`` is the time zone).
DIM_SQL = {
    "campaign": "campaign_id",
    "link": "link_id",
    "partner": "partner_id",
    "app": "app_id",
    "country": "country",
    "device_type": "device_type",
    "os": "os",
    "stream": "stream_id",
    "lander": "lander_id",
    "offer": "offer_id",
    "apple_ads_org": "apple_org_id",
    "apple_ads_campaign": "apple_campaign_id",
    "apple_ads_ad_group": "apple_ad_group_id",
    "apple_ads_keyword": "apple_keyword_id",
    "day": "(hour AT TIME ZONE $4::text)::date",
    "hour": "date_trunc('hour', hour AT TIME ZONE $4::text)",
    **{s: "sub" for s in SUB_DIMS},
}
# The report statements' filter slots: $11.. in this order (NULL: no filter), after
# $1..$8 (account, start, end, zone, first and last UTC day, the whole UTC days
# [$7, $8) read from the daily cubes), $9 the corrected campaigns and $10 the days
# a sub-id report reads from report_subs_derived.
FILTER_SLOTS = (
    "campaign", "link", "partner", "app", "country", "device_type", "os", "sub", "stream", "lander", "offer",
    "apple_ads_org", "apple_ads_campaign", "apple_ads_ad_group", "apple_ads_keyword",
)  # fmt: skip
FIRST_FILTER = 11
# Then the tariff models ($26 CPC, $27 CPM, $28 CPI, $29 CPA, $30 RevShare).
CODE_ARGS = [TARIFF_CPC, TARIFF_CPM, TARIFF_CPI, TARIFF_CPA, TARIFF_REVSHARE]
CPC, CPM, CPI, CPA, REVSHARE = (f"${FIRST_FILTER + len(FILTER_SLOTS) + i}" for i in range(len(CODE_ARGS)))
# The reasons statement's: $8.. after $7 (the verdicts).
REASON_FILTER_SLOTS = ("campaign", "partner", "app")
FIRST_REASON_FILTER = 8


def filter_args(filters: Mapping[str, Sequence[str]], slots: Sequence[str] = FILTER_SLOTS) -> list[Any]:
    """The filter slots' arguments: each filter's values (device types as codes),
    None for a dimension not filtered on."""
    out: list[Any] = [None] * len(slots)
    for key, values in filters.items():
        slot = "sub" if key in SUB_DIMS else key
        out[slots.index(slot)] = [DEVICE_TYPE_CODES[x] for x in values] if key == "device_type" else list(values)
    return out


def _filter_conds(slots: Sequence[str], first: int) -> list[str]:
    out = []
    for i, slot in enumerate(slots):
        n, cast = f"${first + i}", "smallint[]" if slot == "device_type" else "text[]"
        out.append(f"({n}::{cast} IS NULL OR {DIM_SQL.get(slot, slot)} = ANY({n}::{cast}))")
    return out


filter_conds = _filter_conds


# The counts of a statement's records, after the dimensions: then come the goal
# arrays (GOAL_ARRAYS), the cost currencies and the costs.
COUNT_COLUMNS = (
    "clicks", "uniq", "imps", "s_clicks", "i_clicks", "s_imps", "i_imps", "installs", "s_installs", "i_installs",
    "convs", "s_convs", "i_convs", "approved", "lander_views", "lander_clicks",
)  # fmt: skip


# A carrier row's union columns after campaign, link, partner, app: none (device type 0).
_CARRIER_REST = ", ".join("0::smallint" if c == "device_type" else "''" for c in UNION_COLS[4:])


def report_sql(
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    cubes: Sequence[Cube],
    verdicts: Verdicts = Verdicts(),
) -> tuple[str, str, str]:
    """The report's statements over ``cubes`` (traffic, corrections, outcomes),
    taking $1..$8 (account, start, end, zone, first and last UTC day of the
    range, and the whole UTC days [$7, $8) read from the daily cubes), $9 the
    ids of the campaigns with corrections in the range (CORRECTED_CAMPAIGNS_SQL),
    $10 the days a sub-id report reads from report_subs_derived (no others: '{}')
    and the filter slots (filter_args(filters)) from $11. ``corrections`` is ""
    when nothing in the report can carry a correction. ``filters`` only says
    which sub-id a report filters by (its values are arguments).

    Their rows (d0..dn, then COUNT_COLUMNS, GOAL_ARRAYS, cost currencies, costs),
    each statement one hash aggregate (one grouping each is much cheaper than
    grouping sets, and separate statements cheaper than their UNION ALL, and
    they can run at once): traffic counts and CPC / CPM cost per cost currency;
    corrections per currency; outcome counts, goals with revenue per revenue
    currency and CPI / CPA / RevShare cost per cost currency. The caller adds
    them up per row. Cost is paid on the main counts' clean and suspicious rows
    only (Verdicts.paid)."""
    sub = sub_of(group_by, filters)
    sub_no = int(sub[3:]) if sub else None
    conds = _filter_conds(FILTER_SLOTS, FIRST_FILTER)
    dims = "".join(f"{DIM_SQL[d]} AS d{i}, " for i, d in enumerate(group_by))
    dsel = "".join(f"d{i}, " for i in range(len(group_by)))
    vsel = "".join(f"v.d{i}, " for i in range(len(group_by)))

    # The corrected campaigns' ids (the corrections statement reads only their rows),
    # and the days a sub-id report reads from report_subs_derived instead.
    corrected, derived_days = "$9", "$10"

    def rows(kind: str, extra: str = "", *, only_corrected: bool = False) -> str:
        """The cube rows of ``kind`` with their dimension values, campaign and UTC day;
        from hourly cubes alone added up per (dimension values, campaign, UTC day,
        goal, currency) first: the tariff and correction joins then see one row
        where 24 hours of cube rows were many. (A daily cube's rows are few enough
        per day that adding them up first costs more than it saves: measured.)"""
        measures = union_measures(kind, verdicts)
        conds_here = [*conds, *([f"campaign_id = ANY({corrected}::text[])"] if only_corrected else [])]
        where_here = f"WHERE {' AND '.join(conds_here)}"
        cube_rows = f"""SELECT {dims}campaign_id AS _c, (hour AT TIME ZONE 'UTC')::date AS _day, goal_id, currency,
               {", ".join(measures)}
        FROM (
            {union(cubes, sub_no, kind, verdicts, derived_days)}{extra}
        ) AS x ({UNION_DIMS}, {", ".join(measures)})
        {where_here}"""
        if sub_no is not None or DAILY in cubes:
            return cube_rows
        key = f"{dsel}_c, _day, goal_id, currency"
        sums = ", ".join(f"sum({m}){'' if m in NUMERIC else '::int'} AS {m}" for m in measures)
        return f"""SELECT {key}, {sums}
        FROM ({cube_rows}) AS c
        GROUP BY {key}"""

    carriers = f"""
            UNION ALL
            SELECT k.day::timestamp AT TIME ZONE 'UTC', k.campaign_id, '', coalesce(cm.partner_id, ''),
                   coalesce(cm.app_id, ''), {_CARRIER_REST}, '', '', '',
                   {"0, " * (len(TRAFFIC_UNION) - 1)}1
            FROM carriers k LEFT JOIN links.campaigns cm ON cm.account_id = $1 AND cm.campaign_id = k.campaign_id"""
    # Each statement uses only some of $1..$10: an unused CTE gives them their types.
    slot_types = ", ".join(
        f"${FIRST_FILTER + i}::{'smallint[]' if s == 'device_type' else 'text[]'}" for i, s in enumerate(FILTER_SLOTS)
    )
    args = f"""args AS (
    SELECT $1::text, $2::timestamptz, $3::timestamptz, $4::text, $5::date, $6::date, $7::timestamptz, $8::timestamptz,
           {corrected}::text[], {derived_days}::date[], {slot_types},
           {CPC}::smallint, {CPM}::smallint, {CPI}::smallint, {CPA}::smallint, {REVSHARE}::smallint
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
    lander_counts = ("lv", "lc")
    if paid == "none":
        cpc_join, cpc_cur, cpc_cost = "", "NULL::text", "NULL::numeric"
    else:
        cpc_join = tariff_join(f"{CPC}, {CPM}")
        cpc_cur = "tp.currency"
        cpc_cost = (f"sum(CASE tp.model WHEN {CPC} THEN {payable('v.clicks', 'v.ic')} * tp.amount"
                    f" WHEN {CPM} THEN {payable('v.imps', 'v.ii')} * tp.amount / 1000 END)")  # fmt: skip
    traffic = f"""
WITH {args}
{tp}
-- Traffic: counts, and CPC / CPM cost in the tariff's currency.
SELECT {dsel}{", ".join(f"sum({c})::bigint" for c in traffic_counts)}, {", ".join(["0::bigint"] * 7)},
       {", ".join(f"sum({c})::bigint" for c in lander_counts)},
       {no_goals},
       {money_arrays}
FROM (
    SELECT {vsel}{cpc_cur} AS cost_cur, {", ".join(f"sum(v.{c}) AS {c}" for c in (*traffic_counts, *lander_counts))},
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
        cpi_join = tariff_join(f"{CPI}, {CPA}, {REVSHARE}")
        cpi_cur = f"CASE WHEN tp.model = {REVSHARE} THEN nullif(v.currency, '') ELSE tp.currency END"
        cpi_cost = f"""CASE tp.model WHEN {CPI} THEN {payable("v.installs", "v.inn")} * tp.amount
                   WHEN {CPA} THEN CASE WHEN v.goal_id = tp.goal_id THEN {payable("v.convs", "v.iv")} * tp.amount
                        END
                   WHEN {REVSHARE} THEN CASE WHEN v.currency <> '' THEN
                        {payable("v.revenue", "v.irev")} * tp.percent / 100 END END"""  # fmt: skip
    outcomes = f"""
WITH {args}
{tp}
-- Outcomes: counts and revenue per goal and currency, and CPI / CPA / RevShare
-- cost (in the tariff's currency, RevShare's in the revenue's).
SELECT {dsel}{", ".join(["0::bigint"] * 7)}, {", ".join(f"sum({c})::bigint" for c in outcome_counts)},
       0::bigint, 0::bigint,
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
    return traffic, corrections, outcomes


def reasons_sql(
    group_by: Sequence[str],
    filters: Mapping[str, Sequence[str]],
    verdicts: Verdicts,
) -> str | None:
    """The statement of a report's reasons (d0..dn, kind, reason bit, count) from
    the reasons cubes, hourly outside the whole UTC days [$5, $6) and daily in
    them ($1 account, $2 start, $3 end, $4 zone), $7 the verdicts and the filter
    slots from $8 (filter_args(filters, REASON_FILTER_SLOTS)); None for a report
    it cannot serve (a dimension or filter besides campaign, partner, app, day
    and hour)."""
    if not set(group_by) <= REASON_DIMS or not set(filters) <= REASON_DIMS - {"day", "hour"}:
        return None
    conds = "".join(f" AND {c}" for c in _filter_conds(REASON_FILTER_SLOTS, FIRST_REASON_FILTER))
    dims = "".join(f"{DIM_SQL[d]} AS d{i}, " for i, d in enumerate(group_by))
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
WHERE verdict = ANY($7::smallint[]){conds}
GROUP BY {dsel}kind, reason
HAVING sum(n) <> 0
"""
    return sql


def reasons_args(verdicts: Verdicts, filters: Mapping[str, Sequence[str]]) -> list[Any]:
    """reasons_sql's arguments after $6: the verdicts, the filter slots."""
    return [sorted(verdicts.reasons), *filter_args(filters, REASON_FILTER_SLOTS)]
