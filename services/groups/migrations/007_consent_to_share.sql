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
-- People known before this: the site of a case they have open is their home site.
UPDATE known_people k SET site = c.site
    FROM (SELECT DISTINCT ON (person_id) person_id, site FROM open_cases
          ORDER BY person_id, site) c
    WHERE c.person_id = k.person_id;
