"""Intake's command handlers: load, decide with the domain's rules, save, record events."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from datetime import date
from functools import partial
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.intake import store
from services.intake.domain import (
    Case,
    ConsentState,
    ConsentWithdrawal,
    Goal,
    Person,
    age_band,
    merged_roles,
    phone_digits,
    refuse_own_carer,
    refuse_possible_duplicates,
    require_consent_to_share,
    require_service_consent,
    score_answers,
    screen_answers,
)
from shared.agency.instruments import Instrument
from shared.agency.screenings import Screening
from shared.agency.sites import Organisation
from shared.kit.commands import created, found, once
from shared.kit.contracts.intake import (
    AcknowledgeSafetyFollowup,
    AddCaseNote,
    AssessmentRecorded,
    AssessmentVoided,
    CarerLinked,
    CaseClosed,
    CaseContactLogged,
    CaseContactVoided,
    CaseOpened,
    CaseReassigned,
    CloseCase,
    ConsentRecorded,
    DecideReferral,
    EndGoal,
    ErasePerson,
    GoalDropped,
    GoalMet,
    GoalReviewed,
    GoalSet,
    LinkCarer,
    LogContact,
    LogOutreach,
    MergePeople,
    OpenCase,
    OutreachLogged,
    PersonErased,
    PersonMerged,
    PersonRegistered,
    PersonUpdated,
    ReassignCase,
    ReceiveReferral,
    ReceiveTransfer,
    RecordAssessment,
    RecordConsent,
    ReferralDecided,
    ReferralReceived,
    RegisterPerson,
    ReviewGoal,
    Role,
    SafetyFollowupAcknowledged,
    ScreenReferral,
    SetGoal,
    TransferCase,
    UpdatePerson,
    VoidAssessment,
    VoidContact,
)
from shared.kit.contracts.replies import CommandError
from shared.kit.db.uow import UnitOfWork


async def _person(
    uow: UnitOfWork,
    person_id: UUID,
    field: str,
    *,
    for_update: bool = False,
    erased_too: bool = False,
) -> Person:
    """The person a command names, or ``not_found`` unless the site's staff know them (see
    ``Person.known_at``) or the caller's token reaches the site they are registered at (a
    parent site's staff opening a case at a child site)."""
    person = found(
        await store.load_person(uow.conn, person_id, for_update=for_update), "person", field
    )
    grant = uow.grant
    if grant is not None and not (person.known_at(grant.sites) or grant.reaches(person.site)):
        raise CommandError.not_found("person", field)
    person.must_not_be_merged(field)
    if not erased_too:
        person.must_not_be_erased(field)
    return person


async def _not_erased(uow: UnitOfWork, person_id: UUID | None, field: str) -> None:
    """``conflict`` when the record a command names belongs to an erased person: nothing new
    is written about them (a late note, review or void would bring text back)."""
    if person_id is None:
        return
    erased_on = await store.erased_on(uow.conn, person_id, lock=True)
    if erased_on is not None:
        raise CommandError.conflict(
            "this person's personal data was erased", **{field: f"erased on {erased_on}"}
        )


def _here(uow: UnitOfWork) -> Collection[str]:
    """The sites whose records a command sent to this site may name: the site and those below
    it (what a command changes must be at the site itself: ``site=uow.site``)."""
    return uow.grant.sites if uow.grant is not None else (uow.site,)


async def register_person(cmd: RegisterPerson, uow: UnitOfWork) -> dict[str, Any]:
    registered_on = uow.business_date(cmd.on)
    digits = phone_digits(cmd.phone)
    duplicates = await store.possible_duplicates(
        uow.conn,
        site=uow.site,
        preferred_name=cmd.preferred_name,
        legal_name=cmd.legal_name,
        birth_year=cmd.birth_year,
        phone_digits=digits,
    )
    refuse_possible_duplicates(duplicates, cmd.register_anyway)
    person_id = uuid4()
    await store.add_person(
        uow.conn,
        cmd,
        person_id=person_id,
        site=uow.site,
        phone_digits=digits,
        registered_on=registered_on,
    )
    return created(
        uow,
        PersonRegistered.of(
            cmd,
            person_id=person_id,
            age_band=age_band(cmd.birth_year, uow.today),
            registered_on=registered_on,
        ),
        "person_id",
        possible_duplicates=[str(d) for d in duplicates],
    )


