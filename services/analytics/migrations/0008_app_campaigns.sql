-- App campaigns (issue 22) in the campaign-report rollups: Apple Ads report
-- dimensions, SKAdNetwork / AdAttributionKit metrics, re-engagements and
-- re-attributions.
--
-- Apple Ads (AdServices): an install credited by Apple's attribution API
-- (attribution.installs.match_type 5) carries Apple's org, campaign, ad group
-- and keyword ids; a conversion takes them from its install when it is credited
-- to the install's campaign (a re-engagement's conversion is not). They are
-- dimensions of one more outcomes cube only, report_outcomes_apple: UTC hours x
-- campaign, link, partner, app and the four Apple ids ("" for every install and
-- conversion that is not Apple Ads'). Apple's ad clicks are Apple's, not ours:
-- there is no traffic cube for them, a report by an Apple Ads dimension reads
-- its clicks and impressions from report_traffic_links with the Apple ids "",
-- so rows by them add up to the campaign totals. Not in the other cubes: a
-- campaign's keywords would multiply the rows every other report reads. The
-- price: Apple Ads reports group and filter by campaign, link, partner, app, day
-- and hour besides, not by country, device type, OS, a sub-id or the flow.
-- report_facts keeps what each install / conversion was folded with, so a later
-- re-credit (Apple's API answers seconds after the install: attribution updates
-- the install and bumps its update_time) moves it.
--
-- SKAN and re-engagement: report_app, UTC hours x campaign, link, partner, app
-- and the SKAN revenue's currency: skan_installs, skan_conversions,
-- skan_revenue (attribution.skan_postbacks, by receive_time: SKAN postbacks
-- come 24-48 hours and more after the install, so a day's SKAN figures keep
-- growing for days), re_engagements and re_attributions
-- (attribution.reattributions kind 1 / 2, by event_time). Folded by delta
-- against report_app_facts (one row per postback / reattribution as last
-- folded), read by create_time: a recount is an add. A postback without a
-- mapped campaign is in the campaign "" row (it is a network's install, not an
-- organic one); SKAN postbacks have no link ("").

ALTER TABLE analytics.report_facts
    ADD COLUMN apple_org_id text NOT NULL DEFAULT '',
    ADD COLUMN apple_campaign_id text NOT NULL DEFAULT '',
    ADD COLUMN apple_ad_group_id text NOT NULL DEFAULT '',
    ADD COLUMN apple_keyword_id text NOT NULL DEFAULT '';

CREATE TABLE analytics.report_outcomes_apple (
    account_id             text NOT NULL,
    hour                   timestamptz NOT NULL,
    campaign_id            text NOT NULL,
    link_id                text NOT NULL,
    partner_id             text NOT NULL,
    app_id                 text NOT NULL,
    apple_org_id           text NOT NULL,
    apple_campaign_id      text NOT NULL,
    apple_ad_group_id      text NOT NULL,
    apple_keyword_id       text NOT NULL,
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
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id, apple_org_id, apple_campaign_id,
                 apple_ad_group_id, apple_keyword_id, goal_id, currency)
);
CREATE INDEX report_outcomes_apple_hour ON analytics.report_outcomes_apple (hour);

-- What is folded already goes in as it is in the per-link cube: no install
-- folded before this migration was an Apple Ads one.
INSERT INTO analytics.report_outcomes_apple (
    account_id, hour, campaign_id, link_id, partner_id, app_id, apple_org_id, apple_campaign_id, apple_ad_group_id,
    apple_keyword_id, goal_id, currency, installs, conversions, approved, revenue, suspicious_installs,
    suspicious_conversions, suspicious_approved, suspicious_revenue, invalid_installs, invalid_conversions,
    invalid_approved, invalid_revenue)
SELECT account_id, hour, campaign_id, link_id, partner_id, app_id, '', '', '', '', goal_id, currency, installs,
       conversions, approved, revenue, suspicious_installs, suspicious_conversions, suspicious_approved,
       suspicious_revenue, invalid_installs, invalid_conversions, invalid_approved, invalid_revenue
FROM analytics.report_outcomes_links;

-- kind: 's' a SKAN / AAK postback (fact_id its postback_id), 'r' a
-- re-engagement or re-attribution (its reattribution_id).
CREATE TABLE analytics.report_app_facts (
    account_id       text NOT NULL,
    kind             "char" NOT NULL,
    fact_id          text NOT NULL,
    hour             timestamptz NOT NULL,
    campaign_id      text NOT NULL,
    link_id          text NOT NULL,
    partner_id       text NOT NULL,
    app_id           text NOT NULL,
    currency         text NOT NULL,
    skan_installs    integer NOT NULL,
    skan_conversions integer NOT NULL,
    skan_revenue     numeric(24, 6) NOT NULL,
    re_engagements   integer NOT NULL,
    re_attributions  integer NOT NULL,
    PRIMARY KEY (account_id, kind, fact_id)
);

CREATE TABLE analytics.report_app (
    account_id       text NOT NULL,
    hour             timestamptz NOT NULL,
    campaign_id      text NOT NULL,
    link_id          text NOT NULL,
    partner_id       text NOT NULL,
    app_id           text NOT NULL,
    currency         text NOT NULL,
    skan_installs    bigint NOT NULL,
    skan_conversions bigint NOT NULL,
    skan_revenue     numeric NOT NULL,
    re_engagements   bigint NOT NULL,
    re_attributions  bigint NOT NULL,
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id, currency)
);
CREATE INDEX report_app_hour ON analytics.report_app (hour);
