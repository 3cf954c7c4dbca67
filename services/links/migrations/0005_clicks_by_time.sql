-- The lander click-through (/lp/click on the tracker's own hosts) knows only the
-- click id, not its account: the id's millisecond (libs.ids.id_time) prunes to one
-- day partition, and this index finds the click's millisecond there instead of
-- scanning the day.
CREATE INDEX clicks_time ON links.clicks (create_time);
