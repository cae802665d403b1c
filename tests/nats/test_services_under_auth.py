"""The four services, each connected as its own least-privileged user, do all their work.

A person registered at intake (through the ``client`` user) reaches groups, volunteers and
reporting through their durables; groups asks intake for names on a roster; and the server
logs not one permission violation, so no service lacks a right it uses (a denied JetStream
call would otherwise show only as a timeout somewhere).
"""

from __future__ import annotations

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.reporting.app import build as build_reporting
from services.volunteers.app import build as build_volunteers
from shared.local.nats_users import standard_users, user_name
from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import day, programme

BUILDS = {
    "intake": build_intake,
    "groups": build_groups,
    "volunteers": build_volunteers,
    "reporting": build_reporting,
}


async def _count(runtime, sql: str, *args) -> int:
    async with runtime.pool.acquire() as conn:
        return int(await conn.fetchval(sql, *args))


@pytest.mark.parametrize("sites", [None, ("likang",)], ids=["every-site", "likang-only"])
async def test_every_service_does_its_work_as_its_own_user(auth_nats, start_service, sites):
    running = auth_nats(standard_users(sites=sites))
    env = {} if sites is None else {"CARENET_SITES": ",".join(sites)}
    services = {
        name: await start_service(
            (name, build), NATS_URL=running.url(user_name(name, sites)), **env
        )
        for name, build in BUILDS.items()
    }
    nc = await running.connect("client")
    intake = ServiceClient(nc, "intake", "likang")
    groups = ServiceClient(nc, "groups", "likang")

    person = (await intake.ok("register_person", preferred_name="Carer A", roles=["family_carer"]))[
        "person_id"
    ]
    for name in ("groups", "volunteers"):
        await eventually(
            lambda name=name: _count(
                services[name],
                "SELECT count(*) FROM known_people WHERE person_id = $1::uuid",
                person,
            )
        )
    group = await groups.ok(
        "create_programme",
        **programme(
            schedule={
                "first_date": day(-7),
                "start_time": "14:30",
                "duration_min": 90,
                "repeat": "weekly",
                "count": 2,
            }
        ),
    )
    await groups.ok("enrol", programme_id=group["programme_id"], person_id=person)
    session = group["session_ids"][0]
    await groups.ok("record_attendance", session_id=session, present=[person])
    # Groups asks intake for the name, as its own user.
    roster = await groups.ok("qry:roster", session_id=session)
    assert [p["display_name"] for p in roster["people"]] == ["Carer A"]
    volunteers = ServiceClient(nc, "volunteers", "likang")
    await volunteers.ok("register_volunteer", person_id=person, teams=["family_volunteer_team"])
    # Reporting reads all three streams through its durables (their state, asked as the
    # admin: the client has no right on the services' durables).
    admin = await running.connect("admin")
    ajs = admin.jetstream()

    async def reporting_read_everything() -> bool:
        for consumer in services["reporting"].consumers:
            info = await ajs.consumer_info(consumer.stream, consumer.durable)
            if info.num_pending or info.num_ack_pending or not info.delivered.stream_seq:
                return False
        return True

    await eventually(reporting_read_everything, timeout=20)
    for runtime in services.values():
        assert (await runtime.readiness())["ready"] is True
    assert running.violations() == []
