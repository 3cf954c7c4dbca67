-- Traffic quality (issue 18) in the campaign-report rollups.
--
-- The verdict is kept as columns, not as a dimension: a cube keeps one row per
-- key, and beside the counts a report has always shown (clicks, unique clicks,
-- impressions, installs, conversions, approved, revenue: clean + suspicious,
-- what cost and the main columns count) each carries its suspicious and its
-- invalid part. Clean = the count - its suspicious part. A verdict dimension
-- would add a row for every key that has any flagged traffic, and bots spread
-- thinly over the keys (every hour, link, country has a few), so it would come
-- near doubling the hourly cubes that reports read; columns widen each row by a
-- few numbers instead. Existing rows: all their traffic was clean (the
-- defaults of links / attribution), so 0 is right for every new column.
--
-- Unique clicks: uniqueness is decided within a class, invalid or not: a
-- click is unique when it is the first of its IP + User-Agent on its campaign
-- in its UTC day among the clicks of its class. An invalid click (a bot, a
-- duplicate) never makes a later clean click of the same IP + User-Agent
-- non-unique; invalid_unique counts the firsts among the invalid ones.

ALTER TABLE analytics.report_traffic_links
    ADD COLUMN suspicious_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_impressions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_impressions bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_traffic
    ADD COLUMN suspicious_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_impressions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_impressions bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_traffic_daily
    ADD COLUMN suspicious_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_impressions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_impressions bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_traffic_subs
    ADD COLUMN suspicious_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_impressions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_unique bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_impressions bigint NOT NULL DEFAULT 0;

ALTER TABLE analytics.report_outcomes_links
    ADD COLUMN suspicious_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_revenue numeric NOT NULL DEFAULT 0,
    ADD COLUMN invalid_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_revenue numeric NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_outcomes
    ADD COLUMN suspicious_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_revenue numeric NOT NULL DEFAULT 0,
    ADD COLUMN invalid_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_revenue numeric NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_outcomes_daily
    ADD COLUMN suspicious_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_revenue numeric NOT NULL DEFAULT 0,
    ADD COLUMN invalid_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_revenue numeric NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_outcomes_subs
    ADD COLUMN suspicious_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_revenue numeric NOT NULL DEFAULT 0,
    ADD COLUMN invalid_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_conversions bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_approved bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_revenue numeric NOT NULL DEFAULT 0;

-- What each install / conversion was last folded with, so an overrule (which
-- bumps its update_time) moves its contribution between the parts.
ALTER TABLE analytics.report_facts
    ADD COLUMN verdict smallint NOT NULL DEFAULT 1,
    ADD COLUMN reasons bigint NOT NULL DEFAULT 0;

-- The derived sub-id rows carry the same parts (s_: suspicious, i_: invalid).
ALTER TABLE analytics.report_subs_derived
    ADD COLUMN s_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN i_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN s_imps bigint NOT NULL DEFAULT 0,
    ADD COLUMN i_imps bigint NOT NULL DEFAULT 0,
    ADD COLUMN s_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN i_installs bigint NOT NULL DEFAULT 0,
    ADD COLUMN s_convs bigint NOT NULL DEFAULT 0,
    ADD COLUMN i_convs bigint NOT NULL DEFAULT 0;

-- Top reasons: how many touches, installs and conversions carried each reason
-- code, per UTC hour (and UTC day) x campaign, partner, app, kind (1 click,
-- 2 impression, 3 install, 4 conversion: analytics.v1.RecordKind) and verdict.
-- reason is the code's bit (libs/quality.py). Only rows with reasons are
-- folded in, so the cube is as small as the flagged traffic is varied. Traffic
-- folds and recounts write kinds 1-2, the outcomes fold (by delta) kinds 3-4.
CREATE TABLE analytics.report_reasons (
    account_id  text NOT NULL,
    hour        timestamptz NOT NULL,
    campaign_id text NOT NULL,
    partner_id  text NOT NULL,
    app_id      text NOT NULL,
    kind        smallint NOT NULL,
    verdict     smallint NOT NULL,
    reason      smallint NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (account_id, hour, campaign_id, partner_id, app_id, kind, verdict, reason)
);
CREATE INDEX report_reasons_hour ON analytics.report_reasons (hour);

CREATE TABLE analytics.report_reasons_daily (
    account_id  text NOT NULL,
    day         date NOT NULL,
    campaign_id text NOT NULL,
    partner_id  text NOT NULL,
    app_id      text NOT NULL,
    kind        smallint NOT NULL,
    verdict     smallint NOT NULL,
    reason      smallint NOT NULL,
    n           bigint NOT NULL,
    PRIMARY KEY (account_id, day, campaign_id, partner_id, app_id, kind, verdict, reason)
);
CREATE INDEX report_reasons_daily_day ON analytics.report_reasons_daily (day);

-- Periodic jobs that one replica runs at a time (the sub-id flood finder): the
-- row is claimed FOR UPDATE SKIP LOCKED and run when last_run_time is old enough.
CREATE TABLE analytics.periodic_jobs (
    name          text PRIMARY KEY,
    last_run_time timestamptz NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'
);
