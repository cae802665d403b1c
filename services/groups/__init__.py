"""Groups: programmes and their sessions, enrolment with waitlists, and attendance."""
