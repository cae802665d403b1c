"""Volunteers' command handlers: load, decide, save, record."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid4

from services.volunteers import store
from services.volunteers.domain import (
    Assignment,
    KnownSession,
    PeerMatch,
    Slot,
    TeamRules,
    Volunteer,
    check_named,
    is_service_user,
    minutes_given,
    pick,
    session_for_duties,
    still_needed,
)
from shared.agency.sites import Organisation
from shared.kit import known_people
from shared.kit.commands import created, found, must_own, once
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.volunteers import (
    AssignmentConfirmed,
    AssignmentDeclined,
    AssignmentMade,
    AssignVolunteer,
    ConfirmAssignment,
    DeactivateVolunteer,
    DeclineAssignment,
    EndPeerMatch,
    HoursLogged,
    HoursVoided,
    JoinTeam,
    LogHours,
    LogPeerContact,
    PeerContactLogged,
    PeerContactVoided,
    PeerMatchEnded,
    PeerMatchStarted,
    ReactivateVolunteer,
    RecordTraining,
    RegisterVolunteer,
    RequestVolunteers,
    SetAvailability,
    StartPeerMatch,
    TrainingCompleted,
    VoidHours,
    VoidPeerContact,
    VolunteerDeactivated,
    VolunteerJoinedTeam,
    VolunteerReactivated,
    VolunteerRegistered,
)
from shared.kit.db.uow import UnitOfWork


async def _volunteer(uow: UnitOfWork, volunteer_id: UUID, field: str = "volunteer_id") -> Volunteer:
    """The volunteer, if registered at the site or below it (else ``not_found``)."""
    here = uow.grant.sites if uow.grant is not None else (uow.site,)
    return found(await store.volunteer(uow.conn, volunteer_id), "volunteer", field, site=here)


async def _assignment(uow: UnitOfWork, assignment_id: UUID) -> Assignment:
    """The duty at a session of this site; a peer supporter's own only."""
    duty = await store.assignment(uow.conn, assignment_id)
    duty = found(duty, "assignment", "assignment_id", site=uow.site)
    must_own(uow.grant, "peer_supporter", duty.volunteer_id, "duties", "assignment_id")
    return duty


async def _session_to_staff(uow: UnitOfWork, session_id: UUID) -> KnownSession:
    return session_for_duties(await store.session_to_staff(uow.conn, session_id), uow.site)


async def register_volunteer(cmd: RegisterVolunteer, uow: UnitOfWork) -> dict[str, Any]:
    registered_on = uow.business_date(cmd.on)
    person_id = await known_people.person_of(uow.conn, cmd.person_id)
    roles = await known_people.roles_of(uow.conn, person_id)
    if roles is None:
        raise CommandError(
            "not_found",
            "this person is not known here (registered in intake? it may take a moment)",
            person_id="unknown person",
        )
    v = Volunteer.register(
        person_id,
        uow.site,
        teams=cmd.teams,
        skills=cmd.skills,
        languages=cmd.languages,
        on=registered_on,
    )
    once(
        await store.add_volunteer(uow.conn, v),
        "this person is already a volunteer",
        person_id="already a volunteer",
    )
    return created(
        uow,
        VolunteerRegistered.of(
            v, skills=None, service_user=is_service_user(roles), registered_on=registered_on
        ),
        "volunteer_id",
        teams=v.teams,
    )


async def join_team(cmd: JoinTeam, uow: UnitOfWork) -> dict[str, Any]:
    joined_on = uow.business_date(cmd.on)
    v = await _volunteer(uow, cmd.volunteer_id)
    v.join(cmd.team)
    await store.add_team(uow.conn, v, cmd.team, joined_on)
    uow.record(
        VolunteerJoinedTeam(volunteer_id=v.volunteer_id, team=cmd.team, joined_on=joined_on),
        subject=v.volunteer_id,
    )
    return {"teams": v.teams}


async def record_training(
    cmd: RecordTraining, uow: UnitOfWork, *, rules: TeamRules
) -> dict[str, Any]:
    completed_on = uow.business_date(cmd.completed_on)
    v = await _volunteer(uow, cmd.volunteer_id)
    once(
        await store.add_training(uow.conn, v.volunteer_id, cmd.course, cmd.hours, completed_on),
        "that course is already recorded for that day",
        course="already recorded",
    )
    v.complete(cmd.course)
    active = v.active_teams(rules)
    uow.record(
        TrainingCompleted.of(cmd, completed_on=completed_on, active_teams=active),
        subject=v.volunteer_id,
    )
    return {"active_teams": active}


async def set_availability(cmd: SetAvailability, uow: UnitOfWork) -> dict[str, Any]:
    v = await _volunteer(uow, cmd.volunteer_id)
    slots = [Slot(s.weekday, s.start, s.end) for s in cmd.slots]
    unavailable = sorted(set(cmd.unavailable_dates))
    await store.set_availability(uow.conn, v.volunteer_id, slots, unavailable)
    return {"slots": len(slots), "unavailable_dates": len(unavailable)}


