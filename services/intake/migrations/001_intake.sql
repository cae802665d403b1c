-- Intake owns people and their personal data. Nothing here leaves the service except
-- through its events (ids, roles, codes) and its staff queries (access-logged).

CREATE TABLE people (
    person_id      uuid PRIMARY KEY,
    site           text NOT NULL,
    preferred_name text NOT NULL,
    legal_name     text,
    sex            text,
    birth_year     int,
    phone          text,
    phone_digits   text,
    language       text,
    address        text,
    roles          text[] NOT NULL,
    registered_on  date NOT NULL,
    registered_by  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX people_phone ON people (phone_digits, birth_year);
CREATE INDEX people_name ON people (site, lower(preferred_name), birth_year);

CREATE TABLE carer_links (
    link_id       uuid PRIMARY KEY,
    carer_id      uuid NOT NULL REFERENCES people,
    cared_for_id  uuid NOT NULL REFERENCES people,
    relationship  text NOT NULL,
    site          text NOT NULL,
    linked_on     date NOT NULL,
    linked_by     text NOT NULL,
    UNIQUE (carer_id, cared_for_id),
    CHECK (carer_id <> cared_for_id)
);

CREATE TABLE referrals (
    referral_id     uuid PRIMARY KEY,
    site            text NOT NULL,
    source          text NOT NULL,
    reason          text NOT NULL,
    urgency         text NOT NULL,
    person_id       uuid REFERENCES people,
    received_on     date NOT NULL,
    received_by     text NOT NULL,
    status          text NOT NULL DEFAULT 'received',
    decision_reason text,
    decided_on      date,
    decided_by      text
);
CREATE INDEX referrals_undecided ON referrals (site, urgency, received_on) WHERE status = 'received';

CREATE TABLE consents (
    consent_id   uuid PRIMARY KEY,
    person_id    uuid NOT NULL REFERENCES people,
    purpose      text NOT NULL,
    given        boolean NOT NULL,
    recorded_on  date NOT NULL,
    recorded_by  text NOT NULL,
    site         text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX consents_person ON consents (person_id, purpose, recorded_at);

CREATE TABLE cases (
    case_id                  uuid PRIMARY KEY,
    person_id                uuid NOT NULL REFERENCES people,
    site                     text NOT NULL,
    worker_id                text NOT NULL,
    referral_id              uuid REFERENCES referrals,
    kind                     text NOT NULL,
    status                   text NOT NULL DEFAULT 'open',
    opened_on                date NOT NULL,
    closed_on                date,
    close_reason             text,
    transferred_from_case_id uuid REFERENCES cases,
    transferred_to_case_id   uuid REFERENCES cases,
    created_at               timestamptz NOT NULL DEFAULT now()
);
-- One open case per person per site, even under concurrent requests.
CREATE UNIQUE INDEX cases_one_open ON cases (person_id, site) WHERE status = 'open';
CREATE INDEX cases_worker ON cases (worker_id) WHERE status = 'open';

CREATE TABLE case_contacts (
    contact_id  uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases,
    mode        text NOT NULL,
    minutes     int NOT NULL,
    contact_on  date NOT NULL,
    logged_by   text NOT NULL
);
CREATE INDEX case_contacts_case ON case_contacts (case_id);

-- Raw answers are kept so that a corrected instrument definition can rescore history.
CREATE TABLE assessments (
    assessment_id    uuid PRIMARY KEY,
    person_id        uuid NOT NULL REFERENCES people,
    site             text NOT NULL,
    instrument       text NOT NULL,
    timepoint        text NOT NULL,
    answers          int[] NOT NULL,
    score            numeric NOT NULL,
    band             text NOT NULL,
    safety_followup  boolean NOT NULL,
    assessed_on      date NOT NULL,
    recorded_by      text NOT NULL,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    acknowledge_note text
);
CREATE INDEX assessments_open_followups ON assessments (person_id)
    WHERE safety_followup AND acknowledged_at IS NULL;

CREATE TABLE access_log (
    access_id   bigserial PRIMARY KEY,
    actor       text NOT NULL,
    person_id   uuid NOT NULL,
    site        text NOT NULL,
    what        text NOT NULL,
    accessed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX access_log_person ON access_log (person_id, accessed_at);
