"""Prometheus metrics shared by every service (labelled by service, so one process may run many)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "carenet_messages",
    "Messages handled, by kind (command, query, event), name and outcome.",
    ["service", "kind", "name", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "carenet_handler_seconds",
    "Time spent handling one message (or one batch, for batch consumers).",
    ["service", "kind", "name"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
OUTBOX_BACKLOG = Gauge(
    "carenet_outbox_backlog", "Events committed but not yet published.", ["service"]
)
OUTBOX_OLDEST_AGE = Gauge(
    "carenet_outbox_oldest_age_seconds",
    "Age of the oldest unpublished event (0 when none).",
    ["service"],
)
OUTBOX_PUBLISHED = Counter(
    "carenet_outbox_published", "Events the relay published (acknowledged).", ["service"]
)
CONSUMER_PENDING = Gauge(
    "carenet_consumer_pending",
    "Messages in the stream the consumer has not yet received (how far it is behind).",
    ["service", "consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "carenet_consumer_ack_pending",
    "Messages delivered to the consumer and not yet acknowledged.",
    ["service", "consumer"],
)
DEAD_LETTERS = Counter(
    "carenet_dead_letters",
    "Messages copied to the DLQ stream, by consumer and reason.",
    ["service", "consumer", "reason"],
)
OUTBOX_PARKED = Gauge(
    "carenet_outbox_parked",
    "Events JetStream refused for good, set aside by the relay (an operator must look).",
    ["service"],
)
OUTBOX_RELAY_RETRYING = Gauge(
    "carenet_outbox_relay_retrying",
    "1 while this instance's outbox relay cannot publish and is retrying, else 0.",
    ["service"],
)
CONSUMER_RUNNING = Gauge(
    "carenet_consumer_running",
    "1 while the consumer is fetching and applying, 0 while it is paused.",
    ["service", "consumer"],
)
CONSUMER_LEADING = Gauge(
    "carenet_consumer_leading",
    "1 while this instance is the replica fetching for the durable, 0 in standby.",
    ["service", "consumer"],
)
READY = Gauge(
    "carenet_ready",
    "1 when the instance's /readyz would answer 200, else 0 (refreshed every few seconds).",
    ["service"],
)
REQUESTS_REFUSED = Counter(
    "carenet_requests_refused",
    "Requests refused before any work: no or bad token (by reason), or forbidden.",
    ["service", "reason"],
)
