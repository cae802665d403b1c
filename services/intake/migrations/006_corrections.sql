-- Corrections: a person's record may be corrected (each correction counted in revision, and
-- who changed which fields kept in person_changes: names of fields, never their values);
-- contacts and assessments recorded by mistake are voided, kept with who voided them and why.
ALTER TABLE people ADD COLUMN revision int NOT NULL DEFAULT 0;

CREATE TABLE person_changes (
    change_id  bigserial PRIMARY KEY,
    person_id  uuid NOT NULL REFERENCES people,
    site       text NOT NULL,
    fields     text[] NOT NULL,
    revision   int NOT NULL,
    changed_by text NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX person_changes_person ON person_changes (person_id, change_id);

ALTER TABLE case_contacts ADD COLUMN voided_on date;
ALTER TABLE case_contacts ADD COLUMN voided_by text;
ALTER TABLE case_contacts ADD COLUMN void_reason text;

ALTER TABLE assessments ADD COLUMN voided_on date;
ALTER TABLE assessments ADD COLUMN voided_by text;
ALTER TABLE assessments ADD COLUMN void_reason text;
CREATE INDEX assessments_person ON assessments (person_id, assessed_on);

-- The worklists: undecided referrals (received or waitlisted), a worker's open cases.
CREATE INDEX referrals_waitlisted ON referrals (site, urgency, received_on)
    WHERE status = 'waitlisted';
CREATE INDEX cases_caseload ON cases (worker_id, site) WHERE status IN ('open', 'transferring');
