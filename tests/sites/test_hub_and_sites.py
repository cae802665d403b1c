"""Head office and two sites, each with its own NATS and PostgreSQL, as real processes.

The sites join the hub by leaf nodes; the hub's streams source theirs. One site's link is cut
(a relay between it and the hub drops every connection), both sites keep working, head office
keeps getting the other site's events; the link comes back and head office catches up with
every event exactly once, its figures equal to the sites' own. Then head office itself stops
and starts again, with the same result.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from nats.aio.client import Client as NatsClient
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.kit.bus.requests import request
from tests.conftest import ServiceClient, eventually
from tests.identity import token_for
from tests.reporting.agency import Agency
from tests.reporting.scenario import october, programme
from tests.sites.proxy import CuttableLink
from tests.sites.roles import RoleProcess

PERIOD = "2026-10"
ADDITIVE = ("cases_opened", "people_registered", "sessions_held", "attendances", "volunteer_hours")
CATCH_UP_BOUND_SECONDS = 15
"""From the link being back to head office's figures equalling the site's: the hub re-arms the
site's sources as soon as the site answers again, instead of at the server's next retry (its
backoff grows to two minutes: 40-50 s measured without re-arming)."""


async def exact_summary(nc: NatsClient, site: str) -> dict[str, Any]:
    token = token_for(f"manager-{site}", roles=["centre_manager"], sites=[site])
    reply = await request(
        nc,
        "qry",
        site,
        "reporting",
        "summary",
        {"site": site, "period": PERIOD, "exact": True},
        token=token,
    )
    assert reply.ok and reply.result is not None, reply.error
    return reply.result


def totals(figures: dict[str, Any]) -> dict[str, Any]:
    return {name: figures["figures"][name]["total"] for name in ADDITIVE}


async def icmhc_work(a: Agency, tag: str, day: str) -> None:
    people = [
        await a.register("icmhc", f"{tag} member {i}", ["person_in_recovery"], day)
        for i in range(3)
    ]
    for person in people:
        await a.consent("icmhc", person, "service", True, day)
        await a.open_case("icmhc", person, day)
    sessions = await a.programme(
        "icmhc",
        **programme(
            f"{tag} recovery group",
            "support_group",
            day,
            "weekly",
            2,
            target_roles=["person_in_recovery"],
        ),
    )
    for person in people:
        await a.enrol("icmhc", a.programme_id, person, day)
    await a.attendance("icmhc", sessions[0], people[:2], people[2:], walk_ins=1)


async def likang_more(a: Agency, tag: str, day: str) -> None:
    person = await a.register("jinsha", f"{tag} carer", ["family_carer"], day)
    await a.consent("jinsha", person, "service", True, day)
    await a.open_case("jinsha", person, day)
    talk = await a.programme(
        "likang",
        **programme(f"{tag} talk", "psychoeducation_talk", day, "once", 1, capacity=0),
    )
    await a.attendance("likang", talk[0], [], [], walk_ins=7)


async def _transferred_to(sender: ServiceClient, case: str) -> str | None:
    found = await sender.ok("qry:case", case_id=case)
    return found["transferred_to_case_id"] if found["status"] == "transferred" else None


async def message_ids(nc: NatsClient, stream: str) -> list[str]:
    """Every stored message's Nats-Msg-Id, read once through an ordered, ack-less consumer."""
    js = nc.jetstream()
    info = await js.stream_info(stream)
    if not info.state.messages:
        return []
    name = f"check_{int(time.time() * 1000)}"
    await js.add_consumer(
        stream,
        ConsumerConfig(
            name=name,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            mem_storage=True,
        ),
    )
    pull = await js.pull_subscribe_bind(consumer=name, stream=stream)
    found: list[str] = []
    try:
        while len(found) < info.state.messages:
            for msg in await pull.fetch(500, timeout=5):
                found.append((msg.headers or {}).get("Nats-Msg-Id", ""))
    finally:
        await pull.unsubscribe()
        await js.delete_consumer(stream, name)
    return found


