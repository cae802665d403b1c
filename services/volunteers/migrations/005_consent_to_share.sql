-- Consent to share (issue 17): a person's home site and their latest consent per purpose,
-- learnt from intake's events (shared/kit/known_people.py), so a person is put on a roster,
-- duty or match at a site beyond their own only with their data_sharing consent.
ALTER TABLE known_people ADD COLUMN site text;
CREATE TABLE known_consents (
    person_id   uuid NOT NULL,
    purpose     text NOT NULL,
    given       boolean NOT NULL,
    recorded_at timestamptz NOT NULL,
    PRIMARY KEY (person_id, purpose)
);
-- What volunteers knew of service consent before; a person registered before this knows no
-- home site until intake says more (they are treated as from elsewhere).
INSERT INTO known_consents (person_id, purpose, given, recorded_at)
    SELECT person_id, 'service', given, recorded_at FROM service_consent;
UPDATE known_people k SET site = v.site FROM volunteers v WHERE v.person_id = k.person_id;