async def _fill(
    uow: UnitOfWork,
    session: KnownSession,
    role: str,
    needed: int,
    skills: list[str],
    teams: list[str] | None,
    rules: TeamRules,
    organisation: Organisation,
) -> tuple[list[str], dict[str, int]]:
    """Pick up to ``needed`` volunteers of the session's site or a site above it for the duty
    and propose it to each; the new duties' ids and, for those passed over, how many for each
    reason."""
    chosen, reasons = pick(
        await store.candidates(uow.conn, session, organisation.with_ancestors(session.site)),
        rules=rules,
        teams=teams,
        skills=skills,
        starts=session.starts_at,
        ends=session.ends_at,
        needed=needed,
    )
    made = []
    for volunteer_id in chosen:
        duty = Assignment.propose(volunteer_id, session, role)
        await store.add_assignment(uow.conn, duty)
        uow.record(
            AssignmentMade.of(duty, date=session.day),
            subject=duty.assignment_id,
        )
        made.append(str(duty.assignment_id))
    return made, reasons


async def request_volunteers(
    cmd: RequestVolunteers, uow: UnitOfWork, *, rules: TeamRules, organisation: Organisation
) -> dict[str, Any]:
    session = await _session_to_staff(uow, cmd.session_id)
    await store.ask_for_duty(uow.conn, cmd.session_id, cmd.role, cmd.count)
    already = await store.standing_duties(uow.conn, cmd.session_id, cmd.role)
    needed = still_needed(cmd.count, already)
    made, reasons = await _fill(
        uow, session, cmd.role, needed, cmd.skills, cmd.teams, rules, organisation
    )
    return {
        "assignments": made,
        "already_assigned": already,
        "missing": needed - len(made),
        "passed_over": reasons,
    }


async def confirm_assignment(cmd: ConfirmAssignment, uow: UnitOfWork) -> dict[str, Any]:
    duty = await _assignment(uow, cmd.assignment_id)
    duty.confirm()
    await store.save_assignment(uow.conn, duty)
    uow.record(
        AssignmentConfirmed.of(duty),
        subject=duty.assignment_id,
    )
    return {"assignment_id": str(duty.assignment_id), "status": duty.status}


async def assign_volunteer(
    cmd: AssignVolunteer, uow: UnitOfWork, *, rules: TeamRules, organisation: Organisation
) -> dict[str, Any]:
    session = await _session_to_staff(uow, cmd.session_id)
    serving = organisation.with_ancestors(session.site)
    named = await store.candidates(uow.conn, session, serving, named=cmd.volunteer_id)
    if not named:
        raise CommandError.not_found("volunteer at this site or a site above it", "volunteer_id")
    check_named(
        named[0],
        rules=rules,
        teams=cmd.teams,
        skills=cmd.skills,
        starts=session.starts_at,
        ends=session.ends_at,
    )
    duty = Assignment.propose(cmd.volunteer_id, session, cmd.role)
    await store.add_assignment(uow.conn, duty)
    return created(
        uow, AssignmentMade.of(duty, date=session.day, chosen_by_coordinator=True), "assignment_id"
    )


async def _mark_active(uow: UnitOfWork, volunteer_id: UUID, active: bool) -> Volunteer:
    v = await _volunteer(uow, volunteer_id)
    v.mark_active(active)
    await store.save_active(uow.conn, v)
    return v


async def deactivate_volunteer(cmd: DeactivateVolunteer, uow: UnitOfWork) -> dict[str, Any]:
    on = uow.business_date(cmd.on)
    v = await _mark_active(uow, cmd.volunteer_id, False)
    uow.record(
        VolunteerDeactivated(volunteer_id=v.volunteer_id, reason=cmd.reason, on=on),
        subject=v.volunteer_id,
    )
    return {"volunteer_id": str(v.volunteer_id), "active": False}


async def reactivate_volunteer(cmd: ReactivateVolunteer, uow: UnitOfWork) -> dict[str, Any]:
    on = uow.business_date(cmd.on)
    v = await _mark_active(uow, cmd.volunteer_id, True)
    uow.record(VolunteerReactivated(volunteer_id=v.volunteer_id, on=on), subject=v.volunteer_id)
    return {"volunteer_id": str(v.volunteer_id), "active": True}


async def decline_assignment(
    cmd: DeclineAssignment, uow: UnitOfWork, *, rules: TeamRules, organisation: Organisation
) -> dict[str, Any]:
    duty = await _assignment(uow, cmd.assignment_id)
    duty.decline()
    await store.save_assignment(uow.conn, duty)
    session = await _session_to_staff(uow, duty.session_id)
    made, reasons = await _fill(uow, session, duty.role, 1, [], None, rules, organisation)
    replacement = made[0] if made else None
    uow.record(
        AssignmentDeclined.of(
            duty, replacement_assignment_id=UUID(replacement) if replacement else None
        ),
        subject=duty.assignment_id,
    )
    return {
        "assignment_id": str(duty.assignment_id),
        "replacement": replacement,
        "passed_over": reasons,
    }


