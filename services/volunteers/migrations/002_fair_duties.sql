-- Fair and flexible duties: a volunteer can be marked inactive (never picked nor named).
ALTER TABLE volunteers ADD COLUMN active boolean NOT NULL DEFAULT true;
CREATE INDEX volunteers_site ON volunteers (site);
CREATE INDEX assignments_volunteer ON assignments (volunteer_id);

-- Corrections: an hours entry or peer contact typed by mistake is voided with a reason. A
-- duty's voided hours may be logged again.
ALTER TABLE hours ADD COLUMN void_reason text;
ALTER TABLE hours DROP CONSTRAINT hours_assignment_id_key;
CREATE UNIQUE INDEX hours_once_per_duty ON hours (assignment_id) WHERE void_reason IS NULL;
CREATE INDEX hours_assignment ON hours (assignment_id);
ALTER TABLE peer_contacts ADD COLUMN void_reason text;

-- Worklists: how many volunteers each session's duty asked for, so unfilled places can be listed.
CREATE TABLE duty_requests (
    session_id uuid NOT NULL REFERENCES known_sessions,
    role       text NOT NULL,
    wanted     int NOT NULL,
    PRIMARY KEY (session_id, role)
);
CREATE INDEX known_sessions_site_start ON known_sessions (site, starts_at);
