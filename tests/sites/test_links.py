"""HubLinks against a real hub and a real site joined by a leaf link: what it reads of each
site's sources, and that it re-arms only a link that needs it."""

from __future__ import annotations

import nats
from nats.aio.client import Client as NatsClient

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.hub import HubLinks
from shared.kit.bus.streams import ensure_stream, stream_config
from tests.conftest import eventually
from tests.sites.servers import LeafServers

ORGANISATION = load_organisation(DEMO_ORGANISATION)
EVENTS = ("intake", "groups", "volunteers")


async def likang_with_events(servers: LeafServers, count: int) -> None:
    """Likang's server (joined to the hub) with its event streams and ``count`` events."""
    site = await nats.connect(servers.start_site("likang"))
    try:
        js = site.jetstream()
        for service in EVENTS:
            await ensure_stream(js, stream_config(service))
        for n in range(count):
            await js.publish(f"evt.likang.intake.person.registered.{n}", b"{}")
    finally:
        await site.close()


async def test_hub_links_read_each_sites_sources_by_site(servers, hub: NatsClient) -> None:
    await likang_with_events(servers, 5)
    links = HubLinks(hub, ORGANISATION)
    await links.provision()

    async def likang_current() -> bool:
        await links.refresh_sources()
        return all(
            s.lag == 0 and s.active_seconds is not None for s in links.links["likang"].sources
        )

    await eventually(likang_current, timeout=20, interval=0.2)
    await links.check()
    likang, icmhc = links.links["likang"], links.links["icmhc"]
    assert likang.up and all(s.sourced for s in likang.sources)
    assert (await hub.jetstream().stream_info("INTAKE")).state.messages == 5
    # icmhc has no server: its sources are in place at the hub but have never heard from it.
    assert not icmhc.up
    assert all(s.sourced and s.active_seconds is None and not s.active for s in icmhc.sources)


async def test_a_link_whose_sources_are_current_is_not_re_armed(servers, hub: NatsClient) -> None:
    await likang_with_events(servers, 3)
    links = HubLinks(hub, ORGANISATION, inactive_after=0.0)
    await links.provision()
    await links.check()  # the first round finds the link up: it re-arms once
    likang = links.links["likang"]
    assert likang.rearms == 1

    async def current() -> bool:
        await links.refresh_sources()
        return all(s.lag == 0 and s.active_seconds is not None for s in likang.sources)

    await eventually(current, timeout=20, interval=0.2)
    for _ in range(3):
        await links.check()
    assert likang.rearms == 1
