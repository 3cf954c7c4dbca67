"""The rollups' fold statements: clicks and impressions (by verdict, unique
clicks, reasons) and installs and conversions (by delta against report_facts)
into every cube, composed from the cubes' definitions (plan.CUBES). The enum
numbers they compare with are parameters (TRAFFIC_CODES, OUTCOME_CODES, from
services.analytics.codes), never literals."""

from __future__ import annotations

from libs import quality
from services.analytics.codes import (
    CONVERSION_APPROVED,
    CONVERSION_REJECTED,
    INVALID,
    KIND_CLICK,
    KIND_CONVERSION,
    KIND_IMPRESSION,
    KIND_INSTALL,
    MATCH_APPLE_ADS,
    SUSPICIOUS,
    TOUCH_CLICK,
    TOUCH_IMPRESSION,
)
from services.analytics.reports.plan import CUBES, SUBS, UNION_COLS, Cube

# Each cube's measures, folded from source rows carrying the same names: the
# counts of clean + suspicious rows (what reports always showed), then their
# suspicious and their invalid parts (migrations/0006_quality.sql).
TRAFFIC_MEASURES = (
    "clicks", "unique_clicks", "impressions", "suspicious_clicks", "suspicious_unique", "suspicious_impressions",
    "invalid_clicks", "invalid_unique", "invalid_impressions",
)  # fmt: skip
# ... and the affiliate flow's (migrations/0007_flow.sql), folded beside them.
LANDER_MEASURES = (
    "lander_views", "suspicious_lander_views", "invalid_lander_views", "lander_clicks", "suspicious_lander_clicks",
    "invalid_lander_clicks",
)  # fmt: skip
OUTCOME_MEASURES = (
    "installs", "conversions", "approved", "revenue", "suspicious_installs", "suspicious_conversions",
    "suspicious_approved", "suspicious_revenue", "invalid_installs", "invalid_conversions", "invalid_approved",
    "invalid_revenue",
)  # fmt: skip
# The reason codes' bits, for expanding a reasons bitmask into rows.
REASON_BITS = "{" + ",".join(str(r.bit) for r in sorted(quality.REASONS, key=lambda r: r.bit)) + "}"


def _measures(kind: str) -> tuple[str, ...]:
    return (*TRAFFIC_MEASURES, *LANDER_MEASURES) if kind == "traffic" else OUTCOME_MEASURES


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
    parts = [
        f"f{i} AS ({_fold(c, kind, source, time_col, hourly_where)})"
        for i, c in enumerate(CUBES)
        if not c.subs and (kind == "outcomes" or c.traffic_from is None)
    ]
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
# A click's stream, lander and offer ("" without); an impression has none.
_CLICK_FLOW = "coalesce(k.stream_id, '') AS stream_id, coalesce(k.lander_id, '') AS lander_id, \
coalesce(k.offer_id, '') AS offer_id"
_NO_FLOW = "'', '', ''"
# What the raw rows' SELECTs take from links.clicks / links.impressions.
_RAW_COLS = (
    "k.account_id, k.create_time, k.campaign_id, k.link_id, k.partner_id, k.app_id, k.country, k.device_type, k.os, "
    + ", ".join(f"k.sub{i}" for i in range(1, 11))
    + ", k.verdict, k.reasons, k.stream_id, k.lander_id, k.offer_id"
)
# TRAFFIC_MEASURES of a click whose uniqueness (1 or 0, within its class) is k.u,
# and of an impression; then RecordKind and n for the reasons fold. Anything
# neither invalid nor suspicious is clean.
# The traffic statements' codes after $1..$4: $5 invalid, $6 suspicious, $7 and $8
# the RecordKinds click and impression.
TRAFFIC_CODES = (INVALID, SUSPICIOUS, KIND_CLICK, KIND_IMPRESSION)
_COUNTED, _SUSPICIOUS, _INVALID = "(k.verdict <> $5)", "(k.verdict = $6)", "(k.verdict = $5)"
# A click the flow sent to a lander: a lander view.
_LANDER = "(k.lander_id IS NOT NULL)::int"
_CLICK_MEASURES = f"""{_COUNTED}::int AS clicks, k.u * {_COUNTED}::int AS unique_clicks, 0 AS impressions,
    {_SUSPICIOUS}::int AS suspicious_clicks, k.u * {_SUSPICIOUS}::int AS suspicious_unique,
    0 AS suspicious_impressions, {_INVALID}::int AS invalid_clicks, k.u * {_INVALID}::int AS invalid_unique,
    0 AS invalid_impressions, {_LANDER} * {_COUNTED}::int AS lander_views,
    {_LANDER} * {_SUSPICIOUS}::int AS suspicious_lander_views, {_LANDER} * {_INVALID}::int AS invalid_lander_views,
    0 AS lander_clicks, 0 AS suspicious_lander_clicks, 0 AS invalid_lander_clicks, $7::int AS rkind, 1 AS n"""