async def test_head_office_gets_every_event_once_through_a_cut_link(tmp_path: Path) -> None:
    hub = RoleProcess(tmp_path / "hub", "--role", "hub")
    leaf = hub.start()["leaf_urls"]
    hub_address = leaf["likang"].rpartition("@")[2]
    link = CuttableLink(int(hub_address.rpartition(":")[2]))
    await link.restore()
    likang = RoleProcess(
        tmp_path / "likang",
        "--role",
        "site",
        "--site",
        "likang",
        "--hub",
        leaf["likang"].replace(hub_address, link.address),
    )
    icmhc = RoleProcess(
        tmp_path / "icmhc", "--role", "site", "--site", "icmhc", "--hub", leaf["icmhc"]
    )
    clients: list[NatsClient] = []
    try:
        # The sites start while head office is down (it ran once, to make their leaf users):
        # they work alone and join when it comes up.
        hub.stop()
        likang.start()
        icmhc.start()
        at_likang = await likang.connect()
        at_icmhc = await icmhc.connect()
        clients += [at_likang, at_icmhc]
        agency = Agency(at_likang)
        people = await october(agency, volunteers=True)
        await icmhc_work(Agency(at_icmhc), "October", "2026-10-06")
        open_at_likang = {
            c["person"]: case
            for case, c in agency.ledger.cases.items()
            if c["site"] == "likang" and c["ended"] is None
        }
        hub.start()
        # A case handed from one site's intake to the other's, through the hub: another
        # branch, so only with the person's consent to share.
        for carer in ("carer1", "carer2"):
            await agency.consent("likang", people[carer], "data_sharing", True, "2026-10-26")
        await agency.transfer("likang", open_at_likang[people["carer1"]], "icmhc", "2026-10-26")

        async def head_office_agrees() -> bool:
            at_hub = await hub.connect()
            try:
                sites = {
                    "likang": await exact_summary(at_likang, "likang"),
                    "icmhc": await exact_summary(at_icmhc, "icmhc"),
                }
                for site, own in sites.items():
                    if (await exact_summary(at_hub, site))["figures"] != own["figures"]:
                        return False
                hq = totals(await exact_summary(at_hub, "hq"))
                return hq == {
                    n: totals(sites["likang"])[n] + totals(sites["icmhc"])[n] for n in ADDITIVE
                }
            finally:
                await at_hub.close()

        await eventually(head_office_agrees, timeout=90, interval=0.5)
        before = totals(await exact_summary(at_likang, "likang"))

        async def likang_counts_its_own_work(more: int) -> bool:
            now = totals(await exact_summary(at_likang, "likang"))
            return bool(now["attendances"] == before["attendances"] + more)

        async def hub_has_icmhc() -> bool:
            at_hub = await hub.connect()
            try:
                hub_view = await exact_summary(at_hub, "icmhc")
            finally:
                await at_hub.close()
            return bool(hub_view["figures"] == (await exact_summary(at_icmhc, "icmhc"))["figures"])

        # Likang's link is cut. Both sites go on; head office still gets icmhc's events.
        await link.cut()
        await likang_more(Agency(at_likang), "Cut", "2026-10-28")
        await icmhc_work(Agency(at_icmhc), "Cut", "2026-10-20")
        await eventually(lambda: likang_counts_its_own_work(7), timeout=30)
        await eventually(hub_has_icmhc, timeout=30, interval=0.5)
        assert not await head_office_agrees(), "likang's work crossed a cut link"
        # A transfer to icmhc waits for the link.
        sender = ServiceClient(at_likang, "intake", "likang", "sw-lee")
        waiting_case = open_at_likang[people["carer2"]]
        handoff = await sender.ok(
            "transfer_case", case_id=waiting_case, to_site="icmhc", on="2026-10-27"
        )
        assert handoff["status"] == "pending"
        # Long enough for the server's retries of likang's sources to back off.
        await asyncio.sleep(25)

        await link.restore()
        back = time.monotonic()
        await eventually(head_office_agrees, timeout=120, interval=0.5)
        catch_up = time.monotonic() - back
        print(f"head office caught up {catch_up:.1f} s after likang's link was back")
        assert catch_up < CATCH_UP_BOUND_SECONDS
        # The transfer went through once the link was back, exactly once.
        moved = await eventually(
            lambda: _transferred_to(sender, waiting_case), timeout=30, interval=0.5
        )
        receiver = ServiceClient(at_icmhc, "intake", "icmhc", "sw-lee")
        assert (await receiver.ok("qry:case", case_id=moved))["kind"] == "transferred_in"
        await eventually(head_office_agrees, timeout=30, interval=0.5)

        # Head office itself stops; the sites go on; it starts again in the same folder.
        hub.stop()
        await likang_more(Agency(at_likang), "Outage", "2026-10-29")
        await eventually(lambda: likang_counts_its_own_work(14), timeout=30)
        hub.start()
        back = time.monotonic()
        await eventually(head_office_agrees, timeout=120, interval=0.5)
        print(f"head office caught up {time.monotonic() - back:.1f} s after it was up again")

        # Exactly once: the hub's aggregate holds each site event once, and all of them.
        admin_hub = await hub.connect("admin_nats")
        admin_likang = await likang.connect("admin_nats")
        admin_icmhc = await icmhc.connect("admin_nats")
        clients += [admin_hub, admin_likang, admin_icmhc]
        for stream in ("INTAKE", "GROUPS", "VOLUNTEERS"):
            at_hub_ids = await message_ids(admin_hub, stream)
            at_sites = await message_ids(admin_likang, stream) + await message_ids(
                admin_icmhc, stream
            )
            assert len(at_hub_ids) == len(set(at_hub_ids)), f"{stream}: a copy twice at the hub"
            assert sorted(at_hub_ids) == sorted(at_sites), f"{stream}: the hub lacks events"
    finally:
        for client in clients:
            await client.close()
        for role in (icmhc, likang, hub):
            role.stop()
        await link.cut()
