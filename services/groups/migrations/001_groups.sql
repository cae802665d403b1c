CREATE TABLE programmes (
    programme_id  uuid PRIMARY KEY,
    site          text NOT NULL,
    title         text NOT NULL,
    type          text NOT NULL,
    target_roles  text[] NOT NULL,
    capacity      int NOT NULL,
    requires_case boolean NOT NULL,
    tags          text[] NOT NULL,
    facilitators  text[] NOT NULL,
    venue         text NOT NULL,
    created_by    text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- Times are wall-clock times in the organisation's time zone.
CREATE TABLE sessions (
    session_id          uuid PRIMARY KEY,
    programme_id        uuid NOT NULL REFERENCES programmes,
    site                text NOT NULL,
    starts_at           timestamp NOT NULL,
    ends_at             timestamp NOT NULL,
    venue               text NOT NULL,
    facilitators        text[] NOT NULL,
    status              text NOT NULL DEFAULT 'scheduled',
    cancel_reason       text,
    walk_ins            int NOT NULL DEFAULT 0,
    attendance_revision int NOT NULL DEFAULT 0,
    CHECK (ends_at > starts_at)
);
CREATE INDEX sessions_calendar ON sessions (starts_at) WHERE status <> 'cancelled';
CREATE INDEX sessions_programme ON sessions (programme_id, starts_at);

CREATE TABLE enrollments (
    enrollment_id  uuid PRIMARY KEY,
    seq            bigserial NOT NULL,
    programme_id   uuid NOT NULL REFERENCES programmes,
    person_id      uuid NOT NULL,
    status         text NOT NULL,
    enrolled_on    date NOT NULL,
    withdrawn_on   date,
    withdraw_reason text,
    enrolled_by    text NOT NULL
);
CREATE UNIQUE INDEX enrollments_one_active ON enrollments (programme_id, person_id)
    WHERE status IN ('enrolled', 'waitlisted');
CREATE INDEX enrollments_waitlist ON enrollments (programme_id, seq) WHERE status = 'waitlisted';
CREATE INDEX enrollments_person ON enrollments (person_id) WHERE status IN ('enrolled', 'waitlisted');

CREATE TABLE attendance (
    session_id uuid NOT NULL REFERENCES sessions,
    person_id  uuid NOT NULL,
    present    boolean NOT NULL,
    PRIMARY KEY (session_id, person_id)
);

-- What groups knows from intake's events (no personal data: ids, roles, open cases).
CREATE TABLE known_people (
    person_id uuid PRIMARY KEY,
    roles     text[] NOT NULL
);
CREATE TABLE open_cases (
    case_id   uuid PRIMARY KEY,
    person_id uuid NOT NULL,
    site      text NOT NULL
);
CREATE INDEX open_cases_person ON open_cases (person_id, site);
