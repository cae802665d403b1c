-- Voided volunteer hours and peer contacts count nowhere. case_contacts gets the same column
-- so the one contacts read serves both (intake's voids may add it too).
ALTER TABLE volunteer_hours ADD COLUMN IF NOT EXISTS voided boolean NOT NULL DEFAULT false;
ALTER TABLE peer_contacts ADD COLUMN IF NOT EXISTS voided boolean NOT NULL DEFAULT false;
ALTER TABLE case_contacts ADD COLUMN IF NOT EXISTS voided boolean NOT NULL DEFAULT false;
