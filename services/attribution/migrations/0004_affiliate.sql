-- Affiliate campaigns (issue 21): conversions remember the click's flow (the
-- offer, lander and stream links chose; NULL when none), the inbound postback
-- log names the partner whose postback format read it, and each partner may
-- have a postback format (parameter aliases and status words).

ALTER TABLE attribution.conversions
    ADD COLUMN offer_id  text,
    ADD COLUMN lander_id text,
    ADD COLUMN stream_id text;
CREATE INDEX conversions_offer ON attribution.conversions (account_id, offer_id, conversion_id)
    WHERE offer_id IS NOT NULL;

ALTER TABLE attribution.inbound_postbacks
    ADD COLUMN partner_id text NOT NULL DEFAULT '';

-- aliases: {"click_id": ["aff_sub", ...], "txid": [...], ...} (our field -> parameter names, lower case)
-- status_words: {"<word>": 1 | 2 | 3} (pending, approved, rejected)
CREATE TABLE attribution.postback_formats (
    account_id   text NOT NULL,
    partner_id   text NOT NULL,
    preset_id    text NOT NULL DEFAULT '',
    aliases      jsonb NOT NULL DEFAULT '{}',
    status_words jsonb NOT NULL DEFAULT '{}',
    create_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    update_time  timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, partner_id)
);
