-- The case record: notes, the care plan's goals and their reviews, and the needs-and-risk
-- screenings of referrals. Their text and answers never leave intake (events carry ids and
-- dates of goals only).

CREATE TABLE case_notes (
    note_id     uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases,
    text        text NOT NULL,
    noted_on    date NOT NULL,
    written_by  text NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX case_notes_case ON case_notes (case_id, noted_on);

CREATE TABLE goals (
    goal_id     uuid PRIMARY KEY,
    case_id     uuid NOT NULL REFERENCES cases,
    person_id   uuid NOT NULL REFERENCES people,
    site        text NOT NULL,
    text        text NOT NULL,
    status      text NOT NULL DEFAULT 'open',
    set_on      date NOT NULL,
    set_by      text NOT NULL,
    ended_on    date,
    ended_by    text,
    end_note    text,
    created_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX goals_case ON goals (case_id, created_at);

CREATE TABLE goal_reviews (
    review_id    uuid PRIMARY KEY,
    goal_id      uuid NOT NULL REFERENCES goals,
    progress     text NOT NULL,
    note         text,
    reviewed_on  date NOT NULL,
    reviewed_by  text NOT NULL,
    reviewed_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX goal_reviews_goal ON goal_reviews (goal_id, reviewed_on);

CREATE TABLE referral_screenings (
    screening_id  uuid PRIMARY KEY,
    referral_id   uuid NOT NULL REFERENCES referrals,
    site          text NOT NULL,
    screening     text NOT NULL,
    answers       int[] NOT NULL,
    total         int NOT NULL,
    band          text NOT NULL,
    flags         text[] NOT NULL,
    screened_on   date NOT NULL,
    screened_by   text NOT NULL,
    screened_at   timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX referral_screenings_referral ON referral_screenings (referral_id, screened_at);
