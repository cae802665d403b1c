"""``carenet status`` at head office: each site's leaf link and how far behind its sources are.

A hub nats-server and likang's, joined by a leaf link and configured as ``carenet up --role``
configures them (icmhc, the demo's other site with its own servers, never starts: its link is
down throughout). Status's functions run in-process; the last test runs the CLI against a real
``carenet up --role hub``.
"""

from __future__ import annotations

from pathlib import Path

import nats
from nats.aio.client import Client as NatsClient

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.bus.hub import HubLinks
from shared.kit.bus.streams import ensure_stream, stream_config
from shared.kit.observability.status import Link, collect, report, show, site_links
from tests.conftest import eventually
from tests.sites.roles import RoleProcess
from tests.sites.servers import LeafServers
from tests.test_status import carenet, status_json

ORGANISATION = load_organisation(DEMO_ORGANISATION)
EVENT_STREAMS = ["INTAKE", "GROUPS", "VOLUNTEERS"]


async def site_with_events(admin_url: str, site: str, count: int) -> None:
    """The site's event streams, and ``count`` events of its intake."""
    client = await nats.connect(admin_url)
    try:
        js = client.jetstream()
        for service in ("intake", "groups", "volunteers"):
            await ensure_stream(js, stream_config(service))
        for n in range(count):
            await js.publish(f"evt.{site}.intake.person.registered.{n}", b"{}")
    finally:
        await client.close()


def by_site(links: list[Link]) -> dict[str, Link]:
    return {found.link.site: found for found in links}


async def test_a_sites_link_is_up_with_lag_0_once_sourced_and_down_when_its_server_stops(
    servers: LeafServers, hub: NatsClient
) -> None:
    await site_with_events(servers.start_site("likang"), "likang", 7)
    await HubLinks(hub, ORGANISATION).provision()

    async def likang_current() -> dict[str, Link] | None:
        links = by_site(await site_links(hub, ORGANISATION))
        sources = links["likang"].link.sources
        return links if all(s.lag == 0 and s.active for s in sources) else None

    links = await eventually(likang_current, timeout=20, interval=0.2)
    assert (await hub.jetstream().stream_info("INTAKE")).state.messages == 7
    likang = links["likang"]
    assert likang.link.up and likang.problems == []
    assert [(s.hub_stream, s.site_stream) for s in likang.link.sources] == [
        (name, name) for name in EVENT_STREAMS
    ]
    assert all(s.sourced and s.active_seconds is not None for s in likang.link.sources)
    assert likang.serves == ORGANISATION.served_by_deployment("likang")
    icmhc = links["icmhc"]
    assert not icmhc.link.up and icmhc.problems == ["link down"]
    assert all(s.sourced and s.active_seconds is None and s.lag is None for s in icmhc.link.sources)

    servers.sites["likang"].stop()

    async def likang_down() -> Link | None:
        found = by_site(await site_links(hub, ORGANISATION))["likang"]
        return found if not found.link.up else None

    likang = await eventually(likang_down, timeout=20, interval=0.2)
    assert likang.problems == ["link down"]
    # What the hub last heard: nothing left to copy then, and it has heard nothing since.
    assert all(s.lag == 0 and s.active_seconds is not None for s in likang.link.sources)

    async def likang_silent() -> bool:
        found = by_site(await site_links(hub, ORGANISATION))["likang"]
        return not any(s.active for s in found.link.sources)

    await eventually(likang_silent, timeout=20, interval=0.5)


