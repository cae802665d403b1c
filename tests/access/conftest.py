"""The four services, for every site, with the test issuer's keys; tokens for one role."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.reporting.app import build as build_reporting
from services.volunteers.app import build as build_volunteers
from shared.kit.service import ServiceRuntime
from tests.conftest import ServiceClient
from tests.identity import token_for


@pytest.fixture
async def system(start_service) -> dict[str, ServiceRuntime]:
    """Intake, groups, volunteers and reporting, serving every site (summaries published only
    on command)."""
    return {
        "intake": await start_service(("intake", build_intake)),
        "groups": await start_service(("groups", build_groups)),
        "volunteers": await start_service(("volunteers", build_volunteers)),
        "reporting": await start_service(("reporting", build_reporting), CARENET_PUBLISH_DAY="0"),
    }


def as_(
    nc: Any, service: str, site: str, sub: str, roles: Iterable[str], sites: Iterable[str]
) -> ServiceClient:
    """``service``'s client for ``site`` with a token of ``sub`` holding only ``roles`` for
    ``sites``."""
    return ServiceClient(
        nc, service, site, sub, token=token_for(sub, roles=list(roles), sites=list(sites))
    )


async def changes(system: dict[str, ServiceRuntime]) -> dict[str, int]:
    """What requests could have left behind in each service: claimed command ids, events
    written, and intake's access log."""
    counts: dict[str, int] = {}
    for name, runtime in system.items():
        assert runtime.pool is not None
        async with runtime.pool.acquire() as conn:
            counts[f"{name}.command_log"] = await conn.fetchval("SELECT count(*) FROM command_log")
            counts[f"{name}.outbox"] = await conn.fetchval("SELECT count(*) FROM outbox")
            if name == "intake":
                counts["intake.access_log"] = await conn.fetchval("SELECT count(*) FROM access_log")
    return counts
