"""What the acknowledged commands promise reporting will show, and what it does show.

Every effect reporting records is keyed by the id the command's reply names (``person_id``,
``case_id``, ``hours_id``, ...), so the books compare id sets: an expected id missing from
reporting is lost; a row no acknowledged command explains (a command applied twice would make
one with a new id) is doubled. Consents are keyed by event id in reporting, so they are counted
per person; attendance is a session's latest revision.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

# kind -> (table, id column, condition the effect sets). Row-creating kinds come first.
KINDS: dict[str, tuple[str, str, str]] = {
    "people": ("people", "person_id", "true"),
    "referrals": ("referrals", "referral_id", "received_on IS NOT NULL"),
    "cases opened": ("cases", "case_id", "opened_on IS NOT NULL"),
    "contacts": ("case_contacts", "contact_id", "true"),
    "assessments": ("assessments", "assessment_id", "true"),
    "sessions": ("sessions", "session_id", "true"),
    "enrolments": ("enrolments", "enrollment_id", "true"),
    "volunteers": ("volunteers", "volunteer_id", "true"),
    "volunteer hours": ("volunteer_hours", "hours_id", "true"),
    "peer matches": ("peer_matches", "match_id", "started_on IS NOT NULL"),
    "peer contacts": ("peer_contacts", "contact_id", "true"),
    "goals met": ("goals_met", "goal_id", "true"),
    "referral decisions": ("referrals", "referral_id", "decision IS NOT NULL"),
    "cases closed": ("cases", "case_id", "closed_on IS NOT NULL"),
}
ROW_KINDS = (
    "people",
    "referrals",
    "cases opened",
    "contacts",
    "assessments",
    "sessions",
    "enrolments",
    "volunteers",
    "volunteer hours",
    "peer matches",
    "peer contacts",
    "goals met",
)
CONSENTS = "consents"
ATTENDANCE = "attendance"


def effects_of(
    service: str, name: str, payload: dict[str, Any], result: dict[str, Any]
) -> list[tuple[str, Any]]:
    """The (kind, key) effects an acknowledged command must have in reporting."""
    match (service, name):
        case ("intake", "register_person"):
            return [("people", result["person_id"])]
        case ("intake", "record_consent"):
            return [(CONSENTS, str(payload["person_id"]))]
        case ("intake", "receive_referral"):
            return [("referrals", result["referral_id"])]
        case ("intake", "decide_referral"):
            return [("referral decisions", str(payload["referral_id"]))]
        case ("intake", "open_case"):
            return [("cases opened", result["case_id"])]
        case ("intake", "transfer_case") if "new_case_id" in result:
            return [("cases opened", result["new_case_id"])]
        case ("intake", "receive_transfer"):  # sent by the fuzz as any command is
            return [("cases opened", result["case_id"])]
        case ("intake", "close_case"):
            return [("cases closed", str(payload["case_id"]))]
        case ("intake", "log_contact"):
            return [("contacts", result["contact_id"])]
        case ("intake", "record_assessment"):
            return [("assessments", result["assessment_id"])]
        case ("intake", "end_goal") if result["status"] == "met":
            return [("goals met", result["goal_id"])]
        case ("groups", "create_programme"):
            return [("sessions", s) for s in result["session_ids"]]
        case ("groups", "schedule_session"):
            return [("sessions", result["session_id"])]
        case ("groups", "enrol"):
            return [("enrolments", result["enrollment_id"])]
        case ("groups", "record_attendance"):
            return [(ATTENDANCE, (result["session_id"], int(result["revision"])))]
        case ("volunteers", "register_volunteer"):
            return [("volunteers", result["volunteer_id"])]
        case ("volunteers", "log_hours"):
            return [("volunteer hours", result["hours_id"])]
        case ("volunteers", "start_peer_match"):
            return [("peer matches", result["match_id"])]
        case ("volunteers", "log_peer_contact"):
            return [("peer contacts", result["contact_id"])]
    return []


@dataclass
class Expectations:
    """Effects expected in reporting, from acknowledged commands."""

    ids: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in KINDS})
    consents: Counter[str] = field(default_factory=Counter)
    attendance: dict[str, int] = field(default_factory=dict)

    def add(self, effects: list[tuple[str, Any]]) -> None:
        for kind, key in effects:
            if kind == CONSENTS:
                self.consents[key] += 1
            elif kind == ATTENDANCE:
                session, revision = key
                self.attendance[session] = max(revision, self.attendance.get(session, 0))
            else:
                self.ids[kind].add(key)

    def merge(self, other: Expectations) -> None:
        for kind, ids in other.ids.items():
            self.ids[kind] |= ids
        self.consents.update(other.consents)
        for session, revision in other.attendance.items():
            self.attendance[session] = max(revision, self.attendance.get(session, 0))

    def total(self) -> int:
        return (
            sum(len(ids) for ids in self.ids.values())
            + sum(self.consents.values())
            + len(self.attendance)
        )


@dataclass
class Count:
    expected: int = 0
    found: int = 0
    lost: int = 0
    doubled: int = 0


@dataclass
class Books:
    """Expected against found, per kind of effect."""

    kinds: dict[str, Count]

    @property
    def expected(self) -> int:
        return sum(c.expected for c in self.kinds.values())

    @property
    def found(self) -> int:
        return sum(c.found for c in self.kinds.values())

    @property
    def lost(self) -> int:
        return sum(c.lost for c in self.kinds.values())

    @property
    def doubled(self) -> int:
        return sum(c.doubled for c in self.kinds.values())

    def balanced(self) -> bool:
        return self.lost == 0 and self.doubled == 0

    def detail(self) -> str:
        return ", ".join(
            f"{kind}: lost {c.lost} doubled {c.doubled}"
            for kind, c in self.kinds.items()
            if c.lost or c.doubled
        )


async def unexplained_rows(conn: asyncpg.Connection, everything: Expectations) -> dict[str, int]:
    """Rows in reporting that no acknowledged command of the whole campaign explains."""
    extra: dict[str, int] = {}
    for kind in ROW_KINDS:
        table, column, _ = KINDS[kind]
        extra[kind] = await conn.fetchval(
            f"SELECT count(*) FROM reporting.{table} WHERE NOT ({column}::text = ANY($1::text[]))",
            list(everything.ids[kind]),
        )
    rows = await conn.fetch(
        "SELECT person_id::text AS p, count(*) AS n FROM reporting.consents GROUP BY 1"
    )
    extra[CONSENTS] = sum(max(0, r["n"] - everything.consents.get(r["p"], 0)) for r in rows)
    return extra


async def read_books(
    conn: asyncpg.Connection,
    expected: Expectations,
    extra_before: dict[str, int],
    everything: Expectations,
) -> Books:
    """Compare one scenario's expectations with reporting's tables now."""
    kinds: dict[str, Count] = {}
    extra_now = await unexplained_rows(conn, everything)
    for kind, (table, column, condition) in KINDS.items():
        ids = expected.ids[kind]
        found = await conn.fetchval(
            f"SELECT count(DISTINCT {column}) FROM reporting.{table} "
            f"WHERE {column}::text = ANY($1::text[]) AND {condition}",
            list(ids),
        )
        doubled = max(0, extra_now.get(kind, 0) - extra_before.get(kind, 0))
        kinds[kind] = Count(len(ids), found + doubled, len(ids) - found, doubled)
    people = list(expected.consents)
    rows = await conn.fetch(
        "SELECT person_id::text AS p, count(*) AS n FROM reporting.consents "
        "WHERE person_id::text = ANY($1::text[]) GROUP BY 1",
        people,
    )
    found_by_person = {r["p"]: r["n"] for r in rows}
    lost = sum(max(0, n - found_by_person.get(p, 0)) for p, n in expected.consents.items())
    doubled = max(0, extra_now[CONSENTS] - extra_before.get(CONSENTS, 0))
    total = sum(expected.consents.values())
    kinds[CONSENTS] = Count(total, total - lost + doubled, lost, doubled)
    rows = await conn.fetch(
        "SELECT session_id::text AS s, revision FROM reporting.sessions "
        "WHERE session_id::text = ANY($1::text[])",
        list(expected.attendance),
    )
    revisions = {r["s"]: r["revision"] for r in rows}
    lost = sum(1 for s, rev in expected.attendance.items() if revisions.get(s, 0) < rev)
    doubled = sum(1 for s, rev in expected.attendance.items() if revisions.get(s, 0) > rev)
    count = len(expected.attendance)
    kinds[ATTENDANCE] = Count(count, count - lost, lost, doubled)
    return Books(kinds)
