-- Outbox: events written in the same transaction as the state change they describe.
-- Rows are kept for a while after publishing so a reconciliation can re-publish what a
-- crashed broker lost before it synced to disk (JetStream dedupe makes that safe).
CREATE TABLE outbox (
    seq          bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    subject      text NOT NULL,
    body         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL;
CREATE INDEX outbox_published_at ON outbox (published_at) WHERE published_at IS NOT NULL;

-- Inbox: the events each consumer has applied, written with the effect they had.
CREATE TABLE inbox (
    consumer   text NOT NULL,
    event_id   uuid NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Identified commands: the first successful reply to each command_id.
CREATE TABLE command_log (
    command_id uuid PRIMARY KEY,
    name       text NOT NULL,
    site       text NOT NULL,
    actor      text NOT NULL,
    reply      jsonb NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now()
);