async def log_hours(cmd: LogHours, uow: UnitOfWork) -> dict[str, Any]:
    day = uow.business_date(cmd.date or cmd.on)
    must_own(uow.grant, "peer_supporter", cmd.volunteer_id, "hours", "volunteer_id")
    v = await _volunteer(uow, cmd.volunteer_id)
    team = v.team_for_hours(cmd.team)
    session = None
    if cmd.assignment_id is not None:
        duty = await _assignment(uow, cmd.assignment_id)
        duty.check_hours_by(v.volunteer_id)
        session = await store.session(uow.conn, duty.session_id)
        assert session is not None, "a duty's session is kept as long as the duty"
        if cmd.date is None and cmd.on is None:
            day = session.day
    minutes = minutes_given(cmd.minutes, session)
    hours_id = uuid4()
    logged = await store.add_hours(
        uow.conn,
        hours_id=hours_id,
        volunteer_id=v.volunteer_id,
        team=team,
        minutes=minutes,
        day=day,
        activity=cmd.activity,
        assignment_id=cmd.assignment_id,
    )
    once(
        logged,
        "hours for that duty are already logged",
        assignment_id="already logged",
    )
    return created(
        uow,
        HoursLogged.of(cmd, hours_id=hours_id, team=team, minutes=minutes, date=day, activity=None),
        "hours_id",
        minutes=minutes,
        date=day.isoformat(),
        team=team,
    )


async def void_hours(cmd: VoidHours, uow: UnitOfWork) -> dict[str, Any]:
    here = uow.grant.sites if uow.grant is not None else (uow.site,)
    entry = found(await store.hours_entry(uow.conn, cmd.hours_id), "hours", "hours_id", site=here)
    entry.void(cmd.reason, "hours_id")
    await store.save_hours_void(uow.conn, entry)
    uow.record(HoursVoided.of(entry, reason=cmd.reason), subject=entry.hours_id)
    return {"hours_id": str(entry.hours_id), "voided": True}


async def start_peer_match(
    cmd: StartPeerMatch, uow: UnitOfWork, *, rules: TeamRules, organisation: Organisation
) -> dict[str, Any]:
    started_on = uow.business_date(cmd.on)
    peer = await _volunteer(uow, cmd.peer_volunteer_id, "peer_volunteer_id")
    person_id = await known_people.person_of(uow.conn, cmd.person_id)
    match = PeerMatch.start(
        peer,
        person_id,
        rules=rules,
        person_known=await known_people.roles_of(uow.conn, person_id) is not None,
        service_consent=await store.has_service_consent(uow.conn, person_id),
        linked_as_carers=await store.linked_as_carers(uow.conn, peer.person_id, person_id),
        site=uow.site,
        on=started_on,
        person_may_share=await known_people.may_share(uow.conn, organisation, person_id, uow.site),
        peer_may_share=await known_people.may_share(
            uow.conn, organisation, peer.person_id, uow.site
        ),
    )
    once(
        await store.add_peer_match(uow.conn, match),
        "this peer and person already have an open match",
        person_id="already matched",
    )
    return created(
        uow,
        PeerMatchStarted.of(match),
        "match_id",
    )


async def _match(uow: UnitOfWork, match_id: UUID) -> PeerMatch:
    return found(
        await store.peer_match(uow.conn, match_id), "peer match", "match_id", site=uow.site
    )


async def log_peer_contact(cmd: LogPeerContact, uow: UnitOfWork) -> dict[str, Any]:
    day = uow.business_date(cmd.date or cmd.on)
    match = await _match(uow, cmd.match_id)
    must_own(uow.grant, "peer_supporter", match.peer_volunteer_id, "matches", "match_id")
    match.log_contact(day)
    contact_id = uuid4()
    await store.add_peer_contact(uow.conn, contact_id, match.match_id, day, cmd.minutes, cmd.mode)
    uow.record(
        PeerContactLogged.of(cmd, contact_id=contact_id, date=day),
        subject=match.match_id,
    )
    return {"contact_id": str(contact_id)}


async def void_peer_contact(cmd: VoidPeerContact, uow: UnitOfWork) -> dict[str, Any]:
    contact = found(
        await store.peer_contact(uow.conn, cmd.contact_id),
        "peer contact",
        "contact_id",
        site=uow.site,
    )
    contact.void(cmd.reason, "contact_id")
    await store.save_peer_contact_void(uow.conn, contact)
    uow.record(PeerContactVoided.of(contact, reason=cmd.reason), subject=contact.match_id)
    return {"contact_id": str(contact.contact_id), "voided": True}


async def end_peer_match(cmd: EndPeerMatch, uow: UnitOfWork) -> dict[str, Any]:
    ended_on = uow.business_date(cmd.on)
    match = await _match(uow, cmd.match_id)
    match.end(cmd.reason, ended_on)
    await store.save_peer_match_end(uow.conn, match)
    uow.record(
        PeerMatchEnded(match_id=match.match_id, reason=cmd.reason, ended_on=ended_on),
        subject=match.match_id,
    )
    return {"match_id": str(match.match_id), "status": match.status}
