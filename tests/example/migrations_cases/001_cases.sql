-- Cases opened and closed by events, and the order in which events were applied.
CREATE TABLE cases (case_id uuid PRIMARY KEY, state text NOT NULL);
CREATE TABLE applied (seq bigserial PRIMARY KEY, event_id uuid NOT NULL, kind text NOT NULL);
-- Two rows a test can lock against a handler to make a real deadlock.
CREATE TABLE hot (k text PRIMARY KEY, n bigint NOT NULL);
INSERT INTO hot VALUES ('a', 0), ('b', 0);
-- While a row is here, a "slow" event's handler waits.
CREATE TABLE hold (reason text);
