from __future__ import annotations

import json
from typing import Any

import pytest

from services.intake.app import build
from tests.conftest import ServiceClient

FAST_HANDOFFS = {
    # transfer_case may wait for a handoff between two served sites longer than in production
    # (a loaded test machine), and resends are quick.
    "CARENET_TRANSFER_WAIT_SECONDS": "10",
    "CARENET_HANDOFF_RETRY_SECONDS": "0.1",
    "CARENET_HANDOFF_RETRY_MAX_SECONDS": "0.5",
}


@pytest.fixture
async def intake(start_service):
    return await start_service(("intake", build), **FAST_HANDOFFS)


@pytest.fixture
def staff(nc, intake) -> ServiceClient:
    """A worker at the Likang family resource centre."""
    return ServiceClient(nc, "intake", "likang")


async def intake_events(nc, *, wait_for: int | None = None) -> list[dict[str, Any]]:
    """Every event in the INTAKE stream, in order (waits until ``wait_for`` are there)."""
    from tests.bus.helpers import stream_messages
    from tests.conftest import eventually

    async def read() -> list[Any]:
        messages = await stream_messages(nc, "INTAKE")
        return messages if wait_for is None or len(messages) >= wait_for else []

    messages = await eventually(read) if wait_for else await read()
    return [json.loads(m.data) | {"_subject": m.subject} for m in messages]


async def carer_and_person(staff: ServiceClient) -> tuple[str, str]:
    mother = await staff.ok(
        "register_person",
        preferred_name="陳太",
        legal_name="陳美玲",
        roles=["family_carer"],
        sex="female",
        birth_year=1962,
        phone="+852 9123 4567",
        language="yue",
        address="Flat 12, Nanyuan Street",
    )
    son = await staff.ok(
        "register_person",
        preferred_name="Ah Ming",
        legal_name="陳志明",
        roles=["person_in_recovery"],
        sex="male",
        birth_year=1990,
        phone="+852 6000 1111",
    )
    return mother["person_id"], son["person_id"]
