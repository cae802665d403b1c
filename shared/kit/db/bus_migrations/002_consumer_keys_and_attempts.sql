-- The inbox is keyed by service and subscription ("<service>_<subscription>"), no longer by
-- the durable consumer's name, which also names the sites an instance serves
-- ("<service>_<subscription>_<site>_<site>..."). A new site list, or a replica for every site
-- beside a per-site one, then reads history again but applies nothing twice.
-- Subscription names never contain "_", so the key is the durable name up to the first "_"
-- after the service (the schema) name. The key of a consumer for every site is unchanged.
INSERT INTO inbox (consumer, event_id, applied_at)
SELECT substring(consumer FROM '^' || current_schema() || '_[^_]+'), event_id, min(applied_at)
FROM inbox
WHERE consumer ~ ('^' || current_schema() || '_[^_]+_.')
GROUP BY 1, 2
ON CONFLICT (consumer, event_id) DO NOTHING;

DELETE FROM inbox WHERE consumer ~ ('^' || current_schema() || '_[^_]+_.');

-- Attempts at applying one event on its own, each committed before its handler runs and
-- deleted in the transaction that applies the event. Rows left behind are attempts that
-- failed (with the error) or never finished (the process crashed or was killed); an event
-- whose own attempts reach the limit is dead-lettered instead of run again.
CREATE TABLE consumer_attempts (
    attempt_id uuid PRIMARY KEY,
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    error      text
);
CREATE INDEX consumer_attempts_event ON consumer_attempts (consumer, event_id);
