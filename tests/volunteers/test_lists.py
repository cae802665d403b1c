"""Lists for the staff console: a site's volunteers, and its peer matches with their contacts
(ids only; a peer supporter sees their own matches)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from nats.aio.client import Client as NatsClient

from tests.conftest import ServiceClient
from tests.groups.conftest import today
from tests.identity import token_for
from tests.volunteers.conftest import person, volunteer

FAMILY = ["family_volunteer_team"]
PEER = ["peer_supporters"]


def as_(nc: NatsClient, site: str, sub: str, roles: list[str], sites: list[str]) -> ServiceClient:
    return ServiceClient(
        nc, "volunteers", site, sub, token=token_for(sub, roles=roles, sites=sites)
    )


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


async def test_a_sites_volunteers_by_team_with_their_hours(nc, clients, services):
    v = clients["volunteers"]
    cook = await volunteer(
        clients, services, "Cook", teams=FAMILY, courses=["volunteer_induction"], skills=["cooking"]
    )
    away = await volunteer(clients, services, "Away", teams=FAMILY)
    peer = await volunteer(clients, services, "Peer", teams=PEER, roles=["person_in_recovery"])
    street_person = await person(clients, services, "Street", ["family_carer", "volunteer"])
    street = (
        await v.ok(
            "register_volunteer",
            site="nanyuan",
            person_id=street_person,
            teams=FAMILY,
            languages=["yue", "cmn"],
        )
    )["volunteer_id"]
    await v.ok("log_hours", volunteer_id=cook, minutes=90)
    mistake = await v.ok("log_hours", volunteer_id=cook, minutes=600)
    await v.ok("void_hours", hours_id=mistake["hours_id"], reason="wrong_figures")
    await v.ok("deactivate_volunteer", volunteer_id=away, reason="on_leave")
    coordinator = as_(nc, "likang", "vc-mak", ["volunteer_coordinator"], ["likang"])

    listed = (await coordinator.ok("qry:volunteers"))["volunteers"]
    assert [x["volunteer_id"] for x in listed] == sorted([cook, peer, street])
    by_id = {x["volunteer_id"]: x for x in listed}
    assert by_id[cook] == {
        "volunteer_id": cook,
        "person_id": (await v.ok("qry:volunteer", volunteer_id=cook))["person_id"],
        "site": "likang",
        "teams": FAMILY,
        "skills": ["cooking"],
        "languages": [],
        "active": True,
        "total_hours": 1.5,
    }
    assert (by_id[street]["site"], by_id[street]["languages"]) == ("nanyuan", ["yue", "cmn"])
    family = (await coordinator.ok("qry:volunteers", team=FAMILY[0]))["volunteers"]
    assert [x["volunteer_id"] for x in family] == sorted([cook, street])
    everyone = (await coordinator.ok("qry:volunteers", include_inactive=True))["volunteers"]
    assert [x["volunteer_id"] for x in everyone] == sorted([cook, away, peer, street])
    assert [x["active"] for x in everyone if x["volunteer_id"] == away] == [False]

    # The street programme's coordinator sees theirs; another centre's, none; workers may not ask.
    child = as_(nc, "nanyuan", "vc-ng", ["volunteer_coordinator"], ["nanyuan"])
    assert [x["volunteer_id"] for x in (await child.ok("qry:volunteers"))["volunteers"]] == [street]
    elsewhere = as_(nc, "icmhc", "vc-wu", ["volunteer_coordinator"], ["icmhc"])
    assert (await elsewhere.ok("qry:volunteers", include_inactive=True))["volunteers"] == []
    worker = as_(nc, "likang", "sw-lee", ["social_worker"], ["likang"])
    refused = await worker.qry("volunteers")
    assert refused.error is not None and refused.error.code == "forbidden"


async def test_peer_matches_with_their_contacts_and_a_peer_supporter_sees_their_own(
    nc, clients, services
):
    v = clients["volunteers"]
    peers = [
        await volunteer(
            clients,
            services,
            name,
            teams=PEER,
            courses=["peer_support_foundation"],
            roles=["person_in_recovery"],
        )
        for name in ("Peer one", "Peer two")
    ]
    users = [
        await person(clients, services, name, ["person_in_recovery"], consent=True)
        for name in ("User one", "User two")
    ]

    async def match(peer: str, user: str, on: int) -> str:
        started = await v.ok("start_peer_match", peer_volunteer_id=peer, person_id=user, on=day(on))
        return str(started["match_id"])

    mine = await match(peers[0], users[0], -10)
    theirs = await match(peers[1], users[0], -5)
    ended = await match(peers[0], users[1], -20)
    contact = {"match_id": mine, "mode": "phone"}
    await v.ok("log_peer_contact", **contact, minutes=30, date=day(-3))
    await v.ok("log_peer_contact", **contact, minutes=20, date=day(-1))
    typo = await v.ok("log_peer_contact", **contact, minutes=15, date=day(-2))
    await v.ok("void_peer_contact", contact_id=typo["contact_id"], reason="wrong_figures")
    await v.ok("log_peer_contact", match_id=ended, mode="visit", minutes=60, date=day(-15))
    await v.ok("end_peer_match", match_id=ended, reason="goals_met", on=day(-12))
    coordinator = as_(nc, "likang", "vc-mak", ["volunteer_coordinator"], ["likang"])

    async def listed(client: ServiceClient, **fields: Any) -> list[str]:
        return [m["match_id"] for m in (await client.ok("qry:peer_matches", **fields))["matches"]]

    assert await listed(coordinator) == [theirs, mine]
    assert await listed(coordinator, status="ended") == [ended]
    assert await listed(coordinator, status="all") == [theirs, mine, ended]
    assert await listed(coordinator, status="all", volunteer_id=peers[0]) == [mine, ended]
    [first] = [
        m for m in (await coordinator.ok("qry:peer_matches"))["matches"] if m["match_id"] == mine
    ]
    assert first == {
        "match_id": mine,
        "peer_volunteer_id": peers[0],
        "person_id": users[0],
        "site": "likang",
        "status": "open",
        "started_on": day(-10),
        "ended_on": None,
        "end_reason": None,
        "contact_count": 2,
        "contact_minutes": 50,
        "last_contact_on": day(-1),
    }
    [closed] = (await coordinator.ok("qry:peer_matches", status="ended"))["matches"]
    assert (closed["status"], closed["ended_on"], closed["end_reason"]) == (
        "ended",
        day(-12),
        "goals_met",
    )
    [one] = (await coordinator.ok("qry:peer_matches", match_id=mine))["matches"]
    assert [(c["date"], c["minutes"], c["mode"]) for c in one["contacts"]] == [
        (day(-1), 20, "phone"),
        (day(-3), 30, "phone"),
    ]

    # A peer supporter: their own matches only; another's, named, is forbidden.
    me = as_(nc, "likang", peers[0], ["peer_supporter"], ["likang"])
    assert await listed(me, status="all") == [mine, ended]
    assert await listed(me, volunteer_id=peers[0]) == [mine]
    for named in ({"volunteer_id": peers[1]}, {"match_id": theirs}):
        refused = await me.qry("peer_matches", **named)
        assert refused.error is not None and refused.error.code == "forbidden", named
    assert (await me.ok("qry:peer_matches", match_id=mine))["matches"][0]["contact_count"] == 2

    # Kept at the centre: a child site's coordinator does not find it; another centre's sees
    # none; a social worker may not ask.
    child = as_(nc, "jinsha", "vc-ng", ["volunteer_coordinator"], ["jinsha"])
    unseen = await child.qry("peer_matches", match_id=mine)
    assert unseen.error is not None and unseen.error.code == "not_found"
    elsewhere = as_(nc, "icmhc", "vc-wu", ["volunteer_coordinator"], ["icmhc"])
    assert await listed(elsewhere, status="all") == []
    worker = as_(nc, "likang", "sw-lee", ["social_worker"], ["likang"])
    refused = await worker.qry("peer_matches")
    assert refused.error is not None and refused.error.code == "forbidden"
