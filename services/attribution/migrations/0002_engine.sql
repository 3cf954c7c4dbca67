-- The attribution engine: installs, conversions, goal occurrence counting and
-- the inbound postback log. Every row carries account_id and every key leads
-- with it. Replays of the event hand-off are absorbed by the unique keys.

-- match_type: 1 click_id, 2 device_id, 3 fingerprint, 4 organic.
-- touch_type: 0 none, 1 click, 2 impression.
CREATE TABLE attribution.installs (
    account_id   text NOT NULL,
    install_id   text NOT NULL,
    app_id       text NOT NULL,
    -- The device (or user) this install is of: one install per (account, app, device_key).
    device_key   text NOT NULL,
    event_uuid   uuid NOT NULL,
    install_time timestamptz NOT NULL,
    receive_time timestamptz NOT NULL,
    create_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    match_type   smallint NOT NULL CHECK (match_type BETWEEN 1 AND 4),
    touch_type   smallint NOT NULL DEFAULT 0,
    click_id     text,
    touch_time   timestamptz,
    campaign_id  text,
    partner_id   text,
    link_id      text,
    user_id      text,
    idfa         text,
    gaid         text,
    ip           inet,
    PRIMARY KEY (account_id, install_id),
    UNIQUE (account_id, app_id, device_key),
    UNIQUE (account_id, event_uuid)
);
CREATE INDEX installs_campaign ON attribution.installs (account_id, campaign_id, install_id);

-- Every identity an install was seen with (gaid:, idfa:, idfv:, android_id:, user:),
-- so later events of the user find the install.
CREATE TABLE attribution.install_keys (
    account_id text NOT NULL,
    app_id     text NOT NULL,
    key        text NOT NULL,
    install_id text NOT NULL,
    PRIMARY KEY (account_id, app_id, key)
);

-- status: 1 pending, 2 approved, 3 rejected. source: 1 event, 2 postback.
-- dedup_key makes a replayed event or a resent postback land on the same row:
--   event goals:  ev:<goal_id>:<event_uuid>:<campaign>   (occurrence "every")
--                 occ:<goal_id>:<user_key>:<campaign>    (occurrence "first" / "nth")
--   postbacks:    tx:<click_id>:<txid>  or  goal:<click_id>:<goal>
CREATE TABLE attribution.conversions (
    account_id    text NOT NULL,
    conversion_id text NOT NULL,
    dedup_key     text NOT NULL,
    source        smallint NOT NULL CHECK (source IN (1, 2)),
    goal_id       text NOT NULL DEFAULT '',
    goal          text NOT NULL DEFAULT '',
    kind          text NOT NULL DEFAULT '',
    status        smallint NOT NULL CHECK (status BETWEEN 1 AND 3),
    payout        numeric(24, 6) CHECK (payout IS NULL OR payout >= 0),
    currency      text,
    txid          text,
    click_id      text,
    touch_time    timestamptz,
    campaign_id   text,
    partner_id    text,
    link_id       text,
    install_id    text,
    app_id        text,
    user_key      text,
    user_id       text,
    event_uuid    uuid,
    event_time    timestamptz NOT NULL,
    receive_time  timestamptz,
    create_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    update_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, conversion_id),
    UNIQUE (account_id, dedup_key)
);
CREATE INDEX conversions_campaign ON attribution.conversions (account_id, campaign_id, conversion_id);
CREATE INDEX conversions_click ON attribution.conversions (account_id, click_id, conversion_id)
    WHERE click_id IS NOT NULL;

-- Which (event, goal) pairs were already handled: a replayed event is skipped,
-- so it is neither counted again nor credited to a different campaign. And for
-- "first" / "nth" goals, how many of a user's events matched.
CREATE TABLE attribution.goal_counts (
    account_id text NOT NULL,
    goal_id    text NOT NULL,
    user_key   text NOT NULL,
    count      bigint NOT NULL,
    PRIMARY KEY (account_id, goal_id, user_key)
);
CREATE TABLE attribution.goal_hits (
    account_id text NOT NULL,
    event_uuid uuid NOT NULL,
    goal_id    text NOT NULL,
    PRIMARY KEY (account_id, event_uuid, goal_id)
);

-- Every inbound postback: the request and what came of it.
CREATE TABLE attribution.inbound_postbacks (
    account_id    text NOT NULL,
    postback_id   text NOT NULL,
    receive_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    method        text NOT NULL DEFAULT '',
    client_ip     text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    params        jsonb NOT NULL DEFAULT '{}',
    click_id      text NOT NULL DEFAULT '',
    txid          text NOT NULL DEFAULT '',
    http_status   smallint NOT NULL,
    outcome       text NOT NULL,
    error         text NOT NULL DEFAULT '',
    field         text NOT NULL DEFAULT '',
    conversion_id text NOT NULL DEFAULT '',
    status        smallint NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, postback_id)
);
CREATE INDEX inbound_postbacks_click ON attribution.inbound_postbacks (account_id, click_id, postback_id);
