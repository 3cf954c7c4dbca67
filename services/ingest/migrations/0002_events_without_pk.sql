-- ingest.event_ids already makes each uuid unique per account; a second
-- random-uuid b-tree on the partitioned events table only slowed every COPY.
ALTER TABLE ingest.events DROP CONSTRAINT events_pkey;
