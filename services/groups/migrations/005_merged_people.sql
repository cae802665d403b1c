-- Duplicates intake merged into the person kept (intake.person.merged): an id learnt later,
-- in an event or a command, is resolved to the person kept (shared/kit/known_people.py).
CREATE TABLE merged_people (
    duplicate_id uuid PRIMARY KEY,
    into_id      uuid NOT NULL
);
CREATE INDEX merged_people_into ON merged_people (into_id);
