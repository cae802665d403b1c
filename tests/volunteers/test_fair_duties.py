"""Fair and flexible duties: a weekly group's sessions rotate, a coordinator may name the
volunteer, a centre's volunteers serve its street programmes, inactive volunteers rest."""

from __future__ import annotations

from datetime import timedelta

from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import today
from tests.volunteers.conftest import known, session_on, volunteer
from tests.volunteers.test_volunteers import _events

FAMILY = ["family_volunteer_team"]
INDUCTION = ["volunteer_induction"]


async def weekly_group(clients, services, weeks: int) -> list[str]:
    created = await clients["groups"].ok(
        "create_programme",
        title="Family support group",
        type="support_group",
        capacity=12,
        target_roles=["family_carer"],
        facilitators=["sw-lee"],
        venue="Activity room 1",
        schedule={
            "first_date": (today() + timedelta(days=1)).isoformat(),
            "start_time": "14:30",
            "duration_min": 90,
            "repeat": "weekly",
            "count": weeks,
        },
    )
    for session_id in created["session_ids"]:
        await known(services["volunteers"], "known_sessions", "session_id", session_id)
    return list(created["session_ids"])


async def test_the_sessions_of_a_weekly_group_rotate_among_the_volunteers(clients, services):
    v = clients["volunteers"]
    a = await volunteer(clients, services, "A", teams=FAMILY, courses=INDUCTION)
    b = await volunteer(clients, services, "B", teams=FAMILY, courses=INDUCTION)
    c = await volunteer(clients, services, "C", teams=FAMILY, courses=INDUCTION)
    sessions = await weekly_group(clients, services, 6)
    picks = []
    for session_id in sessions:
        await v.ok("request_volunteers", session_id=session_id, role="helper", count=1)
        [duty] = (await v.ok("qry:assignments", session_id=session_id))["assignments"]
        picks.append(duty["volunteer_id"])
    first_three = sorted([a, b, c])
    assert picks == first_three + first_three, "each takes a turn, none gets every session"


async def test_a_coordinator_names_a_volunteer_checked_like_any_pick(clients, services, nc):
    v = clients["volunteers"]
    day = today() + timedelta(days=4)
    trained = await volunteer(clients, services, "Trained", teams=FAMILY, courses=INDUCTION)
    untrained = await volunteer(clients, services, "Untrained", teams=FAMILY)
    weekends_only = await volunteer(
        clients,
        services,
        "Weekends",
        teams=FAMILY,
        courses=INDUCTION,
        weekdays=range(5, 7) if day.weekday() < 5 else range(5),
    )
    session = await session_on(clients, services, day, "14:30")
    overlapping = await session_on(
        clients, services, day, "15:00", venue="Room 2", facilitators=["sw-chan"]
    )
    for who, reason in ((untrained, "not_trained"), (weekends_only, "not_available")):
        refused = await v.cmd("assign_volunteer", session_id=session, volunteer_id=who, role="cook")
        assert refused.error.code == "not_allowed"
        assert [(d.field, d.message) for d in refused.error.details] == [("volunteer_id", reason)]
    skills = await v.cmd(
        "assign_volunteer",
        session_id=session,
        volunteer_id=trained,
        role="cook",
        skills=["cooking"],
    )
    assert skills.error.details[0].message == "missing_skills"

    named = await v.ok("assign_volunteer", session_id=session, volunteer_id=trained, role="cook")
    duties = (await v.ok("qry:assignments", session_id=session))["assignments"]
    assert [(d["assignment_id"], d["volunteer_id"]) for d in duties] == [
        (named["assignment_id"], trained)
    ]
    clash = await v.cmd(
        "assign_volunteer", session_id=overlapping, volunteer_id=trained, role="cook"
    )
    assert clash.error.details[0].message == "already_booked"
    again = await v.cmd("assign_volunteer", session_id=session, volunteer_id=trained, role="cook")
    assert again.error.details[0].message == "already_booked"
    assert (await v.ok("qry:assignments", session_id=overlapping))["assignments"] == []
    [made] = await eventually(lambda: _events(nc, "volunteers.assignment.made"))
    assert made["chosen_by_coordinator"] is True and made["volunteer_id"] == trained


async def test_an_inactive_volunteer_is_never_picked_nor_named_until_active_again(
    clients, services, nc
):
    v = clients["volunteers"]
    resting = await volunteer(clients, services, "Resting", teams=FAMILY, courses=INDUCTION)
    session = await session_on(clients, services, today() + timedelta(days=3))
    await v.ok("deactivate_volunteer", volunteer_id=resting, reason="on_leave")
    assert (await v.cmd("deactivate_volunteer", volunteer_id=resting)).error.code == "conflict"
    assert (await v.ok("qry:volunteer", volunteer_id=resting))["active"] is False
    picked = await v.ok("request_volunteers", session_id=session, role="helper", count=1)
    assert picked["missing"] == 1 and picked["passed_over"] == {"inactive": 1}
    named = await v.cmd("assign_volunteer", session_id=session, volunteer_id=resting, role="cook")
    assert named.error.details[0].message == "inactive"

    await v.ok("reactivate_volunteer", volunteer_id=resting)
    again = await v.ok("request_volunteers", session_id=session, role="helper", count=1)
    assert again["missing"] == 0
    kinds = [
        k
        for k in ("volunteers.volunteer.deactivated", "volunteers.volunteer.reactivated")
        if await eventually(lambda k=k: _events(nc, k))
    ]
    assert len(kinds) == 2


async def test_a_centres_volunteers_serve_its_street_programmes_and_not_the_other_way(
    nc, clients, services
):
    v = clients["volunteers"]
    centre = await volunteer(clients, services, "Centre", teams=FAMILY, courses=INDUCTION)
    street = ServiceClient(nc, "volunteers", "nanyuan")
    street_groups = ServiceClient(nc, "groups", "nanyuan")
    day = today() + timedelta(days=5)
    at_nanyuan = (
        await street_groups.ok(
            "create_programme",
            title="Street outreach",
            type="community_event",
            capacity=0,
            facilitators=["sw-ng"],
            venue="Nanyuan street",
            schedule={"first_date": day.isoformat(), "start_time": "10:00", "duration_min": 60},
        )
    )["session_ids"][0]
    await known(services["volunteers"], "known_sessions", "session_id", at_nanyuan)
    await street.ok("request_volunteers", session_id=at_nanyuan, role="helper", count=1)
    [duty] = (await street.ok("qry:assignments", session_id=at_nanyuan))["assignments"]
    assert duty["volunteer_id"] == centre

    # A street programme's own volunteer does not serve the centre above it.
    person_id = (
        await ServiceClient(nc, "intake", "nanyuan").ok(
            "register_person", preferred_name="Street volunteer", roles=["volunteer"]
        )
    )["person_id"]
    await known(services["volunteers"], "known_people", "person_id", person_id)
    streets_own = (
        await street.ok("register_volunteer", person_id=person_id, teams=["clubhouse_unit"])
    )["volunteer_id"]
    await street.ok(
        "set_availability",
        volunteer_id=streets_own,
        slots=[{"weekday": d, "start": "08:00", "end": "22:00"} for d in range(7)],
    )
    at_centre = await session_on(clients, services, day, "14:30")
    refused = await v.cmd(
        "assign_volunteer", session_id=at_centre, volunteer_id=streets_own, role="helper"
    )
    assert refused.error.code == "not_found"
