-- App campaigns (issue 22). Install events on iOS 14.3+: the AdServices
-- attribution token the SDK got from AAAttribution.attributionToken()
-- (attribution resolves it with Apple's attribution API). Any event: the
-- Firebase app instance id (32 hex characters). Both identify a person:
-- a GDPR erasure clears them (services/ingest/privacy.py).
ALTER TABLE ingest.events
    ADD COLUMN adservices_token text,
    ADD COLUMN app_instance_id text;
