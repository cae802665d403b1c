-- No unique key on purpose: a doubled delivery would leave two rows.
CREATE TABLE tallied (note_id uuid NOT NULL, site text NOT NULL);
CREATE TABLE counter (n bigint NOT NULL);
INSERT INTO counter VALUES (0);
