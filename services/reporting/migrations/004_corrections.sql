-- Corrections from intake. A person's roles may be corrected (person.updated): the highest
-- revision wins, and a correction may arrive in a batch before the registration it corrects,
-- so a person's row may exist before its site and registration date are known.
ALTER TABLE people ALTER COLUMN site DROP NOT NULL;
ALTER TABLE people ALTER COLUMN registered_on DROP NOT NULL;
ALTER TABLE people ADD COLUMN roles_revision int NOT NULL DEFAULT 0;

-- Facts voided by their service (a contact, an assessment), by the fact's id: kept apart from
-- the facts' own rows so that a void applied before the fact it voids still holds.
CREATE TABLE voids (
    fact_id   uuid PRIMARY KEY,
    kind      text NOT NULL,
    voided_on date NOT NULL
);