_IMPRESSION_MEASURES = (
    f"0, 0, {_COUNTED}::int, 0, 0, {_SUSPICIOUS}::int, 0, 0, {_INVALID}::int, 0, 0, 0, 0, 0, 0, $8::int, 1"
)
# A lander click (links.lander_clicks, by its own create_time, verdict, campaign,
# link, stream, lander and offer) with the rest of its click's dimensions (the
# click may be gone: erased); no reasons (its click's are counted with the click).
_LANDER_CLICKS = f"""
SELECT l.account_id, l.create_time, l.campaign_id, l.link_id, coalesce(k.partner_id, ''),
    coalesce(k.app_id, ''), coalesce(k.country, ''), coalesce(k.device_type, 0)::smallint, coalesce(k.os, ''),
    ARRAY[{_SUBS}], l.verdict, 0::bigint, l.stream_id, l.lander_id, coalesce(l.offer_id, ''),
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    (l.verdict <> $5)::int, (l.verdict = $6)::int, (l.verdict = $5)::int, $7::int, 0
FROM links.lander_clicks l
LEFT JOIN links.clicks k ON k.account_id = l.account_id AND k.click_id = l.click_id AND k.create_time = l.click_time
WHERE l.create_time >= $1 AND l.create_time < $2"""

# Clicks and impressions with create_time in [$1, $2). Unique: no earlier click
# of the same class (invalid or not), IP + User-Agent on the campaign that UTC
# day (clicks_ip index). (OFFSET 0: u is worked out once per click, not once
# per use.)
TRAFFIC_RAW_ADD = f"""
SELECT {_TRAFFIC_COLS}, {_CLICK_FLOW}, {_CLICK_MEASURES}
FROM (
    SELECT {_RAW_COLS}, (k.ip IS NULL OR NOT EXISTS (
        SELECT 1 FROM links.clicks p
        WHERE p.account_id = k.account_id AND p.ip = k.ip
          AND p.create_time >= date_trunc('day', k.create_time, 'UTC') AND p.create_time <= k.create_time
          AND (p.create_time < k.create_time OR p.click_id < k.click_id)
          AND p.campaign_id = k.campaign_id AND p.user_agent IS NOT DISTINCT FROM k.user_agent
          AND (p.verdict = $5) = {_INVALID}
    ))::int AS u
    FROM links.clicks k WHERE k.create_time >= $1 AND k.create_time < $2
    OFFSET 0
) k
UNION ALL
SELECT {_TRAFFIC_COLS}, {_NO_FLOW}, {_IMPRESSION_MEASURES}
FROM links.impressions k WHERE k.create_time >= $1 AND k.create_time < $2
UNION ALL{_LANDER_CLICKS}
"""

# The same rows for a recount, over [$1, $2): uniqueness by a window over the
# whole UTC days, so $1 must be a UTC midnight.
TRAFFIC_RAW_RECOUNT = f"""
SELECT {_TRAFFIC_COLS}, {_CLICK_FLOW}, {_CLICK_MEASURES}
FROM (
    SELECT {_RAW_COLS}, (k.ip IS NULL OR row_number() OVER (
        PARTITION BY k.account_id, k.campaign_id, k.ip, k.user_agent, date_trunc('day', k.create_time, 'UTC'),
                     {_INVALID}
        ORDER BY k.create_time, k.click_id
    ) = 1)::int AS u
    FROM links.clicks k WHERE k.create_time >= $1 AND k.create_time < $2
) k
UNION ALL
SELECT {_TRAFFIC_COLS}, {_NO_FLOW}, {_IMPRESSION_MEASURES}
FROM links.impressions k WHERE k.create_time >= $1 AND k.create_time < $2
UNION ALL{_LANDER_CLICKS}
"""

