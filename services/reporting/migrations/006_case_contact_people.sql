-- Who each casework contact was with (intake.case.contact_logged carries the id): hours of
-- casework are hidden in de-identified figures when fewer than 5 people account for them.
-- Contacts stored before this have no person; each counts as a person of its own until a
-- rebuild fills the column from the events.
ALTER TABLE case_contacts ADD COLUMN person_id uuid;
