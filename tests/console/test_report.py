"""The month's report, through the real intake and reporting services."""

from __future__ import annotations

import io
import re

from openpyxl import load_workbook

from services.console import i18n
from services.console.accounts import LANGUAGES
from services.console.pages.report import Bar, Chart, months_around
from shared.kit.contracts.summary_export import LABELS
from tests.conftest import eventually
from tests.console.conftest import post_form, sign_in
from tests.console.test_people import PERSON


def _figure(html: str, name: str) -> str:
    found = re.search(rf'<li data-figure="{name}"><span class="figure">([^<]*)</span>', html)
    assert found is not None, html
    return found[1]


async def test_a_centre_manager_sees_exact_figures_change_and_downloads_them(
    browser, add_user, every_service
):
    await add_user("mgr-wong", ["centre_manager"])
    await sign_in(browser, "mgr-wong")
    before = await browser.get("/report")
    assert before.status_code == 200
    assert 'data-mode="exact"' in before.text and "Exact figures." in before.text
    assert _figure(before.text, "people_registered") == "0"
    done = await post_form(browser, "/people", "/people/register", PERSON)
    assert done.status_code == 303

    async def registered() -> bool:
        page = await browser.get("/report")
        return _figure(page.text, "people_registered") == "1"

    await eventually(registered)
    month = re.search(r'name="month" type="month" value="([^"]+)"', before.text)
    assert month is not None
    query = {"month": month[1], "site": "likang"}
    csv = await browser.get("/report/download", params={**query, "format": "csv"})
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert f"likang-{month[1]}.csv" in csv.headers["content-disposition"]
    assert ",exact,people_registered,total,,1\r\n" in csv.text
    book = await browser.get("/report/download", params={**query, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(book.content))["Summary"]
    rows = [tuple(row) for row in sheet.iter_rows(values_only=True)]
    assert ("People registered", "total", None, 1) in rows


async def test_an_analyst_gets_deidentified_figures_only_with_small_counts_as_under_five(
    browser, add_user, every_service
):
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    assert (await post_form(browser, "/people", "/people/register", PERSON)).status_code == 303
    await add_user("an-chan", ["analyst"], sites=("*",))
    browser.cookies.clear()
    await sign_in(browser, "an-chan")
    assert 'href="/report"' in (await browser.get("/")).text

    async def suppressed() -> str:
        page = await browser.get("/report", params={"site": "likang"})
        return page.text if _figure(page.text, "people_registered") == "x" else ""

    page = await eventually(suppressed)
    assert 'data-mode="deidentified"' in page and "Exact figures." not in page
    assert "are shown as x." in page and 'class="note"' in page
    assert "Ah Ming" not in page and "6000 1111" not in page
    csv = await browser.get("/report/download", params={"site": "likang", "format": "csv"})
    assert ",deidentified,people_registered,total,,x\r\n" in csv.text


async def test_the_report_is_for_the_roles_reporting_gives_figures_to(browser, add_user):
    await add_user("vc-ho", ["volunteer_coordinator"])
    await add_user("op-lam", ["operator"], sites=("*",))
    await sign_in(browser, "vc-ho")
    assert 'href="/report"' in (await browser.get("/")).text
    browser.cookies.clear()
    await sign_in(browser, "op-lam")
    assert 'href="/report"' not in (await browser.get("/")).text
    assert (await browser.get("/report")).status_code == 403
    assert (await browser.get("/report/download")).status_code == 403


async def test_unavailable_reporting_is_said_plainly(browser, add_user):
    await add_user("mgr-wong", ["centre_manager"])  # reporting is not running
    await sign_in(browser, "mgr-wong")
    page = await browser.get("/report", params={"month": "2026-10"})
    assert page.status_code == 200
    assert "The service is not answering just now" in page.text
    assert 'value="2026-10"' in page.text
    download = await browser.get("/report/download", params={"month": "2026-10"})
    assert download.status_code == 303
    assert download.headers["location"] == "/report?month=2026-10&site=likang"


def test_every_figure_label_of_the_exports_is_in_every_catalogue():
    """The labels come from the export formats (one copy), so the extraction does not see
    them: they are checked here."""
    for language in LANGUAGES:
        known = i18n.catalogue(language)
        for label in LABELS.values():
            entry = known.get(label)
            assert entry is not None and (language == "en" or entry.string), (language, label)


def test_a_chart_is_laid_out_to_its_largest_value_and_a_suppressed_bar_has_no_length():
    chart = Chart([Bar("a", 10, 0), Bar("a", None, 1), Bar("b", 5, 0), Bar("b", 0, 1)], ("x", "y"))
    assert chart.length(chart.bars[0]) == chart.bar_width
    assert chart.length(chart.bars[1]) == 0
    assert chart.length(chart.bars[2]) == chart.bar_width / 2
    assert chart.y(2) - chart.y(1) == chart.bar_height + chart.gap
    assert months_around("2026-01") == ("2025-12", "2026-02")
    assert months_around("2026-12") == ("2026-11", "2027-01")


async def test_switching_language_comes_back_to_the_same_month_and_never_elsewhere(
    browser, add_user
):
    await add_user("mgr-wong", ["centre_manager"])
    await sign_in(browser, "mgr-wong")
    page = await browser.get("/report", params={"month": "2026-10"})
    assert 'name="back" value="/report?month=2026-10"' in page.text
    back = "/report?month=2026-10&site=likang"
    switched = await post_form(browser, "/", "/language", {"language": "zh_Hant", "back": back})
    assert switched.headers["location"] == back
    for away in ("//evil.example/", "/\\evil.example/", "https://evil.example/"):
        refused = await post_form(browser, "/", "/language", {"language": "en", "back": away})
        assert refused.headers["location"] == "/"