async def test_site_limits_the_links_to_the_one_carrying_its_events_and_sets_the_exit_status(
    servers: LeafServers, hub: NatsClient, tmp_path: Path
) -> None:
    await site_with_events(servers.start_site("likang"), "likang", 2)
    await HubLinks(hub, ORGANISATION).provision()
    nothing = str(tmp_path / "no-up-json")

    async def likang_ok() -> bool:
        status = await collect([], nothing, servers.hub_admin, "jinsha", ORGANISATION)
        return status.ok

    await eventually(likang_ok, timeout=20, interval=0.2)
    # jinsha's events come through likang's deployment: its link alone is shown.
    status = await collect([], nothing, servers.hub_admin, "jinsha", ORGANISATION)
    assert [found.link.site for found in status.links or []] == ["likang"]
    # Every site: icmhc's link is down, so not ok.
    status = await collect([], nothing, servers.hub_admin, None, ORGANISATION)
    assert status.hub and not status.ok
    assert [found.link.site for found in status.links or []] == ["likang", "icmhc"]
    # clubhouse runs at head office itself: no link carries it.
    status = await collect([], nothing, servers.hub_admin, "clubhouse", ORGANISATION)
    assert status.links == [] and status.ok
    assert "no site with its own servers carries clubhouse's events" in show(status, "clubhouse")

    status = await collect([], nothing, servers.hub_admin, None, ORGANISATION)
    document = report(status, None)
    assert document["ok"] is False and document["hub"] is True and document["services"] == []
    links = {entry["site"]: entry for entry in document["links"]}
    assert links["likang"]["link"] == "up" and links["likang"]["share"] == "events"
    assert links["likang"]["serves"] == ["likang", "nanyuan", "jinsha", "longjin"]
    assert links["likang"]["problems"] == []
    for source in links["likang"]["sources"]:
        assert set(source) == {"stream", "from", "sourced", "lag", "active_seconds", "active"}
        assert source["sourced"] and source["active"] and source["lag"] == 0
    assert links["icmhc"]["link"] == "down" and links["icmhc"]["problems"] == ["link down"]
    table = show(status, None).splitlines()
    assert table[0].startswith("sites with their own servers")
    assert table[1].split() == [
        "SITE", "SHARES", "LINK", "STREAM", "FROM", "LAG", "LAST", "HEARD", "PROBLEMS"
    ]  # fmt: skip
    assert table[2].split()[:6] == ["likang", "events", "up", "INTAKE", "INTAKE", "0"]
    assert table[5].split()[:3] == ["icmhc", "events", "DOWN"]
    assert table[5].split()[5:] == ["?", "never", "link", "down"]


async def test_the_cli_at_a_real_hub_shows_its_services_and_each_sites_link(
    tmp_path: Path,
) -> None:
    hub = RoleProcess(tmp_path / "hub", "--role", "hub")
    site: LeafServers | None = None
    try:
        summary = hub.start()
        assert summary["role"] == "hub"
        site = LeafServers(tmp_path / "sites", ORGANISATION)  # joins the real hub
        # Streams only: the hub's reporting would dead-letter made-up events.
        await site_with_events(
            site.start_site("likang", summary["leaf_urls"]["likang"]), "likang", 0
        )
        data = str(hub.data)

        async def likang_current() -> dict | None:
            code, document = await status_json(hub.data, "--site", "likang")
            return document if code == 0 else None

        document = await eventually(likang_current, timeout=60, interval=0.5)
        assert [s["service"] for s in document["services"]] == ["reporting"]
        [likang] = document["links"]
        assert likang["site"] == "likang" and likang["link"] == "up"
        assert all(s["lag"] == 0 and s["active"] for s in likang["sources"])

        code, out = await carenet("status", "--data", data)
        assert code == 1, out  # icmhc never started: its link is down
        rows: dict[str, str] = {}
        for line in out.splitlines():
            if line and not line.startswith(" "):
                rows.setdefault(line.split()[0], line)
        assert rows["reporting"].split()[2] == "yes"
        assert rows["likang"].split()[:3] == ["likang", "events", "up"]
        assert rows["icmhc"].split()[:3] == ["icmhc", "events", "DOWN"]
        assert "link down" in rows["icmhc"]
    finally:
        if site is not None:
            site.stop()
        hub.stop()
