"""The console in a real browser (Chromium through Playwright), over HTTP, against the real
services: register a carer and see the report count them; an analyst finds no personal data
anywhere; no English label is left in either Chinese; screenshots of the main pages."""

from __future__ import annotations

import re

from playwright.async_api import Page

from services.console import i18n
from services.console.pages import ROUTERS
from shared.kit.contracts.summary_export import LABELS
from shared.kit.identity.access import ROLES
from tests.cli.test_demo import carenet_demo
from tests.console.browser.conftest import nav_paths, reload_until, screenshot
from tests.groups.conftest import day
from tests.reporting.conftest import settled

CARER = {
    "preferred_name": "Mrs Chan Mei",
    "legal_name": "陳美玲",
    "phone": "+852 6123 4567",
}
PLACEHOLDER = re.compile(r"%\(\w+\)s")
LATIN_RUN = re.compile(r"[A-Za-z][A-Za-z0-9 ,.'’()<%-]*")


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "home"


async def register_carer(page: Page) -> str:
    """Through the find-or-register page, as a worker would; the new person's id."""
    await page.click("header nav a[href='/people']")
    await page.fill("#preferred_name", CARER["preferred_name"])
    await page.fill("#legal_name", CARER["legal_name"])
    await page.check("input[name=roles][value=family_carer]")
    await page.select_option("#sex", "female")
    await page.fill("#phone", CARER["phone"])
    await page.click("form[action='/people/register'] button[type=submit]")
    await page.wait_for_url(re.compile(r"/people\?.*registered="))
    person_id = await page.get_attribute("tr.new[data-person]", "data-person")
    assert person_id
    return person_id


async def switch_language(page: Page, language: str) -> None:
    """With the header's language switch; the page is shown again in ``language``."""
    await page.select_option("header form.language select", language)
    await page.click("header form.language button")
    # The page is being replaced meanwhile: for a moment there is no document element.
    await page.wait_for_function(
        "lang => document.documentElement?.lang === lang", arg=language.replace("_", "-")
    )
    await page.wait_for_load_state()


async def figure(page: Page, name: str) -> str:
    return (await page.inner_text(f"li[data-figure={name}] .figure")).strip()


async def test_a_social_worker_registers_a_carer_and_the_managers_report_counts_them(
    signed_in_page, every_service
):
    manager = await signed_in_page("mgr-wong", ["centre_manager"])
    await manager.click("header nav a[href='/report']")
    assert await figure(manager, "people_registered") == "0"

    worker = await signed_in_page("sw-lee", ["social_worker"])
    await screenshot(worker, "en-home")
    await register_carer(worker)
    shown = await worker.inner_text("main")
    assert "Registered." in shown
    assert CARER["legal_name"] in shown and "Family carer" in shown
    await screenshot(worker, "en-people")
    await worker.fill("#text", "6123 4567")
    await worker.click("form.search button")
    found = await worker.inner_text("table.people")
    assert CARER["preferred_name"] in found and CARER["phone"] in found

    async def counted(page: Page) -> bool:
        return await figure(page, "people_registered") == "1"

    await reload_until(manager, counted)
    assert await manager.get_attribute("p.mode", "data-mode") == "exact"
    await screenshot(manager, "en-report")


async def test_a_carer_registered_enrolled_and_marked_present_is_in_the_managers_report(
    signed_in_page, every_service
):
    """The whole of a worker's morning in the browser: register a carer, create the family
    support group meeting today, enrol the carer, take attendance (the carer and one walk-in),
    and the centre manager's report counts the session, both attendances and one participant."""
    worker = await signed_in_page("sw-lee", ["social_worker"])
    await register_carer(worker)

    await worker.click("header nav a[href='/calendar']")
    await worker.click("a[href^='/calendar/programmes/new']")
    await worker.fill("#title", "Family support group")
    await worker.select_option("#type", "support_group")
    await worker.fill("#capacity", "12")
    await worker.check("input[name=target_roles][value=family_carer]")
    await worker.fill("#venue", "Activity room 1")
    await worker.fill("#facilitators", "sw-lee")
    await worker.fill("#first_date", day(0))
    await worker.fill("#start_time", "10:00")
    await worker.fill("#duration_min", "90")
    await worker.select_option("#repeat", "once")
    await worker.click("form[action='/calendar/programmes/new'] button[type=submit]")
    await worker.wait_for_url(re.compile(r"/calendar\?week=.*done=programme"))
    session = worker.locator("article.session", has_text="Family support group")
    session_id = await session.get_attribute("data-session")

    await session.locator("h3 a").click()
    await worker.fill("#text", CARER["preferred_name"])
    await worker.click("form.search button")
    found = worker.locator("li[data-found]", has_text=CARER["preferred_name"])
    person_id = await found.get_attribute("data-found")
    await found.locator("button[type=submit]").click()
    await worker.wait_for_load_state()
    assert CARER["preferred_name"] in await worker.inner_text("main")

    await worker.goto(f"/sessions/{session_id}")
    carer = worker.locator(f'li[data-person="{person_id}"]')
    await carer.locator("button.present").click()
    await worker.wait_for_selector(f'li[data-person="{person_id}"][data-attendance="present"]')
    await worker.locator('button[aria-label="One walk-in more"]').click()
    await worker.wait_for_selector('output[data-walk-ins="1"]')
    await screenshot(worker, "en-roster")

    manager = await signed_in_page("mgr-wong", ["centre_manager"])
    await manager.click("header nav a[href='/report']")

    async def counted(page: Page) -> bool:
        shown = [
            await figure(page, name)
            for name in ("sessions_held", "attendances", "unique_participants")
        ]
        return shown == ["1", "2", "1"]

    await reload_until(manager, counted)


