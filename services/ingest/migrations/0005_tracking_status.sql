-- App campaigns (issue 22): the device's ad-tracking consent as the SDK sends
-- it (ingest.v1.TrackingStatus: iOS App Tracking Transparency, Android's limit
-- ad tracking), for the partners that take it on postbacks (Google Ads `lat`,
-- AppLovin `dnt`, Meta `advertiser_tracking_enabled`). NULL: not sent.
ALTER TABLE ingest.events
    ADD COLUMN tracking_status smallint;
