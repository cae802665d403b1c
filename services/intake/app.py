"""Wiring only: intake's handlers, queries, handoff relay and migrations as a ServiceDefinition."""

from __future__ import annotations

from pathlib import Path

from services.intake import handlers, handoffs, inbound, queries, retention
from shared.agency.instruments import load_instruments
from shared.agency.screenings import load_screenings
from shared.kit.bus.consumer import Subscription
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition, catalogued


def build(settings: Settings) -> ServiceDefinition:
    """Intake for these settings; ``CARENET_INSTRUMENTS`` adds the agency's own instruments,
    ``CARENET_SCREENINGS`` its own needs-and-risk screenings (or replaces the shipped items),
    ``CARENET_URGENT_REFERRAL_DAYS`` (0..365, as a ``referrals_overdue`` query may ask) is how
    long an urgent referral may wait undecided.

    Transfers to other sites: ``CARENET_TRANSFER_WAIT_SECONDS`` (default 2, at most 10) is how
    long ``transfer_case`` waits for the receiving site's answer before replying ``pending``;
    an unanswered handoff is sent again after ``CARENET_HANDOFF_RETRY_SECONDS`` (default 0.5),
    doubling up to ``CARENET_HANDOFF_RETRY_MAX_SECONDS`` (default 15); each send waits
    ``CARENET_HANDOFF_TIMEOUT_SECONDS`` (default 10) for its answer.

    Retention: with a ``[retention]`` rule in the sites file, the day's run is checked for
    every ``CARENET_RETENTION_CHECK_SECONDS`` (default 3600) and made once a day per site; what
    groups and volunteers report of a person's activity (``inbound``) keeps their data."""
    instruments = load_instruments(settings.path("CARENET_INSTRUMENTS"))
    overdue_days = settings.integer("CARENET_URGENT_REFERRAL_DAYS", 2, 0, 365)
    policy = handoffs.HandoffPolicy(
        first_retry=settings.number("CARENET_HANDOFF_RETRY_SECONDS", 0.5, 0.01, 600),
        longest_retry=settings.number("CARENET_HANDOFF_RETRY_MAX_SECONDS", 15, 0.01, 3600),
        timeout=settings.number("CARENET_HANDOFF_TIMEOUT_SECONDS", 10, 0.1, 120),
    )
    return ServiceDefinition(
        name="intake",
        migrations=Path(__file__).parent / "migrations",
        commands=catalogued(
            "intake",
            handlers,
            organisation=settings.organisation,
            instruments=instruments,
            screenings=load_screenings(settings.path("CARENET_SCREENINGS")),
            transfer_wait=settings.number("CARENET_TRANSFER_WAIT_SECONDS", 2, 0, 10),
        ),
        queries=catalogued("intake", queries, queries=True, default_days=overdue_days),
        # Groups and volunteers wait for intake's stream as they start: intake does not wait
        # for theirs.
        subscriptions=tuple(
            Subscription.to(source, handlers, batch_size=100, awaits_stream=False)
            for source, handlers in (("groups", inbound.GROUPS), ("volunteers", inbound.VOLUNTEERS))
        ),
        background=(
            handoffs.relay(policy),
            retention.daily(settings.number("CARENET_RETENTION_CHECK_SECONDS", 3600, 1, 86400)),
        ),
    )
