"""A session's roster: one tap per person (htmx, and plain form posts), drop-ins, walk-ins and
corrections, through the real intake and groups services."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from tests.conftest import ServiceClient
from tests.console.conftest import csrf_in, post_form, sign_in
from tests.groups.conftest import day, programme, registered


async def _a_session_today(nc, start_service, **overrides: Any) -> dict[str, Any]:
    """intake and groups running; a programme meeting today with Ah Fong enrolled."""
    await start_service(("intake", build_intake))
    groups = await start_service(("groups", build_groups))
    intake_staff = ServiceClient(nc, "intake", "likang")
    staff = ServiceClient(nc, "groups", "likang", "sw-lee")
    fong = await registered(intake_staff, groups, "Ah Fong", ["family_carer"])
    created = await staff.ok(
        "create_programme",
        **programme(
            schedule={"first_date": day(0), "start_time": "10:00", "duration_min": 60},
            **overrides,
        ),
    )
    await staff.ok("enrol", programme_id=created["programme_id"], person_id=fong)
    return {
        "groups": groups,
        "intake_staff": intake_staff,
        "staff": staff,
        "fong": fong,
        "session": created["session_ids"][0],
    }


async def _roster(staff: ServiceClient, session: str) -> dict[str, Any]:
    return await staff.ok("qry:roster", session_id=session)


def _marked(roster: dict[str, Any], person: str) -> str | None:
    return next(p["attendance"] for p in roster["people"] if p["person_id"] == person)


async def _tap(browser: httpx.AsyncClient, session: str, path: str, **data: str) -> httpx.Response:
    """A tap through htmx: the CSRF token in the header, as base.html sends it."""
    page = await browser.get(f"/sessions/{session}")
    return await browser.post(
        f"/sessions/{session}/{path}",
        data=data,
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_in(page.text)},
    )


def _pressed(html: str, mark: str) -> bool:
    return bool(re.search(rf'class="toggle {mark}" aria-pressed="true"', html))


async def test_one_tap_marks_present_and_tapping_again_corrects_it(
    browser, add_user, nc, start_service
):
    setup = await _a_session_today(nc, start_service)
    session, fong, staff = setup["session"], setup["fong"], setup["staff"]
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")

    page = await browser.get(f"/sessions/{session}")
    assert page.status_code == 200
    assert "Ah Fong" in page.text and "Family support group" in page.text
    assert f'data-person="{fong}" data-attendance="unmarked"' in page.text
    assert 'hx-post="/sessions/' in page.text

    tapped = await _tap(browser, session, "mark", person_id=fong, mark="present")
    assert tapped.status_code == 200
    assert tapped.text.lstrip().startswith('<section id="roster"')  # only the roster, swapped in
    assert _pressed(tapped.text, "present") and not _pressed(tapped.text, "absent")
    assert _marked(await _roster(staff, session), fong) == "present"

    corrected = await _tap(browser, session, "mark", person_id=fong, mark="absent")
    assert _pressed(corrected.text, "absent")
    assert _marked(await _roster(staff, session), fong) == "absent"

    # The chosen mark tapped again takes it off.
    await _tap(browser, session, "mark", person_id=fong, mark="absent")
    assert _marked(await _roster(staff, session), fong) is None

    # Without JavaScript the same form posts and the page comes back.
    plain = await post_form(
        browser,
        f"/sessions/{session}",
        f"/sessions/{session}/mark",
        {"person_id": fong, "mark": "present"},
    )
    assert plain.status_code == 303 and plain.headers["location"] == f"/sessions/{session}"
    assert _marked(await _roster(staff, session), fong) == "present"


async def test_walk_ins_are_counted_up_and_down_and_keep_the_marks(
    browser, add_user, nc, start_service
):
    setup = await _a_session_today(nc, start_service)
    session, fong, staff = setup["session"], setup["fong"], setup["staff"]
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    await _tap(browser, session, "mark", person_id=fong, mark="present")
    for _ in range(2):
        more = await post_form(
            browser, f"/sessions/{session}", f"/sessions/{session}/walk-ins", {"change": "1"}
        )
        assert more.status_code == 303
    fewer = await _tap(browser, session, "walk-ins", change="-1")
    assert 'data-walk-ins="1"' in fewer.text
    roster = await _roster(staff, session)
    assert roster["walk_ins"] == 1
    assert _marked(roster, fong) == "present"


async def test_someone_found_by_name_drops_in(browser, add_user, nc, start_service):
    setup = await _a_session_today(
        nc, start_service, target_roles=[], title="Talk on caring for yourself"
    )
    session, staff = setup["session"], setup["staff"]
    neighbour = await registered(
        setup["intake_staff"], setup["groups"], "Neighbour Chan", ["community_member"]
    )
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    found = await browser.get(f"/sessions/{session}", params={"text": "Neighbour"})
    assert f'data-found="{neighbour}"' in found.text
    dropped = await _tap(browser, session, "drop-in", dropped_in=neighbour, text="Neighbour")
    assert dropped.status_code == 200
    assert "Neighbour Chan" in dropped.text and "dropped in" in dropped.text
    person = next(
        p for p in (await _roster(staff, session))["people"] if p["person_id"] == neighbour
    )
    assert (person["attendance"], person["dropped_in"]) == ("present", True)
    # Taken off again with one tap.
    await _tap(browser, session, "mark", person_id=neighbour, mark="remove")
    assert neighbour not in {p["person_id"] for p in (await _roster(staff, session))["people"]}


async def test_a_refused_drop_in_is_explained_beside_the_search_and_keeps_it(
    browser, add_user, nc, start_service
):
    setup = await _a_session_today(nc, start_service, target_roles=[], requires_case=False)
    staff = setup["staff"]
    needs_case = await staff.ok(
        "create_programme",
        **programme(
            title="Recovery group",
            target_roles=[],
            requires_case=True,
            venue="Activity room 2",
            facilitators=["sw-ho"],
            schedule={"first_date": day(0), "start_time": "15:00", "duration_min": 60},
        ),
    )
    session = needs_case["session_ids"][0]
    neighbour = await registered(
        setup["intake_staff"], setup["groups"], "Neighbour Chan", ["community_member"]
    )
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    refused = await post_form(
        browser,
        f"/sessions/{session}",
        f"/sessions/{session}/drop-in",
        {"dropped_in": neighbour, "text": "Neighbour"},
    )
    assert refused.status_code == 200
    assert re.search(
        r'id="dropped_in-error">This programme needs an open case and an enrolment', refused.text
    )
    assert 'id="text" name="text" value="Neighbour"' in refused.text
    assert f'data-found="{neighbour}"' in refused.text
    assert (await _roster(staff, session))["people"] == []


async def test_a_coordinator_may_not_take_attendance(browser, add_user, nc, start_service):
    setup = await _a_session_today(nc, start_service)
    await add_user("vc-ho", ["volunteer_coordinator"])
    await sign_in(browser, "vc-ho")
    home = await browser.get("/")
    assert 'href="/sessions' not in home.text
    assert (await browser.get(f"/sessions/{setup['session']}")).status_code == 403
    refused = await post_form(
        browser,
        "/",
        f"/sessions/{setup['session']}/mark",
        {"person_id": setup["fong"], "mark": "present"},
    )
    assert refused.status_code == 403
    assert _marked(await _roster(setup["staff"], setup["session"]), setup["fong"]) is None


async def test_a_refused_tap_says_why_and_changes_nothing(browser, add_user, nc, start_service):
    setup = await _a_session_today(nc, start_service)
    staff, fong = setup["staff"], setup["fong"]
    later = await staff.ok(
        "schedule_session",
        programme_id=(await staff.ok("qry:calendar", **{"from": day(0), "to": day(0)}))["sessions"][
            0
        ]["programme_id"],
        date=day(7),
        start_time="10:00",
    )
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    refused = await _tap(browser, later["session_id"], "mark", person_id=fong, mark="present")
    assert refused.status_code == 200
    assert 'class="problem"' in refused.text
    assert "Attendance is taken on or after the session&#39;s day" in refused.text
    assert _marked(await _roster(staff, later["session_id"]), fong) is None


async def test_quick_taps_on_two_people_both_count(browser, add_user, nc, start_service):
    setup = await _a_session_today(nc, start_service)
    staff, fong, session = setup["staff"], setup["fong"], setup["session"]
    kit = await registered(setup["intake_staff"], setup["groups"], "Ah Kit", ["family_carer"])
    programme_id = (await staff.ok("qry:calendar", **{"from": day(0), "to": day(0)}))["sessions"][
        0
    ]["programme_id"]
    await staff.ok("enrol", programme_id=programme_id, person_id=kit)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = await browser.get(f"/sessions/{session}")
    headers = {"HX-Request": "true", "X-CSRF-Token": csrf_in(page.text)}
    await asyncio.gather(
        *(
            browser.post(
                f"/sessions/{session}/mark",
                data={"person_id": person, "mark": "present"},
                headers=headers,
            )
            for person in (fong, kit)
        )
    )
    roster = await _roster(staff, session)
    assert (_marked(roster, fong), _marked(roster, kit)) == ("present", "present")
