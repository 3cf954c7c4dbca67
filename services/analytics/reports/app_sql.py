"""App campaigns' report measures (migrations/0008_app_campaigns.sql): SKAN /
AdAttributionKit postbacks (skan_installs, skan_conversions, skan_revenue by
receive time) and re-engagements / re-attributions (by event time), folded
into analytics.report_app by delta against report_app_facts, and the report
statement reading them. Fixed snippets; filters are bound parameters."""

from __future__ import annotations

import functools
from collections.abc import Sequence

from services.analytics.codes import CLEAN, REATTRIBUTION_RE_ATTRIBUTION, REATTRIBUTION_RE_ENGAGEMENT
from services.analytics.reports.model import Verdicts
from services.analytics.reports.plan import UNION_COLS
from services.analytics.reports.sql import DIM_SQL, FILTER_SLOTS, filter_conds

# report_app's measures (and report_app_facts').
APP_MEASURES = ("skan_installs", "skan_conversions", "skan_revenue", "re_engagements", "re_attributions")
# The dimensions report_app keeps (the others are "" / 0 in its rows).
APP_DIMS = ("campaign_id", "link_id", "partner_id", "app_id")
_FACT_COLS = ("account_id", "kind", "fact_id", "hour", *APP_DIMS, "currency", *APP_MEASURES)
_STATE = ("hour", *APP_DIMS, "currency", *APP_MEASURES)
_KEY = ("account_id", "hour", *APP_DIMS, "currency")

# The fold's codes after $1, $2 (the time range): $3 re-engagement, $4 re-attribution.
APP_CODES = (REATTRIBUTION_RE_ENGAGEMENT, REATTRIBUTION_RE_ATTRIBUTION)


# Postbacks and reattributions written or changed in [$1, $2) (by update_time
# where the table has one, else create_time; a postback's hour is its
# receive_time's, a reattribution's its event_time's), against what
# report_app_facts last folded of them: the new ones add their contribution, a
# changed one (a postback's campaign mapped later) moves it. A postback's revenue
# has its currency ("" without revenue).
@functools.cache
def app_fold_sql(skan_time: str = "create_time", reattribution_time: str = "create_time") -> str:
    """APP_FOLD_SQL reading the postbacks by ``skan_time`` and the reattributions
    by ``reattribution_time`` (create_time or update_time: fixed column names)."""
    assert {skan_time, reattribution_time} <= {"create_time", "update_time"}
    return f"""
WITH src AS (
    SELECT p.account_id, 's'::"char" AS kind, p.postback_id AS fact_id,
           date_trunc('hour', p.receive_time, 'UTC') AS hour, coalesce(p.campaign_id, '') AS campaign_id,
           '' AS link_id, coalesce(p.partner_id, '') AS partner_id, coalesce(p.app_id, '') AS app_id,
           CASE WHEN coalesce(p.revenue, 0) <> 0 THEN coalesce(p.currency, '') ELSE '' END AS currency,
           p.installs::int AS skan_installs, p.conversions AS skan_conversions,
           coalesce(p.revenue, 0)::numeric(24, 6) AS skan_revenue, 0 AS re_engagements, 0 AS re_attributions
    FROM attribution.skan_postbacks p
    WHERE p.{skan_time} >= $1 AND p.{skan_time} < $2
    UNION ALL
    SELECT r.account_id, 'r', r.reattribution_id, date_trunc('hour', r.event_time, 'UTC'), r.campaign_id,
           coalesce(r.link_id, ''), coalesce(r.partner_id, ''), r.app_id, '', 0, 0, 0::numeric(24, 6),
           (r.kind = $3)::int, (r.kind = $4)::int
    FROM attribution.reattributions r
    WHERE r.{reattribution_time} >= $1 AND r.{reattribution_time} < $2
),
old AS MATERIALIZED (
    SELECT {", ".join(f"f.{c}" for c in _FACT_COLS)} FROM analytics.report_app_facts f
    JOIN src s ON f.account_id = s.account_id AND f.kind = s.kind AND f.fact_id = s.fact_id
),
changed AS MATERIALIZED (
    SELECT {", ".join(f"s.{c}" for c in _FACT_COLS)}
    FROM src s
    LEFT JOIN old o ON o.account_id = s.account_id AND o.kind = s.kind AND o.fact_id = s.fact_id
    WHERE o.fact_id IS NULL
       OR ({", ".join(f"o.{c}" for c in _STATE)}) IS DISTINCT FROM ({", ".join(f"s.{c}" for c in _STATE)})
),
save AS (
    INSERT INTO analytics.report_app_facts AS f ({", ".join(_FACT_COLS)}) SELECT * FROM changed
    ON CONFLICT (account_id, kind, fact_id) DO UPDATE
    SET {", ".join(f"{c} = excluded.{c}" for c in _FACT_COLS[3:])}
),
delta AS (
    SELECT 1 AS sign, * FROM changed
    UNION ALL
    SELECT -1, o.* FROM old o JOIN changed c USING (account_id, kind, fact_id)
)
INSERT INTO analytics.report_app AS c ({", ".join(_KEY)}, {", ".join(APP_MEASURES)})
SELECT {", ".join(_KEY)}, {", ".join(f"sum(sign * {m})" for m in APP_MEASURES)}
FROM delta
GROUP BY {", ".join(_KEY)}
ON CONFLICT ({", ".join(_KEY)}) DO UPDATE SET {", ".join(f"{m} = c.{m} + excluded.{m}" for m in APP_MEASURES)}
"""


