"""Volunteers' command handlers and the handlers of intake's and groups' events."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import asyncpg

from services.volunteers import store
from services.volunteers.domain import TeamRules, check_peer_match, is_service_user, pick
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.groups import SessionCancelled, SessionScheduled
from shared.kit.contracts.intake import CarerLinked, ConsentRecorded
from shared.kit.contracts.replies import CommandError
from shared.kit.contracts.volunteers import (
    AssignmentCancelled,
    AssignmentConfirmed,
    AssignmentDeclined,
    AssignmentMade,
    ConfirmAssignment,
    DeclineAssignment,
    EndPeerMatch,
    HoursLogged,
    JoinTeam,
    LogHours,
    LogPeerContact,
    PeerContactLogged,
    PeerMatchEnded,
    PeerMatchStarted,
    RecordTraining,
    RegisterVolunteer,
    RequestVolunteers,
    SetAvailability,
    StartPeerMatch,
    TrainingCompleted,
    VolunteerJoinedTeam,
    VolunteerRegistered,
)
from shared.kit.db.uow import UnitOfWork


async def _volunteer(uow: UnitOfWork, volunteer_id: UUID, field: str = "volunteer_id") -> Any:
    row = await store.volunteer(uow.conn, volunteer_id)
    if row is None:
        raise CommandError.not_found("volunteer", field)
    return row


async def register_volunteer(cmd: RegisterVolunteer, uow: UnitOfWork) -> dict[str, Any]:
    registered_on = uow.business_date(cmd.on)
    roles = await uow.conn.fetchval(
        "SELECT roles FROM known_people WHERE person_id = $1", cmd.person_id
    )
    if roles is None:
        raise CommandError(
            "not_found",
            "this person is not known here (registered in intake? it may take a moment)",
            person_id="unknown person",
        )
    volunteer_id = uuid4()
    inserted = await uow.conn.fetchval(
        """INSERT INTO volunteers (volunteer_id, person_id, site, skills, languages, registered_on)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (person_id) DO NOTHING RETURNING true""",
        volunteer_id,
        cmd.person_id,
        uow.site,
        sorted(set(cmd.skills)),
        list(dict.fromkeys(cmd.languages)),
        registered_on,
    )
    if not inserted:
        raise CommandError(
            "conflict", "this person is already a volunteer", person_id="already a volunteer"
        )
    teams = list(dict.fromkeys(cmd.teams))
    await uow.conn.executemany(
        """INSERT INTO volunteer_teams (volunteer_id, team, joined_on, position)
           VALUES ($1, $2, $3, $4)""",
        [(volunteer_id, team, registered_on, i) for i, team in enumerate(teams)],
    )
    uow.record(
        VolunteerRegistered(
            volunteer_id=volunteer_id,
            person_id=cmd.person_id,
            teams=teams,
            skills=sorted(set(cmd.skills)),
            service_user=is_service_user(list(roles)),
            registered_on=registered_on,
        ),
        subject=volunteer_id,
    )
    return {"volunteer_id": str(volunteer_id), "teams": teams}


async def join_team(cmd: JoinTeam, uow: UnitOfWork) -> dict[str, Any]:
    joined_on = uow.business_date(cmd.on)
    await _volunteer(uow, cmd.volunteer_id)
    teams = await store.teams_of(uow.conn, cmd.volunteer_id)
    if cmd.team in teams:
        raise CommandError("conflict", "already in that team", team="already a member")
    await uow.conn.execute(
        """INSERT INTO volunteer_teams (volunteer_id, team, joined_on, position)
           VALUES ($1, $2, $3, $4)""",
        cmd.volunteer_id,
        cmd.team,
        joined_on,
        len(teams),
    )
    uow.record(
        VolunteerJoinedTeam(volunteer_id=cmd.volunteer_id, team=cmd.team, joined_on=joined_on),
        subject=cmd.volunteer_id,
    )
    return {"teams": [*teams, cmd.team]}


async def record_training(
    cmd: RecordTraining, uow: UnitOfWork, *, rules: TeamRules
) -> dict[str, Any]:
    completed_on = uow.business_date(cmd.completed_on)
    await _volunteer(uow, cmd.volunteer_id)
    inserted = await uow.conn.fetchval(
        """INSERT INTO trainings (volunteer_id, course, hours, completed_on) VALUES ($1, $2, $3, $4)
           ON CONFLICT DO NOTHING RETURNING true""",
        cmd.volunteer_id,
        cmd.course,
        cmd.hours,
        completed_on,
    )
    if not inserted:
        raise CommandError(
            "conflict", "that course is already recorded for that day", course="already recorded"
        )
    teams = await store.teams_of(uow.conn, cmd.volunteer_id)
    active = rules.active_teams(teams, await store.courses_of(uow.conn, cmd.volunteer_id))
    uow.record(
        TrainingCompleted(
            volunteer_id=cmd.volunteer_id,
            course=cmd.course,
            hours=cmd.hours,
            completed_on=completed_on,
            active_teams=active,
        ),
        subject=cmd.volunteer_id,
    )
    return {"active_teams": active}


async def set_availability(cmd: SetAvailability, uow: UnitOfWork) -> dict[str, Any]:
    await _volunteer(uow, cmd.volunteer_id)
    await uow.conn.execute("DELETE FROM availability WHERE volunteer_id = $1", cmd.volunteer_id)
    await uow.conn.execute(
        "DELETE FROM unavailable_dates WHERE volunteer_id = $1", cmd.volunteer_id
    )
    await uow.conn.executemany(
        "INSERT INTO availability (volunteer_id, weekday, starts, ends) VALUES ($1, $2, $3, $4)",
        [(cmd.volunteer_id, s.weekday, s.start, s.end) for s in cmd.slots],
    )
    await uow.conn.executemany(
        "INSERT INTO unavailable_dates (volunteer_id, day) VALUES ($1, $2)",
        [(cmd.volunteer_id, d) for d in sorted(set(cmd.unavailable_dates))],
    )
    return {"slots": len(cmd.slots), "unavailable_dates": len(set(cmd.unavailable_dates))}


async def _assign(
    uow: UnitOfWork,
    session: asyncpg.Record,
    role: str,
    needed: int,
    skills: list[str],
    teams: list[str] | None,
    rules: TeamRules,
) -> tuple[list[str], dict[str, int]]:
    found = await store.candidates(
        uow.conn, session["site"], session["session_id"], session["starts_at"], session["ends_at"]
    )
    chosen, reasons = pick(
        found,
        rules=rules,
        teams=teams,
        skills=skills,
        starts=session["starts_at"],
        ends=session["ends_at"],
        needed=needed,
    )
    made = []
    for volunteer_id in chosen:
        assignment_id = uuid4()
        await uow.conn.execute(
            """INSERT INTO assignments (assignment_id, volunteer_id, session_id, role)
               VALUES ($1, $2, $3, $4)""",
            assignment_id,
            volunteer_id,
            session["session_id"],
            role,
        )
        uow.record(
            AssignmentMade(
                assignment_id=assignment_id,
                volunteer_id=volunteer_id,
                session_id=session["session_id"],
                role=role,
                date=session["starts_at"].date(),
            ),
            subject=assignment_id,
        )
        made.append(str(assignment_id))
    return made, reasons


async def _duty_session(uow: UnitOfWork, session_id: UUID) -> asyncpg.Record:
    # Locked so two requests for the same session cannot both fill the same places.
    session = await uow.conn.fetchrow(
        "SELECT * FROM known_sessions WHERE session_id = $1 FOR UPDATE", session_id
    )
    if session is None or session["site"] != uow.site:
        raise CommandError(
            "not_found",
            "no such session here (scheduled in groups? it may take a moment)",
            session_id="unknown session",
        )
    if session["cancelled"]:
        raise CommandError("not_allowed", "the session was cancelled", session_id="cancelled")
    return session


async def request_volunteers(
    cmd: RequestVolunteers, uow: UnitOfWork, *, rules: TeamRules
) -> dict[str, Any]:
    session = await _duty_session(uow, cmd.session_id)
    already = int(
        await uow.conn.fetchval(
            """SELECT count(*) FROM assignments WHERE session_id = $1 AND role = $2
               AND status IN ('proposed', 'confirmed')""",
            cmd.session_id,
            cmd.role,
        )
    )
    needed = max(cmd.count - already, 0)
    made, reasons = await _assign(uow, session, cmd.role, needed, cmd.skills, cmd.teams, rules)
    return {
        "assignments": made,
        "already_assigned": already,
        "missing": needed - len(made),
        "passed_over": reasons,
    }


async def _assignment(uow: UnitOfWork, assignment_id: UUID) -> asyncpg.Record:
    row = await uow.conn.fetchrow(
        """SELECT a.*, s.site FROM assignments a JOIN known_sessions s USING (session_id)
           WHERE a.assignment_id = $1 FOR UPDATE OF a""",
        assignment_id,
    )
    if row is None or row["site"] != uow.site:
        raise CommandError.not_found("assignment", "assignment_id")
    return row


async def confirm_assignment(cmd: ConfirmAssignment, uow: UnitOfWork) -> dict[str, Any]:
    row = await _assignment(uow, cmd.assignment_id)
    if row["status"] != "proposed":
        raise CommandError(
            "conflict", f"the assignment is {row['status']}", assignment_id=row["status"]
        )
    await uow.conn.execute(
        "UPDATE assignments SET status = 'confirmed' WHERE assignment_id = $1", cmd.assignment_id
    )
    uow.record(
        AssignmentConfirmed(
            assignment_id=cmd.assignment_id,
            volunteer_id=row["volunteer_id"],
            session_id=row["session_id"],
        ),
        subject=cmd.assignment_id,
    )
    return {"assignment_id": str(cmd.assignment_id), "status": "confirmed"}


async def decline_assignment(
    cmd: DeclineAssignment, uow: UnitOfWork, *, rules: TeamRules
) -> dict[str, Any]:
    row = await _assignment(uow, cmd.assignment_id)
    if row["status"] not in ("proposed", "confirmed"):
        raise CommandError(
            "conflict", f"the assignment is {row['status']}", assignment_id=row["status"]
        )
    await uow.conn.execute(
        "UPDATE assignments SET status = 'declined' WHERE assignment_id = $1", cmd.assignment_id
    )
    session = await _duty_session(uow, row["session_id"])
    made, reasons = await _assign(uow, session, row["role"], 1, [], None, rules)
    replacement = UUID(made[0]) if made else None
    uow.record(
        AssignmentDeclined(
            assignment_id=cmd.assignment_id,
            volunteer_id=row["volunteer_id"],
            session_id=row["session_id"],
            replacement_assignment_id=replacement,
        ),
        subject=cmd.assignment_id,
    )
    return {
        "assignment_id": str(cmd.assignment_id),
        "replacement": made[0] if made else None,
        "passed_over": reasons,
    }


async def log_hours(cmd: LogHours, uow: UnitOfWork) -> dict[str, Any]:
    day = uow.business_date(cmd.date or cmd.on)
    await _volunteer(uow, cmd.volunteer_id)
    teams = await store.teams_of(uow.conn, cmd.volunteer_id)
    team = cmd.team or teams[0]
    if team not in teams:
        raise CommandError(
            "validation_error", "the volunteer is not in that team", team="not a member"
        )
    minutes = cmd.minutes
    if cmd.assignment_id is not None:
        duty = await _assignment(uow, cmd.assignment_id)
        if duty["volunteer_id"] != cmd.volunteer_id:
            raise CommandError(
                "validation_error",
                "that duty belongs to another volunteer",
                assignment_id="another volunteer's",
            )
        if duty["status"] not in ("proposed", "confirmed"):
            raise CommandError(
                "not_allowed", f"the assignment is {duty['status']}", assignment_id=duty["status"]
            )
        session = await store.session(uow.conn, duty["session_id"])
        assert session is not None
        if cmd.date is None and cmd.on is None:
            day = session["starts_at"].date()
        if minutes is None:
            minutes = int((session["ends_at"] - session["starts_at"]).total_seconds() // 60)
    if minutes is None:
        raise CommandError(
            "validation_error", "minutes are needed without an assignment", minutes="required"
        )
    hours_id = uuid4()
    inserted = await uow.conn.fetchval(
        """INSERT INTO hours (hours_id, volunteer_id, team, minutes, day, activity, assignment_id)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (assignment_id) DO NOTHING RETURNING true""",
        hours_id,
        cmd.volunteer_id,
        team,
        minutes,
        day,
        cmd.activity,
        cmd.assignment_id,
    )
    if not inserted:
        raise CommandError(
            "conflict", "hours for that duty are already logged", assignment_id="already logged"
        )
    uow.record(
        HoursLogged(
            hours_id=hours_id,
            volunteer_id=cmd.volunteer_id,
            team=team,
            minutes=minutes,
            date=day,
            activity=cmd.activity,
            assignment_id=cmd.assignment_id,
        ),
        subject=hours_id,
    )
    return {"hours_id": str(hours_id), "minutes": minutes, "date": day.isoformat(), "team": team}


async def start_peer_match(
    cmd: StartPeerMatch, uow: UnitOfWork, *, rules: TeamRules
) -> dict[str, Any]:
    started_on = uow.business_date(cmd.on)
    peer = await _volunteer(uow, cmd.peer_volunteer_id, "peer_volunteer_id")
    teams = await store.teams_of(uow.conn, cmd.peer_volunteer_id)
    active = rules.active_teams(teams, await store.courses_of(uow.conn, cmd.peer_volunteer_id))
    conn = uow.conn
    check_peer_match(
        peer_person_id=peer["person_id"],
        person_id=cmd.person_id,
        peer_active=rules.peer_team in active,
        person_known=bool(
            await conn.fetchval("SELECT 1 FROM known_people WHERE person_id = $1", cmd.person_id)
        ),
        service_consent=bool(
            await conn.fetchval(
                "SELECT given FROM service_consent WHERE person_id = $1", cmd.person_id
            )
        ),
        linked_as_carers=bool(
            await conn.fetchval(
                """SELECT 1 FROM carer_links WHERE (carer_id = $1 AND cared_for_id = $2)
                   OR (carer_id = $2 AND cared_for_id = $1)""",
                peer["person_id"],
                cmd.person_id,
            )
        ),
    )
    match_id = uuid4()
    inserted = await conn.fetchval(
        """INSERT INTO peer_matches (match_id, peer_volunteer_id, person_id, site, started_on)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (peer_volunteer_id, person_id) WHERE status = 'open' DO NOTHING
           RETURNING true""",
        match_id,
        cmd.peer_volunteer_id,
        cmd.person_id,
        uow.site,
        started_on,
    )
    if not inserted:
        raise CommandError(
            "conflict",
            "this peer and person already have an open match",
            person_id="already matched",
        )
    uow.record(
        PeerMatchStarted(
            match_id=match_id,
            peer_volunteer_id=cmd.peer_volunteer_id,
            person_id=cmd.person_id,
            started_on=started_on,
        ),
        subject=match_id,
    )
    return {"match_id": str(match_id)}


async def _match(uow: UnitOfWork, match_id: UUID) -> asyncpg.Record:
    row = await uow.conn.fetchrow(
        "SELECT * FROM peer_matches WHERE match_id = $1 FOR UPDATE", match_id
    )
    if row is None or row["site"] != uow.site:
        raise CommandError.not_found("peer match", "match_id")
    return row


async def log_peer_contact(cmd: LogPeerContact, uow: UnitOfWork) -> dict[str, Any]:
    day = uow.business_date(cmd.date or cmd.on)
    match = await _match(uow, cmd.match_id)
    if day < match["started_on"]:
        raise CommandError(
            "validation_error",
            "that is before the match started",
            date=f"before {match['started_on'].isoformat()}",
        )
    if match["ended_on"] is not None and day > match["ended_on"]:
        raise CommandError(
            "conflict", "the match had ended by then", date=f"after {match['ended_on'].isoformat()}"
        )
    contact_id = uuid4()
    await uow.conn.execute(
        """INSERT INTO peer_contacts (contact_id, match_id, day, minutes, mode)
           VALUES ($1, $2, $3, $4, $5)""",
        contact_id,
        cmd.match_id,
        day,
        cmd.minutes,
        cmd.mode,
    )
    uow.record(
        PeerContactLogged(
            contact_id=contact_id,
            match_id=cmd.match_id,
            date=day,
            minutes=cmd.minutes,
            mode=cmd.mode,
        ),
        subject=cmd.match_id,
    )
    return {"contact_id": str(contact_id)}


async def end_peer_match(cmd: EndPeerMatch, uow: UnitOfWork) -> dict[str, Any]:
    ended_on = uow.business_date(cmd.on)
    match = await _match(uow, cmd.match_id)
    if match["status"] != "open":
        raise CommandError("conflict", "the match has already ended", match_id="ended")
    if ended_on < match["started_on"]:
        raise CommandError(
            "validation_error",
            "that is before the match started",
            on=f"before {match['started_on'].isoformat()}",
        )
    await uow.conn.execute(
        """UPDATE peer_matches SET status = 'ended', ended_on = $2, end_reason = $3
           WHERE match_id = $1""",
        cmd.match_id,
        ended_on,
        cmd.reason,
    )
    uow.record(
        PeerMatchEnded(match_id=cmd.match_id, reason=cmd.reason, ended_on=ended_on),
        subject=cmd.match_id,
    )
    return {"match_id": str(cmd.match_id), "status": "ended"}


# --- what volunteers learns from intake and groups ------------------------------------------


async def on_consent_recorded(uow: UnitOfWork, event: EventEnvelope, data: ConsentRecorded) -> None:
    if data.purpose != "service":
        return
    # The latest record wins, whatever order the events arrive in.
    await uow.conn.execute(
        """INSERT INTO service_consent (person_id, given, recorded_at) VALUES ($1, $2, $3)
           ON CONFLICT (person_id) DO UPDATE SET given = EXCLUDED.given,
                                                 recorded_at = EXCLUDED.recorded_at
           WHERE service_consent.recorded_at <= EXCLUDED.recorded_at""",
        data.person_id,
        data.given,
        event.time,
    )


async def on_carer_linked(uow: UnitOfWork, event: EventEnvelope, data: CarerLinked) -> None:
    await uow.conn.execute(
        "INSERT INTO carer_links (carer_id, cared_for_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        data.carer_id,
        data.cared_for_id,
    )


async def on_session_scheduled(
    uow: UnitOfWork, event: EventEnvelope, data: SessionScheduled
) -> None:
    starts = datetime.combine(data.date, data.start_time)
    await uow.conn.execute(
        """INSERT INTO known_sessions (session_id, site, programme_id, starts_at, ends_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (session_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,
                                                  ends_at = EXCLUDED.ends_at""",
        data.session_id,
        event.site,
        data.programme_id,
        starts,
        starts + timedelta(minutes=data.duration_min),
    )


async def on_session_cancelled(
    uow: UnitOfWork, event: EventEnvelope, data: SessionCancelled
) -> None:
    await uow.conn.execute(
        "UPDATE known_sessions SET cancelled = true WHERE session_id = $1", data.session_id
    )
    duties = await uow.conn.fetch(
        """UPDATE assignments SET status = 'cancelled'
           WHERE session_id = $1 AND status IN ('proposed', 'confirmed')
           RETURNING assignment_id, volunteer_id""",
        data.session_id,
    )
    for duty in duties:
        uow.record(
            AssignmentCancelled(
                assignment_id=duty["assignment_id"],
                volunteer_id=duty["volunteer_id"],
                session_id=data.session_id,
            ),
            subject=duty["assignment_id"],
        )
