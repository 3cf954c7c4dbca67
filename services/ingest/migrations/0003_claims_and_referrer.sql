-- Traffic quality (issue 18). App-key (SDK) events: ip / user_agent are the
-- connection's (what attribution matches on); what the client claimed, when it
-- differs, is kept apart here. Install events: the Play install-referrer
-- timestamps (install began, store visit), when the SDK sends them.
ALTER TABLE ingest.events
    ADD COLUMN claimed_ip inet,
    ADD COLUMN claimed_user_agent text,
    ADD COLUMN install_begin_time timestamptz,
    ADD COLUMN referrer_click_time timestamptz;