APP_FOLD_SQL = app_fold_sql()

# The app statement's filter slots: $5.. after $1 account, $2 start, $3 end, $4 zone.
FIRST_APP_FILTER = 5


def app_sql(group_by: Sequence[str], verdicts: Verdicts) -> str | None:
    """The report statement of the app measures over [$2, $3) of account $1 ($4
    the zone; the filter slots from $5: sql.filter_args): d0..dn, skan_installs,
    skan_conversions, re_engagements, re_attributions, the SKAN revenue's
    currencies and amounts (arrays). report_app keeps campaign, link, partner,
    app and the hour: every other dimension is "" (device type 0) in its rows,
    as the Apple Ads ids of traffic are, so its rows add up to the campaign
    totals in any grouping. Postbacks and reattributions carry no verdict: they
    count as clean (None for a verdicts filter without clean)."""
    if CLEAN not in verdicts.main:
        return None
    cols = [d if d in APP_DIMS else ("0::smallint" if d == "device_type" else "''") for d in UNION_COLS]
    conds = " AND ".join(filter_conds(FILTER_SLOTS, FIRST_APP_FILTER))
    dims = "".join(f"{DIM_SQL[d]} AS d{i}, " for i, d in enumerate(group_by))
    dsel = "".join(f"d{i}, " for i in range(len(group_by)))
    outer_group = f"GROUP BY {dsel.rstrip(', ')}" if group_by else ""
    counts = ("skan_installs", "skan_conversions", "re_engagements", "re_attributions")
    return f"""
WITH args AS (SELECT $1::text, $2::timestamptz, $3::timestamptz, $4::text)
SELECT {dsel}{", ".join(f"sum({c})::bigint" for c in counts)},
       array_agg(currency) FILTER (WHERE currency <> '' AND skan_revenue <> 0),
       array_agg(skan_revenue) FILTER (WHERE currency <> '' AND skan_revenue <> 0)
FROM (
    SELECT {dims}currency, {", ".join(f"sum({m}) AS {m}" for m in APP_MEASURES)}
    FROM (
        SELECT hour, {", ".join(cols)}, '' AS sub, currency, {", ".join(APP_MEASURES)}
        FROM analytics.report_app WHERE account_id = $1 AND hour >= $2 AND hour < $3
    ) AS x (hour, {", ".join(UNION_COLS)}, sub, currency, {", ".join(APP_MEASURES)})
    WHERE {conds}
    GROUP BY {dsel}currency
) z
{outer_group}
HAVING count(*) > 0
"""
