-- People whose personal data intake erased (intake.person.erased): their roles, consent and
-- carer links are forgotten; a volunteer among them keeps their hours, duties and matches
-- (ids, codes, dates and minutes) but no longer their skills, languages or availability, and
-- is made inactive. What they logged as an activity is cleared.
CREATE TABLE erased_people (
    person_id uuid PRIMARY KEY,
    erased_on date NOT NULL
);
