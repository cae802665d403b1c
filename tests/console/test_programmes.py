"""Programmes and waitlists, through the real intake and groups services."""

from __future__ import annotations

import re
from typing import Any

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from tests.conftest import ServiceClient
from tests.console.conftest import post_form, sign_in
from tests.groups.conftest import day, programme, registered


async def _two_places(nc, start_service) -> dict[str, Any]:
    """A weekly group with two places, and three carers registered."""
    await start_service(("intake", build_intake))
    groups = await start_service(("groups", build_groups))
    intake_staff = ServiceClient(nc, "intake", "likang")
    staff = ServiceClient(nc, "groups", "likang", "sw-lee")
    people = [
        await registered(intake_staff, groups, name, ["family_carer"])
        for name in ("Ah Fong", "Ah Kit", "Ah Lan")
    ]
    created = await staff.ok(
        "create_programme",
        **programme(
            capacity=2,
            schedule={
                "first_date": day(1),
                "start_time": "10:00",
                "duration_min": 60,
                "repeat": "weekly",
                "count": 2,
            },
        ),
    )
    return {"staff": staff, "people": people, "programme": created["programme_id"]}


async def test_enrol_by_name_fills_the_places_then_the_waitlist(
    browser, add_user, nc, start_service
):
    setup = await _two_places(nc, start_service)
    staff, (fong, kit, lan), pid = setup["staff"], setup["people"], setup["programme"]
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = f"/programmes/{pid}"
    for name, person in (("Ah Fong", fong), ("Ah Kit", kit), ("Ah Lan", lan)):
        found = await browser.get(page, params={"text": name})
        assert f'data-found="{person}"' in found.text
        done = await post_form(
            browser, f"{page}?text={name}", f"{page}/enrol", {"person_id": person, "text": name}
        )
        assert done.status_code == 303, done.text
    assert done.headers["location"].endswith("done=waitlisted")
    shown = await browser.get(page)
    assert "Put on the waitlist" not in shown.text
    assert re.search(r"data-places>2 / 2<", shown.text)
    assert f'data-waiting="{lan}"' in shown.text and "Ah Lan" in shown.text
    assert f'data-enrolled="{fong}"' in shown.text and f'data-enrolled="{kit}"' in shown.text
    listed = await browser.get("/programmes")
    assert re.search(r"<td>2 / 2</td>\s*<td>1</td>", listed.text)
    # Withdrawing one enrolled promotes the first waiting.
    enrolment = re.search(
        rf'data-enrolled="{fong}">.*?name="enrollment_id" value="([^"]+)"', shown.text, re.S
    )
    assert enrolment is not None
    out = await post_form(browser, page, f"{page}/withdraw", {"enrollment_id": enrolment[1]})
    assert out.status_code == 303
    assert (await staff.ok("qry:waitlist", programme_id=pid))["waitlist"] == []
    # More places, more sessions.
    assert (
        await post_form(browser, page, f"{page}/capacity", {"capacity": "5"})
    ).status_code == 303
    assert (await post_form(browser, page, f"{page}/extend", {"count": "2"})).status_code == 303
    after = await staff.ok("qry:programme", programme_id=pid)
    assert (after["capacity"], len(after["sessions"])) == (5, 4)


async def test_a_refused_change_of_places_is_shown_beside_it_and_kept(
    browser, add_user, nc, start_service
):
    setup = await _two_places(nc, start_service)
    pid = setup["programme"]
    await setup["staff"].ok("enrol", programme_id=pid, person_id=setup["people"][0])
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = f"/programmes/{pid}"
    refused = await post_form(browser, page, f"{page}/capacity", {"capacity": "0"})
    assert refused.status_code == 200
    assert re.search(
        r'id="capacity-error">1 enrolled and 0 waiting: withdraw them first', refused.text
    )
    assert 'name="capacity" type="text" value="0"' in refused.text
    again = await post_form(browser, page, f"{page}/enrol", {"person_id": setup["people"][0]})
    assert re.search(r'id="person_id-error">This person is already enrolled', again.text)
    assert (await setup["staff"].ok("qry:programme", programme_id=pid))["capacity"] == 2


async def test_a_coordinator_sees_programmes_without_names_or_enrolling(
    browser, add_user, nc, start_service
):
    setup = await _two_places(nc, start_service)
    await add_user("vc-ho", ["volunteer_coordinator"])
    await sign_in(browser, "vc-ho")
    listed = await browser.get("/programmes")
    assert listed.status_code == 200 and "Family support group" in listed.text
    shown = await browser.get(f"/programmes/{setup['programme']}")
    assert shown.status_code == 200
    assert "Enrol a person" not in shown.text and "Ah Fong" not in shown.text
    refused = await post_form(
        browser,
        f"/programmes/{setup['programme']}",
        f"/programmes/{setup['programme']}/enrol",
        {"person_id": setup["people"][0]},
    )
    assert refused.status_code == 403


async def test_an_analyst_neither_sees_nor_opens_programmes(browser, add_user):
    await add_user("an-chan", ["analyst"], sites=("*",))
    await sign_in(browser, "an-chan")
    assert 'href="/programmes"' not in (await browser.get("/")).text
    assert (await browser.get("/programmes")).status_code == 403
