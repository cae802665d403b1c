"""Volunteers' SQL for the command handlers and for what volunteers learns from intake and
groups. The query handlers read through ``views``."""

from __future__ import annotations

from datetime import date, datetime
from uuid import UUID

import asyncpg

from services.volunteers.domain import (
    DUTY_WINDOW_DAYS,
    Assignment,
    Candidate,
    HoursEntry,
    KnownSession,
    PeerContact,
    PeerMatch,
    Slot,
    Volunteer,
)
from shared.kit.db import rows

# --- volunteers, their teams, courses and availability --------------------------------------


async def volunteer(conn: asyncpg.Connection, volunteer_id: UUID) -> Volunteer | None:
    """The volunteer, locked for this transaction, with their teams and courses (read after the
    lock, so a concurrent change to them is seen)."""
    row = await conn.fetchrow(
        "SELECT * FROM volunteers WHERE volunteer_id = $1 FOR UPDATE", volunteer_id
    )
    if row is None:
        return None
    joined = await conn.fetchrow(
        """SELECT ARRAY(SELECT team FROM volunteer_teams WHERE volunteer_id = $1
                        ORDER BY position) AS teams,
                  ARRAY(SELECT course FROM trainings WHERE volunteer_id = $1) AS courses""",
        volunteer_id,
    )
    return Volunteer(
        volunteer_id=row["volunteer_id"],
        person_id=row["person_id"],
        site=row["site"],
        registered_on=row["registered_on"],
        skills=list(row["skills"]),
        languages=list(row["languages"]),
        teams=list(joined["teams"]),
        courses=set(joined["courses"]),
        active=row["active"],
    )


async def save_active(conn: asyncpg.Connection, v: Volunteer) -> None:
    await rows.update(conn, "volunteers", {"volunteer_id": v.volunteer_id}, active=v.active)


async def add_volunteer(conn: asyncpg.Connection, v: Volunteer) -> bool:
    """Keep the new volunteer and their teams; False if the person is already a volunteer."""
    inserted = await rows.insert_once(
        conn,
        "volunteers",
        "(person_id)",
        volunteer_id=v.volunteer_id,
        person_id=v.person_id,
        site=v.site,
        skills=v.skills,
        languages=v.languages,
        registered_on=v.registered_on,
    )
    if inserted:
        await conn.executemany(
            """INSERT INTO volunteer_teams (volunteer_id, team, joined_on, position)
               VALUES ($1, $2, $3, $4)""",
            [(v.volunteer_id, team, v.registered_on, i) for i, team in enumerate(v.teams)],
        )
    return inserted


async def add_team(conn: asyncpg.Connection, v: Volunteer, team: str, joined_on: date) -> None:
    await rows.insert(
        conn,
        "volunteer_teams",
        volunteer_id=v.volunteer_id,
        team=team,
        joined_on=joined_on,
        position=v.teams.index(team),
    )


async def add_training(
    conn: asyncpg.Connection, volunteer_id: UUID, course: str, hours: float, completed_on: date
) -> bool:
    """False if that course is already recorded for that day."""
    return await rows.insert_once(
        conn,
        "trainings",
        "(volunteer_id, course, completed_on)",
        volunteer_id=volunteer_id,
        course=course,
        hours=hours,
        completed_on=completed_on,
    )


async def set_availability(
    conn: asyncpg.Connection, volunteer_id: UUID, slots: list[Slot], unavailable: list[date]
) -> None:
    """Replace the volunteer's weekly slots and unavailable dates."""
    await conn.execute("DELETE FROM availability WHERE volunteer_id = $1", volunteer_id)
    await conn.execute("DELETE FROM unavailable_dates WHERE volunteer_id = $1", volunteer_id)
    await conn.executemany(
        "INSERT INTO availability (volunteer_id, weekday, starts, ends) VALUES ($1, $2, $3, $4)",
        [(volunteer_id, s.weekday, s.start, s.end) for s in slots],
    )
    await conn.executemany(
        "INSERT INTO unavailable_dates (volunteer_id, day) VALUES ($1, $2)",
        [(volunteer_id, day) for day in unavailable],
    )


