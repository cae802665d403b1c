"""`carenet demo`'s console accounts: the demo's staff, made once with the console's own code."""

from __future__ import annotations

from services.console import store
from services.console.accounts import password_matches
from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.cli.demo import CONSOLE_STAFF, accounts_report, console_accounts
from shared.kit.db.pool import connect

CODES = load_organisation(DEMO_ORGANISATION).codes()


async def test_the_demo_staff_get_console_accounts_once(database_url):
    added, kept = await console_accounts(database_url, "first password", CODES)
    assert added == [who.sub for who in CONSOLE_STAFF] and kept == []
    said = accounts_report(added, kept, "first password", "http://127.0.0.1:8080")
    assert "Sign in at http://127.0.0.1:8080 as sw.chan with password first password" in said
    again, kept = await console_accounts(database_url, "second password", CODES)
    assert again == [] and kept == [who.sub for who in CONSOLE_STAFF]
    assert "already there, kept as they were" in accounts_report(again, kept, None, None)
    conn = await connect(database_url, "console", application="test")
    try:
        coordinator = await store.account(conn, "vc.lau")
        analyst = await store.account(conn, "an.li")
        operator = await store.account(conn, "ops")
    finally:
        await conn.close()
    assert coordinator is not None and coordinator.roles == ("volunteer_coordinator",)
    assert coordinator.sites == ("likang",)
    assert password_matches(coordinator.password_hash, "first password")  # kept, not replaced
    assert analyst is not None and analyst.sites == ("*",) and analyst.roles == ("analyst",)
    assert operator is not None and operator.roles == ("operator",)
