"""Intake's command handlers: load, decide with the domain's rules, save, record events."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID, uuid4

from services.intake import store
from services.intake.domain import (
    Case,
    Person,
    age_band,
    phone_digits,
    refuse_own_carer,
    refuse_possible_duplicates,
    require_service_consent,
    score_answers,
)
from shared.agency.instruments import Instrument
from shared.agency.sites import Organisation
from shared.kit.commands import created, found, once
from shared.kit.contracts.intake import (
    AcknowledgeSafetyFollowup,
    AssessmentRecorded,
    CarerLinked,
    CaseClosed,
    CaseContactLogged,
    CaseOpened,
    CaseTransferred,
    CloseCase,
    ConsentRecorded,
    DecideReferral,
    LinkCarer,
    LogContact,
    OpenCase,
    PersonRegistered,
    ReceiveReferral,
    RecordAssessment,
    RecordConsent,
    ReferralDecided,
    ReferralReceived,
    RegisterPerson,
    SafetyFollowupAcknowledged,
    TransferCase,
)
from shared.kit.contracts.replies import CommandError
from shared.kit.db.uow import UnitOfWork


async def _person(
    uow: UnitOfWork, person_id: UUID, field: str, *, for_update: bool = False
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
    return person


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
    referral.decide(cmd.decision, decided_on)
    await store.save_decision(
        uow.conn, referral, reason=cmd.reason, decided_on=decided_on, decided_by=cmd.actor
    )
    uow.record(
        ReferralDecided.of(referral, cmd, decided_on=decided_on),
        subject=cmd.referral_id,
    )
    return {"referral_id": str(cmd.referral_id), "status": referral.status}


async def record_consent(cmd: RecordConsent, uow: UnitOfWork) -> dict[str, Any]:
    recorded_on = uow.business_date(cmd.on)
    await _person(uow, cmd.person_id, "person_id")
    consent_id = uuid4()
    await store.add_consent(
        uow.conn, cmd, consent_id=consent_id, site=uow.site, recorded_on=recorded_on
    )
    uow.record(
        ConsentRecorded.of(cmd, recorded_on=recorded_on),
        subject=cmd.person_id,
    )
    return {"consent_id": str(consent_id), "purpose": cmd.purpose, "given": cmd.given}


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
    cmd: TransferCase, uow: UnitOfWork, *, organisation: Organisation
) -> dict[str, Any]:
    transferred_on = uow.business_date(cmd.on)
    if cmd.to_site not in organisation.codes():
        raise CommandError("not_found", "no such site", to_site="unknown site")
    case = found(await store.load_case(uow.conn, cmd.case_id), "case", "case_id", site=uow.site)
    receiving = case.transfer(cmd.to_site, transferred_on, cmd.worker_id)
    await store.save_case_end(uow.conn, case)
    once(
        await store.add_case(uow.conn, receiving),
        "the person already has an open case at the receiving site",
        to_site="already has an open case there",
    )
    await store.save_transferred_to(uow.conn, case)
    person = await store.load_person(uow.conn, case.person_id)
    uow.record(
        CaseTransferred.of(case, cmd, new_case_id=receiving.case_id, transferred_on=transferred_on),
        subject=case.case_id,
    )
    uow.record(
        CaseOpened.of(receiving, roles=list(person.roles) if person else []),
        subject=receiving.case_id,
        site=cmd.to_site,
    )
    return {
        "case_id": str(case.case_id),
        "new_case_id": str(receiving.case_id),
        "to_site": cmd.to_site,
    }


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
    case.log_contact(contact_on)
    contact_id = uuid4()
    await store.add_contact(uow.conn, cmd, contact_id=contact_id, contact_on=contact_on)
    uow.record(
        CaseContactLogged.of(cmd, case, contact_id=contact_id, contact_on=contact_on),
        subject=cmd.case_id,
    )
    return {"contact_id": str(contact_id)}


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
    assessment.acknowledge(cmd.actor, cmd.note)
    acknowledged_at = await store.save_acknowledgement(uow.conn, assessment)
    uow.record(
        SafetyFollowupAcknowledged.of(
            assessment, acknowledged_by=cmd.actor, acknowledged_at=acknowledged_at
        ),
        subject=cmd.assessment_id,
    )
    return {"assessment_id": str(cmd.assessment_id), "acknowledged_at": acknowledged_at.isoformat()}
