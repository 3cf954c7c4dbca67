-- Postback templates, partner signing secrets, deliveries and their attempt log.
-- Every key leads with account_id.
CREATE TABLE postbacks.templates (
    account_id       text NOT NULL,
    template_id      text NOT NULL,
    partner_id       text NOT NULL,
    app_id           text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    trigger          text NOT NULL,            -- install | goal | conversion | status_change
    goal_id          text NOT NULL DEFAULT '',
    sending_mode     text NOT NULL,            -- attributed | all
    method           text NOT NULL,            -- GET | POST
    url_template     text NOT NULL,
    body_template    text NOT NULL DEFAULT '',
    headers          jsonb NOT NULL DEFAULT '{}',
    settings         jsonb NOT NULL DEFAULT '{}',
    signature_header text NOT NULL DEFAULT '',
    enabled          boolean NOT NULL DEFAULT true,
    catalog_key      text NOT NULL DEFAULT '',
    create_time      timestamptz NOT NULL DEFAULT now(),
    update_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, template_id)
);
CREATE INDEX templates_partner ON postbacks.templates (account_id, partner_id);

CREATE TABLE postbacks.partner_secrets (
    account_id  text NOT NULL,
    partner_id  text NOT NULL,
    secret      text NOT NULL,
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, partner_id)
);

-- One row per (outbound event, template): the rendered request and its state.
CREATE TABLE postbacks.deliveries (
    account_id        text NOT NULL,
    delivery_id       text NOT NULL,
    event_id          text NOT NULL,
    template_id       text NOT NULL,
    partner_id        text NOT NULL,
    event_kind        text NOT NULL,
    status            text NOT NULL DEFAULT 'pending',  -- pending | retrying | delivered | failed | dead
    method            text NOT NULL,
    url               text NOT NULL,
    headers           jsonb NOT NULL DEFAULT '{}',
    body              bytea NOT NULL DEFAULT '',
    job_id            bigint,
    attempts          integer NOT NULL DEFAULT 0,
    last_status_code  integer NOT NULL DEFAULT 0,
    last_error        text NOT NULL DEFAULT '',
    next_attempt_time timestamptz,
    create_time       timestamptz NOT NULL DEFAULT now(),
    update_time       timestamptz NOT NULL DEFAULT now(),
    delivered_time    timestamptz,
    PRIMARY KEY (account_id, delivery_id),
    UNIQUE (account_id, event_id, template_id)
);
CREATE INDEX deliveries_status ON postbacks.deliveries (account_id, status, delivery_id);

CREATE TABLE postbacks.attempts (
    account_id    text NOT NULL,
    delivery_id   text NOT NULL,
    attempt       integer NOT NULL,
    time          timestamptz NOT NULL DEFAULT now(),
    status_code   integer NOT NULL DEFAULT 0,
    latency_ms    double precision NOT NULL DEFAULT 0,
    response_head text NOT NULL DEFAULT '',
    error         text NOT NULL DEFAULT ''
);
CREATE INDEX attempts_delivery ON postbacks.attempts (account_id, delivery_id, time);