async def add_hours(
    conn: asyncpg.Connection,
    *,
    hours_id: UUID,
    volunteer_id: UUID,
    team: str,
    minutes: int,
    day: date,
    activity: str,
    assignment_id: UUID | None,
) -> bool:
    """False if hours for that duty are already logged (a duty's hours are logged once, or
    again after those were voided)."""
    return await rows.insert_once(
        conn,
        "hours",
        "(assignment_id) WHERE void_reason IS NULL",
        hours_id=hours_id,
        volunteer_id=volunteer_id,
        team=team,
        minutes=minutes,
        day=day,
        activity=activity,
        assignment_id=assignment_id,
    )


async def hours_entry(conn: asyncpg.Connection, hours_id: UUID) -> HoursEntry | None:
    """The hours entry, locked for this transaction, with its volunteer's site."""
    return await rows.fetch_one(
        conn,
        HoursEntry,
        """SELECT h.*, h.day AS date, v.site FROM hours h JOIN volunteers v USING (volunteer_id)
           WHERE h.hours_id = $1 FOR UPDATE OF h""",
        hours_id,
    )


async def save_hours_void(conn: asyncpg.Connection, entry: HoursEntry) -> None:
    await rows.update(conn, "hours", {"hours_id": entry.hours_id}, void_reason=entry.void_reason)


# --- sessions and duties --------------------------------------------------------------------


async def session(conn: asyncpg.Connection, session_id: UUID) -> KnownSession | None:
    return await rows.fetch_one(
        conn, KnownSession, "SELECT * FROM known_sessions WHERE session_id = $1", session_id
    )


async def session_to_staff(conn: asyncpg.Connection, session_id: UUID) -> KnownSession | None:
    """The session, locked so two requests for it cannot both fill the same places."""
    return await rows.fetch_one(
        conn,
        KnownSession,
        "SELECT * FROM known_sessions WHERE session_id = $1 FOR UPDATE",
        session_id,
    )


async def standing_duties(conn: asyncpg.Connection, session_id: UUID, role: str) -> int:
    """How many duties in ``role`` at the session are proposed or confirmed."""
    return int(
        await conn.fetchval(
            """SELECT count(*) FROM assignments WHERE session_id = $1 AND role = $2
               AND status IN ('proposed', 'confirmed')""",
            session_id,
            role,
        )
    )


async def ask_for_duty(conn: asyncpg.Connection, session_id: UUID, role: str, wanted: int) -> None:
    """Keep how many volunteers the session's duty in ``role`` asked for (the latest ask)."""
    await conn.execute(
        """INSERT INTO duty_requests (session_id, role, wanted) VALUES ($1, $2, $3)
           ON CONFLICT (session_id, role) DO UPDATE SET wanted = EXCLUDED.wanted""",
        session_id,
        role,
        wanted,
    )


