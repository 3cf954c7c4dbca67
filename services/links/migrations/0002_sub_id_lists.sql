-- Per campaign sub-id blacklist (list = 1) and whitelist (list = 2). A click whose
-- sub-id value is blacklisted, and matches nothing whitelisted, is recorded but
-- sent to the campaign's fallback URL. sub_field is canonical: sub1 .. sub10.

CREATE TABLE links.sub_id_entries (
    account_id  text NOT NULL,
    campaign_id text NOT NULL,
    list        smallint NOT NULL CHECK (list IN (1, 2)),
    sub_field   text NOT NULL,
    value       text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    create_time timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, campaign_id, list, sub_field, value),
    FOREIGN KEY (account_id, campaign_id) REFERENCES links.campaigns (account_id, campaign_id) ON DELETE CASCADE
);
