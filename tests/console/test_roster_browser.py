"""The roster in a real browser (Debian's Chromium through Playwright): one tap marks a
person present through htmx, without reloading the page."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import uvicorn

from services.console.app import Console, build_app
from tests.conftest import eventually
from tests.console.conftest import PASSWORD
from tests.console.test_roster import _a_session_today, _marked, _roster

playwright = pytest.importorskip("playwright.async_api")
CHROMIUM = Path("/usr/bin/chromium")
# In CI a missing browser fails the test (.ci/run installs it); elsewhere it is skipped.
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("CI"),
    reason="Debian's chromium is not installed",
)


@pytest.fixture
async def served(console: Console) -> AsyncIterator[str]:
    """The console on a free local port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(build_app(console), host="127.0.0.1", port=port, log_level="warning")
    )
    running = asyncio.create_task(server.serve())

    async def started() -> bool:
        return bool(server.started)

    await eventually(started)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await running


async def test_one_tap_in_the_browser_marks_present(served, add_user, nc, start_service):
    setup = await _a_session_today(nc, start_service)
    session, fong, staff = setup["session"], setup["fong"], setup["staff"]
    await add_user("sw-lee", ["social_worker"])
    async with playwright.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = await chromium.new_page()
        await page.goto(f"{served}/signin")
        await page.fill("input[name=username]", "sw-lee")
        await page.fill("input[name=password]", PASSWORD)
        await page.click("main button[type=submit]")
        await page.wait_for_url(f"{served}/")
        await page.goto(f"{served}/sessions/{session}")
        await page.evaluate("window.notReloaded = true")
        person = page.locator(f'li[data-person="{fong}"]')
        await person.locator("button.present").click()
        await page.wait_for_selector(f'li[data-person="{fong}"][data-attendance="present"]')
        assert await person.locator("button.present").get_attribute("aria-pressed") == "true"
        assert await page.evaluate("window.notReloaded") is True  # swapped in, not reloaded
        assert _marked(await _roster(staff, session), fong) == "present"
        await person.locator("button.absent").click()
        await page.wait_for_selector(f'li[data-person="{fong}"][data-attendance="absent"]')
        await page.locator('button[aria-label="One walk-in more"]').click()
        await page.wait_for_selector('output[data-walk-ins="1"]')
        roster = await _roster(staff, session)
        assert (_marked(roster, fong), roster["walk_ins"]) == ("absent", 1)
        await chromium.close()
