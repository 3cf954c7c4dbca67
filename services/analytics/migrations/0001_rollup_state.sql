-- Where each rollup stands: raw rows with time < watermark are folded in;
-- hours before recounted_to were recounted from the raw tables once.
CREATE TABLE analytics.rollup_state (
    name         text PRIMARY KEY,
    watermark    timestamptz NOT NULL,
    recounted_to timestamptz NOT NULL,
    update_time  timestamptz NOT NULL DEFAULT clock_timestamp()
);