async def merge_people(cmd: MergePeople, uow: UnitOfWork) -> dict[str, Any]:
    """Merge the duplicate into the kept person (see ``store.merge_person``); both must be
    known at the site. ``person.merged`` tells the other services to count one person."""
    merged_on = uow.business_date(cmd.on)
    if cmd.duplicate_id == cmd.into_id:
        raise CommandError(
            "validation_error", "a person cannot be merged into themselves", into_id="same person"
        )
    # Both rows locked, always in the same order, so two merges of the same pair queue up.
    first, second = sorted([(cmd.duplicate_id, "duplicate_id"), (cmd.into_id, "into_id")])
    locked = {
        ident: await _person(uow, ident, field, for_update=True) for ident, field in (first, second)
    }
    duplicate, into = locked[cmd.duplicate_id], locked[cmd.into_id]
    roles = merged_roles(
        duplicate,
        into,
        await store.running_cases(uow.conn, cmd.duplicate_id),
        await store.running_cases(uow.conn, cmd.into_id),
    )
    assert cmd.actor is not None  # the request endpoints fill it from the token
    await store.merge_person(
        uow.conn,
        duplicate_id=cmd.duplicate_id,
        into_id=cmd.into_id,
        roles=roles,
        site=uow.site,
        reason=cmd.reason,
        merged_on=merged_on,
        merged_by=cmd.actor,
    )
    uow.record(
        PersonMerged.of(cmd, roles=list(roles), merged_on=merged_on), subject=cmd.duplicate_id
    )
    return {
        "duplicate_id": str(cmd.duplicate_id),
        "into_id": str(cmd.into_id),
        "roles": list(roles),
    }


async def link_carer(cmd: LinkCarer, uow: UnitOfWork) -> dict[str, Any]:
    linked_on = uow.business_date(cmd.on)
    refuse_own_carer(cmd.carer_id, cmd.cared_for_id)
    carer = await _person(uow, cmd.carer_id, "carer_id")
    await _person(uow, cmd.cared_for_id, "cared_for_id")
    carer.must_be_family_carer()
    link_id = uuid4()
    once(
        await store.add_carer_link(
            uow.conn, cmd, link_id=link_id, site=uow.site, linked_on=linked_on
        ),
        "these two people are already linked",
        cared_for_id="already linked",
    )
    return created(
        uow,
        CarerLinked.of(cmd, link_id=link_id, linked_on=linked_on),
        "link_id",
    )


async def update_person(cmd: UpdatePerson, uow: UnitOfWork) -> dict[str, Any]:
    """Correct the fields sent, for a person the site's staff know; ``person.updated`` only
    when roles, age band or sex change."""
    await _person(uow, cmd.person_id, "person_id")
    person = found(await store.load_person_record(uow.conn, cmd.person_id), "person", "person_id")
    changes = {f: getattr(cmd, f) for f in cmd.model_fields_set if f not in _NOT_PERSONAL}
    correction = person.correct(changes, uow.today)
    if not correction.values:
        return {"person_id": str(cmd.person_id), "changed": [], "revision": person.revision}
    assert cmd.actor is not None  # the request endpoints fill it from the token
    revision = await store.save_correction(
        uow.conn, person, correction, site=uow.site, changed_by=cmd.actor
    )
    if correction.announced:
        uow.record(
            PersonUpdated(
                person_id=cmd.person_id,
                revision=revision,
                roles=list(correction.roles) if correction.roles is not None else None,
                age_band=correction.age_band,
                sex=correction.sex,
                updated_on=uow.today,
            ),
            subject=cmd.person_id,
        )
    return {"person_id": str(cmd.person_id), "changed": correction.fields, "revision": revision}


