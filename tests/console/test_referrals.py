"""The referral inbox and my caseload, through the real intake service."""

from __future__ import annotations

import re

import pytest

from services.intake.app import build as build_intake
from tests.conftest import ServiceClient
from tests.console.conftest import post_form, sign_in
from tests.groups.conftest import day
from tests.intake.conftest import FAST_HANDOFFS

ANSWERS = {
    "item_safety_now": "0",
    "item_distressing_events": "2",
    "item_reminders": "2",
    "item_daily_needs": "1",
    "item_carer_strain": "0",
    "item_support_network": "1",
    "item_care_access": "0",
}


@pytest.fixture
async def intake(start_service):
    return await start_service(("intake", build_intake), **FAST_HANDOFFS)


@pytest.fixture
def worker(nc, intake) -> ServiceClient:
    return ServiceClient(nc, "intake", "likang")


async def _person(worker: ServiceClient, name: str) -> str:
    found = await worker.ok("register_person", preferred_name=name, roles=["person_in_recovery"])
    return str(found["person_id"])


async def _referral(worker: ServiceClient, person: str | None, urgency: str, on: str) -> str:
    fields = {"person_id": person} if person else {}
    done = await worker.ok(
        "receive_referral",
        source="hospital",
        reason="After discharge",
        urgency=urgency,
        on=on,
        **fields,
    )
    return str(done["referral_id"])


async def test_the_inbox_shows_urgent_and_oldest_first_with_names_and_waitlisted_below(
    browser, add_user, worker
):
    ming = await _person(worker, "Ah Ming")
    fong = await _person(worker, "Ah Fong")
    old = await _referral(worker, ming, "routine", day(-9))
    urgent = await _referral(worker, fong, "urgent", day(-2))
    nameless = await _referral(worker, None, "routine", day(-1))
    waiting = await _referral(worker, ming, "routine", day(-20))
    await worker.ok("decide_referral", referral_id=waiting, decision="waitlisted", reason="Full")
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = await browser.get("/referrals")
    assert page.status_code == 200, page.text
    html = page.text
    order = re.findall(r'data-referral="([^"]+)"', html)
    assert order == [urgent, old, nameless, waiting]
    to_decide, waitlisted = html.split("<h2>Waitlisted</h2>")
    assert waiting not in to_decide and waiting in waitlisted
    assert f'href="/people/{fong}">Ah Fong</a>' in html and "Urgent" in html
    assert "Days waiting: 9" in html and "Days waiting: 2" in html
    assert "Someone not yet registered" in html
    # A waitlisted referral is decided again, accepted or declined only.
    card = waitlisted.split(f'data-referral="{waiting}"')[1]
    assert 'value="accepted"' in card and 'value="waitlisted"' not in card
    assert 'href="/referrals"' in html  # in the nav


async def test_receive_decide_and_screen_change_what_intake_holds(browser, add_user, worker):
    ming = await _person(worker, "Ah Ming")
    await worker.ok("record_consent", person_id=ming, purpose="service", given=True)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    found = await browser.get("/referrals", params={"text": "Ah Ming"})
    assert f'name="person_id" value="{ming}"' in found.text
    received = await post_form(
        browser,
        "/referrals",
        "/referrals/receive",
        {"person_id": ming, "source": "ngo", "reason": "Low mood", "urgency": "urgent"},
    )
    assert received.status_code == 303, received.text
    listed = (await worker.ok("qry:referrals_undecided"))["referrals"]
    assert [(r["person_id"], r["source"], r["urgency"]) for r in listed] == [
        (ming, "ngo", "urgent")
    ]
    referral = listed[0]["referral_id"]

    screened = await post_form(browser, "/referrals", f"/referrals/{referral}/screen", ANSWERS)
    assert screened.status_code == 303, screened.text
    waitlisted = await post_form(
        browser,
        "/referrals",
        f"/referrals/{referral}/decide",
        {"decision": "waitlisted", "reason": "Group full"},
    )
    assert waitlisted.status_code == 303
    listed = (await worker.ok("qry:referrals_undecided"))["referrals"]
    assert [r["status"] for r in listed] == ["waitlisted"]
    accepted = await post_form(
        browser,
        "/referrals",
        f"/referrals/{referral}/decide",
        {"decision": "accepted", "reason": "A place opened"},
    )
    assert accepted.status_code == 303
    assert (await worker.ok("qry:referrals_undecided"))["referrals"] == []

    opened = await worker.ok("open_case", person_id=ming, worker_id="sw-lee", referral_id=referral)
    record = await worker.ok("qry:case_record", case_id=opened["case_id"])
    assert [(s["answers"], s["total"]) for s in record["screenings"]] == [
        ([0, 2, 2, 1, 0, 1, 0], 6)
    ]


