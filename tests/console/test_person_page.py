"""A person's page, through the real intake (and groups) services."""

from __future__ import annotations

import re
from uuid import uuid4

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from tests.conftest import ServiceClient
from tests.console.conftest import post_form, sign_in
from tests.groups.conftest import day, known_to_groups, programme
from tests.intake.conftest import FAST_HANDOFFS


@pytest.fixture
async def intake(start_service):
    return await start_service(("intake", build_intake), **FAST_HANDOFFS)


@pytest.fixture
def worker(nc, intake) -> ServiceClient:
    """Intake as another worker at Likang sees it: to set up and to check what was saved."""
    return ServiceClient(nc, "intake", "likang")


async def _person(worker: ServiceClient, name: str, roles: list[str], **more: object) -> str:
    found = await worker.ok("register_person", preferred_name=name, roles=roles, **more)
    return str(found["person_id"])


async def _with_case(worker: ServiceClient, person: str, worker_id: str = "sw-lee") -> str:
    await worker.ok("record_consent", person_id=person, purpose="service", given=True)
    opened = await worker.ok("open_case", person_id=person, worker_id=worker_id)
    return str(opened["case_id"])


async def test_the_page_shows_what_intake_and_groups_hold(
    browser, add_user, worker, start_service, nc
):
    groups = await start_service(("groups", build_groups))
    mum = await _person(worker, "陳太", ["family_carer"], phone="+852 6000 2222")
    son = await _person(worker, "Ah Keung", ["person_in_recovery"])
    await worker.ok("link_carer", carer_id=mum, cared_for_id=son, relationship="parent")
    case = await _with_case(worker, mum)
    await worker.ok("add_case_note", case_id=case, text="Home visit: worried about sleep.")
    goal = await worker.ok("set_goal", case_id=case, text="Sleep through the night")
    await worker.ok("review_goal", goal_id=goal["goal_id"], progress="on_track", note="Better")
    await worker.ok(
        "record_assessment",
        person_id=mum,
        instrument="k6",
        timepoint="baseline",
        answers=[3, 3, 3, 2, 2, 2],
        on=day(-40),
    )
    await worker.ok(
        "record_assessment",
        person_id=mum,
        instrument="k6",
        timepoint="post",
        answers=[1, 1, 1, 1, 0, 0],
    )
    await known_to_groups(groups, mum)
    group_staff = ServiceClient(nc, "groups", "likang")
    group = await group_staff.ok("create_programme", **programme())
    await group_staff.ok("enrol", programme_id=group["programme_id"], person_id=mum, on=day(-30))
    await group_staff.ok("record_attendance", session_id=group["session_ids"][0], present=[mum])

    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = await browser.get(f"/people/{mum}")
    assert page.status_code == 200, page.text
    html = page.text
    assert "陳太" in html and "+852 6000 2222" in html and "Family carer" in html
    assert f'href="/people/{son}">Ah Keung</a> (Parent)' in html
    assert re.search(r'data-consent="service"><td>Receiving services</td><td>Given<', html)
    assert "given (worker-1)" in html
    assert f'data-case="{case}"' in html and "Home visit: worried about sleep." in html
    assert "Sleep through the night" in html and "On track, Better" in html
    assert 'data-instrument="k6"' in html and "<polyline" in html
    assert ">15 Baseline</text>" in html and ">4 End of service</text>" in html
    assert f'action="/people/{mum}/goals/{goal["goal_id"]}/review"' in html
    assert f'action="/people/{mum}/goals/{goal["goal_id"]}/end"' in html
    assert "Family support group (家属小组)" in html and "Present" in html
    assert f'action="/people/{mum}/cases"' not in html  # a case is open already
    son_page = await browser.get(f"/people/{son}")
    assert f'href="/people/{mum}">陳太</a> (Parent)' in son_page.text
    assert f'action="/people/{son}/cases"' in son_page.text


