-- Automation rules, their runs and the actions each run took (or would take).
-- Scheduled runs are claimed per slot (next_run_time) with FOR UPDATE SKIP LOCKED,
-- so several analytics replicas never run one rule twice for the same slot.

CREATE TABLE analytics.rules (
    account_id    text NOT NULL,
    rule_id       text NOT NULL,
    name          text NOT NULL,
    enabled       boolean NOT NULL,
    dry_run       boolean NOT NULL,
    campaign_ids  text[] NOT NULL DEFAULT '{}',
    grouping      smallint NOT NULL,
    sub_id_field  text NOT NULL DEFAULT '',
    window_s      integer NOT NULL,
    conditions    jsonb NOT NULL,
    action        jsonb NOT NULL,
    currency_code text NOT NULL DEFAULT '',
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    last_run_time timestamptz,
    next_run_time timestamptz NOT NULL,
    PRIMARY KEY (account_id, rule_id)
);
CREATE INDEX rules_due ON analytics.rules (next_run_time) WHERE enabled;

CREATE TABLE analytics.rule_runs (
    account_id       text NOT NULL,
    run_id           text NOT NULL,
    rule_id          text NOT NULL,
    trigger          smallint NOT NULL,
    -- The schedule slot a scheduled run was claimed for (NULL for manual runs).
    slot_time        timestamptz,
    dry_run          boolean NOT NULL,
    status           smallint NOT NULL,
    error            text NOT NULL DEFAULT '',
    start_time       timestamptz NOT NULL DEFAULT clock_timestamp(),
    end_time         timestamptz,
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    groups_evaluated integer NOT NULL DEFAULT 0,
    groups_matched   integer NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, run_id),
    FOREIGN KEY (account_id, rule_id) REFERENCES analytics.rules (account_id, rule_id) ON DELETE CASCADE
);
CREATE INDEX rule_runs_by_rule ON analytics.rule_runs (account_id, rule_id, run_id);
-- Belt and braces: one scheduled run per rule and slot.
CREATE UNIQUE INDEX rule_runs_slot ON analytics.rule_runs (account_id, rule_id, slot_time) WHERE slot_time IS NOT NULL;

CREATE TABLE analytics.rule_actions (
    account_id   text NOT NULL,
    run_id       text NOT NULL,
    n            integer NOT NULL,
    campaign_id  text NOT NULL,
    sub_id_field text NOT NULL DEFAULT '',
    sub_id_value text NOT NULL DEFAULT '',
    action       text NOT NULL,
    outcome      smallint NOT NULL,
    detail       text NOT NULL DEFAULT '',
    metrics      jsonb NOT NULL DEFAULT '{}',
    create_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, run_id, n),
    FOREIGN KEY (account_id, run_id) REFERENCES analytics.rule_runs (account_id, run_id) ON DELETE CASCADE
);
