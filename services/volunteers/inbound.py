"""What volunteers learns from intake's and groups' events: consent for service, carer links
and sessions (people and their roles come through ``shared.kit.known_people``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.volunteers import store
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import SessionCancelled, SessionScheduled
from shared.kit.contracts.intake import CarerLinked, ConsentRecorded, PersonErased, PersonMerged
from shared.kit.contracts.volunteers import AssignmentCancelled
from shared.kit.db.uow import UnitOfWork
from shared.kit.known_people import person_of


async def on_consent_recorded(uow: UnitOfWork, event: EventEnvelope, data: ConsentRecorded) -> None:
    if data.purpose != "service":
        return
    person_id = await person_of(uow.conn, data.person_id)
    await store.remember_consent(uow.conn, person_id, data.given, event.time)


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
