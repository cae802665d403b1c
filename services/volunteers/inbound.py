"""What volunteers learns from intake's and groups' events: consent for service, carer links
and sessions (people and their roles come through ``shared.kit.known_people``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.volunteers import store
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import SessionCancelled, SessionScheduled
from shared.kit.contracts.intake import CarerLinked, ConsentRecorded
from shared.kit.contracts.volunteers import AssignmentCancelled
from shared.kit.db.uow import UnitOfWork


async def on_consent_recorded(uow: UnitOfWork, event: EventEnvelope, data: ConsentRecorded) -> None:
    if data.purpose != "service":
        return
    await store.remember_consent(uow.conn, data.person_id, data.given, event.time)


async def on_carer_linked(uow: UnitOfWork, event: EventEnvelope, data: CarerLinked) -> None:
    await store.remember_carer_link(uow.conn, data.carer_id, data.cared_for_id)


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
