-- The GDPR erasure log, shared by every service (like the queue schema): one
-- row per erasure and service, with the rows it changed. No personal ids.
CREATE TABLE privacy.erasures (
    account_id  text NOT NULL,
    erasure_id  text NOT NULL,
    service     text NOT NULL,
    erase_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    rows        jsonb NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, erasure_id, service)
);
CREATE INDEX erasures_time ON privacy.erasures (account_id, erase_time DESC, erasure_id, service);
