"""Reporting's reads: the SQL that gathers the read models' rows for figures and outcomes.

Each read gives plain values (counts per code, lists of roles, domain ``Score``s and
``HeldSession``s); what they add up to is worked out in ``figures.py`` and ``domain.py``.
The writes (the read models' upserts) are in ``store.py``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from uuid import UUID

import asyncpg

from services.reporting.domain import HeldSession, Period, Score
from shared.kit.db.rows import fetch_jsonable

NOT_VOIDED = "NOT EXISTS (SELECT 1 FROM voids WHERE voids.fact_id = {fact})"
"""A condition keeping the rows whose fact (its id column ``fact``) was not voided."""
CASE_ROLES = """CASE WHEN people.roles_revision > 0 THEN people.roles ELSE cases.roles END"""
"""A case's roles: the person's as corrected, if they were, else those at its opening."""
CASE_PEOPLE = "LEFT JOIN people ON people.person_id = cases.person_id"


def _grouped(rows: list[asyncpg.Record], key: str = "k", value: str = "n") -> dict[str, Any]:
    return {r[key]: r[value] for r in rows if r[key] is not None}


# Two index look-ups per person, not a scan of people per person (an OR of the two made the
# year's summary 35 times slower).
_ROLES_WITH_DUPLICATES = """array(
    SELECT DISTINCT role FROM (
        SELECT p.roles
        UNION ALL
        SELECT q.roles FROM person_aliases a JOIN people q ON q.person_id = a.duplicate_id
        WHERE a.into_id = p.person_id) AS r (roles)
    CROSS JOIN LATERAL unnest(r.roles) AS role)"""
"""A person's roles and those of the duplicates merged into them (alias ``p`` of people)."""


