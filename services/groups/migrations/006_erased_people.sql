-- People whose personal data intake erased (intake.person.erased): their roles are forgotten
-- (known_people), their enrolments and attendance stay (ids, codes and dates only).
CREATE TABLE erased_people (
    person_id uuid PRIMARY KEY,
    erased_on date NOT NULL
);
