-- App campaigns (issue 22): the ad-tracking consent of the SDK event an install
-- or a conversion came from (ingest.v1.TrackingStatus; NULL: not sent, or a
-- conversion from an inbound postback), so that an outbound event sent again
-- later (an overrule, an Apple Ads credit, a status change) says what the first
-- one said ({att_status}, {lat}, {tracking_enabled}).
ALTER TABLE attribution.installs ADD COLUMN tracking_status smallint;
ALTER TABLE attribution.conversions ADD COLUMN tracking_status smallint;