_NOT_PERSONAL = frozenset({"command_id", "actor", "person_id"})


async def receive_referral(cmd: ReceiveReferral, uow: UnitOfWork) -> dict[str, Any]:
    received_on = uow.business_date(cmd.on)
    if cmd.person_id is not None:
        await _person(uow, cmd.person_id, "person_id")
    referral_id = uuid4()
    await store.add_referral(
        uow.conn, cmd, referral_id=referral_id, site=uow.site, received_on=received_on
    )
    return created(
        uow,
        ReferralReceived.of(cmd, referral_id=referral_id, received_on=received_on),
        "referral_id",
    )


async def decide_referral(cmd: DecideReferral, uow: UnitOfWork) -> dict[str, Any]:
    decided_on = uow.business_date(cmd.on)
    referral = found(
        await store.load_referral(uow.conn, cmd.referral_id),
        "referral",
        "referral_id",
        site=uow.site,
    )
    await _not_erased(uow, referral.person_id, "referral_id")
    previous = referral.decide(cmd.decision, decided_on)
    await store.save_decision(
        uow.conn, referral, reason=cmd.reason, decided_on=decided_on, decided_by=cmd.actor
    )
    uow.record(
        ReferralDecided.of(referral, cmd, decided_on=decided_on, previous_decision=previous),
        subject=cmd.referral_id,
    )
    return {"referral_id": str(cmd.referral_id), "status": referral.status}


async def record_consent(cmd: RecordConsent, uow: UnitOfWork) -> dict[str, Any]:
    """Record the consent; a withdrawal ends in this transaction what it gated in intake
    (``ConsentWithdrawal``). Groups and volunteers end the rest from ``consent.recorded``."""
    recorded_on = uow.business_date(cmd.on)
    await _person(uow, cmd.person_id, "person_id")
    withdrawal = ConsentWithdrawal.of(cmd.purpose, cmd.given)
    # The handoffs first, before anything here locks the person: a relay may hold one while
    # the receiving site (perhaps this intake) locks the person to open its case.
    cancelled = (
        await _cancel_handoffs(uow, cmd.person_id, cmd.purpose)
        if withdrawal.cancels_handoffs
        else []
    )
    consent_id = uuid4()
    await store.add_consent(
        uow.conn, cmd, consent_id=consent_id, site=uow.site, recorded_on=recorded_on
    )
    uow.record(
        ConsentRecorded.of(cmd, recorded_on=recorded_on),
        subject=cmd.person_id,
    )
    closed = await _close_cases(uow, cmd.person_id, recorded_on) if withdrawal.closes_cases else []
    return {
        "consent_id": str(consent_id),
        "purpose": cmd.purpose,
        "given": cmd.given,
        "cancelled_handoffs": cancelled,
        "closed_cases": closed,
    }


async def _cancel_handoffs(uow: UnitOfWork, person_id: UUID, purpose: str) -> list[str]:
    """Cancel the person's transfers not yet accepted, each case open again here."""
    cancelled = []
    for handoff in await store.pending_handoffs_of(uow.conn, person_id):
        handoff.cancel(purpose)
        await store.save_handoff(uow.conn, handoff)
        case = await store.load_case(uow.conn, handoff.case_id)
        assert case is not None  # a handoff's case is never deleted
        case.transfer_refused()
        await store.save_case_transfer(uow.conn, case)
        cancelled.append(str(handoff.handoff_id))
    return cancelled


async def _close_cases(uow: UnitOfWork, person_id: UUID, on: date) -> list[str]:
    """Close the person's open cases, each with ``case.closed`` at its site."""
    # Locked as open_case locks the person, so a case opened meanwhile is seen here.
    await store.load_person(uow.conn, person_id, for_update=True)
    closed = []
    for case in await store.open_cases_of(uow.conn, person_id):
        if case.close_for_withdrawn_consent(on):
            await store.save_case_end(uow.conn, case)
            uow.record(
                CaseClosed(
                    case_id=case.case_id,
                    person_id=case.person_id,
                    reason="consent_withdrawn",
                    closed_on=case.closed_on or on,
                ),
                subject=case.case_id,
                site=case.site,
            )
            closed.append(str(case.case_id))
    return closed


