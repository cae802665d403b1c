"""JetStream streams: one per service for its events, and ``DLQ`` for dead letters.

Declared here and nowhere else. At start a service creates its own stream if it is missing,
with the kit's settings; on an existing stream it only adds what the kit needs and the stream
lacks (its subjects, a duplicate window at least the kit's), and keeps every other setting an
operator made (replicas, limits, storage, description...). ``DLQ`` is created, if missing, by
whichever service starts first, and never updated. Consumers of another service's stream wait
for it to exist instead of declaring it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Collection
from datetime import datetime

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

log = logging.getLogger("carenet.bus")

DUPLICATE_WINDOW_SECONDS = 15 * 60
"""Longer than the outbox relay's retry horizon, so a re-publish is always recognised."""

DLQ_STREAM = "DLQ"


def stream_name(service: str) -> str:
    return service.upper()


def stream_config(service: str, replicas: int = 1) -> StreamConfig:
    """Limits retention with no age limit: read models are rebuilt by replaying from the start.

    ``replicas`` (``CARENET_STREAM_REPLICAS``) counts only when the stream is created.
    """
    return StreamConfig(
        name=stream_name(service),
        description=f"carenet {service} events",
        subjects=[f"evt.*.{service}.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        discard=DiscardPolicy.OLD,
        max_age=0,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        allow_direct=True,
        num_replicas=replicas,
    )


def dlq_config(replicas: int = 1) -> StreamConfig:
    return StreamConfig(
        name=DLQ_STREAM,
        description="carenet dead letters: messages a consumer could not apply, with the reason",
        subjects=["dlq.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=0,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        allow_direct=True,
        num_replicas=replicas,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig, *, update: bool = True) -> None:
    """Create the stream with ``config`` if it is missing; idempotent across replicas.

    On an existing stream (and only if ``update``), add what the kit requires and the stream
    lacks: the subjects of ``config`` and a duplicate window at least as long as its own. Every
    other setting stays as the operator left it; nothing is sent when nothing is missing.
    """
    name = config.name or ""
    try:
        info = await js.stream_info(name)
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": name})
            return
        except Exception:  # noqa: BLE001 - another replica created it first
            info = await js.stream_info(name)
    existing = info.config
    if (existing.num_replicas or 1) != (config.num_replicas or 1):
        log.warning(
            "stream %s has %d replica(s), not the %d asked for: streams keep their replicas "
            "(nats stream edit %s --replicas %d moves it; docs/operations.md)",
            name,
            existing.num_replicas or 1,
            config.num_replicas or 1,
            name,
            config.num_replicas or 1,
        )
    if not update:
        return
    changes: list[str] = []
    subjects = list(existing.subjects or [])
    missing = [s for s in config.subjects or [] if s not in subjects]
    if missing:
        existing.subjects = subjects + missing
        changes.append(f"subjects + {missing}")
    wanted_window = config.duplicate_window or 0
    if (existing.duplicate_window or 0) < wanted_window:
        existing.duplicate_window = wanted_window
        changes.append(f"duplicate window {wanted_window:.0f} s")
    if changes:
        await js.update_stream(existing)
        log.warning("stream %s lacked what the kit needs: %s", name, ", ".join(changes))


async def wait_for_stream(js: JetStreamContext, name: str, *, poll_seconds: float = 1.0) -> None:
    """Block until another service has created stream ``name``."""
    warned = False
    while True:
        try:
            await js.stream_info(name)
            return
        except NotFoundError:
            if not warned:
                log.warning("waiting for stream %s to be created by its service", name)
                warned = True
            await asyncio.sleep(poll_seconds)


async def find_event_ids(
    nats: NatsClient,
    stream: str,
    event_ids: Collection[str],
    *,
    since: datetime,
    fetch_timeout: float = 2.0,
    subjects: Collection[str] | None = None,
) -> dict[str, int]:
    """Which of ``event_ids`` the stream holds, stored at ``since`` or later: id -> sequence.

    Reads headers only, through a short-lived consumer without acks, and stops at the message
    that was last when it began or once every id is found. A message stored under a repair id
    (``<event id>:<n>``, see ``shared.kit.bus.reconcile``) counts for its event id.
    ``subjects`` limits the look-up to those subjects (an instance's own sites: its NATS user
    may read no other site's events).
    """
    wanted = set(event_ids)
    found: dict[str, int] = {}
    if not wanted:
        return found
    js = nats.jetstream()
    name = nats.new_inbox().rsplit(".", 1)[-1]
    filters = sorted(subjects or ())
    info = await js.add_consumer(
        stream,
        ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.BY_START_TIME,
            opt_start_time=since,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            mem_storage=True,
            inactive_threshold=60.0,
            filter_subject=filters[0] if len(filters) == 1 else None,
            filter_subjects=filters if len(filters) > 1 else None,
        ),
    )
    if not info.num_pending:
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, name)
        return found
    pull = await js.pull_subscribe_bind(consumer=name, stream=stream)
    try:
        while wanted - found.keys():
            try:
                messages = await pull.fetch(256, timeout=fetch_timeout)
            except TimeoutError:  # nothing more stored
                break
            done = False
            for msg in messages:
                msg_id = (msg.headers or {}).get("Nats-Msg-Id", "")
                event_id = msg_id.partition(":")[0]
                if event_id in wanted:
                    found.setdefault(event_id, msg.metadata.sequence.stream)
                done = msg.metadata.num_pending == 0
            if done:
                break
    finally:
        with contextlib.suppress(Exception):
            await pull.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, name)
    return found
