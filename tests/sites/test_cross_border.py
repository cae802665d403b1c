"""A site across a border shares only its published summaries with head office.

Its leaf user at the hub lets through the sourcing of its ``SUMMARY_OUT`` stream (its own
``summary.published`` events, small counts hidden) and the hub's probe of that stream, and
nothing else: no other stream can be sourced, no JetStream API answers, no event, command or
query crosses, in either direction.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import ExternalStream, StreamConfig, StreamSource

from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.bus.address import connect_nats
from shared.kit.bus.hub import HUB_REPLIES
from shared.kit.bus.requests import request
from tests.conftest import ServiceClient, eventually
from tests.identity import token_for
from tests.reporting.agency import Agency
from tests.sites.roles import RoleProcess
from tests.sites.test_hub_and_sites import icmhc_work

ALLOWED_FROM_SITE = ("$JS.S.", "$JSC.R.", "$JS.FC.", f"{HUB_REPLIES}.")
SUMMARY = "evt.icmhc.reporting.summary.published"
OWN = "_TEST_HUB"
AT_THE_HUB = (f"{OWN}.", "_CARENET_R.reporting.", "$JS.API.", "$JS.ACK.", "$JS.EVENT.", "$SYS.")
"""The hub's own traffic: this test's requests, head office's reporting at work."""


def across_the_border(tmp_path: Path) -> Path:
    """The demo organisation with the ICMHC sharing summaries only."""
    text = DEMO_ORGANISATION.read_text()
    marker = 'code = "icmhc"'
    assert marker in text
    head, tail = text.split(marker, 1)
    block, rest = tail.split("own_deployment = true", 1)
    config = tmp_path / "organisation.toml"
    config.write_text(f'{head}{marker}{block}own_deployment = true\nshare = "summaries"{rest}')
    return config


async def test_only_published_summaries_cross_a_summaries_link(tmp_path: Path) -> None:
    config = across_the_border(tmp_path)
    hub = RoleProcess(tmp_path / "hub", "--role", "hub", config=config)
    summary = hub.start()
    assert "icmhc" not in summary["sites"].split(","), "head office serves what it cannot see"
    icmhc = RoleProcess(
        tmp_path / "icmhc",
        "--role",
        "site",
        "--site",
        "icmhc",
        "--hub",
        summary["leaf_urls"]["icmhc"],
        config=config,
    )
    clients: list[NatsClient] = []
    try:
        icmhc.start()
        at_hub = await connect_nats(hub.summary["admin_nats"], inbox_prefix=OWN)
        sniffer = await hub.connect("admin_nats")
        at_site = await icmhc.connect()
        clients += [at_hub, sniffer, at_site]
        js = at_hub.jetstream()
        manager = token_for("manager-icmhc", roles=["centre_manager"], sites=["icmhc"])

        # No JetStream API of the site answers but the probe's ...
        for subject in ("$JS.icmhc.API.INFO", "$JS.icmhc.API.STREAM.INFO.INTAKE"):
            try:
                await at_hub.request(subject, b"", timeout=1)
            except Exception:  # noqa: BLE001 - no responders or timeout: the link refused it
                continue
            raise AssertionError(f"{subject} answered across a summaries-only link")
        # ... and no command or query reaches the site's services, the transfer included.
        for kind, name in (
            ("cmd", "receive_transfer"),
            ("cmd", "register_person"),
            ("qry", "find_people"),
        ):
            reply = await request(
                at_hub,
                kind,
                "icmhc",
                "intake",
                name,
                {"command_id": "x", "text": "x"},
                token=manager,
            )
            assert reply.error is not None and reply.error.code == "unavailable", (name, reply)

        # Everything that reaches the hub's account from now on, whoever sent it.
        crossing: list[Msg] = []

        async def seen(msg: Msg) -> None:
            crossing.append(msg)

        sniffing = await sniffer.subscribe(">", cb=seen)
        await sniffer.flush()

        # A month of work at the site, and its published summary.
        await icmhc_work(Agency(at_site), "Border", "2026-10-06")
        published = await request(
            at_site,
            "cmd",
            "icmhc",
            "reporting",
            "publish_summary",
            {"command_id": "5d1f3c1e-8a50-4c52-9a43-2a0c6f1d1b01", "month": "2026-10"},
            token=manager,
        )
        assert published.ok, published.error

        async def summary_at_hub() -> bool:
            info = await js.stream_info("REPORTING", subjects_filter="evt.icmhc.>")
            return bool(info.state.subjects)

        await eventually(summary_at_hub, timeout=30, interval=0.5)

        # The hub cannot take anything else: a source of the site's INTAKE stays empty, and
        # the site's live events never cross.
        await js.add_stream(
            StreamConfig(
                name="TRY_INTAKE",
                subjects=[],
                sources=[StreamSource(name="INTAKE", external=ExternalStream(api="$JS.icmhc.API"))],
            )
        )
        await ServiceClient(at_site, "intake", "icmhc", "sw-lee").ok(
            "register_person", preferred_name="Crossing test", roles=["community_member"]
        )
        await asyncio.sleep(5)
        await sniffing.unsubscribe()
        assert (await js.stream_info("TRY_INTAKE")).state.messages == 0
        site_intake = await (await icmhc.connect("admin_nats")).jetstream().stream_info("INTAKE")
        assert site_intake.state.messages > 0

        # From the site came the summaries (a delivered message shows its stored subject),
        # JetStream's replies and flow control for them, and the probe's answers; everything
        # else seen is the hub's own traffic: its requests to the sites' JetStream, its
        # reporting at work, this test.
        unexpected = [
            m.subject
            for m in crossing
            if not m.subject.startswith(ALLOWED_FROM_SITE + AT_THE_HUB)
            and not (m.subject.startswith("$JS.") and ".API." in m.subject)
            and not (m.subject.startswith("evt.") and not m.subject.startswith("evt.icmhc."))
            and m.subject != SUMMARY
        ]
        assert not unexpected, unexpected
        delivered = [m for m in crossing if m.subject == SUMMARY and m.data]
        assert delivered, "the summary was expected to cross as a sourced message"
        for msg in delivered:
            assert json.loads(msg.data)["type"] == "reporting.summary.published"
        names = [m for m in crossing if b"Border member" in m.data or b"Crossing" in m.data]
        assert not names, "personal data crossed the link"
        stored = await js.get_last_msg("REPORTING", SUMMARY)
        assert json.loads(stored.data)["type"] == "reporting.summary.published"
    finally:
        for client in clients:
            await client.close()
        icmhc.stop()
        hub.stop()
