-- Events JetStream refuses for good (too large for the server or the stream) are parked: they
-- stay in the outbox, are never purged while parked, and no longer hold up the events after
-- them. An operator clears parked_at (after raising the limit) to have the relay try again.
ALTER TABLE outbox ADD COLUMN parked_at timestamptz;
ALTER TABLE outbox ADD COLUMN park_reason text;
-- Where the event landed in the service's stream (from the publish ack), for reconciliation.
ALTER TABLE outbox ADD COLUMN stream_seq bigint;
-- When a relay first sent it: a row sent longer ago than a safe part of the stream's duplicate
-- window is looked for in the stream (from this time on) before it is sent again.
ALTER TABLE outbox ADD COLUMN first_attempt_at timestamptz;

DROP INDEX outbox_unpublished;
CREATE INDEX outbox_unpublished ON outbox (seq) WHERE published_at IS NULL AND parked_at IS NULL;
CREATE INDEX outbox_parked ON outbox (seq) WHERE parked_at IS NOT NULL;
