-- Events (daily partitions by receive time), the uuid ledger that makes
-- ingestion idempotent, and the first-seen time of users and devices.

CREATE TABLE ingest.events (
    account_id   text NOT NULL,
    app_id       text NOT NULL,
    event_uuid   uuid NOT NULL,
    event        smallint NOT NULL,
    event_time   timestamptz NOT NULL,
    receive_time timestamptz NOT NULL,
    session_id   text,
    session_offset bigint,
    user_id      text,
    ref          text,
    idfa         text,
    gaid         text,
    idfv         text,
    android_id   text,
    platform     smallint NOT NULL DEFAULT 0,
    os_version   text,
    device_model text,
    locale       text,
    ip           inet,
    user_agent   text,
    action       text,
    properties   jsonb,
    click_id     text,
    PRIMARY KEY (account_id, event_uuid, receive_time)
) PARTITION BY RANGE (receive_time);
CREATE INDEX events_app_time ON ingest.events (account_id, app_id, receive_time);
CREATE INDEX events_user ON ingest.events (account_id, user_id, receive_time) WHERE user_id IS NOT NULL;

-- One row per stored uuid: the unique key that makes a resent event a
-- duplicate, even when two replicas receive it at the same moment.
CREATE TABLE ingest.event_ids (
    account_id   text NOT NULL,
    event_uuid   uuid NOT NULL,
    receive_time timestamptz NOT NULL,
    PRIMARY KEY (account_id, event_uuid)
);

-- kind 1 = user id, 2 = device id (IDFA, GAID, IDFV or Android id).
CREATE TABLE ingest.first_seen (
    account_id text NOT NULL,
    app_id     text NOT NULL,
    kind       smallint NOT NULL,
    id         text NOT NULL,
    first_time timestamptz NOT NULL,
    PRIMARY KEY (account_id, app_id, kind, id)
);
