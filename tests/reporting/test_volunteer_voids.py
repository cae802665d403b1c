"""Voided volunteer hours and peer contacts leave every figure, live and after a rebuild."""

from __future__ import annotations

from typing import Any

from tests.reporting.agency import Agency
from tests.reporting.conftest import HAS_VOLUNTEERS, settled, summary
from tests.reporting.test_rebuild_and_replay import rebuild_cli

ON = "2026-10-14"
FAMILY = "family_volunteer_team"


async def october(nc) -> dict[str, Any]:
    return (await summary(nc, "likang", "2026-10", True))["figures"]


async def test_voided_hours_and_peer_contacts_count_nowhere_and_a_rebuild_agrees(
    nc, system, nats_url, database_url
):
    assert HAS_VOLUNTEERS
    agency = Agency(nc)
    carer = await agency.register("likang", "Carer", ["family_carer", "volunteer"], ON)
    peer_person = await agency.register("likang", "Peer", ["person_in_recovery"], ON)
    user = await agency.register("likang", "User", ["person_in_recovery"], ON)
    await agency.consent("likang", user, "service", True, ON)
    volunteer = await agency.volunteer("likang", carer, [FAMILY], ON, ["volunteer_induction"])
    peer = await agency.volunteer(
        "likang", peer_person, ["peer_supporters"], ON, ["peer_support_foundation"]
    )
    match = await agency.match("likang", peer, user, ON)
    v = agency._client("volunteers", "likang")
    kept = await v.ok("log_hours", volunteer_id=volunteer, minutes=120, date=ON)
    mistaken = await v.ok("log_hours", volunteer_id=volunteer, minutes=600, date=ON)
    contacts = [
        await v.ok("log_peer_contact", match_id=match, mode=mode, minutes=30, date=ON)
        for mode in ("phone", "visit")
    ]
    await settled(nc, system)
    before = await october(nc)
    assert before["volunteer_hours"]["total"] == 12.0
    assert before["peer_contacts"]["total"] == 2

    await v.ok("void_hours", hours_id=mistaken["hours_id"], reason="wrong_figures")
    await v.ok("void_peer_contact", contact_id=contacts[1]["contact_id"], reason="wrong_match")
    await settled(nc, system)
    live = await october(nc)
    assert live["volunteer_hours"]["total"] == 2.0
    assert live["peer_contacts"]["total"] == 1
    assert live["peer_contacts"]["by"]["mode"]["visit"] == 0
    assert kept["hours_id"] != mistaken["hours_id"]

    code, _, err = await rebuild_cli(nats_url, database_url)
    assert code == 0, err
    await settled(nc, system)
    assert await october(nc) == live
