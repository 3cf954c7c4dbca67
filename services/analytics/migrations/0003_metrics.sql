-- Product-metric rollups, folded from ingest.events by receive_time (the
-- runner's watermark) and keyed by the event's own time (event_time).
--
-- A user is hashtextextended('u:' || user_id, 0) when the event carries a
-- user_id, else hashtextextended('d:' || first of idfv, android_id, gaid, idfa, 0)
-- (services/analytics/metrics/rollups.py USER_KEY); events with neither have no user.
--
-- Every table except metric_errors merges idempotently (set union, min, max,
-- bit-or, insert-once), so folding a row twice changes nothing and a recount
-- is the same statement as an add. metric_errors holds sums, so it is keyed by
-- the receive hour too and a recount replaces those hours.

-- One row per (app, UTC day, user) with a bit per half hour (bit i: the user
-- sent an event in [i*30, i*30+30) minutes of that UTC day): enough to place
-- the activity in the days of any time zone whose offset is a multiple of 30 min.
CREATE TABLE analytics.metric_activity (
    account_id text NOT NULL,
    app_id     text NOT NULL,
    day        date NOT NULL,
    user_key   bigint NOT NULL,
    slots      bigint NOT NULL,
    PRIMARY KEY (account_id, app_id, day, user_key)
);
-- Each user's days in order (WAU/MAU, user flow and retention walk them per user).
CREATE INDEX metric_activity_user ON analytics.metric_activity (account_id, app_id, user_key, day) INCLUDE (slots);

-- First seen: each user's earliest event time in the app.
CREATE TABLE analytics.metric_users (
    account_id text NOT NULL,
    app_id     text NOT NULL,
    user_key   bigint NOT NULL,
    first_time timestamptz NOT NULL,
    PRIMARY KEY (account_id, app_id, user_key)
);
CREATE INDEX metric_users_first ON analytics.metric_users (account_id, app_id, first_time);

-- A session: the first and last event time of one session_id.
CREATE TABLE analytics.metric_sessions (
    account_id text NOT NULL,
    app_id     text NOT NULL,
    session_id text NOT NULL,
    first_time timestamptz NOT NULL,
    last_time  timestamptz NOT NULL,
    PRIMARY KEY (account_id, app_id, session_id)
);
CREATE INDEX metric_sessions_first ON analytics.metric_sessions (account_id, app_id, first_time);

-- Funnel steps: when each user did each screen (kind 4) or track action (kind 3);
-- per step in user order, so a funnel joins its steps user by user.
CREATE TABLE analytics.metric_steps (
    account_id text NOT NULL,
    app_id     text NOT NULL,
    kind       smallint NOT NULL,
    name       text NOT NULL,
    t          timestamptz NOT NULL,
    user_key   bigint NOT NULL,
    PRIMARY KEY (account_id, app_id, kind, name, user_key, t)
);

-- Error counts per half hour of event time, level, code and message (its first
-- 200 characters), per receive hour (what a recount replaces).
CREATE TABLE analytics.metric_errors (
    account_id   text NOT NULL,
    app_id       text NOT NULL,
    slot         timestamptz NOT NULL,
    receive_hour timestamptz NOT NULL,
    level        text NOT NULL,
    code         text NOT NULL,
    message      text NOT NULL,
    n            bigint NOT NULL,
    PRIMARY KEY (account_id, app_id, slot, receive_hour, level, code, message)
);
CREATE INDEX metric_errors_receive ON analytics.metric_errors (receive_hour);

-- Purchases (monetization_web2 / monetization_web3 track events): few beside
-- the other events, so one narrow row each; any time zone sums them exactly.
CREATE TABLE analytics.metric_purchases (
    account_id text NOT NULL,
    app_id     text NOT NULL,
    event_time timestamptz NOT NULL,
    event_uuid uuid NOT NULL,
    user_key   bigint,
    web3       boolean NOT NULL,
    currency   text NOT NULL,
    platform   text NOT NULL,
    bundle_id  text NOT NULL,
    amount     numeric NOT NULL,
    PRIMARY KEY (account_id, app_id, event_time, event_uuid)
);
