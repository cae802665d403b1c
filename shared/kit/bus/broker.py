"""The one NatsBroker factory, with the defaults that keep data (docs/bus-facts.md)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from faststream.middlewares import AckPolicy
from faststream.nats import NatsBroker, NatsSecurity, NatsToken, NatsUserPassword

from shared.kit.bus.address import NatsAddress

REPLIES = "_CARENET_R"


def reply_prefix(service: str, sites: Sequence[str] | None) -> str:
    """Where the replies to an instance's own requests come (its inbox prefix), instead of
    ``_INBOX``: a leaf link can then carry one site's intake's replies to that site and
    nothing else of any site's request/reply traffic (``_INBOX`` carries, among others, the
    events a pull consumer fetches and the names a query answers)."""
    return f"{REPLIES}.{service}.{'_'.join(sorted(sites)) if sites else 'all'}"


def make_broker(
    url: str, *, name: str, graceful_timeout: float = 10.0, inbox_prefix: str = "_INBOX"
) -> NatsBroker:
    """A broker that retries failed JetStream messages and reconnects forever.

    FastStream's own defaults would ``term`` a failed message (no redelivery), give up
    reconnecting after about two minutes, and stop without waiting for in-flight work.
    ``url`` may name several servers of a cluster (``shared.kit.bus.address``).
    """
    address = NatsAddress.parse(url)
    security: NatsSecurity | None = None
    if address.user is not None and address.password is not None:
        security = NatsUserPassword(address.user, address.password)
    elif address.token is not None:
        security = NatsToken(address.token)
    return NatsBroker(
        list(address.servers),
        security=security,
        name=name,
        ack_policy=AckPolicy.NACK_ON_ERROR,
        max_reconnect_attempts=-1,
        reconnect_time_wait=1,
        connect_timeout=5,
        graceful_timeout=graceful_timeout,
        inbox_prefix=inbox_prefix,
        log_level=logging.DEBUG,  # per-message access lines are noise at INFO
    )