# Folds ``raw`` into the hourly cubes (rows with create_time in [$3, $4)) and
# the daily ones (every row).
_TRAFFIC_FOLDS = _fold_all("traffic", "raw", "create_time", "r.create_time >= $3 AND r.create_time < $4")
TRAFFIC_ADD_SQL = f"WITH raw AS MATERIALIZED ({TRAFFIC_RAW_ADD}),\n{_TRAFFIC_FOLDS}"
TRAFFIC_RECOUNT_SQL = f"WITH raw AS MATERIALIZED ({TRAFFIC_RAW_RECOUNT}),\n{_TRAFFIC_FOLDS}"
# (The reasons cubes hold the outcomes' kinds too: a traffic recount clears its own.)
TRAFFIC_CLEAR_HOURS = (
    *(f"DELETE FROM analytics.report_traffic{c.suffix} WHERE hour >= $1 AND hour < $2" for c in CUBES
      if c.grain == "hour" and c.traffic_from is None),
)  # fmt: skip
_DAY_RANGE = "day >= ($1::timestamptz AT TIME ZONE 'UTC')::date AND day < ($2::timestamptz AT TIME ZONE 'UTC')::date"
TRAFFIC_CLEAR_DAYS = (
    *(
        f"DELETE FROM analytics.report_traffic{c.suffix} WHERE {_DAY_RANGE}"
        for c in CUBES
        if c.grain == "day" and c.traffic_from is None
    ),
)
# ... and the traffic kinds' reasons ($3: TOUCH_KINDS).
TOUCH_KINDS = [KIND_CLICK, KIND_IMPRESSION]
REASONS_CLEAR_HOURS = (
    "DELETE FROM analytics.report_reasons WHERE hour >= $1 AND hour < $2 AND kind = ANY($3::smallint[])"
)
REASONS_CLEAR_DAYS = f"DELETE FROM analytics.report_reasons_daily WHERE {_DAY_RANGE} AND kind = ANY($3::smallint[])"


# OUTCOMES_SQL's codes after $1, $2: $3 invalid, $4 suspicious, $5 and $6 the
# RecordKinds install and conversion, $7 approved, $8 rejected, $9 and $10 the
# touch types click and impression, $11 the Apple Ads match type.
OUTCOME_CODES = (
    INVALID, SUSPICIOUS, KIND_INSTALL, KIND_CONVERSION, CONVERSION_APPROVED, CONVERSION_REJECTED, TOUCH_CLICK,
    TOUCH_IMPRESSION, MATCH_APPLE_ADS,
)  # fmt: skip
# The Apple Ads ids as report_facts keeps them (text, "" for none).
_APPLE_IDS = (
    ("apple_org_id", "apple_ads_org_id"), ("apple_campaign_id", "apple_ads_campaign_id"),
    ("apple_ad_group_id", "apple_ads_ad_group_id"), ("apple_keyword_id", "apple_ads_keyword_id"),
)  # fmt: skip


def _by_verdict(measure: str, condition: str, value: str = "1") -> str:
    """A delta's three parts of one OUTCOME_MEASURES measure: the clean +
    suspicious count, the suspicious part, the invalid part (``condition`` says
    whether the fact counts at all, ``value`` what it counts)."""
    one = "sign" if value == "1" else f"sign * {value}"
    parts = (
        ("", "verdict <> $3"),
        ("suspicious_", "verdict = $4"),
        ("invalid_", "verdict = $3"),
    )
    return ",\n           ".join(
        f"CASE WHEN {condition} AND {test} THEN {one} ELSE 0 END AS {prefix}{measure}" for prefix, test in parts
    )


# The facts' columns, in report_facts' order.
_FACT_COLS = (
    "account_id, kind, fact_id, hour, campaign_id, link_id, partner_id, app_id, country, device_type, os, subs,"
    " goal_id, currency, status, payout, verdict, reasons, stream_id, lander_id, offer_id, apple_org_id,"
    " apple_campaign_id, apple_ad_group_id, apple_keyword_id"
)
# What a fact's contribution depends on (a change in any moves it).
_FACT_STATE = (
    "goal_id, currency, status, payout, hour, verdict, reasons, campaign_id, link_id, partner_id, app_id, stream_id,"
    " lander_id, offer_id, apple_org_id, apple_campaign_id, apple_ad_group_id, apple_keyword_id"
)

# Installs and conversions updated in [$1, $2) (by update_time, the time the
# row last changed: attribution bumps it on every change, an overrule too),
# compared with what report_facts last folded of them: the changed ones add
# their new contribution and take back the old one. Invalid ones are counted
# in their own parts (and their reasons), never in the clean + suspicious ones.


