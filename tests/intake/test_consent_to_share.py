"""Consent per purpose gating things across services (one process: intake, groups, volunteers
and reporting for every site of the demo organisation).

``data_sharing`` is needed when a person's id goes beyond their site: to a site that is not
theirs nor below it (Jinsha is a street programme below Likang; Nanyuan is its sibling).
Withdrawing ``service`` closes what it gated, each service through ``consent.recorded``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.reporting.app import build as build_reporting
from services.volunteers.app import build as build_volunteers
from shared.kit.service import ServiceRuntime
from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import today
from tests.intake.conftest import FAST_HANDOFFS
from tests.reporting.conftest import settled, summary
from tests.volunteers.conftest import known, volunteer

PEER = ["peer_supporters"]
FAMILY = ["family_volunteer_team"]


@pytest.fixture
async def services(start_service) -> dict[str, ServiceRuntime]:
    return {
        "intake": await start_service(("intake", build_intake), **FAST_HANDOFFS),
        "groups": await start_service(("groups", build_groups)),
        "volunteers": await start_service(("volunteers", build_volunteers)),
        "reporting": await start_service(("reporting", build_reporting), CARENET_PUBLISH_DAY="0"),
    }


@pytest.fixture
def clients(nc, services) -> dict[str, ServiceClient]:
    return {name: ServiceClient(nc, name, "likang") for name in services}


def programme(title: str, capacity: int = 12, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "title": title,
        "type": "support_group",
        "target_roles": ["family_carer", "person_in_recovery"],
        "capacity": capacity,
        "facilitators": [f"sw-{title.lower().replace(' ', '-')}"],
        "venue": title,
        "schedule": {
            "first_date": (today() - timedelta(days=7)).isoformat(),
            "start_time": "10:00",
            "duration_min": 60,
            "repeat": "weekly",
            "count": 4,
        },
    }
    return fields | overrides


async def fetch(runtime: ServiceRuntime, sql: str, *args: Any) -> Any:
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return await conn.fetchval(sql, *args)


async def consent_known(
    services: dict[str, ServiceRuntime], person: str, purpose: str, given: bool
):
    for name in ("groups", "volunteers"):

        async def learnt(runtime: ServiceRuntime = services[name]) -> bool:
            return (
                await fetch(
                    runtime,
                    """SELECT given FROM known_consents
                       WHERE person_id = $1::uuid AND purpose = $2""",
                    person,
                    purpose,
                )
                is given
            )

        await eventually(learnt)


async def peer_supporter(clients, services) -> str:
    return await volunteer(
        clients,
        services,
        "Peer",
        teams=PEER,
        courses=["peer_support_foundation"],
        roles=["person_in_recovery", "volunteer"],
    )


async def test_a_person_is_named_beyond_their_site_only_with_their_data_sharing_consent(
    clients, services
):
    intake, groups, vols = clients["intake"], clients["groups"], clients["volunteers"]
    person = (
        await intake.ok(
            "register_person", site="jinsha", preferred_name="Ah Ming", roles=["family_carer"]
        )
    )["person_id"]
    await intake.ok(
        "record_consent", site="jinsha", person_id=person, purpose="service", given=True
    )
    case = (await intake.ok("open_case", site="jinsha", person_id=person, worker_id="sw-wong"))[
        "case_id"
    ]
    at_likang = await groups.ok("create_programme", **programme("Carers at Likang"))
    # A Likang person in a programme of Jinsha, below Likang: no consent needed.
    neighbour = (
        await intake.ok("register_person", preferred_name="Mrs Chan", roles=["family_carer"])
    )["person_id"]
    at_jinsha = await groups.ok("create_programme", site="jinsha", **programme("Jinsha group"))
    peer = await peer_supporter(clients, services)
    await known(services["groups"], "known_people", "person_id", person)
    await known(services["groups"], "known_people", "person_id", neighbour)
    await known(services["volunteers"], "known_people", "person_id", person)
    await known(services["volunteers"], "service_consent", "person_id", person)

    downward = await groups.ok(
        "enrol", site="jinsha", programme_id=at_jinsha["programme_id"], person_id=neighbour
    )
    assert downward["status"] == "enrolled"

    sideways = await intake.cmd("transfer_case", site="jinsha", case_id=case, to_site="nanyuan")
    enrol = await groups.cmd("enrol", programme_id=at_likang["programme_id"], person_id=person)
    drop_in = await groups.cmd(
        "record_attendance",
        session_id=at_likang["session_ids"][0],
        present=[],
        absent=[],
        dropped_in=[person],
    )
    match = await vols.cmd("start_peer_match", peer_volunteer_id=peer, person_id=person)
    refusals = {
        "transfer": sideways,
        "enrol": enrol,
        "drop_in": drop_in,
        "peer_match": match,
    }
    assert {k: r.error.code for k, r in refusals.items() if r.error} == dict.fromkeys(
        refusals, "consent_required"
    )
    assert [d.field for d in sideways.error.details] == ["to_site"]
    assert [d.field for d in enrol.error.details] == ["person_id"]
    assert [d.field for d in drop_in.error.details] == ["dropped_in"]
    assert [d.field for d in match.error.details] == ["person_id"]
    # Nothing changed: the case is open at Jinsha, nobody on a roster, no match.
    assert (await intake.ok("qry:case", site="jinsha", case_id=case))["status"] == "open"
    assert await fetch(services["intake"], "SELECT count(*) FROM handoffs") == 0
    assert (
        await fetch(
            services["groups"], "SELECT count(*) FROM enrolments WHERE person_id = $1::uuid", person
        )
        == 0
    )
    assert await fetch(services["groups"], "SELECT count(*) FROM attendance") == 0
    assert await fetch(services["volunteers"], "SELECT count(*) FROM peer_matches") == 0

    await intake.ok(
        "record_consent", site="jinsha", person_id=person, purpose="data_sharing", given=True
    )
    await consent_known(services, person, "data_sharing", True)

    await groups.ok(
        "record_attendance",
        session_id=at_likang["session_ids"][1],
        present=[],
        absent=[],
        dropped_in=[person],
    )
    enrolled = await groups.ok("enrol", programme_id=at_likang["programme_id"], person_id=person)
    assert enrolled["status"] == "enrolled"
    await vols.ok("start_peer_match", peer_volunteer_id=peer, person_id=person)
    moved = await intake.ok("transfer_case", site="jinsha", case_id=case, to_site="nanyuan")
    assert moved["status"] == "completed"


async def test_withdrawing_service_consent_ends_the_case_enrolments_match_and_duties(
    clients, services, nc
):
    intake, groups, vols = clients["intake"], clients["groups"], clients["volunteers"]
    # A carer who also volunteers, with a case, a place in a full group, a peer supporter and
    # a duty next week; another carer waits for the group.
    helper = await volunteer(
        clients,
        services,
        "Mrs Lam",
        teams=FAMILY,
        courses=["volunteer_induction"],
        roles=["family_carer", "volunteer"],
    )
    person = (await vols.ok("qry:volunteer", volunteer_id=helper))["person_id"]
    waiting = (await intake.ok("register_person", preferred_name="Mrs Ho", roles=["family_carer"]))[
        "person_id"
    ]
    await intake.ok("record_consent", person_id=person, purpose="service", given=True)
    case = (await intake.ok("open_case", person_id=person, worker_id="sw-lee"))["case_id"]
    group = await groups.ok("create_programme", **programme("Carers group", capacity=1))
    await known(services["groups"], "known_people", "person_id", waiting)
    place = await groups.ok("enrol", programme_id=group["programme_id"], person_id=person)
    queued = await groups.ok("enrol", programme_id=group["programme_id"], person_id=waiting)
    assert (place["status"], queued["status"]) == ("enrolled", "waitlisted")
    peer = await peer_supporter(clients, services)
    await known(services["volunteers"], "service_consent", "person_id", person)
    match = await vols.ok("start_peer_match", peer_volunteer_id=peer, person_id=person)
    next_week = await groups.ok(
        "create_programme",
        **programme(
            "Outing",
            type="outing",
            schedule={
                "first_date": (today() + timedelta(days=7)).isoformat(),
                "start_time": "09:00",
                "duration_min": 180,
            },
        ),
    )
    session = next_week["session_ids"][0]
    await known(services["volunteers"], "known_sessions", "session_id", session)
    duty = await vols.ok("assign_volunteer", session_id=session, volunteer_id=helper, role="helper")

    withdrawn = await intake.ok("record_consent", person_id=person, purpose="service", given=False)
    assert withdrawn["closed_cases"] == [case]
    closed = await intake.ok("qry:case", case_id=case)
    assert (closed["status"], closed["close_reason"]) == ("closed", "consent_withdrawn")

    async def everything_ended() -> bool:
        return (
            await fetch(
                services["groups"],
                "SELECT status || ':' || withdraw_reason FROM enrolments WHERE enrollment_id = $1",
                place["enrollment_id"],
            )
            == "withdrawn:consent_withdrawn"
            and await fetch(
                services["volunteers"],
                "SELECT status || ':' || end_reason FROM peer_matches WHERE match_id = $1",
                match["match_id"],
            )
            == "ended:consent_withdrawn"
            and await fetch(
                services["volunteers"],
                "SELECT status FROM assignments WHERE assignment_id = $1",
                duty["assignment_id"],
            )
            == "cancelled"
        )

    await eventually(everything_ended)
    promoted = await fetch(
        services["groups"],
        "SELECT status FROM enrolments WHERE enrollment_id = $1",
        queued["enrollment_id"],
    )
    assert promoted == "enrolled", "the freed place went to the one waiting"

    await settled(nc, services)
    figures = (await summary(nc, "likang", today().strftime("%Y-%m"), exact=True))["figures"]
    assert figures["cases_closed"]["by"]["reason"]["consent_withdrawn"] == 1
    assert figures["peer_matches_active_end"]["total"] == 0

    # Consent given again reopens nothing: the worker opens a new case if the person wants one.
    again = await intake.ok("record_consent", person_id=person, purpose="service", given=True)
    assert (again["closed_cases"], again["cancelled_handoffs"]) == ([], [])
    await settled(nc, services)
    assert (await intake.ok("qry:case", case_id=case))["status"] == "closed"
    assert (
        await fetch(
            services["groups"],
            "SELECT status FROM enrolments WHERE enrollment_id = $1",
            place["enrollment_id"],
        )
        == "withdrawn"
    )
    assert (
        await fetch(
            services["volunteers"], "SELECT count(*) FROM peer_matches WHERE status = 'open'"
        )
        == 0
    )
