-- Apple Ads attribution (AdServices), issue 22 (services/attribution/apple_ads.py).

-- Per account: whether install tokens are resolved at all, the Apple Ads partner
-- (the catalog's apple_search_ads) and the campaign an Apple campaign no mapping
-- names is credited to (NULL: such an install keeps its match, the Apple ids are recorded).
CREATE TABLE attribution.apple_ads_settings (
    account_id          text PRIMARY KEY,
    enabled             boolean NOT NULL DEFAULT false,
    partner_id          text,
    default_campaign_id text,
    update_time         timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- Apple's campaignId -> our campaign.
CREATE TABLE attribution.apple_ads_mappings (
    account_id        text NOT NULL,
    apple_campaign_id bigint NOT NULL CHECK (apple_campaign_id > 0),
    campaign_id       text NOT NULL,
    create_time       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, apple_campaign_id)
);

-- One row per install whose token was resolved (its outcome is final: a replayed
-- job finds it and changes nothing). outcome (clicktrail.attribution.v1.AppleAdsOutcome):
-- 1 credited (match_type 5), 2 recorded (Apple ids kept, previous match kept: no
-- campaign to credit, or the match outranks Apple Ads), 3 not attributed
-- (attribution false), 4 invalid token (400), 5 not found (404 after the retries),
-- 6 expired (the token's 24 hours passed), 7 unavailable (5xx / unreachable on every attempt).
-- previous_*: the install's match before a credit (what it moved from).
CREATE TABLE attribution.apple_ads_lookups (
    account_id           text NOT NULL,
    install_id           text NOT NULL,
    outcome              smallint NOT NULL CHECK (outcome BETWEEN 1 AND 7),
    reason               text NOT NULL DEFAULT '',
    http_status          smallint,
    attempts             integer NOT NULL DEFAULT 1,
    org_id               bigint,
    apple_campaign_id    bigint,
    ad_group_id          bigint,
    keyword_id           bigint,
    ad_id                bigint,
    conversion_type      text,
    country_or_region    text,
    click_time           timestamptz,
    campaign_id          text,
    previous_match_type  smallint,
    previous_campaign_id text,
    previous_click_id    text,
    conversions_moved    integer NOT NULL DEFAULT 0,
    resolve_time         timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, install_id)
);
CREATE INDEX apple_ads_lookups_time ON attribution.apple_ads_lookups (account_id, resolve_time, install_id);