class Reads:
    """The read models of ``sites`` (None: every site) over ``period``."""

    def __init__(self, conn: asyncpg.Connection, sites: list[str] | None, period: Period) -> None:
        self.conn = conn
        self.sites = sites
        self.period = period

    def _where(self, column: str = "site") -> str:
        # $1 and $2 are the period; $3 the sites, or NULL for every site.
        return f"($3::text[] IS NULL OR {column} = ANY($3::text[]))"

    async def _fetch(self, sql: str, *extra: Any) -> list[asyncpg.Record]:
        rows: list[asyncpg.Record] = await self.conn.fetch(
            sql, self.period.start, self.period.end, self.sites, *extra
        )
        return rows

    async def counts(
        self, table: str, day: str, column: str, *, site: str = "site", also: str = "true"
    ) -> dict[str, int]:
        """Rows of ``table`` dated (``day``) in the period, per value of ``column``."""
        rows = await self._fetch(
            f"""SELECT {column} AS k, count(*)::int AS n FROM {table}
                WHERE {day} BETWEEN $1 AND $2 AND ({also}) AND {self._where(site)}
                GROUP BY 1"""
        )
        return _grouped(rows)

    async def contacts(self, table: str, day: str) -> tuple[dict[str, int], dict[str, int]]:
        """Contacts dated in the period and not voided, and their minutes, per mode."""
        rows = await self._fetch(
            f"""SELECT mode AS k, count(*)::int AS n, sum(minutes)::int AS minutes FROM {table}
                WHERE {day} BETWEEN $1 AND $2 AND {self._where()}
                  AND {NOT_VOIDED.format(fact=f"{table}.contact_id")}
                GROUP BY 1"""
        )
        return _grouped(rows), _grouped(rows, value="minutes")

    async def peer_matches_contacted(self) -> tuple[int, dict[str, int]]:
        """How many distinct peer matches (a peer supporter and the person they support) had
        contacts not voided in the period, in all and per mode."""
        rows = await self._fetch(
            f"""SELECT mode AS k, count(DISTINCT match_id)::int AS n FROM peer_contacts
                WHERE contact_on BETWEEN $1 AND $2 AND {self._where()}
                  AND {NOT_VOIDED.format(fact="peer_contacts.contact_id")}
                GROUP BY ROLLUP (mode)"""
        )
        total = next((r["n"] for r in rows if r["k"] is None), 0)
        return total, _grouped(rows)

    async def people_in_contacts(self) -> tuple[int, dict[str, int]]:
        """How many distinct people (a merged duplicate as the person kept) had casework
        contacts not voided in the period, in all and per mode; a contact stored before its
        person was kept counts as a person of its own."""
        rows = await self._fetch(
            f"""SELECT mode AS k,
                       count(DISTINCT coalesce(person_of(person_id)::text,
                                               contact_id::text))::int AS n
                FROM case_contacts
                WHERE contact_on BETWEEN $1 AND $2 AND {self._where()}
                  AND {NOT_VOIDED.format(fact="case_contacts.contact_id")}
                GROUP BY ROLLUP (mode)"""
        )
        total = next((r["n"] for r in rows if r["k"] is None), 0)
        return total, _grouped(rows)

    async def outreach(self) -> tuple[dict[str, int], dict[str, int]]:
        """People contacted by outreach in the period (the logged counts), and the minutes,
        per mode."""
        rows = await self._fetch(
            f"""SELECT mode AS k, sum(contacts)::int AS n, sum(minutes)::int AS minutes
                FROM outreach_contacts
                WHERE outreach_on BETWEEN $1 AND $2 AND {self._where()} GROUP BY 1"""
        )
        return _grouped(rows), _grouped(rows, value="minutes")

    async def registered_roles(self) -> list[list[str]]:
        """The roles of each person registered in the period (a merged duplicate is not
        counted again: its roles count for the person it was merged into)."""
        rows = await self._fetch(
            f"""SELECT {_ROLES_WITH_DUPLICATES} AS roles FROM people p
                WHERE registered_on BETWEEN $1 AND $2 AND {self._where()}
                  AND NOT EXISTS (SELECT 1 FROM person_aliases WHERE duplicate_id = p.person_id)"""
        )
        return [r["roles"] for r in rows]

    async def cases_opened(self) -> list[tuple[list[str], str]]:
        """(roles, kind) of each case opened in the period (a transfer opens none)."""
        rows = await self._fetch(
            f"""SELECT {CASE_ROLES} AS roles, kind FROM cases {CASE_PEOPLE}
                WHERE opened_on BETWEEN $1 AND $2 AND kind IN ('new', 'reactivated')
                  AND {self._where("cases.site")}"""
        )
        return [(r["roles"] or [], r["kind"]) for r in rows]

    async def active_case_roles(self) -> list[list[str]]:
        """The roles of each case open (neither closed nor transferred) at the period's end."""
        rows = await self._fetch(
            f"""SELECT {CASE_ROLES} AS roles FROM cases {CASE_PEOPLE}
                WHERE opened_on <= $2 AND $1::date IS NOT NULL
                  AND (closed_on IS NULL OR closed_on > $2)
                  AND (transferred_on IS NULL OR transferred_on > $2)
                  AND {self._where("cases.site")}"""
        )
        return [r["roles"] or [] for r in rows]

    async def attendances(self) -> dict[str, int]:
        """People present plus walk-ins at sessions held in the period, per programme type (a
        merged duplicate marked beside the person kept is one person; only sessions naming a
        duplicate pay for resolving ids)."""
        rows = await self._fetch(
            f"""SELECT programme_type AS k,
                       sum(walk_ins + CASE
                           WHEN present && (SELECT array_agg(duplicate_id) FROM person_aliases)
                           THEN (SELECT count(DISTINCT person_of(p)) FROM unnest(present) AS p)
                           ELSE cardinality(present) END)::int AS n,
                       sum(walk_ins)::int AS walk_ins
                FROM sessions
                WHERE session_on BETWEEN $1 AND $2 AND held AND NOT cancelled
                  AND {self._where()} GROUP BY 1"""
        )
        return _grouped(rows)

    async def unique_participants(self) -> tuple[int, dict[str, int]]:
        """How many distinct people were present at sessions held in the period, and how many
        of them hold each role."""
        # Counted in the database: a year of attendances has far more (person, session) pairs
        # than people, and fetching each distinct person to count them here cost most of a
        # year's summary.
        rows = await self._fetch(
            f"""WITH marked AS (
                    SELECT DISTINCT p.person_id
                    FROM sessions s CROSS JOIN LATERAL unnest(s.present) AS p(person_id)
                    WHERE s.session_on BETWEEN $1 AND $2 AND s.held AND NOT s.cancelled
                      AND {self._where("s.site")}),
                present AS (SELECT DISTINCT person_of(person_id) AS person_id FROM marked),
                records AS (
                    SELECT person_id, person_id AS record FROM present
                    UNION ALL
                    SELECT a.into_id, a.duplicate_id
                    FROM person_aliases a JOIN present ON present.person_id = a.into_id),
                roles AS (
                    SELECT DISTINCT records.person_id, role
                    FROM records JOIN people ON people.person_id = records.record
                    CROSS JOIN LATERAL unnest(people.roles) AS role)
                SELECT NULL::text AS k, count(*)::int AS n FROM present
                UNION ALL
                SELECT role, count(*)::int FROM roles GROUP BY role"""
        )
        total = next(r["n"] for r in rows if r["k"] is None)
        return total, _grouped(rows)

    async def volunteer_teams_worked(self) -> list[tuple[Any, str]]:
        """Each distinct (volunteer, team) with hours logged in the period; a person with two
        volunteer records (a merged duplicate's and their own) is one volunteer."""
        rows = await self._fetch(
            f"""SELECT DISTINCT coalesce(person_of(v.person_id), h.volunteer_id) AS volunteer_id,
                       h.team
                FROM volunteer_hours h LEFT JOIN volunteers v USING (volunteer_id)
                WHERE h.worked_on BETWEEN $1 AND $2 AND {self._where("h.site")}
                  AND {NOT_VOIDED.format(fact="h.hours_id")}"""
        )
        return [(r["volunteer_id"], r["team"]) for r in rows]

    async def volunteer_minutes(self) -> dict[str, int]:
        """Minutes volunteers worked in the period, per team."""
        rows = await self._fetch(
            f"""SELECT team AS k, sum(minutes)::int AS n FROM volunteer_hours
                WHERE worked_on BETWEEN $1 AND $2 AND {self._where()}
                  AND {NOT_VOIDED.format(fact="volunteer_hours.hours_id")}
                GROUP BY 1"""
        )
        return _grouped(rows)

    async def service_users_volunteering(self) -> list[list[str]]:
        """The teams of each service user registered as a volunteer in the period."""
        rows = await self._fetch(
            f"""SELECT DISTINCT ON (person_of(person_id)) teams FROM volunteers
                WHERE service_user AND registered_on BETWEEN $1 AND $2 AND {self._where()}
                ORDER BY person_of(person_id), registered_on, volunteer_id"""
        )
        return [r["teams"] for r in rows]

    async def goals_met(self) -> int:
        rows = await self._fetch(
            f"""SELECT count(*)::int FROM goals_met
                WHERE met_on BETWEEN $1 AND $2 AND {self._where()}"""
        )
        return int(rows[0][0])

    async def peer_matches_started(self) -> int:
        rows = await self._fetch(
            f"""SELECT count(*)::int FROM peer_matches
                WHERE started_on BETWEEN $1 AND $2 AND {self._where()}"""
        )
        return int(rows[0][0])

    async def peer_matches_active_end(self) -> int:
        rows = await self._fetch(
            f"""SELECT count(*)::int FROM peer_matches
                WHERE started_on <= $2 AND (ended_on IS NULL OR ended_on > $2)
                  AND $1::date IS NOT NULL AND {self._where()}"""
        )
        return int(rows[0][0])

    # --- outcomes ---------------------------------------------------------------------------

    async def consenting(self) -> set[Any]:
        """People whose latest ``outcome_data`` consent is given, as of now (not period end):
        a withdrawal removes a person from every report made after it."""
        rows = await self.conn.fetch(
            """SELECT DISTINCT ON (person_of(person_id)) person_of(person_id) AS person_id, given
               FROM consents WHERE purpose = 'outcome_data'
               ORDER BY person_of(person_id), recorded_on DESC, recorded_at DESC"""
        )
        return {r["person_id"] for r in rows if r["given"]}

    async def scores(self, instrument: str) -> list[Score]:
        """Every score on ``instrument`` not voided of the people with a post or follow-up
        score (not voided) dated in the period at these sites."""
        rows = await self._fetch(
            f"""SELECT person_of(person_id) AS person_id, site, timepoint, score, assessed_on,
                       recorded_at
                FROM assessments a
                WHERE instrument = $4 AND {NOT_VOIDED.format(fact="a.assessment_id")}
                  AND person_of(person_id) IN (
                    SELECT person_of(person_id) FROM assessments b
                    WHERE instrument = $4 AND timepoint IN ('post', 'follow_up')
                      AND assessed_on BETWEEN $1 AND $2 AND {self._where()}
                      AND {NOT_VOIDED.format(fact="b.assessment_id")})""",
            instrument,
        )
        return [
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

    async def sessions_attended(self, people: list[Any]) -> list[HeldSession]:
        """Sessions (held, not cancelled, latest attendance; any site and date) where any of
        ``people`` was present."""
        rows = await self.conn.fetch(
            """SELECT session_on, programme_type, tags,
                      array(SELECT DISTINCT person_of(p) FROM unnest(present) AS p) AS present
               FROM sessions
               WHERE held AND NOT cancelled
                 AND present && ($1::uuid[] || array(SELECT duplicate_id FROM person_aliases
                                                     WHERE into_id = ANY($1::uuid[])))""",
            people,
        )
        return [
            HeldSession(r["session_on"], r["programme_type"], r["tags"], r["present"]) for r in rows
        ]

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


# --- access requests (issue 17) -------------------------------------------------------------


async def person_data(
    conn: asyncpg.Connection, person_id: UUID, sites: list[str]
) -> dict[str, Any]:
    """The rows of reporting's read models that carry the person's id (or a duplicate's
    merged into them) at ``sites``: ids, codes and dates, as the events carried them. The
    consents (kept without a site) are shown when the person is known at ``sites``."""
    kept = await conn.fetchval("SELECT person_of($1)", person_id)
    aliases = [
        r["duplicate_id"]
        for r in await conn.fetch(
            "SELECT duplicate_id FROM person_aliases WHERE into_id = $1 ORDER BY duplicate_id",
            kept,
        )
    ]
    ids = [kept, *aliases]
    volunteers = await fetch_jsonable(
        conn,
        """SELECT * FROM volunteers WHERE person_id = ANY($1::uuid[]) AND site = ANY($2::text[])
           ORDER BY registered_on""",
        ids,
        sites,
    )
    volunteer_ids = [UUID(v["volunteer_id"]) for v in volunteers]
    found: dict[str, Any] = {
        "person_id": str(kept),
        "merged_from": [str(a) for a in aliases],
        "people": await fetch_jsonable(
            conn,
            """SELECT person_id, site, roles, registered_on FROM people
               WHERE person_id = ANY($1::uuid[]) AND site = ANY($2::text[])""",
            ids,
            sites,
        ),
        "cases": await fetch_jsonable(
            conn,
            """SELECT * FROM cases WHERE person_id = ANY($1::uuid[]) AND site = ANY($2::text[])
               ORDER BY opened_on, case_id""",
            ids,
            sites,
        ),
        "assessments": await fetch_jsonable(
            conn,
            """SELECT * FROM assessments
               WHERE person_id = ANY($1::uuid[]) AND site = ANY($2::text[])
               ORDER BY assessed_on, assessment_id""",
            ids,
            sites,
        ),
        "sessions_attended": await fetch_jsonable(
            conn,
            """SELECT session_id, site, programme_id, programme_type, session_on FROM sessions
               WHERE present && $1::uuid[] AND site = ANY($2::text[])
               ORDER BY session_on, session_id""",
            ids,
            sites,
        ),
        "volunteers": volunteers,
        "volunteer_hours": await fetch_jsonable(
            conn,
            """SELECT * FROM volunteer_hours WHERE volunteer_id = ANY($1::uuid[])
               ORDER BY worked_on, hours_id""",
            volunteer_ids,
        ),
        "assignments": await fetch_jsonable(
            conn,
            """SELECT * FROM assignments WHERE volunteer_id = ANY($1::uuid[])
               ORDER BY session_on, assignment_id""",
            volunteer_ids,
        ),
    }
    known_here = any(found[k] for k in ("people", "cases", "assessments", "sessions_attended"))
    found["consents"] = (
        await fetch_jsonable(
            conn,
            """SELECT purpose, given, recorded_on, recorded_at FROM consents
               WHERE person_id = ANY($1::uuid[]) ORDER BY recorded_at""",
            ids,
        )
        if known_here or volunteers
        else []
    )
    facts = [
        UUID(row[key])
        for part, key in (
            ("assessments", "assessment_id"),
            ("volunteer_hours", "hours_id"),
            ("assignments", "assignment_id"),
        )
        for row in found[part]
    ]
    found["voids"] = await fetch_jsonable(
        conn, "SELECT * FROM voids WHERE fact_id = ANY($1::uuid[]) ORDER BY fact_id", facts
    )
    return found
