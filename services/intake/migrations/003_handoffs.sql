-- Transfers between sites are handoffs between two intakes that may not share a database:
-- the sending case is 'transferring' while its handoff waits for the receiving site's answer,
-- and each site's case names the other's by id only (it may be in another database).
ALTER TABLE cases DROP CONSTRAINT cases_transferred_from_case_id_fkey;
ALTER TABLE cases DROP CONSTRAINT cases_transferred_to_case_id_fkey;
-- A case on its way out still counts as the person's open case at its site.
DROP INDEX cases_one_open;
CREATE UNIQUE INDEX cases_one_open ON cases (person_id, site)
    WHERE status IN ('open', 'transferring');

CREATE TABLE handoffs (
    handoff_id      uuid PRIMARY KEY,
    case_id         uuid NOT NULL REFERENCES cases,
    person_id       uuid NOT NULL REFERENCES people,
    from_site       text NOT NULL,
    to_site         text NOT NULL,
    worker_id       text NOT NULL,
    transferred_on  date NOT NULL,
    actor           text NOT NULL,
    -- The sending worker's bearer token, forwarded to the receiving site; cleared once the
    -- handoff is answered.
    token           text,
    status          text NOT NULL DEFAULT 'pending',
    attempts        int NOT NULL DEFAULT 0,
    last_error      text,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    new_case_id     uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz
);
CREATE INDEX handoffs_due ON handoffs (next_attempt_at) WHERE status = 'pending';
CREATE INDEX handoffs_case ON handoffs (case_id, created_at);
CREATE INDEX handoffs_open ON handoffs (from_site, created_at) WHERE status <> 'completed';
