-- A duplicate registration merged into the person kept (intake.person.merged): every figure
-- counts people by person_of(id), so events about the duplicate count for the kept person,
-- whether they arrived before the merge or after it (or are replayed by a rebuild).
CREATE TABLE person_aliases (
    duplicate_id uuid PRIMARY KEY,
    into_id      uuid NOT NULL
);
CREATE INDEX person_aliases_into ON person_aliases (into_id);

CREATE FUNCTION person_of(person uuid) RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT into_id FROM person_aliases WHERE duplicate_id = person), person)
$$;
