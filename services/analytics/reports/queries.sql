-- The reports' fixed statements (services/analytics/sqlfile.py loads them by name).

-- name: breakpoints
-- The attribution-settings changes of account $1 in force from [$2, $3).
SELECT breakpoint_id, effective_time, conversion_window_s, click_lookback_s, view_lookback_s, changed
FROM attribution.settings_history
WHERE account_id = $1 AND effective_time >= $2 AND effective_time < $3
ORDER BY effective_time, breakpoint_id

-- name: corrected_campaigns
-- The campaigns of account $1 with corrections in [$2, $3] (dates).
SELECT coalesce(array_agg(DISTINCT campaign_id), '{}') FROM attribution.corrections
WHERE account_id = $1 AND end_date >= $2 AND start_date <= $3

-- name: earliest_partitions
-- The daily partitions of links.<$1>, oldest first (partition names sort by day).
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
JOIN pg_namespace n ON n.oid = p.relnamespace
WHERE n.nspname = 'links' AND p.relname = $1
ORDER BY c.relname

-- name: tables_exist
-- Whether both tables exist (a source's service may not have migrated yet).
SELECT to_regclass($1) IS NOT NULL AND to_regclass($2) IS NOT NULL

-- name: overruled
-- The hours of the touches whose verdict an operator overruled in [$1, $2).
SELECT DISTINCT kind::text, date_trunc('hour', touch_time, 'UTC') AS hour
FROM links.touch_overrules WHERE create_time >= $1 AND create_time < $2

-- name: bump_day_versions
-- A recount replaces a UTC day's traffic of every account: what was built from it is stale.
UPDATE analytics.report_day_versions v SET version = v.version + 1
FROM (
    SELECT account_id, day FROM analytics.report_day_versions
    WHERE day = ($1::timestamptz AT TIME ZONE 'UTC')::date
    ORDER BY account_id FOR UPDATE  -- in the folds' (account, day) order: no deadlock with a concurrent fold
) l
WHERE v.account_id = l.account_id AND v.day = l.day

-- name: set_folded
-- Notes in the transaction (setting $1) how far the traffic rollup has folded ($2).
SELECT set_config($1, $2::timestamptz::text, true)

-- name: folded_to
-- How far rollup $1 has folded in this transaction: the state's watermark, or the
-- end of an add earlier in the same transaction (setting $2; the runner adds, then
-- recounts, then stores the new watermark).
SELECT greatest(
    (SELECT watermark FROM analytics.rollup_state WHERE name = $1),
    nullif(current_setting($2, true), '')::timestamptz
)

-- name: outcomes_first
-- The earliest change of an install or conversion.
SELECT least((SELECT min(update_time) FROM attribution.installs),
             (SELECT min(update_time) FROM attribution.conversions))

-- name: conversion_flow
-- Whether attribution.conversions has the flow columns (attribution's migration 0004).
SELECT count(*) = 3 FROM information_schema.columns
WHERE table_schema = 'attribution' AND table_name = 'conversions'
  AND column_name IN ('stream_id', 'lander_id', 'offer_id')

-- name: installs_apple
-- Whether attribution.installs has the Apple Ads columns (attribution's migration 0006).
SELECT count(*) = 4 FROM information_schema.columns
WHERE table_schema = 'attribution' AND table_name = 'installs'
  AND column_name IN ('apple_ads_org_id', 'apple_ads_campaign_id', 'apple_ads_ad_group_id', 'apple_ads_keyword_id')

-- name: app_first
-- The earliest SKAN / AAK postback or reattribution written.
SELECT least((SELECT min(create_time) FROM attribution.skan_postbacks),
             (SELECT min(create_time) FROM attribution.reattributions))

-- name: app_update_times
-- Whether attribution.skan_postbacks and attribution.reattributions have an update_time
-- (bumped when a row changes, e.g. a postback mapped to a campaign later).
SELECT count(*) FILTER (WHERE table_name = 'skan_postbacks') = 1 AS skan,
       count(*) FILTER (WHERE table_name = 'reattributions') = 1 AS reattributions
FROM information_schema.columns
WHERE table_schema = 'attribution' AND table_name IN ('skan_postbacks', 'reattributions')
  AND column_name = 'update_time'
