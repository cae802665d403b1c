-- A programme's schedule, with the count of sessions it has made, so it can be extended
-- (null for programmes created before it was kept).
ALTER TABLE programmes ADD COLUMN schedule jsonb;
