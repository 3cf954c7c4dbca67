-- Issue 22, the tables analytics reads (the contract between the lanes): Apple Ads
-- on the install, SKAdNetwork / AdAttributionKit postbacks, re-engagements and
-- re-attributions. Each lane's own tables come in its own later migration.

-- Apple Ads (AdServices): match_type 5 = the install was credited by Apple's
-- attribution API (the token the SDK sent). The Apple ids are Apple's own
-- (orgId, campaignId, adGroupId, keywordId, adId); NULL on every other install.
ALTER TABLE attribution.installs DROP CONSTRAINT installs_match_type_check;
ALTER TABLE attribution.installs ADD CONSTRAINT installs_match_type_check CHECK (match_type BETWEEN 1 AND 5);
ALTER TABLE attribution.installs
    ADD COLUMN apple_ads_org_id      bigint,
    ADD COLUMN apple_ads_campaign_id bigint,
    ADD COLUMN apple_ads_ad_group_id bigint,
    ADD COLUMN apple_ads_keyword_id  bigint,
    ADD COLUMN apple_ads_ad_id       bigint,
    ADD COLUMN apple_ads_click_time  timestamptz;

-- SKAdNetwork / AdAttributionKit postbacks, one row per transaction id (the
-- developer copy and a network's forwarded copy are one row). kind: 1 skan, 2 aak.
-- sequence_index: 0, 1, 2 (SKAN 4 / AAK postbacks 1-3; earlier versions 0).
-- campaign_id: ours, mapped from (ad_network_id, source_identifier); NULL when unmapped.
-- fine_value / coarse_value: as received (coarse: 'low' | 'medium' | 'high').
-- installs: 1 for the winning first postback (sequence 0, did-win true or absent), else 0.
-- conversions / revenue: decoded through the app's conversion-value schema at receipt.
CREATE TABLE attribution.skan_postbacks (
    account_id        text NOT NULL,
    postback_id       text NOT NULL,
    transaction_id    text NOT NULL,
    kind              smallint NOT NULL CHECK (kind IN (1, 2)),
    version           text NOT NULL,
    app_id            text,
    store_app_id      text NOT NULL,
    ad_network_id     text NOT NULL,
    source_identifier text NOT NULL DEFAULT '',
    campaign_id       text,
    partner_id        text,
    source_app_id     text,
    source_domain     text,
    fidelity_type     smallint,
    redownload        boolean NOT NULL DEFAULT false,
    did_win           boolean NOT NULL DEFAULT true,
    sequence_index    smallint NOT NULL DEFAULT 0 CHECK (sequence_index BETWEEN 0 AND 2),
    fine_value        smallint CHECK (fine_value BETWEEN 0 AND 63),
    coarse_value      text CHECK (coarse_value IN ('low', 'medium', 'high')),
    installs          smallint NOT NULL DEFAULT 0,
    conversions       integer NOT NULL DEFAULT 0,
    revenue           numeric(24, 6),
    currency          text,
    received_via      smallint NOT NULL DEFAULT 1,  -- 1 developer copy (/.well-known), 2 network S2S
    receive_time      timestamptz NOT NULL,
    create_time       timestamptz NOT NULL DEFAULT clock_timestamp(),
    raw               jsonb NOT NULL,
    PRIMARY KEY (account_id, postback_id),
    UNIQUE (account_id, transaction_id)
);
CREATE INDEX skan_postbacks_campaign ON attribution.skan_postbacks (account_id, campaign_id, receive_time);
CREATE INDEX skan_postbacks_time ON attribution.skan_postbacks (receive_time);

-- Re-engagements (kind 1: a user of an installed app came back through a
-- retargeting campaign's click) and re-attributions (kind 2: a reinstall after
-- the reinstall window, credited to the campaign that brought it). Conversions
-- of the user until window_end credit campaign_id.
CREATE TABLE attribution.reattributions (
    account_id       text NOT NULL,
    reattribution_id text NOT NULL,
    kind             smallint NOT NULL CHECK (kind IN (1, 2)),
    install_id       text NOT NULL,
    app_id           text NOT NULL,
    device_key       text NOT NULL,
    event_uuid       uuid NOT NULL,
    event_time       timestamptz NOT NULL,
    match_type       smallint NOT NULL,
    click_id         text,
    touch_time       timestamptz,
    campaign_id      text NOT NULL,
    partner_id       text,
    link_id          text,
    window_end       timestamptz NOT NULL,
    create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, reattribution_id),
    UNIQUE (account_id, event_uuid)
);
CREATE INDEX reattributions_install ON attribution.reattributions (account_id, install_id, event_time);
CREATE INDEX reattributions_campaign ON attribution.reattributions (account_id, campaign_id, event_time);
CREATE INDEX reattributions_time ON attribution.reattributions (create_time);
