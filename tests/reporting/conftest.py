from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.reporting.app import build as build_reporting
from shared.kit.bus.requests import request
from shared.kit.contracts.replies import Reply
from shared.kit.service import ServiceRuntime
from tests.conftest import ServiceClient, eventually
from tests.identity import HEAD_OFFICE, token_for

HAS_VOLUNTEERS = importlib.util.find_spec("services.volunteers.app") is not None
SOURCES = ("INTAKE", "GROUPS", "VOLUNTEERS")


@pytest.fixture
async def system(start_service) -> dict[str, ServiceRuntime]:
    """Intake, groups, volunteers (when it exists) and reporting, for every site; summaries
    are published only on command here (the publishing test sets a day)."""
    running = {
        "intake": await start_service(("intake", build_intake)),
        "groups": await start_service(("groups", build_groups)),
    }
    if HAS_VOLUNTEERS:
        from services.volunteers.app import build as build_volunteers

        running["volunteers"] = await start_service(("volunteers", build_volunteers))
    running["reporting"] = await start_service(
        ("reporting", build_reporting), CARENET_PUBLISH_DAY="0"
    )
    return running


@pytest.fixture
def reporting(nc: NatsClient, system) -> ServiceClient:
    return ServiceClient(nc, "reporting", "likang")


async def settled(nc: NatsClient, system: dict[str, ServiceRuntime]) -> None:
    """Wait until every event written has been published and applied by reporting."""

    async def check() -> bool:
        for runtime in system.values():
            assert runtime.pool is not None
            async with runtime.pool.acquire() as conn:
                if await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL"):
                    return False
        js = nc.jetstream()
        for consumer in system["reporting"].consumers:
            try:
                stream = await js.stream_info(consumer.stream)
                info = await js.consumer_info(consumer.stream, consumer.durable)
            except Exception:  # noqa: BLE001 - not created yet
                return False
            if info.num_pending or info.num_ack_pending:
                return False
            if info.ack_floor.stream_seq < stream.state.last_seq:
                return False
        return True

    await eventually(check, timeout=30)


def asker(site: str, exact: bool) -> str:
    """Exact figures are for the site's own centre_manager; anything else head office may ask."""
    if exact and site != "*":
        return token_for(f"manager-{site}", roles=["centre_manager"], sites=[site])
    return HEAD_OFFICE


async def ask(nc: NatsClient, name: str, site: str, **fields: Any) -> Reply:
    """A reporting query for ``site`` (``*`` travels under the top site, hq)."""
    return await request(
        nc,
        "qry",
        "hq" if site == "*" else site,
        "reporting",
        name,
        {"site": site, **fields},
        token=asker(site, bool(fields.get("exact"))),
    )


async def summary(nc: NatsClient, site: str, period: Any, exact: bool = False) -> dict[str, Any]:
    reply = await ask(nc, "summary", site, period=period, exact=exact)
    assert reply.ok and reply.result is not None, reply.error
    return reply.result
