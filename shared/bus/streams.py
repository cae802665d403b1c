"""JetStream streams: one per service for its events, and ``DLQ`` for dead letters.

Declared here and nowhere else. Each service creates or updates its own stream (and ``DLQ``)
at start; consumers of another service's stream wait for it to exist instead of declaring it,
because a second declaration would overwrite the owner's settings.
"""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = logging.getLogger("carenet.bus")

DUPLICATE_WINDOW_SECONDS = 15 * 60
"""Longer than the outbox relay's retry horizon, so a re-publish is always recognised."""

DLQ_STREAM = "DLQ"


def stream_name(service: str) -> str:
    return service.upper()


def stream_config(service: str) -> StreamConfig:
    """Limits retention with no age limit: read models are rebuilt by replaying from the start."""
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
    )


def dlq_config() -> StreamConfig:
    return StreamConfig(
        name=DLQ_STREAM,
        description="carenet dead letters: messages a consumer could not apply, with the reason",
        subjects=["dlq.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=0,
        duplicate_window=DUPLICATE_WINDOW_SECONDS,
        allow_direct=True,
    )


async def ensure_stream(js: JetStreamContext, config: StreamConfig) -> None:
    """Create the stream, or update it to this config; idempotent across replicas."""
    try:
        await js.stream_info(config.name or "")
    except NotFoundError:
        try:
            await js.add_stream(config)
            log.info("stream created", extra={"stream": config.name})
            return
        except Exception:  # noqa: BLE001 - another replica created it first
            await js.stream_info(config.name or "")
    await js.update_stream(config)


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
