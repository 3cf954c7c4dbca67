-- Deep links (issue 22): the apps' iOS / Android identities for the association
-- files and SKAdNetwork, a link's in-app deep link, and the deferred deep link
-- claims (one per click: the SDK gets a click's deep link once).

ALTER TABLE links.apps
    ADD COLUMN apple_team_id text NOT NULL DEFAULT '',
    ADD COLUMN apple_app_id text NOT NULL DEFAULT '',
    ADD COLUMN android_sha256_fingerprints text[] NOT NULL DEFAULT '{}';
-- LookupApps: a SKAN postback names the app by its App Store id, across accounts.
CREATE INDEX apps_apple_app_id ON links.apps (apple_app_id, account_id, app_id) WHERE apple_app_id <> '';

ALTER TABLE links.links ADD COLUMN deep_link text NOT NULL DEFAULT '';

-- The fingerprint match (newest click of the app's links from an IP + User-Agent
-- inside a short window) uses clicks_ip (account_id, ip, create_time) from 0001:
-- no new index on links.clicks, so recording a click costs what it did.
CREATE TABLE links.deep_link_claims (
    account_id  text NOT NULL,
    click_id    text NOT NULL,
    app_id      text NOT NULL,
    link_id     text NOT NULL,
    match       smallint NOT NULL,          -- DeepLinkMatch: 1 click id, 2 fingerprint
    claim_time  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_id, click_id)
);
