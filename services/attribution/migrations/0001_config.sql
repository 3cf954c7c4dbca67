-- Attribution configuration: goals, settings breakpoints, tariffs, corrections.
-- Every row carries account_id and every key leads with it.

-- A goal: an event + conditions + which occurrence counts (see services/attribution/goals.py).
-- At most 25 per account, enforced under a per-account advisory lock.
CREATE TABLE attribution.goals (
    account_id    text NOT NULL,
    goal_id       text NOT NULL,
    name          text NOT NULL,
    kind          text NOT NULL CHECK (kind IN ('purchase', 'custom')),
    event         text NOT NULL,
    -- [{"path": "...", "op": "eq", "value": "...", "values": [...]}, ...]
    conditions    jsonb NOT NULL DEFAULT '[]',
    occurrence    text NOT NULL CHECK (occurrence IN ('first', 'every', 'nth')),
    nth           integer NOT NULL DEFAULT 0,
    value_path    text NOT NULL DEFAULT '',
    currency_path text NOT NULL DEFAULT '',
    create_time   timestamptz NOT NULL DEFAULT now(),
    update_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, goal_id)
);
-- Names are unique per account (case-insensitive): postbacks and reports name goals.
CREATE UNIQUE INDEX goals_name ON attribution.goals (account_id, lower(name));

-- Settings breakpoints: each change stores the complete settings in force from
-- effective_time on. Never updated or deleted.
CREATE TABLE attribution.settings_history (
    account_id           text NOT NULL,
    breakpoint_id        bigint GENERATED ALWAYS AS IDENTITY,
    effective_time       timestamptz NOT NULL DEFAULT now(),
    click_lookback_s     bigint NOT NULL,
    view_lookback_s      bigint NOT NULL,
    fingerprint_window_s bigint NOT NULL,
    conversion_window_s  bigint NOT NULL,
    -- The fields this breakpoint changed.
    changed              text[] NOT NULL DEFAULT '{}',
    PRIMARY KEY (account_id, breakpoint_id)
);
CREATE INDEX settings_history_time ON attribution.settings_history (account_id, effective_time);

-- Tariffs: the price model of a campaign from effective_date (UTC day) until the
-- next tariff's date. model: 1 CPC, 2 CPM (per 1000 impressions), 3 CPI,
-- 4 CPA (per conversion of goal_id), 5 REVSHARE (percent of revenue).
CREATE TABLE attribution.tariffs (
    account_id     text NOT NULL,
    tariff_id      text NOT NULL,
    campaign_id    text NOT NULL,
    model          smallint NOT NULL CHECK (model BETWEEN 1 AND 5),
    amount         numeric(24, 6),
    currency       text,
    percent        numeric(9, 6),
    goal_id        text,
    effective_date date NOT NULL,
    create_time    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, tariff_id),
    UNIQUE (account_id, campaign_id, effective_date),
    FOREIGN KEY (account_id, goal_id) REFERENCES attribution.goals (account_id, goal_id),
    CHECK ((model = 5) = (percent IS NOT NULL)),
    CHECK ((model = 5) = (amount IS NULL)),
    CHECK ((model = 4) = (goal_id IS NOT NULL))
);

-- Corrections: a sum for a campaign over [start_date, end_date] (UTC days,
-- inclusive), spread evenly over the days by analytics.
CREATE TABLE attribution.corrections (
    account_id    text NOT NULL,
    correction_id text NOT NULL,
    campaign_id   text NOT NULL,
    amount        numeric(24, 6) NOT NULL,
    currency      text NOT NULL,
    start_date    date NOT NULL,
    end_date      date NOT NULL,
    note          text NOT NULL DEFAULT '',
    create_time   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, correction_id),
    CHECK (end_date >= start_date)
);
CREATE INDEX corrections_campaign ON attribution.corrections (account_id, campaign_id, start_date);
