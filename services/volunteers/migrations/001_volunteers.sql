-- What volunteers knows from other services' events: ids, roles, consent, carer links, sessions.
CREATE TABLE known_people (
    person_id uuid PRIMARY KEY,
    roles     text[] NOT NULL
);
CREATE TABLE service_consent (
    person_id   uuid PRIMARY KEY,
    given       boolean NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE TABLE carer_links (
    carer_id     uuid NOT NULL,
    cared_for_id uuid NOT NULL,
    PRIMARY KEY (carer_id, cared_for_id)
);
CREATE TABLE known_sessions (
    session_id   uuid PRIMARY KEY,
    site         text NOT NULL,
    programme_id uuid NOT NULL,
    starts_at    timestamp NOT NULL,
    ends_at      timestamp NOT NULL,
    cancelled    boolean NOT NULL DEFAULT false
);

CREATE TABLE volunteers (
    volunteer_id  uuid PRIMARY KEY,
    person_id     uuid NOT NULL UNIQUE,
    site          text NOT NULL,
    skills        text[] NOT NULL,
    languages     text[] NOT NULL,
    registered_on date NOT NULL
);
CREATE TABLE volunteer_teams (
    volunteer_id uuid NOT NULL REFERENCES volunteers,
    team         text NOT NULL,
    joined_on    date NOT NULL,
    position     int NOT NULL,
    PRIMARY KEY (volunteer_id, team)
);
CREATE TABLE trainings (
    volunteer_id uuid NOT NULL REFERENCES volunteers,
    course       text NOT NULL,
    hours        numeric NOT NULL,
    completed_on date NOT NULL,
    PRIMARY KEY (volunteer_id, course, completed_on)
);
CREATE TABLE availability (
    volunteer_id uuid NOT NULL REFERENCES volunteers,
    weekday      int NOT NULL,
    starts       time NOT NULL,
    ends         time NOT NULL
);
CREATE INDEX availability_volunteer ON availability (volunteer_id);
CREATE TABLE unavailable_dates (
    volunteer_id uuid NOT NULL REFERENCES volunteers,
    day          date NOT NULL,
    PRIMARY KEY (volunteer_id, day)
);

CREATE TABLE assignments (
    assignment_id uuid PRIMARY KEY,
    volunteer_id  uuid NOT NULL REFERENCES volunteers,
    session_id    uuid NOT NULL REFERENCES known_sessions,
    role          text NOT NULL,
    status        text NOT NULL DEFAULT 'proposed',
    made_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX assignments_once_per_session ON assignments (volunteer_id, session_id)
    WHERE status IN ('proposed', 'confirmed');
CREATE INDEX assignments_session ON assignments (session_id, role);

CREATE TABLE hours (
    hours_id      uuid PRIMARY KEY,
    volunteer_id  uuid NOT NULL REFERENCES volunteers,
    team          text NOT NULL,
    minutes       int NOT NULL,
    day           date NOT NULL,
    activity      text NOT NULL,
    assignment_id uuid UNIQUE REFERENCES assignments
);
CREATE INDEX hours_volunteer_day ON hours (volunteer_id, day);

CREATE TABLE peer_matches (
    match_id          uuid PRIMARY KEY,
    peer_volunteer_id uuid NOT NULL REFERENCES volunteers,
    person_id         uuid NOT NULL,
    site              text NOT NULL,
    status            text NOT NULL DEFAULT 'open',
    started_on        date NOT NULL,
    ended_on          date,
    end_reason        text
);
CREATE UNIQUE INDEX peer_matches_one_open ON peer_matches (peer_volunteer_id, person_id)
    WHERE status = 'open';
CREATE TABLE peer_contacts (
    contact_id uuid PRIMARY KEY,
    match_id   uuid NOT NULL REFERENCES peer_matches,
    day        date NOT NULL,
    minutes    int NOT NULL,
    mode       text NOT NULL
);
