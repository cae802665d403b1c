from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.volunteers.app import build as build_volunteers
from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import today


@pytest.fixture
async def services(start_service):
    intake = await start_service(("intake", build_intake))
    groups = await start_service(("groups", build_groups))
    volunteers = await start_service(("volunteers", build_volunteers))
    return {"intake": intake, "groups": groups, "volunteers": volunteers}


@pytest.fixture
def clients(nc, services) -> dict[str, ServiceClient]:
    return {name: ServiceClient(nc, name, "likang") for name in services}


async def known(volunteers, table: str, column: str, value: str) -> None:
    async def check() -> bool:
        async with volunteers.pool.acquire() as conn:
            return bool(
                await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE {column} = $1::uuid", value
                )
            )

    await eventually(check)


async def person(clients, services, name: str, roles: list[str], *, consent: bool = False) -> str:
    person_id = (await clients["intake"].ok("register_person", preferred_name=name, roles=roles))[
        "person_id"
    ]
    if consent:
        await clients["intake"].ok(
            "record_consent", person_id=person_id, purpose="service", given=True
        )
    await known(services["volunteers"], "known_people", "person_id", person_id)
    if consent:
        await known(services["volunteers"], "service_consent", "person_id", person_id)
    return person_id


async def volunteer(
    clients,
    services,
    name: str,
    *,
    teams: list[str],
    courses: list[str] = (),  # type: ignore[assignment]
    skills: list[str] = (),
    roles: list[str] | None = None,
    weekdays: range = range(7),  # type: ignore[assignment]
) -> str:
    person_id = await person(clients, services, name, roles or ["family_carer", "volunteer"])
    v = clients["volunteers"]
    volunteer_id = (
        await v.ok("register_volunteer", person_id=person_id, teams=teams, skills=list(skills))
    )["volunteer_id"]
    for course in courses:
        await v.ok(
            "record_training",
            volunteer_id=volunteer_id,
            course=course,
            hours=6,
            completed_on=(today() - timedelta(days=60)).isoformat(),
        )
    await v.ok(
        "set_availability",
        volunteer_id=volunteer_id,
        slots=[{"weekday": d, "start": "08:00", "end": "22:00"} for d in weekdays],
    )
    return volunteer_id


async def session_on(clients, services, day: date, start: str = "14:30", **overrides: Any) -> str:
    fields: dict[str, Any] = {
        "title": "Family support group",
        "type": "support_group",
        "capacity": 12,
        "target_roles": ["family_carer"],
        "facilitators": overrides.pop("facilitators", ["sw-lee"]),
        "venue": overrides.pop("venue", "Activity room 1"),
        "schedule": {"first_date": day.isoformat(), "start_time": start, "duration_min": 90},
    }
    fields.update(overrides)
    created = await clients["groups"].ok("create_programme", **fields)
    session_id = created["session_ids"][0]
    await known(services["volunteers"], "known_sessions", "session_id", session_id)
    return session_id