async def open_case(cmd: OpenCase, uow: UnitOfWork) -> dict[str, Any]:
    opened_on = uow.business_date(cmd.on)
    # Locks the person, so two workers opening a case for the same person queue up here.
    person = await _person(uow, cmd.person_id, "person_id", for_update=True)
    if cmd.referral_id is not None:
        found(
            await store.load_referral(uow.conn, cmd.referral_id),
            "referral",
            "referral_id",
            site=_here(uow),
        )
    require_service_consent(await store.consent_state(uow.conn, cmd.person_id))
    case = Case.open(
        cmd.person_id,
        uow.site,
        cmd.worker_id,
        opened_on,
        had_case_here=await store.has_had_case_at(uow.conn, cmd.person_id, uow.site),
        referral_id=cmd.referral_id,
    )
    if not await store.add_case(uow.conn, case):
        existing = await store.open_case_at(uow.conn, cmd.person_id, uow.site)
        raise CommandError.conflict(
            "the person already has an open case at this site", person_id=f"open case {existing}"
        )
    return created(
        uow,
        CaseOpened.of(case, roles=list(person.roles)),
        "case_id",
        kind=case.kind,
    )


async def transfer_case(
    cmd: TransferCase, uow: UnitOfWork, *, organisation: Organisation, transfer_wait: float
) -> dict[str, Any]:
    """Start handing the case over to ``to_site``'s intake: the case is ``transferring`` and a
    pending handoff is stored with it, for the handoff relay (``handoffs.py``) to deliver. The
    reply waits up to ``transfer_wait`` seconds for the receiving site's answer."""
    transferred_on = uow.business_date(cmd.on)
    if cmd.to_site not in organisation.codes():
        raise CommandError("not_found", "no such site", to_site="unknown site")
    case = found(await store.load_case(uow.conn, cmd.case_id), "case", "case_id", site=uow.site)
    require_consent_to_share(
        await store.consent_state(uow.conn, case.person_id),
        beyond_site=organisation.shares_beyond(case.site, cmd.to_site),
        field="to_site",
    )
    handoff = case.start_transfer(cmd.to_site, transferred_on, cmd.worker_id)
    await store.save_case_transfer(uow.conn, case)
    assert cmd.actor is not None  # the request endpoints fill it from the token
    await store.add_handoff(uow.conn, handoff, actor=cmd.actor, token=uow.token)
    if transfer_wait > 0:
        uow.then.append(partial(_answered, uow.pool, handoff.handoff_id, transfer_wait))
    return {
        "case_id": str(case.case_id),
        "handoff_id": str(handoff.handoff_id),
        "to_site": cmd.to_site,
        "status": handoff.status,
    }


