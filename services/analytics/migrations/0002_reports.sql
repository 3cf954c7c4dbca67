-- Campaign-report rollups (services/analytics/reports/).
--
-- report_traffic* : clicks and impressions, folded from links.clicks /
-- links.impressions by create_time (the runner's watermark and the bucket are
-- the same time). A recount replaces whole hours of the hourly cubes and
-- rebuilds the UTC days they touch in the daily ones, up to what the runner
-- has folded.
--
-- report_outcomes* : attributed installs (bucketed by install_time) and
-- conversions (by event_time), folded by delta against report_facts (one row
-- per install / conversion as last folded), so a conversion whose status or
-- payout changes later moves its contribution, and folding the same raw row
-- twice changes nothing (a recount is an add).
--
-- Four cubes of each, a report reads the smallest that holds its dimensions:
--   *_links  UTC hours x campaign, link, partner, app: every report without
--            country / device type / OS / sub-ids, in any whole-hour time zone;
--   *        UTC hours x those and country, device type, OS: such reports by
--            hour, by link, by day in a zone that is not UTC, and the edge hours
--            of a range that is not whole UTC days;
--   *_daily  UTC days x campaign, partner, app, country, device type, OS: the
--            whole UTC days of the other reports with country / device / OS;
--   *_subs   UTC days x campaign, partner, app and one (sub number, value) per
--            row, non-empty values only.
-- Sub-ids are kept apart and by day: ten sub-ids with many values each would
-- make an hourly, per-link, per-country cube about as big as the clicks. The
-- price: a report takes one sub-id at a time, beside campaign, partner, app and
-- day only, over whole UTC days (time zone UTC).

CREATE TABLE analytics.report_traffic_links (
    account_id    text NOT NULL,
    hour          timestamptz NOT NULL,
    campaign_id   text NOT NULL,
    link_id       text NOT NULL,
    partner_id    text NOT NULL,
    app_id        text NOT NULL,
    clicks        bigint NOT NULL,
    unique_clicks bigint NOT NULL,
    impressions   bigint NOT NULL,
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id)
);
CREATE INDEX report_traffic_links_hour ON analytics.report_traffic_links (hour);

CREATE TABLE analytics.report_traffic (
    account_id    text NOT NULL,
    hour          timestamptz NOT NULL,
    campaign_id   text NOT NULL,
    link_id       text NOT NULL,
    partner_id    text NOT NULL,
    app_id        text NOT NULL,
    country       text NOT NULL,
    device_type   smallint NOT NULL,
    os            text NOT NULL,
    clicks        bigint NOT NULL,
    unique_clicks bigint NOT NULL,
    impressions   bigint NOT NULL,
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id, country, device_type, os)
);
CREATE INDEX report_traffic_hour ON analytics.report_traffic (hour);

CREATE TABLE analytics.report_traffic_daily (
    account_id    text NOT NULL,
    day           date NOT NULL,
    campaign_id   text NOT NULL,
    partner_id    text NOT NULL,
    app_id        text NOT NULL,
    country       text NOT NULL,
    device_type   smallint NOT NULL,
    os            text NOT NULL,
    clicks        bigint NOT NULL,
    unique_clicks bigint NOT NULL,
    impressions   bigint NOT NULL,
    PRIMARY KEY (account_id, day, campaign_id, partner_id, app_id, country, device_type, os)
);
CREATE INDEX report_traffic_daily_day ON analytics.report_traffic_daily (day);

CREATE TABLE analytics.report_traffic_subs (
    account_id    text NOT NULL,
    day           date NOT NULL,
    sub_no        smallint NOT NULL,
    campaign_id   text NOT NULL,
    partner_id    text NOT NULL,
    app_id        text NOT NULL,
    sub_value     text NOT NULL,
    clicks        bigint NOT NULL,
    unique_clicks bigint NOT NULL,
    impressions   bigint NOT NULL,
    PRIMARY KEY (account_id, sub_no, day, campaign_id, partner_id, app_id, sub_value)
);
CREATE INDEX report_traffic_subs_day ON analytics.report_traffic_subs (day);

-- kind: 'i' install, 'c' conversion. goal_id: the conversion's goal id (its goal
-- name for postbacks without one, '(none)' without either), '' for installs.
-- status: 1 pending, 2 approved, 3 rejected (0 for installs).
CREATE TABLE analytics.report_facts (
    account_id  text NOT NULL,
    kind        "char" NOT NULL,
    fact_id     text NOT NULL,
    hour        timestamptz NOT NULL,
    campaign_id text NOT NULL,
    link_id     text NOT NULL,
    partner_id  text NOT NULL,
    app_id      text NOT NULL,
    country     text NOT NULL,
    device_type smallint NOT NULL,
    os          text NOT NULL,
    subs        text[] NOT NULL,
    goal_id     text NOT NULL,
    currency    text NOT NULL,
    status      smallint NOT NULL,
    payout      numeric(24, 6) NOT NULL,
    PRIMARY KEY (account_id, kind, fact_id)
);

CREATE TABLE analytics.report_outcomes_links (
    account_id  text NOT NULL,
    hour        timestamptz NOT NULL,
    campaign_id text NOT NULL,
    link_id     text NOT NULL,
    partner_id  text NOT NULL,
    app_id      text NOT NULL,
    goal_id     text NOT NULL,
    currency    text NOT NULL,
    installs    bigint NOT NULL,
    conversions bigint NOT NULL,
    approved    bigint NOT NULL,
    revenue     numeric NOT NULL,
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id, goal_id, currency)
);

CREATE TABLE analytics.report_outcomes (
    account_id  text NOT NULL,
    hour        timestamptz NOT NULL,
    campaign_id text NOT NULL,
    link_id     text NOT NULL,
    partner_id  text NOT NULL,
    app_id      text NOT NULL,
    country     text NOT NULL,
    device_type smallint NOT NULL,
    os          text NOT NULL,
    goal_id     text NOT NULL,
    currency    text NOT NULL,
    installs    bigint NOT NULL,
    conversions bigint NOT NULL,
    approved    bigint NOT NULL,
    revenue     numeric NOT NULL,
    PRIMARY KEY (account_id, hour, campaign_id, link_id, partner_id, app_id, country, device_type, os, goal_id, currency)
);

CREATE TABLE analytics.report_outcomes_daily (
    account_id  text NOT NULL,
    day         date NOT NULL,
    campaign_id text NOT NULL,
    partner_id  text NOT NULL,
    app_id      text NOT NULL,
    country     text NOT NULL,
    device_type smallint NOT NULL,
    os          text NOT NULL,
    goal_id     text NOT NULL,
    currency    text NOT NULL,
    installs    bigint NOT NULL,
    conversions bigint NOT NULL,
    approved    bigint NOT NULL,
    revenue     numeric NOT NULL,
    PRIMARY KEY (account_id, day, campaign_id, partner_id, app_id, country, device_type, os, goal_id, currency)
);

CREATE TABLE analytics.report_outcomes_subs (
    account_id  text NOT NULL,
    day         date NOT NULL,
    sub_no      smallint NOT NULL,
    campaign_id text NOT NULL,
    partner_id  text NOT NULL,
    app_id      text NOT NULL,
    sub_value   text NOT NULL,
    goal_id     text NOT NULL,
    currency    text NOT NULL,
    installs    bigint NOT NULL,
    conversions bigint NOT NULL,
    approved    bigint NOT NULL,
    revenue     numeric NOT NULL,
    PRIMARY KEY (account_id, sub_no, day, campaign_id, partner_id, app_id, sub_value, goal_id, currency)
);