async def test_each_form_changes_what_intake_holds(browser, add_user, worker):
    mum = await _person(worker, "陳太", ["family_carer"])
    son = await _person(worker, "Ah Keung", ["person_in_recovery"])
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = f"/people/{son}"
    unknown = await browser.get(f"/people/{uuid4()}")
    assert unknown.status_code == 404 and "could not be found" in unknown.text

    async def send(path: str, data: dict) -> None:
        done = await post_form(browser, page, f"{page}{path}", data)
        assert done.status_code == 303, done.text
        assert done.headers["location"].startswith(page)

    await send("/consent", {"purpose": "service", "given": "true"})
    await send("/consent", {"purpose": "data_sharing", "given": "false"})
    consent = await worker.ok("qry:consent", person_id=son)
    assert consent["current"]["service"] is True and len(consent["history"]) == 2

    await send("/cases", {"worker_id": "sw-lee"})
    cases = (await worker.ok("qry:person", person_id=son))["cases"]
    assert [(c["status"], c["worker_id"]) for c in cases] == [("open", "sw-lee")]
    case = cases[0]["case_id"]

    await send(f"/cases/{case}/notes", {"text": "First meeting at the centre."})
    await send(f"/cases/{case}/goals", {"text": "Join a group"})
    goal = (await worker.ok("qry:case_record", case_id=case))["goals"][0]["goal_id"]
    await send(f"/goals/{goal}/review", {"progress": "some_progress", "note": "Came once"})
    await send(f"/goals/{goal}/end", {"outcome": "met", "note": "Comes weekly"})
    record = await worker.ok("qry:case_record", case_id=case)
    assert [n["text"] for n in record["notes"]] == ["First meeting at the centre."]
    assert record["goals"][0]["status"] == "met"
    assert [r["progress"] for r in record["goals"][0]["reviews"]] == ["some_progress"]

    answers = {f"item_{n}": "1" for n in range(1, 10)}
    await send("/assessments", {"instrument": "phq9", "timepoint": "baseline", **answers})
    assessed = (await worker.ok("qry:assessments", person_id=son))["assessments"]
    assert [(a["instrument"], a["score"], a["safety_followup"]) for a in assessed] == [
        ("phq9", 9.0, True)
    ]
    shown = await browser.get(page)
    assert f'data-followup="{assessed[0]["assessment_id"]}"' in shown.text
    await send(f"/followups/{assessed[0]['assessment_id']}", {"note": "Phoned, safe tonight"})
    assert (await worker.ok("qry:safety_followups"))["followups"] == []

    found = await browser.get(page, params={"carer_text": "陳太"})
    assert f'data-candidate="{mum}"' in found.text
    await send("/carers", {"other_id": mum, "side": "carer", "relationship": "parent"})
    assert (await worker.ok("qry:person", person_id=son))["carers"] == [
        {"person_id": mum, "relationship": "parent"}
    ]

    await send(
        "/edit",
        {"preferred_name": "Keung", "roles": ["person_in_recovery"], "phone": "+852 6000 3333"},
    )
    corrected = await worker.ok("qry:person", person_id=son)
    assert corrected["preferred_name"] == "Keung" and corrected["phone"] == "+852 6000 3333"


async def test_a_refusal_is_shown_beside_its_field_and_what_was_typed_is_kept(
    browser, add_user, worker
):
    son = await _person(worker, "Ah Keung", ["person_in_recovery"])
    case = await _with_case(worker, son)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = f"/people/{son}"
    typed = {"preferred_name": "Keung", "roles": ["person_in_recovery"], "phone": "call me"}
    refused = await post_form(browser, page, f"{page}/edit", typed)
    assert refused.status_code == 200
    assert "Please check the fields marked below." in refused.text
    assert re.search(r'id="phone-error">This is not in the expected form\.<', refused.text)
    assert 'name="phone" type="text" value="call me"' in refused.text
    assert 'name="preferred_name" type="text" value="Keung"' in refused.text
    assert (await worker.ok("qry:person", person_id=son))["preferred_name"] == "Ah Keung"

    half = {"instrument": "k6", "timepoint": "baseline", "item_1": "2", "item_2": "3"}
    refused = await post_form(browser, page, f"{page}/assessments", half)
    for item in (3, 4, 5, 6):
        assert f'id="k6-item_{item}-error">Answer this question.<' in refused.text
    assert "k6-item_1-error" not in refused.text
    assert re.search(r'name="item_2" value="3" checked', refused.text)
    assert (await worker.ok("qry:assessments", person_id=son))["assessments"] == []

    blank = await post_form(browser, page, f"{page}/cases/{case}/notes", {"text": ""})
    assert f'id="note-{case}-text-error">This is required.<' in blank.text


async def test_a_field_emptied_in_the_correction_form_is_cleared_and_the_rest_kept(
    browser, add_user, worker
):
    mum = await _person(
        worker, "陳太", ["family_carer"], phone="+852 6000 2222", address="Flat 3, Likang"
    )
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = f"/people/{mum}"
    shown = (await browser.get(page)).text
    had = re.findall(r'<input type="hidden" name="had" value="(\w+)">', shown)
    assert sorted(had) == ["address", "phone"]  # what the form will clear if emptied
    emptied = {"preferred_name": "陳太", "roles": ["family_carer"], "phone": "", "had": had}
    emptied["address"] = "Flat 3, Likang"
    saved = await post_form(browser, page, f"{page}/edit", emptied)
    assert saved.status_code == 303  # saved: back to the person's page
    person = await worker.ok("qry:person", person_id=mum)
    assert (person.get("phone"), person["address"]) == (None, "Flat 3, Likang")


async def test_an_analyst_cannot_open_a_persons_page(browser, add_user, worker):
    son = await _person(worker, "Ah Keung", ["person_in_recovery"])
    await add_user("an-chan", ["analyst"], sites=("*",))
    await sign_in(browser, "an-chan")
    assert (await browser.get(f"/people/{son}")).status_code == 403
    refused = await post_form(
        browser, "/", f"/people/{son}/consent", {"purpose": "service", "given": "true"}
    )
    assert refused.status_code == 403
    assert (await worker.ok("qry:consent", person_id=son))["history"] == []