async def test_a_refusal_is_shown_beside_its_field_and_what_was_typed_is_kept(
    browser, add_user, worker
):
    ming = await _person(worker, "Ah Ming")
    referral = await _referral(worker, ming, "routine", day(-3))
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    refused = await post_form(
        browser,
        "/referrals",
        f"/referrals/{referral}/decide",
        {"decision": "declined", "reason": ""},
    )
    assert refused.status_code == 200
    assert f'id="decide-{referral}-reason-error">This is required.<' in refused.text
    card = refused.text.split(f'data-referral="{referral}"')[1]
    assert '<option value="declined" selected>' in card
    assert len((await worker.ok("qry:referrals_undecided"))["referrals"]) == 1

    half = {k: v for k, v in ANSWERS.items() if k != "item_reminders"}
    refused = await post_form(browser, "/referrals", f"/referrals/{referral}/screen", half)
    assert f'id="screen-{referral}-item_reminders-error">Answer this question.<' in refused.text
    assert re.search(r'name="item_distressing_events" value="2" checked', refused.text)

    typed = {"person_id": ming, "source": "school", "reason": "", "urgency": "urgent"}
    refused = await post_form(browser, "/referrals", "/referrals/receive", typed)
    assert re.search(r'id="reason-error">This is required\.<', refused.text)
    assert '<option value="school" selected>' in refused.text
    assert '<option value="urgent" selected>' in refused.text


async def test_my_caseload_lists_my_open_cases_with_names(browser, add_user, worker):
    ming = await _person(worker, "Ah Ming")
    fong = await _person(worker, "Ah Fong")
    for person, worker_id in ((ming, "sw-lee"), (fong, "sw-ho")):
        await worker.ok("record_consent", person_id=person, purpose="service", given=True)
        await worker.ok("open_case", person_id=person, worker_id=worker_id)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = await browser.get("/caseload")
    assert page.status_code == 200
    assert f'href="/people/{ming}">Ah Ming</a>' in page.text
    assert "Ah Fong" not in page.text and "No contact yet" in page.text
    assert 'href="/caseload"' in page.text


async def test_an_analyst_gets_neither_page_nor_their_nav_entries(browser, add_user, worker):
    await add_user("an-chan", ["analyst"], sites=("*",))
    await sign_in(browser, "an-chan")
    home = await browser.get("/")
    assert 'href="/referrals"' not in home.text and 'href="/caseload"' not in home.text
    assert (await browser.get("/referrals")).status_code == 403
    assert (await browser.get("/caseload")).status_code == 403
    refused = await post_form(
        browser, "/", "/referrals/receive", {"source": "ngo", "reason": "Low mood"}
    )
    assert refused.status_code == 403
    assert (await worker.ok("qry:referrals_undecided"))["referrals"] == []


async def test_the_inbox_and_a_persons_page_in_traditional_chinese(browser, add_user, worker):
    ming = await _person(worker, "Ah Ming")
    await _referral(worker, ming, "urgent", day(-1))
    await add_user("sw-chan", ["social_worker"], language="zh_Hant")
    await sign_in(browser, "sw-chan")
    inbox = await browser.get("/referrals")
    assert "待決定" in inbox.text and "緊急" in inbox.text and "已等候日數：1" in inbox.text
    page = await browser.get(f"/people/{ming}")
    assert "照顧者及被照顧者" in page.text and "接受服務" in page.text
