-- SKAdNetwork / AdAttributionKit conversion-value schemas (issue 22, lane skanv):
-- per account and app, versioned. An update inserts the next version; old
-- versions stay (the history, and what a past postback was decoded with).
-- schema: the checked JSON document (services/attribution/skan_values.py:
-- currency, fine_values, coarse_values, lock_windows; money as decimal strings).
-- A postback is decoded at receipt with the latest version (the one in force
-- when it is received).
CREATE TABLE attribution.skan_schemas (
    account_id  text NOT NULL,
    app_id      text NOT NULL,
    version     integer NOT NULL CHECK (version >= 1),
    schema      jsonb NOT NULL,
    note        text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, app_id, version)
);
