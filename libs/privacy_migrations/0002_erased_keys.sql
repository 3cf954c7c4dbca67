-- Erasure tombstones: one row per erased id (user id, device id, click id, or an
-- install / conversion id of the person) as a SHA-256 of the id, never the id
-- itself, with the time of its latest erasure and the pseudonym it got. Queue
-- consumers check the ids of a job queued before that time (a backlogged or
-- already-claimed job) so it cannot bring erased data back.
CREATE TABLE privacy.erased_keys (
    account_id  text NOT NULL,
    key_hash    bytea NOT NULL,
    erasure_id  text NOT NULL,
    pseudonym   text NOT NULL,
    erase_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, key_hash)
);
