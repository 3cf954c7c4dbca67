-- skan_postbacks.update_time (lane skan, asked by analytics): when the row last
-- changed - stored, or credited to a campaign by a mapping added later - so the
-- report folds a remap in without a recount. Existing rows: their create_time.
ALTER TABLE attribution.skan_postbacks ADD COLUMN update_time timestamptz;
UPDATE attribution.skan_postbacks SET update_time = create_time;
ALTER TABLE attribution.skan_postbacks
    ALTER COLUMN update_time SET DEFAULT clock_timestamp(),
    ALTER COLUMN update_time SET NOT NULL;
CREATE INDEX skan_postbacks_update ON attribution.skan_postbacks (update_time);
