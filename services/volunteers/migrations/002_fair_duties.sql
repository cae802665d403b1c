-- Fair and flexible duties: a volunteer can be marked inactive (never picked nor named).
ALTER TABLE volunteers ADD COLUMN active boolean NOT NULL DEFAULT true;
CREATE INDEX volunteers_site ON volunteers (site);
CREATE INDEX assignments_volunteer ON assignments (volunteer_id);
