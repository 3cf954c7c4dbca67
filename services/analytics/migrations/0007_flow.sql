-- Affiliate flows (issue 21) in the campaign-report rollups: reports by stream,
-- lander and offer, and the lander metrics.
--
-- Lander views (clicks the flow sent to a lander: links.clicks.lander_id set)
-- and lander clicks (links.lander_clicks rows, at their create_time hour, with
-- the dimensions of their click) are traffic measures of every traffic cube,
-- with their suspicious and invalid parts like the other counts
-- (0006_quality.sql), so every report has them and a verdicts filter narrows
-- them. The traffic rollup folds lander clicks by create_time with the same
-- watermark as clicks; its recount rebuilds them with the hours.
--
-- Stream, lander and offer are dimensions of one more cube pair only,
-- report_traffic_flow / report_outcomes_flow: UTC hours x campaign, link,
-- partner, app, stream, lander, offer (every click and outcome, "" where the
-- click went through no flow). Not in the main cubes: a campaign rotating 3
-- landers x 4 offers over its streams has up to a dozen rows for every row of
-- report_traffic_links, and multiplied by country x device x OS in
-- report_traffic and report_traffic_daily it would grow the cubes every other
-- report reads. The price: a report by (or filtered by) stream, lander or offer
-- groups and filters only by campaign, link, partner, app, day and hour, not
-- by country, device type, OS or a sub-id.
--
-- Conversions take their stream / lander / offer from attribution.conversions
-- (copied from the click at attribution), else from the click itself;
-- report_facts keeps what each was folded with, so a change moves it.

CREATE TABLE analytics.report_traffic_flow (
    account_id             text NOT NULL,
    hour                   timestamptz NOT NULL,
    campaign_id            text NOT NULL,
    link_id                text NOT NULL,
    partner_id             text NOT NULL,
    app_id                 text NOT NULL,
    stream_id              text NOT NULL,
    lander_id              text NOT NULL,
    offer_id               text NOT NULL,
    clicks                 bigint NOT NULL,
    unique_clicks          bigint NOT NULL,
    impressions            bigint NOT NULL,
    suspicious_clicks      bigint NOT NULL DEFAULT 0,
    suspicious_unique      bigint NOT NULL DEFAULT 0,
    suspicious_impressions bigint NOT NULL DEFAULT 0,
    invalid_clicks         bigint NOT NULL DEFAULT 0,
    invalid_unique         bigint NOT NULL DEFAULT 0,
    invalid_impressions    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id, stream_id, lander_id, offer_id)
);
CREATE INDEX report_traffic_flow_hour ON analytics.report_traffic_flow (hour);

CREATE TABLE analytics.report_outcomes_flow (
    account_id             text NOT NULL,
    hour                   timestamptz NOT NULL,
    campaign_id            text NOT NULL,
    link_id                text NOT NULL,
    partner_id             text NOT NULL,
    app_id                 text NOT NULL,
    stream_id              text NOT NULL,
    lander_id              text NOT NULL,
    offer_id               text NOT NULL,
    goal_id                text NOT NULL,
    currency               text NOT NULL,
    installs               bigint NOT NULL,
    conversions            bigint NOT NULL,
    approved               bigint NOT NULL,
    revenue                numeric NOT NULL,
    suspicious_installs    bigint NOT NULL DEFAULT 0,
    suspicious_conversions bigint NOT NULL DEFAULT 0,
    suspicious_approved    bigint NOT NULL DEFAULT 0,
    suspicious_revenue     numeric NOT NULL DEFAULT 0,
    invalid_installs       bigint NOT NULL DEFAULT 0,
    invalid_conversions    bigint NOT NULL DEFAULT 0,
    invalid_approved       bigint NOT NULL DEFAULT 0,
    invalid_revenue        numeric NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id, stream_id, lander_id, offer_id, goal_id,
                 currency)
);

-- The lander measures of every traffic cube (the flow one's too).
ALTER TABLE analytics.report_traffic_links
    ADD COLUMN lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_clicks bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_traffic
    ADD COLUMN lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_clicks bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_traffic_daily
    ADD COLUMN lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_clicks bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_traffic_subs
    ADD COLUMN lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_clicks bigint NOT NULL DEFAULT 0;
ALTER TABLE analytics.report_traffic_flow
    ADD COLUMN lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN suspicious_lander_clicks bigint NOT NULL DEFAULT 0,
    ADD COLUMN invalid_lander_clicks bigint NOT NULL DEFAULT 0;

-- The derived sub-id rows carry the lander counts of the unfiltered report.
ALTER TABLE analytics.report_subs_derived
    ADD COLUMN lander_views bigint NOT NULL DEFAULT 0,
    ADD COLUMN lander_clicks bigint NOT NULL DEFAULT 0;

ALTER TABLE analytics.report_facts
    ADD COLUMN stream_id text NOT NULL DEFAULT '',
    ADD COLUMN lander_id text NOT NULL DEFAULT '',
    ADD COLUMN offer_id text NOT NULL DEFAULT '';

-- What is folded already goes into the flow cubes as it is in the per-link ones:
-- before this migration no click carried a stream, lander or offer.
INSERT INTO analytics.report_traffic_flow (
    account_id, hour, campaign_id, link_id, partner_id, app_id, stream_id, lander_id, offer_id, clicks, unique_clicks,
    impressions, suspicious_clicks, suspicious_unique, suspicious_impressions, invalid_clicks, invalid_unique,
    invalid_impressions)
SELECT account_id, hour, campaign_id, link_id, partner_id, app_id, '', '', '', clicks, unique_clicks, impressions,
       suspicious_clicks, suspicious_unique, suspicious_impressions, invalid_clicks, invalid_unique, invalid_impressions
FROM analytics.report_traffic_links;

INSERT INTO analytics.report_outcomes_flow (
    account_id, hour, campaign_id, link_id, partner_id, app_id, stream_id, lander_id, offer_id, goal_id, currency,
    installs, conversions, approved, revenue, suspicious_installs, suspicious_conversions, suspicious_approved,
    suspicious_revenue, invalid_installs, invalid_conversions, invalid_approved, invalid_revenue)
SELECT account_id, hour, campaign_id, link_id, partner_id, app_id, '', '', '', goal_id, currency, installs,
       conversions, approved, revenue, suspicious_installs, suspicious_conversions, suspicious_approved,
       suspicious_revenue, invalid_installs, invalid_conversions, invalid_approved, invalid_revenue
FROM analytics.report_outcomes_links;
