"""What groups learns from intake's events: who is known, with which roles, and whose case is
open where. A case closed or transferred away ends the person's enrolments at that site; a
withdrawn ``service`` consent ends them at every site."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from services.groups import store
from services.groups.domain import ended_with_case, ended_with_consent
from services.groups.handlers import end_enrolment
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import WithdrawalReason
from shared.kit.contracts.intake import (
    CaseClosed,
    CaseOpened,
    CaseTransferred,
    ConsentRecorded,
    PersonMerged,
)
from shared.kit.db.uow import UnitOfWork
from shared.kit.known_people import person_of


async def on_case_opened(uow: UnitOfWork, event: EventEnvelope, data: CaseOpened) -> None:
    # The person's roles are learnt by the kit (known_people.handlers).
    person_id = await person_of(uow.conn, data.person_id)
    await store.remember_open_case(uow.conn, data.case_id, person_id, event.site)


async def _case_ended(
    uow: UnitOfWork,
    case_id: UUID,
    person_id: UUID,
    site: str,
    on: date,
    reason: WithdrawalReason,
) -> None:
    await store.forget_open_case(uow.conn, case_id)
    person_id = await person_of(uow.conn, person_id)
    ending = ended_with_case(
        await store.active_enrolments(uow.conn, person_id, site),
        on,
        another_case_here=await store.has_open_case(uow.conn, person_id, site),
    )
    for enrolment in ending:
        await end_enrolment(uow, enrolment, reason, on)


async def on_case_closed(uow: UnitOfWork, event: EventEnvelope, data: CaseClosed) -> None:
    await _case_ended(uow, data.case_id, data.person_id, event.site, data.closed_on, "case_closed")


async def on_case_transferred(uow: UnitOfWork, event: EventEnvelope, data: CaseTransferred) -> None:
    await _case_ended(
        uow, data.case_id, data.person_id, event.site, data.transferred_on, "case_transferred"
    )


async def on_person_merged(uow: UnitOfWork, event: EventEnvelope, data: PersonMerged) -> None:
    """The duplicate's cases, enrolments and attendance become the kept person's (the kit
    has recorded the merge); where both were in one programme, the duplicate's place goes."""
    kept = await person_of(uow.conn, data.into_id)
    await store.move_person(uow.conn, data.duplicate_id, kept)
    for enrolment in await store.enrolments_both(uow.conn, data.duplicate_id):
        await end_enrolment(uow, enrolment, "withdrawn", data.merged_on)


async def on_consent_recorded(uow: UnitOfWork, event: EventEnvelope, data: ConsentRecorded) -> None:
    """A withdrawn ``service`` consent withdraws the person's enrolments and waitlist places in
    programmes still meeting, each with ``enrollment.withdrawn`` (reason
    ``consent_withdrawn``) and a freed place going to the first waiting. Consent given again
    enrols nobody again. (The kit has recorded the consent.)"""
    if data.purpose != "service" or data.given:
        return
    person_id = await person_of(uow.conn, data.person_id)
    for enrolment in ended_with_consent(
        await store.active_enrolments(uow.conn, person_id, None), data.recorded_on
    ):
        await end_enrolment(uow, enrolment, "consent_withdrawn", data.recorded_on)
