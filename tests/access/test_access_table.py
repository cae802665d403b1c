"""The whole access table, walked against the running services: for every catalogued command
and query, each role in its row with a token that reaches the site is let through (whatever the
body then gets), and a role outside the row, or a token for a site out of reach, is
``forbidden`` and changes nothing. The cases come from the catalogue, so a new command or query
is covered as soon as it is declared."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from shared.kit.bus.requests import request
from shared.kit.contracts.catalogue import CATALOGUE, RequestSpec
from shared.kit.contracts.public import SERVICES, load_public_contracts
from shared.kit.identity.access import ROLES
from tests.access.conftest import changes
from tests.identity import token_for

load_public_contracts()
REFUSALS = ("unauthenticated", "forbidden")
SUBJECT = "likang"
"""The site every case is sent for: a centre with street programmes below it (demo sites)."""


@dataclass(frozen=True)
class Case:
    spec: RequestSpec
    role: str
    sites: tuple[str, ...]
    subject: str
    why: str

    def __str__(self) -> str:
        kind = "command" if self.spec.kind == "cmd" else "query"
        return (
            f"{self.spec.service} {kind} {self.spec.name} by {self.role} for "
            f"{','.join(self.sites)} on {self.subject} ({self.why})"
        )


def catalogued() -> list[RequestSpec]:
    specs = [*CATALOGUE.commands.values(), *CATALOGUE.queries.values()]
    return sorted(
        (spec for spec in specs if spec.service in SERVICES),
        key=lambda spec: (spec.service, spec.kind, spec.name),
    )


def may(spec: RequestSpec) -> list[Case]:
    """Each role of the row, with a token for the subject's site; a ``children`` role also
    for a child of a site its token names and with a head-office token, an ``all`` role with
    a token for another site."""
    cases = []
    for role, scope in spec.access.items():
        cases.append(Case(spec, role, (SUBJECT,), SUBJECT, "its own site"))
        if scope == "children":
            cases.append(Case(spec, role, (SUBJECT,), "jinsha", "a child of its site"))
            cases.append(Case(spec, role, ("*",), "icmhc", "head office"))
        if scope == "all":
            cases.append(Case(spec, role, ("icmhc",), SUBJECT, "any site"))
    return cases


def may_not(spec: RequestSpec) -> list[Case]:
    """Each role outside the row, even for every site; each role of the row with a token for
    a site that does not reach the subject's (a child's, another centre's; for ``own``, the
    parent's and head office's)."""
    cases = [
        Case(spec, role, ("*",), SUBJECT, "a role outside the row")
        for role in ROLES
        if role not in spec.access
    ]
    for role, scope in spec.access.items():
        if scope == "all":
            continue
        cases.append(Case(spec, role, ("jinsha",), SUBJECT, "a child's token on the parent"))
        cases.append(Case(spec, role, ("icmhc",), SUBJECT, "another centre's token"))
        if scope == "own":
            cases.append(Case(spec, role, (SUBJECT,), "jinsha", "own only, not a child"))
            cases.append(Case(spec, role, ("*",), SUBJECT, "own only, not head office"))
    return cases


def test_every_catalogued_request_has_cases_both_ways():
    specs = catalogued()
    assert {spec.service for spec in specs} == set(SERVICES)
    for spec in specs:
        assert may(spec), f"{spec.service}.{spec.name}: nobody may send it"
        assert may_not(spec), f"{spec.service}.{spec.name}: everybody may send it"


async def send(nc: Any, case: Case) -> str | None:
    """The reply's error code (None: ok) to an empty request under ``case``'s token."""
    body: dict[str, Any] = {"command_id": str(uuid.uuid4())} if case.spec.kind == "cmd" else {}
    token = token_for(f"{case.role}-1", roles=[case.role], sites=case.sites)
    reply = await request(
        nc, case.spec.kind, case.subject, case.spec.service, case.spec.name, body, token=token
    )
    return reply.error.code if reply.error else None


async def test_the_access_table_lets_through_whom_it_names_and_no_one_else(nc, system):
    before = await changes(system)
    refused = [case for spec in catalogued() for case in may_not(spec)]
    wrongly_let_through = [
        f"{case}: {code}" for case in refused if (code := await send(nc, case)) != "forbidden"
    ]
    assert wrongly_let_through == []
    assert await changes(system) == before, "a refused request changed something"

    allowed = [case for spec in catalogued() for case in may(spec)]
    wrongly_refused = [
        f"{case}: {code}" for case in allowed if (code := await send(nc, case)) in REFUSALS
    ]
    assert wrongly_refused == []
    assert len(refused) + len(allowed) > 10 * len(catalogued())
