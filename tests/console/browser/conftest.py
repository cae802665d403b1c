"""The console served for real over HTTP (uvicorn, on a free port, in this event loop) and
driven by Debian's Chromium through Playwright: one browser for the session, a fresh browser
context (cookies, language) per signed-in user.

``live_console`` is the console's address; ``signed_in_page(username, roles, ...)`` signs a
new user in and returns their Playwright page; ``screenshot(page, name)`` saves the page
under ``test-artifacts/screenshots/`` (``CARENET_SCREENSHOTS`` to put them elsewhere).
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest
import uvicorn
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from services.console.app import Console, build_app
from tests.console.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
SCREENSHOTS = Path(os.environ.get("CARENET_SCREENSHOTS", ROOT / "test-artifacts" / "screenshots"))
SignedInPage = Callable[..., Awaitable[Page]]


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for the whole run (Debian's package: nothing downloaded)."""
    if not CHROMIUM.exists():
        hint = "apt-get install chromium (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: {hint}")
        pytest.skip(f"{CHROMIUM} is missing: {hint}")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield browser
        await browser.close()


@pytest.fixture
async def live_console(console: Console) -> AsyncIterator[str]:
    """The console's app served over HTTP on a free port of 127.0.0.1; its address."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    port = listening.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(build_app(console), lifespan="off", log_level="warning"))
    serving = asyncio.create_task(server.serve(sockets=[listening]))
    while not server.started:
        if serving.done():
            serving.result()  # raises what stopped it
        await asyncio.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    await serving
    listening.close()


@pytest.fixture
async def signed_in_page(
    chromium: Browser, live_console: str, add_user: Callable[..., Awaitable[str]]
) -> AsyncIterator[SignedInPage]:
    """``await signed_in_page("sw-lee", ["social_worker"], sites=("likang",),
    language="en")``: the account is made, signed in through the sign-in form in a browser
    context of its own, and its page (at the home page) returned."""
    contexts: list[BrowserContext] = []

    async def sign_in(
        username: str,
        roles: list[str],
        sites: tuple[str, ...] = ("likang",),
        language: str = "en",
    ) -> Page:
        await add_user(username, roles, sites=sites, language=language)
        context = await chromium.new_context(
            base_url=live_console, viewport={"width": 1180, "height": 900}
        )
        contexts.append(context)
        page = await context.new_page()
        await page.goto("/signin")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("form.card button[type=submit]")
        await page.wait_for_url(re.compile(r"/$"))
        return page

    yield sign_in
    for context in contexts:
        await context.close()


async def screenshot(page: Page, name: str) -> Path:
    """The whole page as ``<name>.png`` in the screenshots folder (made when missing)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def reload_until(page: Page, check: Callable[[Page], Awaitable[bool]]) -> None:
    """Reload ``page`` until ``check`` holds (what an eventually consistent page needs)."""
    for _attempt in range(150):
        if await check(page):
            return
        await asyncio.sleep(0.1)
        await page.reload()
    raise AssertionError(f"{page.url} never showed what was expected")


async def nav_paths(page: Page) -> list[str]:
    """The addresses the header's nav offers on the page shown."""
    found: list[str] = await page.eval_on_selector_all(
        "header nav a", "links => links.map(a => a.getAttribute('href'))"
    )
    return found