async def candidates(
    conn: asyncpg.Connection,
    session: KnownSession,
    sites: list[str],
    *,
    named: UUID | None = None,
) -> list[Candidate]:
    """The volunteers of ``sites`` (the session's and those above it) who may be picked for a
    duty at the session: not already on it, nor having declined it. With ``named``, only that
    volunteer, whatever their history with the session (a duty standing there counts as
    booked at an overlapping time)."""
    found = await conn.fetch(
        """SELECT v.volunteer_id, v.skills, v.active,
                  ARRAY(SELECT team FROM volunteer_teams t WHERE t.volunteer_id = v.volunteer_id
                        ORDER BY position) AS teams,
                  ARRAY(SELECT course FROM trainings c
                        WHERE c.volunteer_id = v.volunteer_id) AS courses,
                  ARRAY(SELECT day FROM unavailable_dates u
                        WHERE u.volunteer_id = v.volunteer_id) AS unavailable,
                  EXISTS (SELECT 1 FROM assignments a JOIN known_sessions s USING (session_id)
                          WHERE a.volunteer_id = v.volunteer_id
                            AND a.status IN ('proposed', 'confirmed') AND NOT s.cancelled
                            AND s.starts_at < $4 AND s.ends_at > $3) AS booked,
                  coalesce((SELECT sum(minutes) FROM hours h
                            WHERE h.volunteer_id = v.volunteer_id AND h.void_reason IS NULL
                              AND h.day > $3::date - $6::int), 0) AS recent_minutes,
                  coalesce((SELECT sum(extract(epoch FROM s.ends_at - s.starts_at))::int / 60
                            FROM assignments a JOIN known_sessions s USING (session_id)
                            WHERE a.volunteer_id = v.volunteer_id
                              AND a.status IN ('proposed', 'confirmed') AND NOT s.cancelled
                              AND a.session_id <> $2
                              AND s.starts_at::date > $3::date - $6::int
                              AND s.starts_at::date < $3::date + $6::int
                              AND NOT EXISTS (SELECT 1 FROM hours h
                                              WHERE h.assignment_id = a.assignment_id
                                                AND h.void_reason IS NULL)),
                           0) AS assigned_minutes,
                  -- The session's site is the volunteer's home site or below it, or they
                  -- gave data_sharing consent (Organisation.shares_beyond).
                  (coalesce((SELECT k.site = ANY($1::text[]) FROM known_people k
                             WHERE k.person_id = v.person_id), false)
                   OR coalesce((SELECT c.given FROM known_consents c
                                WHERE c.person_id = v.person_id
                                  AND c.purpose = 'data_sharing'), false)) AS may_share
           FROM volunteers v
           WHERE v.site = ANY($1::text[])
             AND CASE WHEN $5::uuid IS NULL
                      THEN NOT EXISTS (SELECT 1 FROM assignments a
                                       WHERE a.volunteer_id = v.volunteer_id
                                         AND a.session_id = $2)
                      ELSE v.volunteer_id = $5 END""",
        sites,
        session.session_id,
        session.starts_at,
        session.ends_at,
        named,
        DUTY_WINDOW_DAYS,
    )
    slot_rows = await conn.fetch(
        """SELECT volunteer_id, weekday, starts, ends FROM availability
           WHERE volunteer_id = ANY($1::uuid[])""",
        [r["volunteer_id"] for r in found],
    )
    slots: dict[UUID, list[Slot]] = {}
    for s in slot_rows:
        slots.setdefault(s["volunteer_id"], []).append(Slot(s["weekday"], s["starts"], s["ends"]))
    return [
        Candidate(
            volunteer_id=r["volunteer_id"],
            teams=list(r["teams"]),
            skills=set(r["skills"]),
            completed=set(r["courses"]),
            slots=slots.get(r["volunteer_id"], []),
            unavailable=set(r["unavailable"]),
            booked_overlapping=r["booked"],
            recent_minutes=int(r["recent_minutes"]),
            assigned_minutes=int(r["assigned_minutes"]),
            active=r["active"],
            may_share=r["may_share"],
        )
        for r in found
    ]


async def add_assignment(conn: asyncpg.Connection, a: Assignment) -> None:
    await rows.insert(
        conn,
        "assignments",
        assignment_id=a.assignment_id,
        volunteer_id=a.volunteer_id,
        session_id=a.session_id,
        role=a.role,
    )


async def assignment(conn: asyncpg.Connection, assignment_id: UUID) -> Assignment | None:
    """The duty, locked for this transaction, with its session's site."""
    return await rows.fetch_one(
        conn,
        Assignment,
        """SELECT a.*, s.site FROM assignments a JOIN known_sessions s USING (session_id)
           WHERE a.assignment_id = $1 FOR UPDATE OF a""",
        assignment_id,
    )


async def save_assignment(conn: asyncpg.Connection, a: Assignment) -> None:
    await rows.update(conn, "assignments", {"assignment_id": a.assignment_id}, status=a.status)


# --- peer matches ---------------------------------------------------------------------------


async def has_service_consent(conn: asyncpg.Connection, person_id: UUID) -> bool:
    return bool(
        await conn.fetchval("SELECT given FROM service_consent WHERE person_id = $1", person_id)
    )


async def linked_as_carers(conn: asyncpg.Connection, one: UUID, other: UUID) -> bool:
    """Whether either person is the other's carer."""
    return bool(
        await conn.fetchval(
            """SELECT 1 FROM carer_links WHERE (carer_id = $1 AND cared_for_id = $2)
               OR (carer_id = $2 AND cared_for_id = $1)""",
            one,
            other,
        )
    )


