"""What volunteers learns from intake's and groups' events: consent for service, carer links
and sessions (people, their roles, home site and consents come through
``shared.kit.known_people``). A withdrawn ``service`` consent ends the person's peer matches
and their future duties."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from uuid import UUID

from services.volunteers import store
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import SessionCancelled, SessionScheduled
from shared.kit.contracts.intake import CarerLinked, ConsentRecorded, PersonErased, PersonMerged
from shared.kit.contracts.volunteers import AssignmentCancelled, PeerMatchEnded
from shared.kit.db.uow import UnitOfWork
from shared.kit.known_people import person_of


async def on_consent_recorded(uow: UnitOfWork, event: EventEnvelope, data: ConsentRecorded) -> None:
    if data.purpose != "service":
        return
    person_id = await person_of(uow.conn, data.person_id)
    await store.remember_consent(uow.conn, person_id, data.given, event.time)
    if not data.given:
        await _end_what_service_consent_gated(uow, person_id, data.recorded_on)


async def _end_what_service_consent_gated(uow: UnitOfWork, person_id: UUID, on: date) -> None:
    """The person's open peer matches end (``peer_match.ended``, reason ``consent_withdrawn``),
    and, if they volunteer, their duties at sessions still to come are off
    (``assignment.cancelled``). Consent given again restarts nothing."""
    for match in await store.open_matches_of(uow.conn, person_id):
        if match.end_for_withdrawn_consent(on):
            await store.save_peer_match_end(uow.conn, match)
            assert match.ended_on is not None
            uow.record(
                PeerMatchEnded(
                    match_id=match.match_id, reason="consent_withdrawn", ended_on=match.ended_on
                ),
                subject=match.match_id,
                site=match.site,
            )
    now = datetime.now(uow.zone).replace(tzinfo=None)  # sessions' times are the zone's
    for assignment_id, volunteer_id, session_id, site in await store.cancel_future_duties(
        uow.conn, person_id, now
    ):
        uow.record(
            AssignmentCancelled(
                assignment_id=assignment_id,
                volunteer_id=volunteer_id,
                session_id=session_id,
                reason="consent_withdrawn",
            ),
            subject=assignment_id,
            site=site,
        )


async def on_carer_linked(uow: UnitOfWork, event: EventEnvelope, data: CarerLinked) -> None:
    carer_id = await person_of(uow.conn, data.carer_id)
    cared_for_id = await person_of(uow.conn, data.cared_for_id)
    if carer_id != cared_for_id:
        await store.remember_carer_link(uow.conn, carer_id, cared_for_id)


async def on_person_merged(uow: UnitOfWork, event: EventEnvelope, data: PersonMerged) -> None:
    """The duplicate's consent, carer links, peer matches and volunteer record become the kept
    person's (the kit has recorded the merge)."""
    await store.move_person(uow.conn, data.duplicate_id, await person_of(uow.conn, data.into_id))


async def on_person_erased(uow: UnitOfWork, event: EventEnvelope, data: PersonErased) -> None:
    """The erased person's consent and carer links go; as a volunteer, their skills, languages
    and availability go, and they are made inactive (the kit has forgotten their roles)."""
    await store.forget_person(uow.conn, await person_of(uow.conn, data.person_id))


async def on_session_scheduled(
    uow: UnitOfWork, event: EventEnvelope, data: SessionScheduled
) -> None:
    starts = datetime.combine(data.date, data.start_time)
    await store.remember_session(
        uow.conn,
        data.session_id,
        event.site,
        data.programme_id,
        starts,
        starts + timedelta(minutes=data.duration_min),
    )


async def on_session_cancelled(
    uow: UnitOfWork, event: EventEnvelope, data: SessionCancelled
) -> None:
    for assignment_id, volunteer_id in await store.cancel_session(uow.conn, data.session_id):
        uow.record(
            AssignmentCancelled(
                assignment_id=assignment_id,
                volunteer_id=volunteer_id,
                session_id=data.session_id,
            ),
            subject=assignment_id,
        )
