"""Signing in: passwords, lock-out, CSRF, sessions, the carenet token the console issues."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import jwt

from services.console import store
from services.console.accounts import LOCKED_FOR, new_account
from services.console.web import SESSION_COOKIE
from tests.console.conftest import PASSWORD, csrf_in, sign_in


async def test_a_right_password_signs_in_and_the_session_cookie_is_http_only(browser, add_user):
    await add_user("sw-lee", ["social_worker"])
    signed = await sign_in(browser, "sw-lee")
    assert signed.status_code == 303 and signed.headers["location"] == "/"
    cookie = signed.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = await browser.get("/")
    assert home.status_code == 200 and "sw-lee" in home.text
    assert home.headers["cache-control"] == "no-store"
    assert "frame-ancestors 'none'" in home.headers["content-security-policy"]
    htmx = await browser.get("/static/vendor/htmx.min.js")
    assert htmx.status_code == 200 and "max-age" in htmx.headers["cache-control"]


async def test_the_token_names_the_account_as_sub_with_its_roles_and_sites(
    browser, add_user, console
):
    await add_user("mgr-wong", ["centre_manager"], sites=["likang", "nanyuan"])
    await sign_in(browser, "mgr-wong")
    session = await store.session(console.pool, browser.cookies[SESSION_COOKIE])
    assert session is not None
    claims = jwt.decode(session.token, options={"verify_signature": False})
    assert claims["sub"] == "mgr-wong"
    assert claims["roles"] == ["centre_manager"] and claims["sites"] == ["likang", "nanyuan"]
    assert claims["exp"] - claims["iat"] == console.settings.token_ttl_seconds


async def test_a_token_near_its_end_is_issued_again(browser, add_user, console):
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    session = await store.session(console.pool, browser.cookies[SESSION_COOKIE])
    assert session is not None
    soon = datetime.now(UTC) + timedelta(seconds=30)
    await store.renew_token(console.pool, session.id_hash, "old", soon)
    assert (await browser.get("/")).status_code == 200
    renewed = await store.session(console.pool, browser.cookies[SESSION_COOKIE])
    assert renewed is not None and renewed.token != "old" and renewed.token_expires_at > soon


async def test_a_wrong_password_is_refused_and_nobody_is_signed_in(browser, add_user):
    await add_user("sw-lee", ["social_worker"])
    refused = await sign_in(browser, "sw-lee", "wrong password")
    assert refused.status_code == 401
    assert "The username or password is wrong." in refused.text
    assert SESSION_COOKIE not in browser.cookies
    home = await browser.get("/")
    assert home.status_code == 303 and home.headers["location"].startswith("/signin")


async def test_five_wrong_passwords_lock_the_account_for_15_minutes(browser, add_user, console):
    await add_user("sw-lee", ["social_worker"])
    for _ in range(4):
        assert (await sign_in(browser, "sw-lee", "nope")).status_code == 401
    fifth = await sign_in(browser, "sw-lee", "nope")
    assert "locked for 15 minutes" in fifth.text
    locked = await sign_in(browser, "sw-lee")  # the right password, while locked
    assert locked.status_code == 423 and SESSION_COOKIE not in browser.cookies
    account = await store.account(console.pool, "sw-lee")
    assert account is not None and account.locked_until is not None
    # When the 15 minutes are over, the right password works again.
    await store.save_attempts(
        console.pool,
        replace(account, locked_until=datetime.now(UTC) - timedelta(seconds=1)),
    )
    assert (await sign_in(browser, "sw-lee")).status_code == 303


def test_the_lock_out_rule():
    account = new_account(
        "sw-lee", PASSWORD, roles=["social_worker"], sites=["likang"], site_codes=["likang"]
    )
    now = datetime(2026, 10, 5, 9, 0, tzinfo=UTC)
    for _ in range(4):
        account = account.after_failure(now)
        assert not account.locked(now)
    account = account.after_failure(now)
    assert account.locked(now) and account.locked(now + LOCKED_FOR - timedelta(seconds=1))
    assert not account.locked(now + LOCKED_FOR)
    # After a lock ran out, one more failure starts a new count instead of locking at once.
    later = now + LOCKED_FOR
    assert not account.after_failure(later).locked(later)


async def test_a_post_without_the_csrf_token_is_refused(browser, add_user):
    await add_user("sw-lee", ["social_worker"])
    form = await browser.get("/signin")
    no_token = await browser.post("/signin", data={"username": "sw-lee", "password": PASSWORD})
    assert no_token.status_code == 403 and SESSION_COOKIE not in browser.cookies
    wrong = await browser.post(
        "/signin", data={"username": "sw-lee", "password": PASSWORD, "csrf": "forged"}
    )
    assert wrong.status_code == 403
    assert (await sign_in(browser, "sw-lee")).status_code == 303
    assert csrf_in(form.text)
    # Signed in, the session's own token is needed: the sign-in form's is not it.
    refused = await browser.post("/language", data={"language": "zh_Hant"})
    assert refused.status_code == 403
    refused = await browser.post(
        "/people/register", data={"preferred_name": "x"}, headers={"X-CSRF-Token": "forged"}
    )
    assert refused.status_code == 403


async def test_sign_out_ends_the_session(browser, add_user, console):
    await add_user("sw-lee", ["social_worker"])
    await sign_in(browser, "sw-lee")
    session_id = browser.cookies[SESSION_COOKIE]
    home = await browser.get("/")
    out = await browser.post("/signout", data={"csrf": csrf_in(home.text)})
    assert out.status_code == 303
    assert await store.session(console.pool, session_id) is None
    browser.cookies.set(SESSION_COOKIE, session_id)  # a copied cookie signs nobody in
    assert (await browser.get("/")).status_code == 303


async def test_the_site_worked_for_is_chosen_among_the_accounts_sites_and_below(browser, add_user):
    await add_user("mgr-wong", ["centre_manager"], sites=("likang",))
    await sign_in(browser, "mgr-wong")
    home = await browser.get("/")
    assert "mgr-wong · likang" in home.text
    for code in ("likang", "nanyuan", "jinsha", "longjin"):
        assert f'<option value="{code}"' in home.text
    assert '<option value="clubhouse"' not in home.text
    chosen = await browser.post(
        "/site", data={"csrf": csrf_in(home.text), "site": "nanyuan", "back": "/"}
    )
    assert chosen.status_code == 303
    assert "mgr-wong · nanyuan" in (await browser.get("/")).text
    await browser.post("/site", data={"csrf": csrf_in(home.text), "site": "clubhouse"})
    assert "mgr-wong · nanyuan" in (await browser.get("/")).text


async def test_an_htmx_request_without_a_session_is_sent_to_sign_in(browser):
    refused = await browser.get("/people", headers={"HX-Request": "true"})
    assert refused.headers["HX-Redirect"] == "/signin?next=/people"
