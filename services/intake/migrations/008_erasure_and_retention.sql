-- Erasure: a person's personal data is erased and their row stays as a tombstone (ids, site,
-- roles, dates), so every record and figure naming them still holds. The text of their case
-- record, referrals and voids is cleared, so those columns may now be empty.
ALTER TABLE people ADD COLUMN erased_on date;
ALTER TABLE people ADD COLUMN erasure_reason text;
ALTER TABLE people ALTER COLUMN preferred_name DROP NOT NULL;
ALTER TABLE referrals ALTER COLUMN reason DROP NOT NULL;
ALTER TABLE case_notes ALTER COLUMN text DROP NOT NULL;
ALTER TABLE goals ALTER COLUMN text DROP NOT NULL;
ALTER TABLE person_merges ALTER COLUMN reason DROP NOT NULL;

-- Retention: one run per site and day, claimed by the replica that inserts it (the others find
-- it there), with what it erased, for operators (query retention_runs).
CREATE TABLE retention_runs (
    site       text NOT NULL,
    run_on     date NOT NULL,
    cutoff     date NOT NULL,
    erased     uuid[] NOT NULL DEFAULT '{}',
    ran_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, run_on)
);
