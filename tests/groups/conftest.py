from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from tests.conftest import ServiceClient, eventually


def today() -> date:
    """Today in the organisation's time zone, when asked: a run may cross its midnight."""
    return datetime.now(ZoneInfo("Asia/Hong_Kong")).date()


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


@pytest.fixture
async def intake(start_service):
    return await start_service(("intake", build_intake))


@pytest.fixture
async def groups(start_service, intake):
    return await start_service(("groups", build_groups))


@pytest.fixture
def staff(nc, groups) -> ServiceClient:
    return ServiceClient(nc, "groups", "likang")


@pytest.fixture
def intake_staff(nc, intake) -> ServiceClient:
    return ServiceClient(nc, "intake", "likang")


def programme(**overrides: Any) -> dict[str, Any]:
    """A weekly family support group, eight sessions, as in the seed documents."""
    fields: dict[str, Any] = {
        "title": "Family support group (家属小组)",
        "type": "support_group",
        "target_roles": ["family_carer"],
        "capacity": 12,
        "requires_case": False,
        "tags": ["carer_support", "trauma_informed"],
        "facilitators": ["sw-lee"],
        "venue": "Activity room 1",
        "schedule": {
            "first_date": day(-28),
            "start_time": "14:30",
            "duration_min": 90,
            "repeat": "weekly",
            "count": 8,
        },
    }
    fields.update(overrides)
    return fields


async def known_to_groups(groups, person_id: str, *, with_case: bool = False) -> None:
    async def check() -> bool:
        async with groups.pool.acquire() as conn:
            table = "open_cases" if with_case else "known_people"
            return bool(
                await conn.fetchval(
                    f"SELECT count(*) FROM {table} WHERE person_id = $1::uuid", person_id
                )
            )

    await eventually(check)


async def registered(
    intake_staff: ServiceClient, groups, name: str, roles: list[str], *, case: bool = False
) -> str:
    person = (await intake_staff.ok("register_person", preferred_name=name, roles=roles))[
        "person_id"
    ]
    if case:
        await intake_staff.ok("record_consent", person_id=person, purpose="service", given=True)
        await intake_staff.ok("open_case", person_id=person, worker_id="sw-lee")
    await known_to_groups(groups, person, with_case=case)
    return person
