-- The access log records who read personal data as their verified token says: its sub (the
-- actor column) and the roles it held; "what" names the query. Entries written before tokens
-- were verified keep an empty list of roles.
ALTER TABLE access_log ADD COLUMN roles text[] NOT NULL DEFAULT '{}';
CREATE INDEX access_log_site ON access_log (site, access_id);