async def test_an_analyst_finds_no_personal_data_anywhere(
    signed_in_page, every_service, live_console
):
    worker = await signed_in_page("sw-lee", ["social_worker"])
    person_id = await register_carer(worker)
    analyst = await signed_in_page("an-chan", ["analyst"], sites=("*",))
    paths = ["/", *await nav_paths(analyst)]
    assert "/report" in paths and "/people" not in paths

    async def report_has_data(page: Page) -> bool:
        return await figure(page, "people_registered") == "x"

    await analyst.goto("/report?site=likang")
    await reload_until(analyst, report_has_data)
    pages = {path: 200 for path in paths}
    pages |= {"/report?site=likang": 200, "/report/download?site=likang&format=csv": 200}
    # What holds personal data: refused. The person's page, where this console has one.
    person_page = any(
        route.path.startswith("/people/{")  # type: ignore[attr-defined]
        for router in ROUTERS
        for route in router.routes
    )
    pages |= {
        "/people": 403,
        f"/people?text={CARER['phone']}": 403,
        f"/people/{person_id}": 403 if person_page else 404,
    }
    for path, status in pages.items():
        answer = await analyst.request.get(path)
        assert answer.status == status, path
        body = await answer.text()
        for personal in (*CARER.values(), "6123 4567"):
            assert personal not in body, (path, personal)
    await analyst.goto("/report?site=likang")
    await screenshot(analyst, "en-report-analyst")


async def test_a_demo_month_in_the_reports_charts_exact_and_deidentified(
    signed_in_page, every_service, nats_url, nc
):
    code, _out, err = await carenet_demo(nats_url, "--month", "2026-10", "--size", "small")
    assert code == 0, err
    await settled(nc, every_service)
    manager = await signed_in_page("mgr-wong", ["centre_manager"])
    await manager.goto("/report?month=2026-10&site=likang")
    by_type = manager.locator("figure.chart").first
    assert "Support group" in await by_type.inner_text()
    widths = await by_type.locator("rect.series-1").evaluate_all(
        "bars => bars.map(bar => Number(bar.getAttribute('width')))"
    )
    assert widths and max(widths) > 0  # attendances drawn
    outcomes = manager.locator("section[data-instrument]")
    assert await outcomes.count() > 0
    assert "Mean change, attended" in await outcomes.first.inner_text()  # reporting's outcomes
    await screenshot(manager, "en-report-demo-month")
    await switch_language(manager, "zh_Hant")  # the charts and tables too, in Chinese
    assert untranslated(await visible_text(manager), _english_messages()) == []
    await screenshot(manager, "zh_Hant-report-demo-month")
    analyst = await signed_in_page("an-chan", ["analyst"], sites=("*",))
    await analyst.goto("/report?month=2026-10&site=likang")
    assert await analyst.get_attribute("p.mode", "data-mode") == "deidentified"
    assert "are shown as x." in await analyst.inner_text("main")
    await screenshot(analyst, "en-report-demo-month-analyst")


def _english_messages() -> list[str]:
    found = {message.id for message in i18n.catalogue("en") if message.id}
    return sorted({str(text) for text in found} | set(LABELS.values()))


def untranslated(shown: str, messages: list[str]) -> list[str]:
    """English message ids found in ``shown``: a phrase of several words anywhere, a single
    word only as a whole run of Latin text (names and codes are data, not labels)."""
    runs = {run.strip(" .,:;*·") for run in LATIN_RUN.findall(shown)}
    left = []
    for message in messages:
        parts = [p.strip(" .,:;*·") for p in PLACEHOLDER.split(message)]
        for part in parts:
            words = part.split()
            if (len(words) > 1 and part in shown) or (len(words) == 1 and part in runs):
                left.append(message)
                break
    return left


async def visible_text(page: Page) -> str:
    """What a reader sees: the text, the charts' labels, the title, the labels for screen
    readers."""
    text: str = await page.evaluate(
        """() => [document.title, document.body.innerText,
                  ...[...document.querySelectorAll('svg text')].map(t => t.textContent),
                  ...[...document.querySelectorAll('[aria-label]')].map(
                      e => e.getAttribute('aria-label'))].join('\\n')"""
    )
    return text


async def test_every_page_in_chinese_has_no_english_label_left(signed_in_page, every_service):
    everyone = await signed_in_page("all-roles", list(ROLES), sites=("likang",))
    paths = ["/", *await nav_paths(everyone)]
    messages = _english_messages()
    # The check sees the labels: in English, the report's are there.
    await everyone.goto("/report")
    assert {"Month's report", "People registered"} <= set(
        untranslated(await visible_text(everyone), messages)
    )
    for language in ("zh_Hant", "zh_Hans"):
        await switch_language(everyone, language)
        for path in paths:
            await everyone.goto(path)
            assert await everyone.get_attribute("html", "lang") == language.replace("_", "-")
            shown = await visible_text(everyone)
            assert untranslated(shown, messages) == [], (language, path)
            await screenshot(everyone, f"{language}-{_slug(path)}")


def test_the_check_for_english_finds_labels_and_leaves_data_alone():
    messages = ["Find", "Month's report", "Welcome, %(name)s", "Download CSV"]
    assert untranslated("搜尋 Find\n每月報告", messages) == ["Find"]
    assert untranslated("歡迎 Welcome, 李", messages) == ["Welcome, %(name)s"]
    assert untranslated("Finder likang 下載 CSV", messages) == []
    assert untranslated("Month's report", messages) == ["Month's report"]
