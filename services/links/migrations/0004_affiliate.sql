-- Affiliate campaigns (issue 21): offers, landers, a campaign's flow of streams,
-- custom tracking domains, link options, the flow's choice on every click,
-- lander click-throughs and the conversions counted against offer caps.

CREATE TABLE links.offers (
    account_id      text NOT NULL,
    offer_id        text NOT NULL,
    name            text NOT NULL,
    partner_id      text NOT NULL,
    url             text NOT NULL,
    payout_type     smallint NOT NULL DEFAULT 1,   -- links.v1.PayoutType
    payout_amount   numeric(24, 6),
    payout_currency text,
    countries       text[] NOT NULL DEFAULT '{}',
    daily_cap       bigint NOT NULL DEFAULT 0 CHECK (daily_cap >= 0),
    total_cap       bigint NOT NULL DEFAULT 0 CHECK (total_cap >= 0),
    cap_action      smallint NOT NULL DEFAULT 1,   -- links.v1.CapAction
    cap_url         text NOT NULL DEFAULT '',
    status          smallint NOT NULL DEFAULT 1,   -- links.v1.OfferStatus
    create_time     timestamptz NOT NULL DEFAULT now(),
    update_time     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, offer_id),
    FOREIGN KEY (account_id, partner_id) REFERENCES links.partners (account_id, partner_id)
);
CREATE INDEX offers_partner ON links.offers (account_id, partner_id, offer_id);

CREATE TABLE links.landers (
    account_id  text NOT NULL,
    lander_id   text NOT NULL,
    name        text NOT NULL,
    url         text NOT NULL,
    type        smallint NOT NULL DEFAULT 1,       -- links.v1.LanderType
    macros      jsonb NOT NULL DEFAULT '{}',
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, lander_id)
);

-- A campaign's flow. filters: [{"field", "exclude", "values"}]; landers /
-- offers: [{"lander_id"|"offer_id", "weight"}] (links.v1.Stream).
CREATE TABLE links.streams (
    account_id  text NOT NULL,
    stream_id   text NOT NULL,
    campaign_id text NOT NULL,
    name        text NOT NULL DEFAULT '',
    position    integer NOT NULL,
    filters     jsonb NOT NULL DEFAULT '[]',
    action      smallint NOT NULL,                 -- links.v1.StreamAction
    landers     jsonb NOT NULL DEFAULT '[]',
    offers      jsonb NOT NULL DEFAULT '[]',
    url         text NOT NULL DEFAULT '',
    paused      boolean NOT NULL DEFAULT false,
    create_time timestamptz NOT NULL DEFAULT now(),
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, stream_id),
    FOREIGN KEY (account_id, campaign_id) REFERENCES links.campaigns (account_id, campaign_id) ON DELETE CASCADE
);
CREATE INDEX streams_campaign ON links.streams (account_id, campaign_id, position, stream_id);

ALTER TABLE links.campaigns ADD COLUMN visitor_window_s integer NOT NULL DEFAULT 86400;

-- One account per host name: the name is unique across accounts.
CREATE TABLE links.domains (
    account_id  text NOT NULL,
    name        text NOT NULL UNIQUE,
    root_url    text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, name)
);

ALTER TABLE links.links
    ADD COLUMN domain          text,
    ADD COLUMN expire_time     timestamptz,
    ADD COLUMN max_clicks      bigint NOT NULL DEFAULT 0 CHECK (max_clicks >= 0),
    ADD COLUMN redirect_status smallint NOT NULL DEFAULT 0 CHECK (redirect_status IN (0, 301, 302, 307)),
    ADD FOREIGN KEY (account_id, domain) REFERENCES links.domains (account_id, name);

-- The flow's choice on each click (NULL without a flow).
ALTER TABLE links.clicks
    ADD COLUMN stream_id text,
    ADD COLUMN lander_id text,
    ADD COLUMN offer_id  text;

-- A visitor's click-through from the lander to the offer: at most one per click
-- (a second one still redirects, and is not counted again).
CREATE TABLE links.lander_clicks (
    account_id  text NOT NULL,
    click_id    text NOT NULL,
    click_time  timestamptz NOT NULL,
    create_time timestamptz NOT NULL DEFAULT clock_timestamp(),
    campaign_id text NOT NULL,
    link_id     text NOT NULL,
    stream_id   text NOT NULL,
    lander_id   text NOT NULL,
    offer_id    text,
    verdict     smallint NOT NULL DEFAULT 1,
    PRIMARY KEY (account_id, click_id)
);
CREATE INDEX lander_clicks_time ON links.lander_clicks (create_time);
CREATE INDEX lander_clicks_campaign ON links.lander_clicks (account_id, campaign_id, create_time);

-- Conversions counted against offer caps (RecordOfferConversions), once each;
-- day: the conversion's day in the account's time zone.
CREATE TABLE links.offer_conversions (
    account_id    text NOT NULL,
    conversion_id text NOT NULL,
    offer_id      text NOT NULL,
    day           date NOT NULL,
    event_time    timestamptz NOT NULL,
    rejected      boolean NOT NULL DEFAULT false,
    update_time   timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, conversion_id)
);
CREATE INDEX offer_conversions_offer ON links.offer_conversions (account_id, offer_id, day);
