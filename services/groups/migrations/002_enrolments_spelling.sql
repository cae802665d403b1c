-- One spelling, the contract's: "enrolment" (the published field enrollment_id and the event
-- types groups.enrollment.* keep the spelling they were published with).
ALTER TABLE enrollments RENAME TO enrolments;
ALTER INDEX enrollments_pkey RENAME TO enrolments_pkey;
ALTER INDEX enrollments_one_active RENAME TO enrolments_one_active;
ALTER INDEX enrollments_waitlist RENAME TO enrolments_waitlist;
ALTER INDEX enrollments_person RENAME TO enrolments_person;
