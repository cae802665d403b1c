"""Every figure of figures.md for some sites and a period, exact, from the read models.

Counts are ints and hours floats (``domain.deidentify`` relies on it). Breakdowns over a
closed list of codes list every code, with zeros; open lists (teams, duty roles) list the
codes seen in the period.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, get_args

import asyncpg

from services.reporting.domain import Pair, Period, Score, hours, outcome_stats, pairs
from shared.agency.instruments import Instrument
from shared.kit.contracts.groups import EnrolmentStatus, ProgrammeType
from shared.kit.contracts.intake import (
    CloseReason,
    ContactMode,
    Decision,
    ReferralSource,
    Relationship,
    Role,
)
from shared.kit.contracts.volunteers import PeerContactMode

ROLES: tuple[str, ...] = get_args(Role)
KINDS = ("new", "reactivated")
HEADLINE = (
    "referrals_received",
    "cases_opened",
    "cases_active_end",
    "sessions_held",
    "attendances",
    "unique_participants",
    "volunteer_hours",
    "peer_contacts",
)


def _by(codes: Iterable[str], counts: dict[str, Any], zero: Any = 0) -> dict[str, Any]:
    """Every code of a closed list, in its order, then any unexpected code seen."""
    out = {code: counts.get(code, zero) for code in codes}
    out.update({k: v for k, v in sorted(counts.items()) if k not in out})
    return out


def _grouped(rows: list[asyncpg.Record], key: str = "k", value: str = "n") -> dict[str, Any]:
    return {r[key]: r[value] for r in rows if r[key] is not None}


class Figures:
    """The figures of ``sites`` (None: every site) over ``period``."""

    def __init__(
        self,
        conn: asyncpg.Connection,
        sites: list[str] | None,
        period: Period,
        instruments: dict[str, Instrument],
    ) -> None:
        self.conn = conn
        self.sites = sites
        self.period = period
        self.instruments = instruments

    def _where(self, column: str = "site") -> str:
        # $1 and $2 are the period; $3 the sites, or NULL for every site.
        return f"($3::text[] IS NULL OR {column} = ANY($3::text[]))"

    async def _fetch(self, sql: str, *extra: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            sql, self.period.start, self.period.end, self.sites, *extra
        )
        return rows

    async def _counted(
        self, table: str, day: str, column: str, *, site: str = "site", also: str = "true"
    ) -> Any:
        rows = await self._fetch(
            f"""SELECT {column} AS k, count(*)::int AS n FROM {table}
                WHERE {day} BETWEEN $1 AND $2 AND ({also}) AND {self._where(site)}
                GROUP BY 1"""
        )
        return _grouped(rows)

    async def all(self) -> dict[str, Any]:
        f: dict[str, Any] = {}
        sources = await self._counted("referrals", "received_on", "source")
        f["referrals_received"] = self._total(get_args(ReferralSource), sources, "source")
        decisions = await self._counted("referrals", "decided_on", "decision", site="decision_site")
        f["referrals_decided"] = self._total(get_args(Decision), decisions, "decision")
        f["people_registered"] = await self._people_registered()
        f["cases_opened"] = await self._cases_opened()
        f["case_contacts"] = await self._contacts(
            "case_contacts", "contact_on", get_args(ContactMode)
        )
        reasons = await self._counted("cases", "closed_on", "close_reason")
        f["cases_closed"] = self._total(get_args(CloseReason), reasons, "reason")
        f["cases_active_end"] = await self._cases_active_end()
        links = await self._counted("carer_links", "linked_on", "relationship")
        f["carers_linked"] = self._total(get_args(Relationship), links, "relationship")
        types: tuple[str, ...] = get_args(ProgrammeType)
        held = await self._counted(
            "sessions", "session_on", "programme_type", also="held AND NOT cancelled"
        )
        f["sessions_held"] = self._total(types, held, "type")
        cancelled = await self._counted(
            "sessions", "session_on", "programme_type", also="cancelled"
        )
        f["sessions_cancelled"] = self._total(types, cancelled, "type")
        f["attendances"] = await self._attendances(types)
        f["unique_participants"] = await self._unique_participants()
        statuses = await self._counted("enrolments", "enrolled_on", "status")
        f["enrolments"] = self._total(get_args(EnrolmentStatus), statuses, "status")
        f["volunteers_active"] = await self._volunteers_active()
        f["volunteer_hours"] = await self._volunteer_hours()
        duties = await self._counted("assignments", "session_on", "role")
        f["volunteer_assignments"] = self._total((), duties, "role")
        f["users_turned_volunteers"] = await self._users_turned_volunteers()
        started = await self._fetch(
            f"""SELECT count(*)::int FROM peer_matches
                WHERE started_on BETWEEN $1 AND $2 AND {self._where()}"""
        )
        f["peer_matches_started"] = {"total": started[0][0], "by": {}}
        active = await self._fetch(
            f"""SELECT count(*)::int FROM peer_matches
                WHERE started_on <= $2 AND (ended_on IS NULL OR ended_on > $2)
                  AND $1::date IS NOT NULL AND {self._where()}"""
        )
        f["peer_matches_active_end"] = {"total": active[0][0], "by": {}}
        f["peer_contacts"] = await self._contacts(
            "peer_contacts", "contact_on", get_args(PeerContactMode)
        )
        f["outcomes"] = {
            code: outcome_stats(instrument, await self.pairs(code))
            for code, instrument in sorted(self.instruments.items())
        }
        return f

    @staticmethod
    def _total(codes: Iterable[str], counts: dict[str, int], dimension: str) -> dict[str, Any]:
        return {"total": sum(counts.values()), "by": {dimension: _by(codes, counts)}}

    async def _people_registered(self) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT roles FROM people
                WHERE registered_on BETWEEN $1 AND $2 AND {self._where()}"""
        )
        roles = Counter(role for r in rows for role in set(r["roles"]))
        return {"total": len(rows), "by": {"role": _by(ROLES, dict(roles))}}

    async def _cases_opened(self) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT roles, kind FROM cases
                WHERE opened_on BETWEEN $1 AND $2 AND kind IN ('new', 'reactivated')
                  AND {self._where()}"""
        )
        roles = Counter(role for r in rows for role in set(r["roles"] or ()))
        kinds = Counter(r["kind"] for r in rows)
        return {
            "total": len(rows),
            "by": {"role": _by(ROLES, dict(roles)), "kind": _by(KINDS, dict(kinds))},
        }

    async def _cases_active_end(self) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT roles FROM cases
                WHERE opened_on <= $2 AND $1::date IS NOT NULL
                  AND (closed_on IS NULL OR closed_on > $2)
                  AND (transferred_on IS NULL OR transferred_on > $2)
                  AND {self._where()}"""
        )
        roles = Counter(role for r in rows for role in set(r["roles"] or ()))
        return {"total": len(rows), "by": {"role": _by(ROLES, dict(roles))}}

    async def _contacts(self, table: str, day: str, modes: Iterable[str]) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT mode AS k, count(*)::int AS n, sum(minutes)::int AS minutes FROM {table}
                WHERE {day} BETWEEN $1 AND $2 AND {self._where()} GROUP BY 1"""
        )
        counts = _grouped(rows)
        minutes = _grouped(rows, value="minutes")
        return {
            "total": sum(counts.values()),
            "hours": hours(sum(minutes.values())),
            "by": {"mode": _by(modes, counts)},
            "hours_by": {"mode": _by(modes, {k: hours(v) for k, v in minutes.items()}, zero=0.0)},
        }

    async def _attendances(self, types: tuple[str, ...]) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT programme_type AS k,
                       sum(cardinality(present) + walk_ins)::int AS n,
                       sum(walk_ins)::int AS walk_ins
                FROM sessions
                WHERE session_on BETWEEN $1 AND $2 AND held AND NOT cancelled
                  AND {self._where()} GROUP BY 1"""
        )
        counts = _grouped(rows)
        return {"total": sum(counts.values()), "by": {"type": _by(types, counts)}}

    async def _unique_participants(self) -> dict[str, Any]:
        # Counted in the database: a year of attendances has far more (person, session) pairs
        # than people, and fetching each distinct person to count them here cost most of a
        # year's summary.
        rows = await self._fetch(
            f"""WITH present AS (
                    SELECT DISTINCT p.person_id
                    FROM sessions s CROSS JOIN LATERAL unnest(s.present) AS p(person_id)
                    WHERE s.session_on BETWEEN $1 AND $2 AND s.held AND NOT s.cancelled
                      AND {self._where("s.site")}),
                roles AS (
                    SELECT DISTINCT present.person_id, role
                    FROM present JOIN people ON people.person_id = present.person_id
                    CROSS JOIN LATERAL unnest(people.roles) AS role)
                SELECT NULL::text AS k, count(*)::int AS n FROM present
                UNION ALL
                SELECT role, count(*)::int FROM roles GROUP BY role"""
        )
        total = next(r["n"] for r in rows if r["k"] is None)
        return {"total": total, "by": {"role": _by(ROLES, _grouped(rows))}}

    async def _volunteers_active(self) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT DISTINCT volunteer_id, team FROM volunteer_hours
                WHERE worked_on BETWEEN $1 AND $2 AND {self._where()}"""
        )
        teams = Counter(r["team"] for r in rows)
        return {
            "total": len({r["volunteer_id"] for r in rows}),
            "by": {"team": _by((), dict(teams))},
        }

    async def _volunteer_hours(self) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT team AS k, sum(minutes)::int AS n FROM volunteer_hours
                WHERE worked_on BETWEEN $1 AND $2 AND {self._where()} GROUP BY 1"""
        )
        minutes = _grouped(rows)
        return {
            "total": hours(sum(minutes.values())),
            "by": {"team": {k: hours(v) for k, v in sorted(minutes.items())}},
        }

    async def _users_turned_volunteers(self) -> dict[str, Any]:
        rows = await self._fetch(
            f"""SELECT teams FROM volunteers
                WHERE service_user AND registered_on BETWEEN $1 AND $2 AND {self._where()}"""
        )
        teams = Counter(team for r in rows for team in set(r["teams"]))
        return {"total": len(rows), "by": {"team": _by((), dict(teams))}}

    # --- outcomes ---------------------------------------------------------------------------

    async def consenting(self) -> set[Any]:
        """People whose latest ``outcome_data`` consent is given, as of now (not period end):
        a withdrawal removes a person from every report made after it."""
        rows = await self.conn.fetch(
            """SELECT DISTINCT ON (person_id) person_id, given FROM consents
               WHERE purpose = 'outcome_data'
               ORDER BY person_id, recorded_on DESC, recorded_at DESC"""
        )
        return {r["person_id"] for r in rows if r["given"]}

    async def pairs(self, instrument: str) -> list[Pair]:
        rows = await self._fetch(
            f"""SELECT person_id, site, timepoint, score, assessed_on, recorded_at
                FROM assessments
                WHERE instrument = $4 AND person_id IN (
                    SELECT person_id FROM assessments
                    WHERE instrument = $4 AND timepoint IN ('post', 'follow_up')
                      AND assessed_on BETWEEN $1 AND $2 AND {self._where()})""",
            instrument,
        )
        scores = [
            Score(
                r["person_id"],
                r["site"],
                r["timepoint"],
                Decimal(r["score"]),
                r["assessed_on"],
                r["recorded_at"],
            )
            for r in rows
        ]
        return pairs(
            scores,
            self.period,
            None if self.sites is None else set(self.sites),
            await self.consenting(),
        )

    async def attended(self, people: list[Any]) -> list[asyncpg.Record]:
        """Sessions (held, not cancelled, latest attendance) where any of ``people`` was
        present: their date, programme type, tags and who was there."""
        rows: list[asyncpg.Record] = await self.conn.fetch(
            """SELECT session_on, programme_type, tags, present FROM sessions
               WHERE held AND NOT cancelled AND present && $1::uuid[]""",
            people,
        )
        return rows

    async def programme_kinds(self) -> tuple[list[str], list[str]]:
        """The programme types and tags of the sessions held at these sites (any date)."""
        rows = await self.conn.fetch(
            """SELECT DISTINCT programme_type, tags FROM sessions
               WHERE held AND NOT cancelled
                 AND ($1::text[] IS NULL OR site = ANY($1::text[]))""",
            self.sites,
        )
        types = sorted({r["programme_type"] for r in rows})
        tags = sorted({t for r in rows for t in r["tags"]})
        return types, tags
