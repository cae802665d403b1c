"""Find or register a person, through the real intake service."""

from __future__ import annotations

import re

from services.console.web import NAV
from services.intake.app import build
from tests.console.conftest import post_form, sign_in
from tests.intake.conftest import FAST_HANDOFFS

PERSON = {
    "preferred_name": "Ah Ming",
    "legal_name": "陳志明",
    "roles": ["person_in_recovery"],
    "sex": "male",
    "birth_year": "1990",
    "phone": "+852 6000 1111",
    "language": "",
    "address": "",
}


def _value(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" type="text" value="([^"]*)"', html)
    assert found is not None, name
    return found[1]


async def test_register_a_person_and_find_them(browser, add_user, start_service):
    await start_service(("intake", build), **FAST_HANDOFFS)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    done = await post_form(browser, "/people", "/people/register", PERSON)
    assert done.status_code == 303, done.text
    found = await browser.get(done.headers["location"])
    assert found.status_code == 200
    assert "Registered." in found.text
    assert "陳志明" in found.text and "+852 6000 1111" in found.text
    assert "Person in recovery" in found.text
    by_phone = await browser.get("/people", params={"text": "6000 1111"})
    assert "Ah Ming" in by_phone.text


async def test_a_likely_duplicate_is_shown_before_saving_then_registered_anyway(
    browser, add_user, start_service
):
    await start_service(("intake", build), **FAST_HANDOFFS)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    first = await post_form(browser, "/people", "/people/register", PERSON)
    assert first.status_code == 303
    again = await post_form(browser, "/people", "/people/register", PERSON)
    assert again.status_code == 200
    assert "may already be registered" in again.text
    assert "Possibly the same person" in again.text and "陳志明" in again.text
    assert 'name="register_anyway" value="true"' in again.text
    assert _value(again.text, "preferred_name") == "Ah Ming"  # nothing typed is lost
    # Nothing was saved: one Ah Ming so far.
    listed = await browser.get("/people", params={"text": "Ah Ming"})
    assert listed.text.count("data-person=") == 1
    anyway = await post_form(
        browser, "/people", "/people/register", {**PERSON, "register_anyway": "true"}
    )
    assert anyway.status_code == 303, anyway.text
    listed = await browser.get("/people", params={"text": "Ah Ming"})
    assert listed.text.count("data-person=") == 2


async def test_a_refusal_is_shown_beside_its_field_and_what_was_typed_is_kept(
    browser, add_user, start_service
):
    await start_service(("intake", build), **FAST_HANDOFFS)
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    typed = {**PERSON, "birth_year": "nineteen ninety", "phone": "call me"}
    refused = await post_form(browser, "/people", "/people/register", typed)
    assert refused.status_code == 200
    assert "Please check the fields marked below." in refused.text
    assert re.search(r'id="birth_year-error">Enter a whole number\.<', refused.text)
    assert re.search(r'id="phone-error">This is not in the expected form\.<', refused.text)
    assert _value(refused.text, "birth_year") == "nineteen ninety"
    assert _value(refused.text, "phone") == "call me"
    assert _value(refused.text, "legal_name") == "陳志明"
    assert re.search(r'value="person_in_recovery" checked', refused.text)
    nameless = await post_form(
        browser, "/people", "/people/register", {**PERSON, "preferred_name": ""}
    )
    assert re.search(r'id="preferred_name-error">This is required\.<', nameless.text)


async def test_unavailable_says_so_and_keeps_the_form(browser, add_user):
    await add_user("sw-lee", ["social_worker"])  # intake is not running
    await sign_in(browser, "sw-lee")
    refused = await post_form(browser, "/people", "/people/register", PERSON)
    assert refused.status_code == 200
    assert "The service is not answering just now" in refused.text
    assert 'class="problem unavailable"' in refused.text
    assert _value(refused.text, "preferred_name") == "Ah Ming"
    command_id = re.search(r'name="command_id" value="([^"]+)"', refused.text)
    assert command_id is not None
    searched = await browser.get("/people", params={"text": "Ah Ming"})
    assert "The service is not answering just now" in searched.text


async def test_an_analyst_cannot_open_find_a_person_nor_see_it_in_the_nav(browser, add_user):
    await add_user("an-chan", ["analyst"], sites=("*",))
    await sign_in(browser, "an-chan")
    home = await browser.get("/")
    assert home.status_code == 200
    assert 'href="/people"' not in home.text
    assert (await browser.get("/people")).status_code == 403
    assert (await post_form(browser, "/", "/people/register", PERSON)).status_code == 403


async def test_the_nav_shows_find_a_person_to_casework_roles_only(browser, add_user):
    await add_user("mgr-wong", ["centre_manager"])
    await sign_in(browser, "mgr-wong")
    assert 'href="/people"' in (await browser.get("/")).text
    page = next(p for p in NAV.pages if p.path == "/people")
    assert page.requests == (("intake", "find_people"), ("intake", "register_person"))