async def _answered(
    pool: asyncpg.Pool, handoff_id: UUID, seconds: float, result: dict[str, Any]
) -> dict[str, Any]:
    """``result`` with the handoff's status once the receiving site answered, or as it is
    after ``seconds`` (``pending``: the relay keeps trying; the ``case`` query follows it)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        async with pool.acquire() as conn:
            handoff = await store.handoff_outcome(conn, handoff_id)
        if handoff is None or handoff.status != "pending" or loop.time() >= deadline:
            break
        await asyncio.sleep(min(0.05, max(deadline - loop.time(), 0)))
    if handoff is None or handoff.status == "pending":
        return result
    answered = {**result, "status": handoff.status}
    if handoff.new_case_id is not None:
        answered["new_case_id"] = str(handoff.new_case_id)
    if handoff.status == "refused":
        answered["reason"] = handoff.last_error
    return answered


async def receive_transfer(
    cmd: ReceiveTransfer, uow: UnitOfWork, *, organisation: Organisation
) -> dict[str, Any]:
    """Open the case another site's intake hands over: the person is registered here under the
    same id if unknown (if known, their record stays and gains the roles), their consents are
    kept, and ``case.opened`` (kind ``transferred_in``) is recorded for this site. Not
    ``person.registered``: they were registered at the sending site. A case from a site this
    one is not below comes only with the person's ``data_sharing`` consent among those sent
    (the sending site checks it too)."""
    transferred_on = uow.business_date(cmd.transferred_on)
    if cmd.from_site == uow.site:
        raise CommandError(
            "validation_error", "a transfer comes from another site", from_site="this site"
        )
    require_consent_to_share(
        ConsentState.latest((c.purpose, c.given, c.recorded_at) for c in cmd.consents),
        beyond_site=organisation.shares_beyond(cmd.from_site, uow.site),
        field="consents",
    )
    person = await store.load_person(uow.conn, cmd.person_id, for_update=True)
    if person is not None:
        person.must_not_be_erased("person_id")
    if person is None:
        await store.add_transferred_person(
            uow.conn, cmd, phone_digits=phone_digits(cmd.person.phone)
        )
        roles: tuple[Role, ...] = tuple(cmd.person.roles)
    else:
        roles = person.with_roles(cmd.person.roles)
        if roles != person.roles:
            await store.save_roles(uow.conn, person, roles)
    await store.add_transferred_consents(uow.conn, cmd.person_id, cmd.consents)
    case = Case.transferred_in(
        cmd.person_id, uow.site, cmd.worker_id, transferred_on, cmd.from_case_id
    )
    if not await store.add_case(uow.conn, case):
        existing = await store.open_case_at(uow.conn, cmd.person_id, uow.site)
        raise CommandError.conflict(
            "the person already has an open case at the receiving site",
            person_id=f"open case {existing}",
        )
    return created(uow, CaseOpened.of(case, roles=list(roles)), "case_id", kind=case.kind)


async def close_case(cmd: CloseCase, uow: UnitOfWork) -> dict[str, Any]:
    closed_on = uow.business_date(cmd.on)
    case = found(await store.load_case(uow.conn, cmd.case_id), "case", "case_id", site=uow.site)
    case.close(cmd.reason, closed_on)
    await store.save_case_end(uow.conn, case)
    uow.record(
        CaseClosed.of(case, cmd, closed_on=closed_on),
        subject=case.case_id,
    )
    return {"case_id": str(case.case_id), "status": case.status}


async def log_contact(cmd: LogContact, uow: UnitOfWork) -> dict[str, Any]:
    contact_on = uow.business_date(cmd.on)
    case = found(await store.load_case(uow.conn, cmd.case_id), "case", "case_id", site=uow.site)
    await _not_erased(uow, case.person_id, "case_id")
    case.log_contact(contact_on)
    contact_id = uuid4()
    await store.add_contact(uow.conn, cmd, contact_id=contact_id, contact_on=contact_on)
    uow.record(
        CaseContactLogged.of(cmd, case, contact_id=contact_id, contact_on=contact_on),
        subject=cmd.case_id,
    )
    return {"contact_id": str(contact_id)}


async def log_outreach(cmd: LogOutreach, uow: UnitOfWork) -> dict[str, Any]:
    outreach_on = uow.business_date(cmd.on)
    outreach_id = uuid4()
    await store.add_outreach(
        uow.conn, cmd, outreach_id=outreach_id, site=uow.site, outreach_on=outreach_on
    )
    return created(
        uow, OutreachLogged.of(cmd, outreach_id=outreach_id, outreach_on=outreach_on), "outreach_id"
    )


async def reassign_case(cmd: ReassignCase, uow: UnitOfWork) -> dict[str, Any]:
    reassigned_on = uow.business_date(cmd.on)
    case = found(await store.load_case(uow.conn, cmd.case_id), "case", "case_id", site=uow.site)
    previous = case.reassign(cmd.worker_id, reassigned_on)
    await store.save_worker(uow.conn, case)
    uow.record(
        CaseReassigned.of(case, previous_worker_id=previous, reassigned_on=reassigned_on),
        subject=case.case_id,
    )
    return {"case_id": str(case.case_id), "worker_id": case.worker_id, "previous": previous}


async def void_contact(cmd: VoidContact, uow: UnitOfWork) -> dict[str, Any]:
    contact = found(
        await store.load_contact(uow.conn, cmd.contact_id), "contact", "contact_id", site=uow.site
    )
    await _not_erased(uow, contact.person_id, "contact_id")
    contact.void(uow.today)
    assert cmd.actor is not None
    await store.save_contact_void(uow.conn, contact, by=cmd.actor, reason=cmd.reason)
    uow.record(CaseContactVoided.of(contact), subject=contact.case_id)
    return {"contact_id": str(contact.contact_id), "voided_on": uow.today.isoformat()}


async def void_assessment(cmd: VoidAssessment, uow: UnitOfWork) -> dict[str, Any]:
    assessment = found(
        await store.load_assessment(uow.conn, cmd.assessment_id),
        "assessment",
        "assessment_id",
        site=uow.site,
    )
    await _not_erased(uow, assessment.person_id, "assessment_id")
    assessment.void(uow.today)
    assert cmd.actor is not None
    await store.save_assessment_void(uow.conn, assessment, by=cmd.actor, reason=cmd.reason)
    uow.record(AssessmentVoided.of(assessment), subject=assessment.assessment_id)
    return {"assessment_id": str(assessment.assessment_id), "voided_on": uow.today.isoformat()}


async def record_assessment(
    cmd: RecordAssessment, uow: UnitOfWork, *, instruments: dict[str, Instrument]
) -> dict[str, Any]:
    assessed_on = uow.business_date(cmd.on)
    scored = score_answers(instruments, cmd.instrument, cmd.answers)
    await _person(uow, cmd.person_id, "person_id")
    assessment_id = uuid4()
    await store.add_assessment(
        uow.conn,
        cmd,
        assessment_id=assessment_id,
        site=uow.site,
        scored=scored,
        assessed_on=assessed_on,
    )
    return created(
        uow,
        AssessmentRecorded.of(
            cmd,
            scored,
            assessment_id=assessment_id,
            score=float(scored.score),
            assessed_on=assessed_on,
        ),
        "assessment_id",
        score=float(scored.score),
        band=scored.band,
        safety_followup=scored.safety_followup,
    )


async def acknowledge_safety_followup(
    cmd: AcknowledgeSafetyFollowup, uow: UnitOfWork
) -> dict[str, Any]:
    assessment = found(
        await store.load_assessment(uow.conn, cmd.assessment_id),
        "assessment",
        "assessment_id",
        site=uow.site,
    )
    await _not_erased(uow, assessment.person_id, "assessment_id")
    assessment.acknowledge(cmd.actor, cmd.note)
    acknowledged_at = await store.save_acknowledgement(uow.conn, assessment)
    uow.record(
        SafetyFollowupAcknowledged.of(
            assessment, acknowledged_by=cmd.actor, acknowledged_at=acknowledged_at
        ),
        subject=cmd.assessment_id,
    )
    return {"assessment_id": str(cmd.assessment_id), "acknowledged_at": acknowledged_at.isoformat()}


async def add_case_note(cmd: AddCaseNote, uow: UnitOfWork) -> dict[str, Any]:
    """A note on the case, kept in intake: no event says it was written."""
    noted_on = uow.business_date(cmd.on)
    case = found(await store.load_case(uow.conn, cmd.case_id), "case", "case_id", site=uow.site)
    await _not_erased(uow, case.person_id, "case_id")
    case.record_on(noted_on)
    note_id = uuid4()
    await store.add_case_note(uow.conn, cmd, note_id=note_id, noted_on=noted_on)
    return {"note_id": str(note_id), "noted_on": noted_on.isoformat()}


async def _goal(uow: UnitOfWork, goal_id: UUID) -> tuple[Goal, Case]:
    """The goal (kept at the subject's site) and its case, both locked."""
    goal = found(await store.load_goal(uow.conn, goal_id), "goal", "goal_id", site=uow.site)
    case = await store.load_case(uow.conn, goal.case_id)
    assert case is not None  # goals.case_id references cases
    await _not_erased(uow, case.person_id, "goal_id")
    return goal, case


async def set_goal(cmd: SetGoal, uow: UnitOfWork) -> dict[str, Any]:
    set_on = uow.business_date(cmd.on)
    case = found(await store.load_case(uow.conn, cmd.case_id), "case", "case_id", site=uow.site)
    await _not_erased(uow, case.person_id, "case_id")
    goal = Goal.set(case, set_on)
    await store.add_goal(uow.conn, goal, cmd)
    return created(uow, GoalSet.of(goal), "goal_id")


async def review_goal(cmd: ReviewGoal, uow: UnitOfWork) -> dict[str, Any]:
    reviewed_on = uow.business_date(cmd.on)
    goal, case = await _goal(uow, cmd.goal_id)
    goal.review(case, reviewed_on)
    review_id = uuid4()
    await store.add_goal_review(uow.conn, cmd, review_id=review_id, reviewed_on=reviewed_on)
    return created(
        uow, GoalReviewed.of(goal, review_id=review_id, reviewed_on=reviewed_on), "review_id"
    )


async def end_goal(cmd: EndGoal, uow: UnitOfWork) -> dict[str, Any]:
    ended_on = uow.business_date(cmd.on)
    goal, case = await _goal(uow, cmd.goal_id)
    goal.end(case, cmd.outcome, ended_on)
    await store.save_goal_end(uow.conn, goal, cmd)
    ended = (
        GoalMet.of(goal, met_on=ended_on)
        if cmd.outcome == "met"
        else GoalDropped.of(goal, dropped_on=ended_on)
    )
    uow.record(ended, subject=goal.goal_id)
    return {"goal_id": str(goal.goal_id), "status": goal.status}


async def screen_referral(
    cmd: ScreenReferral, uow: UnitOfWork, *, screenings: dict[str, Screening]
) -> dict[str, Any]:
    """The referral's needs-and-risk screening: answers, total, band and flags stay in intake
    (no event); the reply gives the worker the band and flags."""
    screened_on = uow.business_date(cmd.on)
    screened = screen_answers(screenings, cmd.screening, cmd.answers)
    referral = found(
        await store.load_referral(uow.conn, cmd.referral_id),
        "referral",
        "referral_id",
        site=uow.site,
    )
    await _not_erased(uow, referral.person_id, "referral_id")
    referral.may_screen(screened_on)
    screening_id = uuid4()
    await store.add_screening(
        uow.conn,
        cmd,
        screening_id=screening_id,
        site=uow.site,
        screened=screened,
        screened_on=screened_on,
    )
    return {
        "screening_id": str(screening_id),
        "screening": cmd.screening,
        "total": screened.total,
        "band": screened.band,
        "flags": list(screened.flags),
    }


async def erase_person(cmd: ErasePerson, uow: UnitOfWork) -> dict[str, Any]:
    """Erase the personal data of a person known at the site (see ``store.erase_person``), once
    no case of theirs is running; a person erased already gets the same answer again."""
    person = await _person(uow, cmd.person_id, "person_id", for_update=True, erased_too=True)
    if person.erased_on is None:
        running = await store.running_cases(uow.conn, cmd.person_id)
        if running:
            raise CommandError.conflict(
                "the person has a case still running: close it (or let its transfer end) first",
                person_id=f"{running[0].status} case {running[0].case_id}",
            )
        erased_on = await erase(uow, cmd.person_id, cmd.reason)
    else:
        erased_on = person.erased_on
    return {"person_id": str(cmd.person_id), "erased_on": erased_on.isoformat()}


async def erase(uow: UnitOfWork, person_id: UUID, reason: str) -> date:
    """The one erasure path, for ``erase_person`` and the retention rule: erase today and tell
    every service (``person.erased``: the id only; the reason stays here)."""
    erased_on = uow.today
    await store.erase_person(uow.conn, person_id, erased_on=erased_on, reason=reason)
    uow.record(PersonErased(person_id=person_id, erased_on=erased_on), subject=person_id)
    return erased_on
