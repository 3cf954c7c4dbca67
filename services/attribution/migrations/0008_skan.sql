-- SKAdNetwork / AdAttributionKit receipt (lane skan): which campaign an ad
-- network's source identifier (SKAN 4 / AAK) or campaign id (SKAN 1-3) stands
-- for, and the Apple key that verified each stored postback.

-- store_app_id '' = any app of the account; a mapping for the exact App Store id
-- wins over the any-app one. ad_network_id is kept lower case (Apple's ids are).
CREATE TABLE attribution.skan_mappings (
    account_id        text NOT NULL,
    mapping_id        text NOT NULL,
    ad_network_id     text NOT NULL,
    source_identifier text NOT NULL,
    store_app_id      text NOT NULL DEFAULT '',
    campaign_id       text NOT NULL,
    partner_id        text,
    create_time       timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (account_id, mapping_id),
    UNIQUE (account_id, ad_network_id, source_identifier, store_app_id)
);
CREATE INDEX skan_mappings_campaign ON attribution.skan_mappings (account_id, campaign_id);

-- 'apple-skan-p192' (SKAN 1.0, 2.0), 'apple-skan-p256' (2.1-4.0), or the
-- AdAttributionKit JWS kid ('apple-cas-identifier/0'; development keys only
-- where the operator allows them).
ALTER TABLE attribution.skan_postbacks ADD COLUMN signing_key text NOT NULL DEFAULT '';
CREATE INDEX skan_postbacks_recent ON attribution.skan_postbacks (account_id, receive_time DESC, postback_id DESC);
