-- The work queue every service shares (libs/queue.py). A job is enqueued in
-- the producer's own transaction, claimed with FOR UPDATE SKIP LOCKED, and
-- deleted when done. Claiming moves run_at forward by the lease, so a job
-- whose consumer died becomes due again by itself.
CREATE TABLE queue.jobs (
    job_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    queue        text NOT NULL,
    account_id   text NOT NULL DEFAULT '',
    payload      bytea NOT NULL,
    run_at       timestamptz NOT NULL DEFAULT now(),
    attempts     integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL,
    dead         boolean NOT NULL DEFAULT false,
    last_error   text,
    create_time  timestamptz NOT NULL DEFAULT now(),
    update_time  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX jobs_due ON queue.jobs (queue, run_at) WHERE NOT dead;
CREATE INDEX jobs_dead ON queue.jobs (queue, account_id, job_id) WHERE dead;
