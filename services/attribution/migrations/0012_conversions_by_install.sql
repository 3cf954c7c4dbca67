-- The conversions of an install: an Apple Ads credit (services/attribution/apple_ads.py)
-- moves the conversions credited through the install's old match; without this index
-- that is a scan of the account's conversions once per claim.
CREATE INDEX conversions_install ON attribution.conversions (account_id, install_id)
    WHERE install_id IS NOT NULL;
