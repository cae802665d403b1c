"""The week's programme calendar and planning, through the real groups service."""

from __future__ import annotations

import re
from datetime import date, timedelta

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from tests.conftest import ServiceClient
from tests.console.conftest import post_form, sign_in
from tests.groups.conftest import programme, today

NEW = "/calendar/programmes/new"


def _monday(offset_weeks: int = 1) -> date:
    return today() - timedelta(days=today().weekday()) + timedelta(weeks=offset_weeks)


def _group(**overrides: str) -> dict[str, object]:
    """The create-a-programme form as a worker fills it: a weekly group from next Tuesday."""
    return {
        "title": "Carers' circle",
        "type": "support_group",
        "capacity": "10",
        "target_roles": ["family_carer"],
        "venue": "Activity room 1",
        "facilitators": "sw-lee, sw-ho",
        "tags": "carer_support",
        "first_date": str(_monday() + timedelta(days=1)),
        "start_time": "14:30",
        "duration_min": "90",
        "repeat": "weekly",
        "count": "3",
        **overrides,
    }


async def _services(start_service) -> None:
    await start_service(("intake", build_intake))
    await start_service(("groups", build_groups))


async def test_a_programme_created_shows_in_its_weeks(browser, add_user, nc, start_service):
    await _services(start_service)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    assert 'href="/calendar"' in (await browser.get("/")).text
    done = await post_form(browser, NEW, NEW, _group())
    assert done.status_code == 303, done.text
    week = await browser.get(done.headers["location"])
    assert week.status_code == 200
    assert "Carers&#39; circle" in week.text
    assert "14:30" in week.text and "Activity room 1" in week.text and "sw-lee, sw-ho" in week.text
    assert week.text.count("data-session=") == 1
    # Next and previous weeks.
    monday = _monday()
    assert f'href="/calendar?week={monday + timedelta(days=7)}"' in week.text
    following = await browser.get("/calendar", params={"week": str(monday + timedelta(days=9))})
    assert following.text.count("data-session=") == 1
    before = await browser.get("/calendar", params={"week": str(monday - timedelta(days=7))})
    assert "data-session=" not in before.text
    listed = await ServiceClient(nc, "groups", "likang").ok(
        "qry:calendar", **{"from": str(monday), "to": str(monday + timedelta(days=20))}
    )
    assert [s["date"] for s in listed["sessions"]] == [
        str(monday + timedelta(days=1 + 7 * i)) for i in range(3)
    ]


async def test_a_clash_is_explained_beside_the_venue_and_facilitators(
    browser, add_user, nc, start_service
):
    await _services(start_service)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    assert (await post_form(browser, NEW, NEW, _group())).status_code == 303
    clash = _group(title="Family talk", count="1", repeat="once", facilitators="sw-ho")
    refused = await post_form(browser, NEW, NEW, clash)
    assert refused.status_code == 200
    assert "This clashes with another session" in refused.text
    assert re.search(
        r'id="venue-error">Activity room 1 is already booked on [^<]+ at 14:30 for '
        r"Carers&#39; circle\.",
        refused.text,
    )
    assert re.search(
        r'id="facilitators-error">sw-ho is already facilitating Carers&#39; circle on', refused.text
    )
    assert 'name="title" type="text" value="Family talk"' in refused.text  # nothing typed lost
    assert 'name="facilitators" type="text" value="sw-ho"' in refused.text


