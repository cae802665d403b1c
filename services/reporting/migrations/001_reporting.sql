-- Reporting's read models: one row per fact the other services announced, keyed by that
-- fact's own id, so applying an event again (redelivery, replay, rebuild) changes nothing.
-- Ids, codes and dates only: reporting holds no personal data. Figures are computed from
-- these rows at query time, by business date.

CREATE TABLE people (
    person_id     uuid PRIMARY KEY,
    site          text NOT NULL,
    roles         text[] NOT NULL,
    registered_on date NOT NULL
);

CREATE TABLE carer_links (
    link_id      uuid PRIMARY KEY,
    site         text NOT NULL,
    relationship text NOT NULL,
    linked_on    date NOT NULL
);

-- A decision may in principle arrive without its referral, so every column but the key is
-- nullable and each event fills its own.
CREATE TABLE referrals (
    referral_id   uuid PRIMARY KEY,
    site          text,
    source        text,
    received_on   date,
    decision      text,
    decision_site text,
    decided_on    date
);

-- Keyed by the event id: a person's consent history, the latest entry wins.
CREATE TABLE consents (
    event_id    uuid PRIMARY KEY,
    person_id   uuid NOT NULL,
    purpose     text NOT NULL,
    given       boolean NOT NULL,
    recorded_on date NOT NULL,
    recorded_at timestamptz NOT NULL
);
CREATE INDEX consents_person ON consents (person_id, purpose);

CREATE TABLE cases (
    case_id        uuid PRIMARY KEY,
    person_id      uuid NOT NULL,
    site           text NOT NULL,
    roles          text[],
    kind           text,
    opened_on      date,
    closed_on      date,
    close_reason   text,
    transferred_on date
);
CREATE INDEX cases_site ON cases (site, opened_on);

CREATE TABLE case_contacts (
    contact_id uuid PRIMARY KEY,
    site       text NOT NULL,
    mode       text NOT NULL,
    minutes    int NOT NULL,
    contact_on date NOT NULL
);

CREATE TABLE assessments (
    assessment_id uuid PRIMARY KEY,
    person_id     uuid NOT NULL,
    site          text NOT NULL,
    instrument    text NOT NULL,
    timepoint     text NOT NULL,
    score         numeric NOT NULL,
    assessed_on   date NOT NULL,
    recorded_at   timestamptz NOT NULL
);
CREATE INDEX assessments_person ON assessments (instrument, person_id);

-- A session's latest attendance record only: a higher revision replaces the lower one.
CREATE TABLE sessions (
    session_id     uuid PRIMARY KEY,
    site           text NOT NULL,
    programme_id   uuid NOT NULL,
    programme_type text NOT NULL,
    tags           text[] NOT NULL DEFAULT '{}',
    session_on     date NOT NULL,
    held           boolean NOT NULL DEFAULT false,
    cancelled      boolean NOT NULL DEFAULT false,
    revision       int NOT NULL DEFAULT 0,
    present        uuid[] NOT NULL DEFAULT '{}',
    walk_ins       int NOT NULL DEFAULT 0
);
CREATE INDEX sessions_site ON sessions (site, session_on);

CREATE TABLE enrolments (
    enrollment_id  uuid PRIMARY KEY,
    site           text NOT NULL,
    programme_type text NOT NULL,
    status         text NOT NULL,
    enrolled_on    date NOT NULL
);

CREATE TABLE volunteers (
    volunteer_id  uuid PRIMARY KEY,
    person_id     uuid NOT NULL,
    site          text NOT NULL,
    teams         text[] NOT NULL,
    service_user  boolean NOT NULL,
    registered_on date NOT NULL
);

CREATE TABLE volunteer_hours (
    hours_id     uuid PRIMARY KEY,
    site         text NOT NULL,
    volunteer_id uuid NOT NULL,
    team         text NOT NULL,
    minutes      int NOT NULL,
    worked_on    date NOT NULL
);

CREATE TABLE assignments (
    assignment_id uuid PRIMARY KEY,
    site          text NOT NULL,
    volunteer_id  uuid NOT NULL,
    role          text NOT NULL,
    session_on    date NOT NULL
);

CREATE TABLE peer_matches (
    match_id   uuid PRIMARY KEY,
    site       text NOT NULL,
    started_on date,
    ended_on   date
);

CREATE TABLE peer_contacts (
    contact_id uuid PRIMARY KEY,
    site       text NOT NULL,
    match_id   uuid NOT NULL,
    mode       text NOT NULL,
    minutes    int NOT NULL,
    contact_on date NOT NULL
);

-- What was published: at most one summary per site and month, across restarts and replicas.
CREATE TABLE published_summaries (
    site         text NOT NULL,
    month        date NOT NULL,
    event_id     uuid NOT NULL,
    published_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (site, month)
);