async def add_peer_match(conn: asyncpg.Connection, m: PeerMatch) -> bool:
    """False if this peer and person already have an open match (the unique index settles
    concurrent starts)."""
    return await rows.insert_once(
        conn,
        "peer_matches",
        "(peer_volunteer_id, person_id) WHERE status = 'open'",
        match_id=m.match_id,
        peer_volunteer_id=m.peer_volunteer_id,
        person_id=m.person_id,
        site=m.site,
        started_on=m.started_on,
    )


async def peer_match(conn: asyncpg.Connection, match_id: UUID) -> PeerMatch | None:
    """The match, locked for this transaction."""
    return await rows.fetch_one(
        conn, PeerMatch, "SELECT * FROM peer_matches WHERE match_id = $1 FOR UPDATE", match_id
    )


async def save_peer_match_end(conn: asyncpg.Connection, m: PeerMatch) -> None:
    await rows.update(
        conn,
        "peer_matches",
        {"match_id": m.match_id},
        status=m.status,
        ended_on=m.ended_on,
        end_reason=m.end_reason,
    )


async def add_peer_contact(
    conn: asyncpg.Connection, contact_id: UUID, match_id: UUID, day: date, minutes: int, mode: str
) -> None:
    await rows.insert(
        conn,
        "peer_contacts",
        contact_id=contact_id,
        match_id=match_id,
        day=day,
        minutes=minutes,
        mode=mode,
    )


async def peer_contact(conn: asyncpg.Connection, contact_id: UUID) -> PeerContact | None:
    """The peer contact, locked for this transaction, with its match's site and peer."""
    return await rows.fetch_one(
        conn,
        PeerContact,
        """SELECT c.*, c.day AS date, m.site, m.peer_volunteer_id
           FROM peer_contacts c JOIN peer_matches m USING (match_id)
           WHERE c.contact_id = $1 FOR UPDATE OF c""",
        contact_id,
    )


async def save_peer_contact_void(conn: asyncpg.Connection, contact: PeerContact) -> None:
    await rows.update(
        conn, "peer_contacts", {"contact_id": contact.contact_id}, void_reason=contact.void_reason
    )


# --- what volunteers learns from intake and groups ------------------------------------------


async def remember_consent(
    conn: asyncpg.Connection, person_id: UUID, given: bool, recorded_at: datetime
) -> None:
    """The latest record wins, whatever order the events arrive in."""
    await conn.execute(
        """INSERT INTO service_consent (person_id, given, recorded_at) VALUES ($1, $2, $3)
           ON CONFLICT (person_id) DO UPDATE SET given = EXCLUDED.given,
                                                 recorded_at = EXCLUDED.recorded_at
           WHERE service_consent.recorded_at <= EXCLUDED.recorded_at""",
        person_id,
        given,
        recorded_at,
    )


async def remember_carer_link(conn: asyncpg.Connection, carer_id: UUID, cared_for_id: UUID) -> None:
    await rows.insert_once(
        conn,
        "carer_links",
        "(carer_id, cared_for_id)",
        carer_id=carer_id,
        cared_for_id=cared_for_id,
    )


async def remember_session(
    conn: asyncpg.Connection,
    session_id: UUID,
    site: str,
    programme_id: UUID,
    starts_at: datetime,
    ends_at: datetime,
) -> None:
    """A session announced again keeps its site and programme; only its times move."""
    await conn.execute(
        """INSERT INTO known_sessions (session_id, site, programme_id, starts_at, ends_at)
           VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (session_id) DO UPDATE SET starts_at = EXCLUDED.starts_at,
                                                  ends_at = EXCLUDED.ends_at""",
        session_id,
        site,
        programme_id,
        starts_at,
        ends_at,
    )


async def open_matches_of(conn: asyncpg.Connection, person_id: UUID) -> list[PeerMatch]:
    """The open peer matches supporting the person, locked for this transaction."""
    return await rows.fetch_all(
        conn,
        PeerMatch,
        """SELECT * FROM peer_matches WHERE person_id = $1 AND status = 'open'
           ORDER BY started_on, match_id FOR UPDATE""",
        person_id,
    )


