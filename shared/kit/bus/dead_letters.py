"""Dead letters: a copy of a message no consumer could apply, with the reason, on ``DLQ``."""

from __future__ import annotations

import logging

from nats.aio.msg import Msg
from nats.js import JetStreamContext

from shared.kit.bus.streams import DLQ_STREAM
from shared.kit.observability.metrics import DEAD_LETTERS

log = logging.getLogger("carenet.dlq")

REASON = "Carenet-Dlq-Reason"
CONSUMER = "Carenet-Dlq-Consumer"
ORIGINAL_SUBJECT = "Carenet-Original-Subject"
ORIGINAL_STREAM = "Carenet-Original-Stream"
ORIGINAL_SEQUENCE = "Carenet-Original-Sequence"
DELIVERIES = "Carenet-Deliveries"


def dlq_subject(service: str, consumer: str) -> str:
    return f"dlq.{service}.{consumer}"


def _header_value(text: str) -> str:
    return " ".join(text.split())[:1000]


async def dead_letter(
    js: JetStreamContext,
    msg: Msg,
    *,
    service: str,
    consumer: str,
    reason: str,
    kind: str,
    deliveries: int | None = None,
) -> None:
    """Copy ``msg`` to the DLQ stream (acknowledged) with why; the caller then acks the original.

    ``kind`` is a short label for metrics (``unparseable``, ``invalid``, ``failed``).
    ``deliveries`` (the ``Carenet-Deliveries`` header) defaults to JetStream's delivery count;
    a consumer that retried the message in place counts those retries as deliveries too.
    The copy's ``Nats-Msg-Id`` is derived from the service, the consumer and the original's
    stream position: a crash between the copy and the ack never leaves two copies, and two
    services dead-lettering the same event each keep their own.
    """
    meta = msg.metadata
    headers = {k: v for k, v in (msg.headers or {}).items() if k != "Nats-Msg-Id"}
    headers.update(
        {
            REASON: _header_value(reason),
            CONSUMER: consumer,
            ORIGINAL_SUBJECT: msg.subject,
            ORIGINAL_STREAM: meta.stream,
            ORIGINAL_SEQUENCE: str(meta.sequence.stream),
            DELIVERIES: str(meta.num_delivered if deliveries is None else deliveries),
            "Nats-Msg-Id": f"dlq:{service}:{consumer}:{meta.stream}:{meta.sequence.stream}",
        }
    )
    await js.publish(dlq_subject(service, consumer), msg.data, headers=headers, stream=DLQ_STREAM)
    DEAD_LETTERS.labels(service, consumer, kind).inc()
    log.error(
        "message dead-lettered",
        extra={
            "consumer": consumer,
            "reason": reason,
            "original_subject": msg.subject,
            "stream_sequence": meta.sequence.stream,
        },
    )
