"""A hub nats-server (with the demo organisation's leaf users) and an admin client of it, for
the tests of head office's links; the sites start as a test needs them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client as NatsClient

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.hub import HUB_REPLIES
from tests.sites.servers import LeafServers

ORGANISATION = load_organisation(DEMO_ORGANISATION)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[LeafServers]:
    started = LeafServers(tmp_path, ORGANISATION)
    started.start_hub()
    yield started
    started.stop()


@pytest.fixture
async def hub(servers: LeafServers) -> AsyncIterator[NatsClient]:
    """The hub's admin, with the inbox prefix the sites answer probes on."""
    client = await nats.connect(
        servers.hub_admin, max_reconnect_attempts=-1, inbox_prefix=HUB_REPLIES
    )
    yield client
    await client.close()
