-- Issue 22 (re-engagement): two more windows in the attribution settings, kept
-- as dated breakpoints like the others (services/attribution/settings.py).
-- re_engagement_window: how long a re-engagement (or re-attribution) credits the
-- user's conversions to its campaign (reattributions.window_end = event time + it).
-- reinstall_window: from the device's install, a reinstall inside it is only a
-- reinstall (a retargeting click still re-attributes it); after it, a matched
-- reinstall is re-attributed (services/attribution/reengagement.py).
-- Existing breakpoints get the defaults (30 days, 90 days): what was in force.
ALTER TABLE attribution.settings_history
    ADD COLUMN re_engagement_window_s bigint NOT NULL DEFAULT 2592000,
    ADD COLUMN reinstall_window_s     bigint NOT NULL DEFAULT 7776000;

-- One click re-engages an install once: the look-up of the click's earlier rows.
CREATE INDEX reattributions_click ON attribution.reattributions (account_id, install_id, click_id);
