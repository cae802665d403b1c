"""Synthetic events of all three sources, the mix reporting reads, and publishing them."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import uuid4

from nats.aio.client import Client as NatsClient

from shared.kit.bus.streams import dlq_config, ensure_stream, stream_config
from shared.kit.contracts.envelope import EventEnvelope
from shared.kit.contracts.groups import AttendanceRecorded, EnrollmentCreated, SessionScheduled
from shared.kit.contracts.intake import CaseContactLogged, PersonRegistered, ReferralReceived
from shared.kit.contracts.messages import EventData
from shared.kit.contracts.volunteers import HoursLogged, PeerContactLogged, VolunteerRegistered

SOURCES = ("intake", "groups", "volunteers")
SITES = ("likang", "nanyuan", "jinsha", "longjin", "icmhc", "clubhouse", "si-unit")
REFERRAL_SOURCES = ("hospital", "residents_committee", "self", "street_office")
CONTACT_MODES = ("phone", "home_visit", "office_interview")
PROGRAMME_TYPES = ("support_group", "psychoeducation_talk", "interest_class", "outing")
TEAMS = ("peer_supporters", "family_volunteer_team")

# Out of every 20 events: intake 10, groups 7, volunteers 3.
MIX = (
    ("intake.person.registered", 4),
    ("intake.referral.received", 3),
    ("intake.case.contact_logged", 3),
    ("groups.session.scheduled", 3),
    ("groups.attendance.recorded", 2),
    ("groups.enrollment.created", 2),
    ("volunteers.volunteer.registered", 1),
    ("volunteers.hours.logged", 1),
    ("volunteers.peer_contact.logged", 1),
)
_CYCLE = [name for name, weight in MIX for _ in range(weight)]


def _data(kind: str, i: int, on: date) -> EventData:
    programme = uuid4()
    programme_type: Any = PROGRAMME_TYPES[i % len(PROGRAMME_TYPES)]
    match kind:
        case "intake.person.registered":
            return PersonRegistered(
                person_id=uuid4(), roles=["family_carer"], age_band="45_54", registered_on=on
            )
        case "intake.referral.received":
            return ReferralReceived(
                referral_id=uuid4(),
                source=REFERRAL_SOURCES[i % 4],  # type: ignore[arg-type]
                urgency="routine",
                received_on=on,
            )
        case "intake.case.contact_logged":
            return CaseContactLogged(
                contact_id=uuid4(),
                case_id=uuid4(),
                person_id=uuid4(),
                mode=CONTACT_MODES[i % 3],  # type: ignore[arg-type]
                minutes=30 + i % 60,
                contact_on=on,
            )
        case "groups.session.scheduled":
            return SessionScheduled(
                session_id=uuid4(),
                programme_id=programme,
                programme_type=programme_type,
                date=on,
                start_time="10:00",  # type: ignore[arg-type]
                duration_min=90,
                venue="Activity room",
                facilitators=["Ms Chan"],
            )
        case "groups.attendance.recorded":
            return AttendanceRecorded(
                session_id=uuid4(),
                programme_id=programme,
                programme_type=programme_type,
                date=on,
                present=[uuid4() for _ in range(8)],
                absent=[uuid4()],
                walk_ins=i % 3,
                revision=1,
                replaces=False,
            )
        case "groups.enrollment.created":
            return EnrollmentCreated(
                enrollment_id=uuid4(),
                programme_id=programme,
                programme_type=programme_type,
                person_id=uuid4(),
                status="enrolled",
                enrolled_on=on,
            )
        case "volunteers.volunteer.registered":
            return VolunteerRegistered(
                volunteer_id=uuid4(),
                person_id=uuid4(),
                teams=[TEAMS[i % 2]],
                skills=[],
                service_user=i % 5 == 0,
                registered_on=on,
            )
        case "volunteers.hours.logged":
            return HoursLogged(
                hours_id=uuid4(),
                volunteer_id=uuid4(),
                team=TEAMS[i % 2],
                minutes=60 + i % 120,
                date=on,
                activity="home visit",
            )
        case "volunteers.peer_contact.logged":
            return PeerContactLogged(
                contact_id=uuid4(), match_id=uuid4(), date=on, minutes=20 + i % 40, mode="phone"
            )
    raise ValueError(kind)


def mixed_events(n: int) -> list[EventEnvelope]:
    """``n`` events of the three sources in the proportions of ``MIX``, through 2026."""
    first = date(2026, 1, 1)
    events = []
    for i in range(n):
        kind = _CYCLE[i % len(_CYCLE)]
        site = SITES[i % len(SITES)]
        data = _data(kind, i, first + timedelta(days=i % 330))
        source = kind.split(".", 1)[0]
        events.append(
            EventEnvelope(
                type=kind,
                source=f"{source}/{site}",
                site=site,
                time=datetime.now(UTC),
                subject=str(uuid4()),
                data=data.model_dump(mode="json"),
            )
        )
    return events


async def ensure_streams(nc: NatsClient) -> None:
    js = nc.jetstream()
    for source in SOURCES:
        await ensure_stream(js, stream_config(source))
    await ensure_stream(js, dlq_config())


async def publish(nc: NatsClient, events: list[EventEnvelope]) -> None:
    """Publish with JetStream acks, 1,000 in flight at a time, deduplicated by event id."""
    js = nc.jetstream()
    window = 1000
    for start in range(0, len(events), window):
        acks = [
            await js.publish_async(
                e.nats_subject, e.model_dump_json().encode(), headers={"Nats-Msg-Id": str(e.id)}
            )
            for e in events[start : start + window]
        ]
        await asyncio.gather(*acks)


def counts_by_source(events: list[EventEnvelope]) -> dict[str, int]:
    counts = dict.fromkeys(SOURCES, 0)
    for e in events:
        counts[e.type.split(".", 1)[0]] += 1
    return counts
