"""Wiring only: intake's handlers, queries and migrations as a ServiceDefinition."""

from __future__ import annotations

from functools import partial
from pathlib import Path

from services.intake import handlers, queries
from shared.agency.instruments import load_instruments
from shared.kit.config import Settings
from shared.kit.service import ServiceDefinition


def build(settings: Settings) -> ServiceDefinition:
    """Intake for these settings; ``CARENET_INSTRUMENTS`` adds the agency's own instruments,
    ``CARENET_URGENT_REFERRAL_DAYS`` (0..365, as a ``referrals_overdue`` query may ask) is how
    long an urgent referral may wait undecided."""
    instruments = load_instruments(settings.path("CARENET_INSTRUMENTS"))
    overdue_days = settings.integer("CARENET_URGENT_REFERRAL_DAYS", 2, 0, 365)
    organisation = settings.organisation
    return ServiceDefinition(
        name="intake",
        migrations=Path(__file__).parent / "migrations",
        commands={
            "register_person": handlers.register_person,
            "link_carer": handlers.link_carer,
            "receive_referral": handlers.receive_referral,
            "decide_referral": handlers.decide_referral,
            "record_consent": handlers.record_consent,
            "open_case": handlers.open_case,
            "transfer_case": partial(handlers.transfer_case, organisation=organisation),
            "close_case": handlers.close_case,
            "log_contact": handlers.log_contact,
            "record_assessment": partial(handlers.record_assessment, instruments=instruments),
            "acknowledge_safety_followup": handlers.acknowledge_safety_followup,
        },
        queries={
            "person": queries.person,
            "find_people": queries.find_people,
            "case": queries.case,
            "consent": queries.consent,
            "referrals_overdue": partial(queries.referrals_overdue, default_days=overdue_days),
            "safety_followups": queries.safety_followups,
            "access_log": queries.access_log,
        },
    )
