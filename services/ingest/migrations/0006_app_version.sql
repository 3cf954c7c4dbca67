-- App campaigns (issue 22): the app's version as the SDK sends it (iOS
-- CFBundleShortVersionString, Android versionName), for the partners that take
-- it on postbacks (Google Ads `app_version`, Meta `extinfo`). NULL: not sent.
ALTER TABLE ingest.events
    ADD COLUMN app_version text;
