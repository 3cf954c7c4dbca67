-- Traffic quality (issue 18): a verdict on every touch, decided on the click path.
-- verdict: clicktrail.type.v1.Verdict (1 clean, 2 suspicious, 3 invalid);
-- reasons: bitmask of libs/quality.py reason codes (fixed bits).

ALTER TABLE links.clicks
    ADD COLUMN verdict smallint NOT NULL DEFAULT 1,
    ADD COLUMN reasons bigint NOT NULL DEFAULT 0;
ALTER TABLE links.impressions
    ADD COLUMN verdict smallint NOT NULL DEFAULT 1,
    ADD COLUMN reasons bigint NOT NULL DEFAULT 0;

-- Listing flagged touches newest first (`click list --verdict invalid`) without
-- walking the clean ones, which are most of them.
CREATE INDEX clicks_flagged ON links.clicks (account_id, click_id) WHERE verdict <> 1;
CREATE INDEX impressions_flagged ON links.impressions (account_id, impression_id) WHERE verdict <> 1;

-- What a campaign does with an invalid click: 0/1 redirect as usual, 2 its
-- fallback URL, 3 answer without a redirect (links.v1.InvalidTrafficAction).
ALTER TABLE links.campaigns ADD COLUMN invalid_traffic_action smallint NOT NULL DEFAULT 0;

-- One row per operator overrule of a touch verdict; the touch row's verdict is
-- updated too (with the `operator` reason bit). Analytics watches create_time
-- to recount the hours of the overruled touches.
CREATE TABLE links.touch_overrules (
    account_id       text NOT NULL,
    overrule_id      text NOT NULL,
    kind             "char" NOT NULL CHECK (kind IN ('c', 'i')),
    touch_id         text NOT NULL,
    touch_time       timestamptz NOT NULL,
    previous_verdict smallint NOT NULL,
    verdict          smallint NOT NULL,
    note             text NOT NULL DEFAULT '',
    create_time      timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, overrule_id)
);
CREATE INDEX touch_overrules_time ON links.touch_overrules (create_time);
CREATE INDEX touch_overrules_touch ON links.touch_overrules (account_id, touch_id);

-- Click-time check settings: campaign_id '' holds the account's defaults, a
-- campaign's row only the values it overrides. settings: {"checks": {code: bool},
-- "flood_ip_clicks": n, ...} (services/links/quality.py).
CREATE TABLE links.quality_settings (
    account_id  text NOT NULL,
    campaign_id text NOT NULL DEFAULT '',
    settings    jsonb NOT NULL DEFAULT '{}',
    update_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, campaign_id)
);

-- The account's block and allow lists: User-Agent patterns and networks (a
-- CIDR "10.0.0.0/8" or an ASN "AS13335"), stored normalised.
CREATE TABLE links.quality_list_entries (
    account_id  text NOT NULL,
    list        text NOT NULL CHECK (list IN ('block', 'allow')),
    kind        text NOT NULL CHECK (kind IN ('user_agent', 'network')),
    value       text NOT NULL,
    note        text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, list, kind, value)
);

-- Sub-ids whose clicks are far out of line with their installs, flagged by the
-- analytics job (FlagSubIds); a click carrying one gets `flood_sub_id` until expire_time.
CREATE TABLE links.flagged_sub_ids (
    account_id  text NOT NULL,
    campaign_id text NOT NULL,
    sub_field   text NOT NULL,
    value       text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz NOT NULL,
    PRIMARY KEY (account_id, campaign_id, sub_field, value)
);
CREATE INDEX flagged_sub_ids_expire ON links.flagged_sub_ids (account_id, expire_time);
