"""Lists for the staff console: a site's programmes, and a programme's waitlist (ids only)."""

from __future__ import annotations

from tests.conftest import ServiceClient
from tests.groups.conftest import day, programme, registered
from tests.identity import token_for


def as_(staff: ServiceClient, site: str, role: str, sites: list[str]) -> ServiceClient:
    return ServiceClient(
        staff.nc,
        "groups",
        site,
        f"{role}-1",
        token=token_for(f"{role}-1", roles=[role], sites=sites),
    )


async def test_a_sites_programmes_with_places_taken_and_session_dates(staff, intake_staff, groups):
    carers = [await registered(intake_staff, groups, n, ["family_carer"]) for n in ("A", "B")]
    group = await staff.ok("create_programme", **programme(capacity=1))  # weekly, day(-28) on
    for person in carers:
        await staff.ok("enrol", programme_id=group["programme_id"], person_id=person)
    await staff.ok("cancel_session", session_id=group["session_ids"][-1], reason="Holiday")
    talk = await staff.ok(
        "create_programme",
        **programme(
            title="A talk on sleep",
            type="psychoeducation_talk",
            capacity=0,
            target_roles=[],
            schedule={"first_date": day(-7), "start_time": "19:00", "duration_min": 60},
        ),
    )
    outing = await staff.ok(
        "create_programme",
        site="nanyuan",
        **programme(
            title="Outing to the park",
            type="outing",
            capacity=20,
            requires_case=True,
            facilitators=["sw-ng"],
            venue="Nanyuan park",
            schedule={"first_date": day(3), "start_time": "10:00", "duration_min": 120},
        ),
    )
    coordinator = as_(staff, "likang", "volunteer_coordinator", ["likang"])

    listed = (await coordinator.ok("qry:programmes"))["programmes"]
    assert [(p["programme_id"], p["site"]) for p in listed] == [
        (group["programme_id"], "likang"),
        (outing["programme_id"], "nanyuan"),
    ]
    first, second = listed
    assert first == {
        "programme_id": group["programme_id"],
        "site": "likang",
        "title": "Family support group (家属小组)",
        "type": "support_group",
        "target_roles": ["family_carer"],
        "capacity": 1,
        "requires_case": False,
        "venue": "Activity room 1",
        "facilitators": ["sw-lee"],
        "enrolled": 1,
        "waitlisted": 1,
        "first_session": day(-28),
        "last_session": day(14),  # the last, day(21), was cancelled
        "next_session": day(0),
    }
    assert (second["requires_case"], second["enrolled"], second["waitlisted"]) == (True, 0, 0)
    assert (second["first_session"], second["next_session"]) == (day(3), day(3))

    everything = (await coordinator.ok("qry:programmes", include_ended=True))["programmes"]
    assert [p["programme_id"] for p in everything] == [
        talk["programme_id"],
        group["programme_id"],
        outing["programme_id"],
    ]
    assert everything[0]["next_session"] is None and everything[0]["last_session"] == day(-7)

    # The street programme's staff see theirs only; another centre's see none of these.
    street = as_(staff, "nanyuan", "social_worker", ["nanyuan"])
    assert [p["programme_id"] for p in (await street.ok("qry:programmes"))["programmes"]] == [
        outing["programme_id"]
    ]
    refused = await as_(staff, "likang", "social_worker", ["nanyuan"]).qry("programmes")
    assert refused.error is not None and refused.error.code == "forbidden"
    elsewhere = as_(staff, "icmhc", "centre_manager", ["icmhc"])
    assert (await elsewhere.ok("qry:programmes", include_ended=True))["programmes"] == []


async def test_a_programmes_waitlist_in_promotion_order(staff, intake_staff, groups):
    a, b, c = [await registered(intake_staff, groups, n, ["family_carer"]) for n in "ABC"]
    group = await staff.ok("create_programme", **programme(capacity=1))
    programme_id = group["programme_id"]
    first = await staff.ok("enrol", programme_id=programme_id, person_id=a, on=day(-5))
    waiting = [
        await staff.ok("enrol", programme_id=programme_id, person_id=person, on=on)
        for person, on in ((b, day(-4)), (c, day(-2)))
    ]
    worker = as_(staff, "likang", "social_worker", ["likang"])

    listed = await worker.ok("qry:waitlist", programme_id=programme_id)
    assert listed == {
        "programme_id": programme_id,
        "waitlist": [
            {"enrollment_id": waiting[0]["enrollment_id"], "person_id": b, "since": day(-4)},
            {"enrollment_id": waiting[1]["enrollment_id"], "person_id": c, "since": day(-2)},
        ],
    }
    await staff.ok("withdraw", enrollment_id=first["enrollment_id"])
    promoted = await worker.ok("qry:waitlist", programme_id=programme_id)
    assert [w["person_id"] for w in promoted["waitlist"]] == [c]

    # Kept at the centre: a child site's staff do not learn it exists; coordinators may not ask.
    child = as_(staff, "jinsha", "centre_manager", ["jinsha"])
    unseen = await child.qry("waitlist", programme_id=programme_id)
    assert unseen.error is not None and unseen.error.code == "not_found"
    coordinator = as_(staff, "likang", "volunteer_coordinator", ["likang"])
    refused = await coordinator.qry("waitlist", programme_id=programme_id)
    assert refused.error is not None and refused.error.code == "forbidden"