async def cancel_future_duties(
    conn: asyncpg.Connection, person_id: UUID, after: datetime
) -> list[tuple[UUID, UUID, UUID, str]]:
    """Cancel the standing duties of the person (as a volunteer) at sessions starting after
    ``after``; each cancelled duty's ``(assignment_id, volunteer_id, session_id, site)``."""
    duties = await conn.fetch(
        """UPDATE assignments a SET status = 'cancelled'
           FROM volunteers v, known_sessions s
           WHERE v.person_id = $1 AND a.volunteer_id = v.volunteer_id
             AND s.session_id = a.session_id AND s.starts_at > $2
             AND a.status IN ('proposed', 'confirmed')
           RETURNING a.assignment_id, a.volunteer_id, a.session_id, s.site""",
        person_id,
        after,
    )
    return [(d["assignment_id"], d["volunteer_id"], d["session_id"], d["site"]) for d in duties]


async def cancel_session(conn: asyncpg.Connection, session_id: UUID) -> list[tuple[UUID, UUID]]:
    """Mark the session cancelled and cancel its standing duties; each cancelled duty's
    ``(assignment_id, volunteer_id)``."""
    await conn.execute(
        "UPDATE known_sessions SET cancelled = true WHERE session_id = $1", session_id
    )
    duties = await conn.fetch(
        """UPDATE assignments SET status = 'cancelled'
           WHERE session_id = $1 AND status IN ('proposed', 'confirmed')
           RETURNING assignment_id, volunteer_id""",
        session_id,
    )
    return [(d["assignment_id"], d["volunteer_id"]) for d in duties]


async def move_person(conn: asyncpg.Connection, duplicate_id: UUID, into_id: UUID) -> None:
    """The duplicate's latest service consent (if later than the kept person's), carer links
    (not one between the two), open peer matches (not one the kept person has with the same
    peer) and volunteer record (when the kept person has none; otherwise both records stay,
    each with its own history) become the kept person's."""
    row = await conn.fetchrow(
        "DELETE FROM service_consent WHERE person_id = $1 RETURNING given, recorded_at",
        duplicate_id,
    )
    if row is not None:
        await remember_consent(conn, into_id, row["given"], row["recorded_at"])
    for mine, theirs in (("carer_id", "cared_for_id"), ("cared_for_id", "carer_id")):
        await conn.execute(
            f"""INSERT INTO carer_links ({mine}, {theirs})
                SELECT $2, {theirs} FROM carer_links WHERE {mine} = $1 AND {theirs} <> $2
                ON CONFLICT DO NOTHING""",
            duplicate_id,
            into_id,
        )
    await conn.execute(
        "DELETE FROM carer_links WHERE carer_id = $1 OR cared_for_id = $1", duplicate_id
    )
    await conn.execute(
        """UPDATE peer_matches d SET person_id = $2
           WHERE d.person_id = $1 AND NOT (d.status = 'open' AND EXISTS (
               SELECT 1 FROM peer_matches k
               WHERE k.person_id = $2 AND k.peer_volunteer_id = d.peer_volunteer_id
                 AND k.status = 'open'))""",
        duplicate_id,
        into_id,
    )
    await conn.execute(
        """UPDATE volunteers SET person_id = $2
           WHERE person_id = $1 AND NOT EXISTS (SELECT 1 FROM volunteers WHERE person_id = $2)""",
        duplicate_id,
        into_id,
    )


async def forget_person(conn: asyncpg.Connection, person_id: UUID) -> None:
    """Drop what identifies an erased person beyond their id (``person.erased``): consent,
    carer links and, if they volunteer, their skills, languages, availability and the words of
    their hours' activities; the volunteer is made inactive. Hours, duties and matches stay
    (ids, codes, dates, minutes), so figures stand. Idempotent."""
    await conn.execute("DELETE FROM service_consent WHERE person_id = $1", person_id)
    await conn.execute(
        "DELETE FROM carer_links WHERE carer_id = $1 OR cared_for_id = $1", person_id
    )
    volunteer_id = await conn.fetchval(
        """UPDATE volunteers SET skills = '{}', languages = '{}', active = false
           WHERE person_id = $1 RETURNING volunteer_id""",
        person_id,
    )
    if volunteer_id is None:
        return
    await conn.execute("DELETE FROM availability WHERE volunteer_id = $1", volunteer_id)
    await conn.execute("DELETE FROM unavailable_dates WHERE volunteer_id = $1", volunteer_id)
    await conn.execute("UPDATE hours SET activity = 'erased' WHERE volunteer_id = $1", volunteer_id)