async def test_a_session_added_moved_and_cancelled(browser, add_user, nc, start_service):
    await _services(start_service)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    staff = ServiceClient(nc, "groups", "likang")
    talk = await staff.ok(
        "create_programme",
        **programme(
            title="Talk on sleep",
            venue="Hall",
            facilitators=["sw-chan"],
            schedule={"first_date": str(_monday()), "start_time": "19:00", "duration_min": 60},
        ),
    )
    added = await post_form(
        browser,
        "/calendar/sessions/new",
        "/calendar/sessions/new",
        {
            "programme_id": talk["programme_id"],
            "date": str(_monday() + timedelta(days=2)),
            "start_time": "19:00",
        },
    )
    assert added.status_code == 303, added.text
    week = await browser.get(added.headers["location"])
    assert week.text.count("data-session=") == 2
    first = talk["session_ids"][0]
    change = f"/calendar/sessions/{first}?week={_monday()}"
    moved = await post_form(
        browser,
        change,
        f"/calendar/sessions/{first}/move",
        {"date": str(_monday() + timedelta(days=3)), "start_time": "18:00", "week": str(_monday())},
    )
    assert moved.status_code == 303, moved.text
    # Moving onto the other session's hall and hour is refused, explained, and kept.
    clash = await post_form(
        browser,
        change,
        f"/calendar/sessions/{first}/move",
        {"date": str(_monday() + timedelta(days=2)), "start_time": "19:30", "week": str(_monday())},
    )
    assert clash.status_code == 200
    assert re.search(
        r'id="venue-error">Hall is already booked on [^<]+ at 19:00 for Talk', clash.text
    )
    assert 'name="start_time" type="time" value="19:30"' in clash.text
    cancelled = await post_form(
        browser,
        change,
        f"/calendar/sessions/{first}/cancel",
        {"reason": "Speaker unwell", "week": str(_monday())},
    )
    assert cancelled.status_code == 303
    week = await browser.get("/calendar", params={"week": str(_monday())})
    assert "session cancelled" in week.text and "Cancelled" in week.text
    listed = await staff.ok(
        "qry:calendar", **{"from": str(_monday()), "to": str(_monday() + timedelta(days=6))}
    )
    assert sorted((s["date"], s["start_time"], s["status"]) for s in listed["sessions"]) == [
        (str(_monday() + timedelta(days=2)), "19:00", "scheduled"),
        (str(_monday() + timedelta(days=3)), "18:00", "cancelled"),
    ]


async def test_a_refusal_is_shown_beside_the_schedule_fields(browser, add_user, start_service):
    await _services(start_service)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    refused = await post_form(
        browser,
        NEW,
        NEW,
        _group(first_date="next tuesday", duration_min="2", capacity="", tags="Carer support"),
    )
    assert refused.status_code == 200
    assert re.search(r'id="first_date-error">Enter a date', refused.text)
    assert re.search(r'id="duration_min-error">At least 5', refused.text)
    assert re.search(r'id="capacity-error">This is required', refused.text)
    assert re.search(r'id="tags-error">Tag Carer support: use small letters', refused.text)
    assert 'value="next tuesday"' in refused.text and 'value="Carer support"' in refused.text


async def test_an_analyst_neither_sees_nor_opens_the_calendar(browser, add_user):
    await add_user("an-chan", ["analyst"], sites=("*",))
    await sign_in(browser, "an-chan")
    assert 'href="/calendar"' not in (await browser.get("/")).text
    assert (await browser.get("/calendar")).status_code == 403
    assert (await post_form(browser, "/", NEW, _group())).status_code == 403


async def test_a_coordinator_sees_the_calendar_but_does_not_plan(
    browser, add_user, nc, start_service
):
    await _services(start_service)
    await ServiceClient(nc, "groups", "likang").ok(
        "create_programme",
        **programme(
            schedule={"first_date": str(today()), "start_time": "09:00", "duration_min": 60}
        ),
    )
    await add_user("vc-ho", ["volunteer_coordinator"])
    await sign_in(browser, "vc-ho")
    week = await browser.get("/calendar")
    assert week.status_code == 200 and 'href="/calendar"' in week.text
    assert week.text.count("data-session=") == 1
    assert "Create a programme" not in week.text and "Move or cancel" not in week.text
    assert 'href="/sessions/' not in week.text  # taking attendance is casework's
    assert (await browser.get(NEW)).status_code == 403


async def test_a_clash_is_explained_in_the_users_language(browser, add_user, start_service):
    await _services(start_service)
    await add_user("sw-lee", ["social_worker"], language="zh_Hant")
    await sign_in(browser, "sw-lee")
    assert (await post_form(browser, NEW, NEW, _group())).status_code == 303
    refused = await post_form(browser, NEW, NEW, _group(title="家屬講座", repeat="once", count="1"))
    assert "與另一節活動時間衝突" in refused.text
    assert re.search(r'id="venue-error">Activity room 1 已於 [^<]+ 14:30 預訂給「', refused.text)
    assert 'value="家屬講座"' in refused.text
