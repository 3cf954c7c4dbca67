-- Apps, partners, campaigns, links; clicks and impressions (daily partitions).
-- Every row carries account_id and every key leads with it.

CREATE TABLE links.apps (
    account_id  text NOT NULL,
    app_id      text NOT NULL,
    name        text NOT NULL,
    platform    smallint NOT NULL,
    bundle_id   text NOT NULL DEFAULT '',
    store_url   text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, app_id)
);

CREATE TABLE links.partners (
    account_id  text NOT NULL,
    partner_id  text NOT NULL,
    name        text NOT NULL,
    catalog_key text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, partner_id)
);

CREATE TABLE links.campaigns (
    account_id      text NOT NULL,
    campaign_id     text NOT NULL,
    name            text NOT NULL,
    type            smallint NOT NULL,
    traffic_type    smallint NOT NULL DEFAULT 0,
    partner_id      text NOT NULL,
    app_id          text,
    status          smallint NOT NULL,
    fallback_url    text NOT NULL DEFAULT '',
    budget_amount   numeric(24, 6),
    budget_currency text,
    target_goal_id  text NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    publish_time    timestamptz,
    PRIMARY KEY (account_id, campaign_id),
    FOREIGN KEY (account_id, partner_id) REFERENCES links.partners (account_id, partner_id),
    FOREIGN KEY (account_id, app_id) REFERENCES links.apps (account_id, app_id)
);
CREATE INDEX campaigns_partner ON links.campaigns (account_id, partner_id);
CREATE INDEX campaigns_app ON links.campaigns (account_id, app_id);

CREATE TABLE links.links (
    account_id      text NOT NULL,
    link_id         text NOT NULL,
    campaign_id     text NOT NULL,
    app_id          text,
    name            text NOT NULL DEFAULT '',
    -- Public and global: the click URL carries only the slug.
    slug            text NOT NULL UNIQUE,
    destination_url text NOT NULL,
    ios_url         text NOT NULL DEFAULT '',
    android_url     text NOT NULL DEFAULT '',
    desktop_url     text NOT NULL DEFAULT '',
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, link_id),
    FOREIGN KEY (account_id, campaign_id) REFERENCES links.campaigns (account_id, campaign_id) ON DELETE CASCADE,
    FOREIGN KEY (account_id, app_id) REFERENCES links.apps (account_id, app_id)
);
CREATE INDEX links_campaign ON links.links (account_id, campaign_id, link_id);

-- Clicks: append-only, partitioned by day; the click id's leading 48 bits are
-- the create_time in ms, so a lookup by id prunes to one partition.
CREATE TABLE links.clicks (
    account_id       text NOT NULL,
    click_id         text NOT NULL,
    create_time      timestamptz NOT NULL,
    link_id          text NOT NULL,
    campaign_id      text NOT NULL,
    partner_id       text NOT NULL,
    app_id           text,
    ip               inet,
    country          text,
    device_type      smallint NOT NULL DEFAULT 0,
    os               text,
    os_version       text,
    browser          text,
    browser_version  text,
    device_model     text,
    referrer         text,
    user_agent       text,
    sub1 text, sub2 text, sub3 text, sub4 text, sub5 text,
    sub6 text, sub7 text, sub8 text, sub9 text, sub10 text,
    partner_click_id text,
    idfa             text,
    gaid             text,
    params           jsonb,
    PRIMARY KEY (account_id, click_id, create_time)
) PARTITION BY RANGE (create_time);
CREATE INDEX clicks_campaign ON links.clicks (account_id, campaign_id, click_id);
CREATE INDEX clicks_idfa ON links.clicks (account_id, idfa, create_time) WHERE idfa IS NOT NULL;
CREATE INDEX clicks_gaid ON links.clicks (account_id, gaid, create_time) WHERE gaid IS NOT NULL;
CREATE INDEX clicks_ip ON links.clicks (account_id, ip, create_time);

CREATE TABLE links.impressions (LIKE links.clicks INCLUDING DEFAULTS) PARTITION BY RANGE (create_time);
ALTER TABLE links.impressions RENAME COLUMN click_id TO impression_id;
ALTER TABLE links.impressions ADD PRIMARY KEY (account_id, impression_id, create_time);
CREATE INDEX impressions_campaign ON links.impressions (account_id, campaign_id, impression_id);
CREATE INDEX impressions_idfa ON links.impressions (account_id, idfa, create_time) WHERE idfa IS NOT NULL;
CREATE INDEX impressions_gaid ON links.impressions (account_id, gaid, create_time) WHERE gaid IS NOT NULL;
CREATE INDEX impressions_ip ON links.impressions (account_id, ip, create_time);
