"""The console in this process (httpx's ASGI transport) against the session's real NATS and
PostgreSQL, and the real services started by the tests that need them."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import httpx
import pytest

from services.console import store
from services.console.accounts import new_account
from services.console.app import Console, build_app
from services.console.settings import load_console_settings
from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.service import ServiceRuntime
from tests.identity import JWKS

SIGNING_KEY = JWKS.parent / "signing-key.pem"
"""The tests' signing key: every service started by the tests trusts its tokens."""
PASSWORD = "correct horse battery"
CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@pytest.fixture
async def console(nats_url: str, database_url: str) -> AsyncIterator[Console]:
    settings = load_console_settings(
        {
            "DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "CARENET_SIGNING_KEY": str(SIGNING_KEY),
            "CARENET_CONFIG": str(DEMO_ORGANISATION),
        }
    )
    # Nobody answering is told in half a second rather than two.
    running = await Console.start(replace(settings, no_responders_patience=0.5))
    yield running
    await running.stop()


@pytest.fixture
async def browser(console: Console) -> AsyncIterator[httpx.AsyncClient]:
    """A browser without JavaScript: cookies kept, redirects not followed."""
    transport = httpx.ASGITransport(app=build_app(console))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def add_user(console: Console) -> Callable[..., Awaitable[str]]:
    codes = load_organisation(DEMO_ORGANISATION).codes()

    async def add(
        username: str, roles: list[str], sites: tuple[str, ...] = ("likang",), language: str = "en"
    ) -> str:
        account = new_account(
            username, PASSWORD, roles=roles, sites=list(sites), site_codes=codes, language=language
        )
        assert await store.add_account(console.pool, account)
        return username

    return add


def csrf_in(html: str) -> str:
    found = CSRF.search(html)
    assert found is not None, html
    return found[1]


async def sign_in(
    browser: httpx.AsyncClient, username: str, password: str = PASSWORD
) -> httpx.Response:
    form = await browser.get("/signin")
    return await browser.post(
        "/signin",
        data={"username": username, "password": password, "csrf": csrf_in(form.text), "next": "/"},
    )


async def post_form(browser: httpx.AsyncClient, page: str, path: str, data: dict) -> httpx.Response:
    """Open ``page``, take its CSRF token, and send ``data`` to ``path`` as the form would."""
    opened = await browser.get(page)
    return await browser.post(path, data={"csrf": csrf_in(opened.text), **data})


@pytest.fixture
async def every_service(start_service) -> dict[str, ServiceRuntime]:
    """Intake, groups, volunteers and reporting, as a page that shows figures needs them
    (reporting waits for the others' streams); summaries are published only on command."""
    from services.groups.app import build as build_groups
    from services.intake.app import build as build_intake
    from services.reporting.app import build as build_reporting
    from services.volunteers.app import build as build_volunteers
    from tests.intake.conftest import FAST_HANDOFFS

    return {
        "intake": await start_service(("intake", build_intake), **FAST_HANDOFFS),
        "groups": await start_service(("groups", build_groups)),
        "volunteers": await start_service(("volunteers", build_volunteers)),
        "reporting": await start_service(("reporting", build_reporting), CARENET_PUBLISH_DAY="0"),
    }
