-- A person registered twice is merged into the record kept: the duplicate's cases, consents,
-- referrals, assessments and carer links move to the kept person; the duplicate's row stays
-- with a pointer, so a command or read naming it learns whom it became.
ALTER TABLE people ADD COLUMN merged_into uuid REFERENCES people;

CREATE TABLE person_merges (
    duplicate_id uuid PRIMARY KEY REFERENCES people,
    into_id      uuid NOT NULL REFERENCES people,
    site         text NOT NULL,
    reason       text NOT NULL,
    merged_on    date NOT NULL,
    merged_by    text NOT NULL,
    merged_at    timestamptz NOT NULL DEFAULT now()
);
