"""A person's access request in the console: readable sections, a JSON download, and only for
the roles the access table lets export (a centre_manager)."""

from __future__ import annotations

import json
from uuid import uuid4

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from services.volunteers.app import build as build_volunteers
from tests.conftest import ServiceClient
from tests.console.conftest import post_form, sign_in
from tests.groups.conftest import day, known_to_groups, programme


async def test_a_manager_reads_and_downloads_a_persons_access_request(
    browser, add_user, start_service, nc
):
    # Reporting is not running: the export says so rather than failing.
    await start_service(("intake", build_intake))
    groups = await start_service(("groups", build_groups))
    await start_service(("volunteers", build_volunteers))
    intake = ServiceClient(nc, "intake", "likang")
    mum = (
        await intake.ok(
            "register_person",
            preferred_name="陳太",
            roles=["family_carer"],
            phone="+852 6000 2222",
        )
    )["person_id"]
    await intake.ok("record_consent", person_id=mum, purpose="service", given=True)
    case = (await intake.ok("open_case", person_id=mum, worker_id="sw-lee"))["case_id"]
    await intake.ok("add_case_note", case_id=case, text="Home visit: worried about sleep.")
    await known_to_groups(groups, mum, with_case=True)
    group_staff = ServiceClient(nc, "groups", "likang")
    group = await group_staff.ok("create_programme", **programme())
    await group_staff.ok("enrol", programme_id=group["programme_id"], person_id=mum, on=day(-30))

    await add_user("mgr-wong", ["centre_manager"])
    await sign_in(browser, "mgr-wong")
    person_page = await browser.get(f"/people/{mum}")
    assert f'href="/people/{mum}/access-request"' in person_page.text

    page = await browser.get(f"/people/{mum}/access-request")
    assert page.status_code == 200, page.text
    html = page.text
    assert "Access request: 陳太" in html and "+852 6000 2222" in html
    assert "Home visit: worried about sleep." in html
    assert "Family support group (家属小组)" in html  # groups' enrolments
    assert 'data-section="volunteers"' in html and "None held." in html
    assert 'id="incomplete"' in html and "did not answer: reporting" in html
    assert 'data-unavailable="reporting"' in html
    assert "mgr-wong" in html and "subject_access_export" in html  # the log lists the export
    assert f'href="/people/{mum}/access-request.json"' in html

    download = await browser.get(f"/people/{mum}/access-request.json")
    assert download.status_code == 200
    assert download.headers["content-disposition"].startswith("attachment;")
    export = json.loads(download.text)
    assert export["person_id"] == mum and export["unavailable"] == ["reporting"]
    assert export["services"]["intake"]["person"]["preferred_name"] == "陳太"
    assert len(export["services"]["groups"]["enrolments"]) == 1
    unknown = await browser.get(f"/people/{uuid4()}/access-request")
    assert unknown.status_code == 404

    log = await ServiceClient(nc, "intake", "likang").ok("qry:access_log", person_id=mum)
    exports = [e for e in log["entries"] if e["what"] == "subject_access_export"]
    assert [e["actor"] for e in exports] == ["mgr-wong", "mgr-wong"]


async def test_a_social_worker_gets_no_access_request(browser, add_user, start_service, nc):
    await start_service(("intake", build_intake))
    intake = ServiceClient(nc, "intake", "likang")
    son = (
        await intake.ok("register_person", preferred_name="Ah Keung", roles=["person_in_recovery"])
    )["person_id"]
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    person_page = await browser.get(f"/people/{son}")
    assert person_page.status_code == 200 and "/access-request" not in person_page.text
    assert (await browser.get(f"/people/{son}/access-request")).status_code == 403
    assert (await browser.get(f"/people/{son}/access-request.json")).status_code == 403


async def test_a_manager_erases_a_person_from_their_page_once_ticked_and_their_case_closed(
    browser, add_user, start_service, nc
):
    await start_service(("intake", build_intake))
    intake = ServiceClient(nc, "intake", "likang")
    mum = (
        await intake.ok(
            "register_person", preferred_name="陳太", roles=["family_carer"], phone="+852 6000 2222"
        )
    )["person_id"]
    await intake.ok("record_consent", person_id=mum, purpose="service", given=True)
    case = (await intake.ok("open_case", person_id=mum, worker_id="sw-lee"))["case_id"]
    await add_user("mgr-wong", ["centre_manager"])
    await sign_in(browser, "mgr-wong")
    page = f"/people/{mum}"
    assert f'action="{page}/erase"' in (await browser.get(page)).text

    unticked = await post_form(browser, page, f"{page}/erase", {"reason": "Asked in writing"})
    assert unticked.status_code == 200
    assert 'id="erase-checked-error">Tick this to confirm before erasing.<' in unticked.text
    assert 'value="Asked in writing"' in unticked.text  # what was typed is kept
    ticked = {"reason": "Asked in writing", "checked": "yes"}
    running = await post_form(browser, page, f"{page}/erase", ticked)
    assert running.status_code == 200 and 'role="alert"' in running.text  # the case is open
    assert (await intake.ok("qry:person", person_id=mum))["preferred_name"] == "陳太"

    await intake.ok("close_case", case_id=case, reason="goals_achieved")
    erased = await post_form(browser, page, f"{page}/erase", ticked)
    assert erased.status_code == 303, erased.text
    shown = (await browser.get(page)).text
    assert 'id="erased"' in shown and "Personal data erased" in shown
    assert "陳太" not in shown and "6000 2222" not in shown
    assert (await intake.ok("qry:person", person_id=mum))["erased"] is True


async def test_a_social_worker_is_offered_no_erasure_and_is_refused_one(
    browser, add_user, start_service, nc
):
    await start_service(("intake", build_intake))
    intake = ServiceClient(nc, "intake", "likang")
    mum = (await intake.ok("register_person", preferred_name="陳太", roles=["family_carer"]))[
        "person_id"
    ]
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    page = f"/people/{mum}"
    assert f'action="{page}/erase"' not in (await browser.get(page)).text
    refused = await post_form(
        browser, page, f"{page}/erase", {"reason": "tidy up", "checked": "yes"}
    )
    assert refused.status_code == 403
    assert (await intake.ok("qry:person", person_id=mum))["preferred_name"] == "陳太"
