"""Worklists: a volunteer's coming duties, and the duties still unfilled at a site."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import today
from tests.volunteers.conftest import known, session_on, volunteer

FAMILY = ["family_volunteer_team"]
INDUCTION = ["volunteer_induction"]


async def test_a_volunteers_coming_duties_soonest_first_at_every_site_they_serve(
    nc, clients, services
):
    v = clients["volunteers"]
    who = await volunteer(clients, services, "A", teams=FAMILY, courses=INDUCTION)
    later = await session_on(clients, services, today() + timedelta(days=9))
    sooner = await session_on(
        clients, services, today() + timedelta(days=2), venue="Room 2", facilitators=["sw-chan"]
    )
    past = await session_on(
        clients, services, today() - timedelta(days=2), venue="Room 3", facilitators=["sw-ho"]
    )
    street = (
        await ServiceClient(nc, "groups", "nanyuan").ok(
            "create_programme",
            title="Street outreach",
            type="community_event",
            capacity=0,
            facilitators=["sw-ng"],
            venue="Nanyuan street",
            schedule={
                "first_date": (today() + timedelta(days=5)).isoformat(),
                "start_time": "10:00",
                "duration_min": 60,
            },
        )
    )["session_ids"][0]
    await known(services["volunteers"], "known_sessions", "session_id", street)
    for session_id, role in ((later, "cook"), (sooner, "helper"), (past, "helper")):
        await v.ok("assign_volunteer", session_id=session_id, volunteer_id=who, role=role)
    await v.ok(
        "assign_volunteer", site="nanyuan", session_id=street, volunteer_id=who, role="guide"
    )
    cancelled = await session_on(
        clients, services, today() + timedelta(days=3), venue="Room 4", facilitators=["sw-yip"]
    )
    await v.ok("assign_volunteer", session_id=cancelled, volunteer_id=who, role="helper")
    await clients["groups"].ok("cancel_session", session_id=cancelled, reason="typhoon")

    async def listed() -> list[tuple[str, str, str]]:
        duties = (await v.ok("qry:volunteer_duties", volunteer_id=who))["duties"]
        return [(d["session_id"], d["site"], d["role"]) for d in duties]

    expected = [
        (sooner, "likang", "helper"),
        (street, "nanyuan", "guide"),
        (later, "likang", "cook"),
    ]
    assert await eventually(lambda: _equal(listed, expected)) is True
    first = (await v.ok("qry:volunteer_duties", volunteer_id=who, days=7))["duties"]
    assert [d["session_id"] for d in first] == [sooner, street]
    assert first[0]["start"] == "14:30" and first[0]["status"] == "proposed"
    # The street programme's staff do not see the centre's volunteer's record.
    assert (
        await v.qry("volunteer_duties", site="nanyuan", volunteer_id=who)
    ).error.code == "not_found"


async def _equal(listed, expected) -> bool:
    return await listed() == expected


async def test_unfilled_duties_list_the_places_still_open_at_the_sites_coming_sessions(
    clients, services
):
    v = clients["volunteers"]
    only = await volunteer(clients, services, "Only", teams=FAMILY, courses=INDUCTION)
    short = await session_on(clients, services, today() + timedelta(days=4))
    full = await session_on(
        clients, services, today() + timedelta(days=1), venue="Room 2", facilitators=["sw-chan"]
    )
    await v.ok("request_volunteers", session_id=full, role="helper", count=1)
    asked = await v.ok("request_volunteers", session_id=short, role="helper", count=3)
    assert asked["missing"] == 2, "one volunteer for three places"
    unfilled = (await v.ok("qry:unfilled_duties"))["duties"]
    assert [
        (d["session_id"], d["role"], d["wanted"], d["standing"], d["missing"]) for d in unfilled
    ] == [(short, "helper", 3, 1, 2)]
    [duty] = (await v.ok("qry:assignments", session_id=full))["assignments"]
    assert duty["volunteer_id"] == only
    await v.ok("decline_assignment", assignment_id=duty["assignment_id"])
    unfilled = (await v.ok("qry:unfilled_duties"))["duties"]
    assert [(d["session_id"], d["missing"]) for d in unfilled] == [(full, 1), (short, 2)]
    assert (await v.ok("qry:unfilled_duties", days=2))["duties"][0]["session_id"] == full
