-- People marked present at a session without an enrolment (a drop-in).
ALTER TABLE attendance ADD COLUMN dropped_in boolean NOT NULL DEFAULT false;