def outcomes_sql(conversion_flow: bool, apple: bool = True) -> str:
    """OUTCOMES_SQL; ``conversion_flow``: attribution.conversions has the
    stream_id / lander_id / offer_id columns (attribution's migration 0004): a
    conversion's flow is theirs, else its click's. An install's is its click's.
    ``apple``: attribution.installs has the Apple Ads columns (attribution's
    migration 0006): an Apple Ads install's ids are its own, a conversion's its
    install's when it is credited to the install's campaign (a primary-key probe
    per conversion with an install)."""
    flow = "c.stream_id, c.lander_id, c.offer_id" if conversion_flow else "NULL::text, NULL::text, NULL::text"
    if apple:
        i_apple = ", ".join(
            f"CASE WHEN i.match_type = $11 THEN coalesce(i.{raw}::text, '') ELSE '' END AS {col}"
            for col, raw in _APPLE_IDS
        )
        c_apple = ", ".join(f"coalesce(ai.{raw}::text, '')" for _, raw in _APPLE_IDS)
        c_join = """
    LEFT JOIN attribution.installs ai ON c.install_id IS NOT NULL AND ai.account_id = c.account_id
         AND ai.install_id = c.install_id AND ai.match_type = $11 AND ai.campaign_id = c.campaign_id"""
    else:
        i_apple = ", ".join(f"'' AS {col}" for col, _ in _APPLE_IDS) + ", $11::int AS _m"
        c_apple, c_join = ", ".join("''" for _ in _APPLE_IDS) + ", 0", ""
    return f"""
WITH src AS (
    SELECT i.account_id, 'i'::"char" AS kind, i.install_id AS fact_id,
           date_trunc('hour', i.install_time, 'UTC') AS hour,
           i.campaign_id, coalesce(i.link_id, '') AS link_id, coalesce(i.partner_id, '') AS partner_id,
           i.app_id, i.click_id, i.touch_type, i.touch_time, '' AS goal_id, '' AS currency,
           0::smallint AS status, 0::numeric(24, 6) AS payout, i.verdict, i.reasons,
           NULL::text AS stream_id, NULL::text AS lander_id, NULL::text AS offer_id, {i_apple}
    FROM attribution.installs i
    WHERE i.update_time >= $1 AND i.update_time < $2 AND i.campaign_id IS NOT NULL
    UNION ALL
    SELECT c.account_id, 'c', c.conversion_id, date_trunc('hour', c.event_time, 'UTC'),
           c.campaign_id, coalesce(c.link_id, ''), coalesce(c.partner_id, ''), coalesce(c.app_id, ''),
           c.click_id, 0, c.touch_time,
           CASE WHEN c.goal_id <> '' THEN c.goal_id WHEN c.goal <> '' THEN c.goal ELSE '(none)' END,
           coalesce(c.currency, ''), c.status, coalesce(c.payout, 0), c.verdict, c.reasons, {flow}, {c_apple}
    FROM attribution.conversions c{c_join}
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
           s.verdict, s.reasons, coalesce(s.stream_id, t.stream_id, '') AS stream_id,
           coalesce(s.lander_id, t.lander_id, '') AS lander_id, coalesce(s.offer_id, t.offer_id, '') AS offer_id,
           {", ".join(f"s.{col}" for col, _ in _APPLE_IDS)}
    FROM src s
    LEFT JOIN old o ON o.account_id = s.account_id AND o.kind = s.kind AND o.fact_id = s.fact_id
    LEFT JOIN LATERAL (
        SELECT k.country, k.device_type, k.os, ARRAY[{_SUBS}] AS subs, k.stream_id, k.lander_id, k.offer_id
        FROM links.clicks k
        WHERE s.touch_type <> $10 AND k.account_id = s.account_id AND k.click_id = s.click_id
          AND k.create_time = s.touch_time
        UNION ALL
        SELECT k.country, k.device_type, k.os, ARRAY[{_SUBS}], NULL, NULL, NULL
        FROM links.impressions k
        WHERE s.touch_type <> $9 AND k.account_id = s.account_id AND k.impression_id = s.click_id
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
    SELECT account_id, hour, {", ".join(UNION_COLS)}, goal_id, currency, subs, verdict, reasons,
           CASE kind WHEN 'i' THEN $5::int ELSE $6::int END AS rkind,
           sign * (kind = 'i' OR status <> $8)::int AS n,
           {_by_verdict("installs", "kind = 'i'")},
           {_by_verdict("conversions", "kind = 'c' AND status <> $8")},
           {_by_verdict("approved", "kind = 'c' AND status = $7")},
           {_by_verdict("revenue", "kind = 'c' AND status = $7", "payout")}
    FROM (
        SELECT 1 AS sign, * FROM changed
        UNION ALL
        SELECT -1, o.* FROM old o JOIN changed c USING (account_id, kind, fact_id)
    ) d
),
{_fold_all("outcomes", "delta", "hour", "")}
"""


OUTCOMES_SQL = outcomes_sql(conversion_flow=False)
OUTCOMES_FLOW_SQL = outcomes_sql(conversion_flow=True)
# Without attribution's migration 0006 (no Apple Ads columns yet).
OUTCOMES_NO_APPLE_SQL = {flow: outcomes_sql(flow, apple=False) for flow in (False, True)}
