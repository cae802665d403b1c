"""Signing in and out, and the language switch."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from services.console import store
from services.console.accounts import LANGUAGES, SignedIn, password_matches
from services.console.i18n import _
from services.console.web import (
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    SIGNIN_COOKIE,
    console_of,
    current_staff,
    new_secret,
    render,
    signed_in,
    sites_of,
)

router = APIRouter()


def _local(target: str | None) -> str:
    """Only a path on this site is followed (no open redirect; browsers read ``/\\`` as
    ``//``), with its query: the language switch comes back to the same month's report."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _signin_page(
    request: Request,
    *,
    username: str = "",
    next_path: str = "/",
    problem: str | None = None,
    status: int = 200,
) -> Response:
    csrf = new_secret()
    response = render(
        request,
        "signin/signin.html",
        {"username": username, "next": next_path, "problem": problem},
        csrf=csrf,
        status=status,
    )
    secure = console_of(request).settings.secure_cookies
    response.set_cookie(SIGNIN_COOKIE, csrf, httponly=True, samesite="lax", secure=secure)
    return response


@router.get("/signin")
async def signin_form(request: Request, next: str | None = None) -> Response:
    if await current_staff(request) is not None:
        return RedirectResponse(_local(next), status_code=303)
    return _signin_page(request, next_path=_local(next))


@router.post("/signin")
async def signin(
    request: Request,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    console = console_of(request)
    now = datetime.now(UTC)
    account = await store.account(console.pool, username.strip())
    refused = _("The username or password is wrong.")
    if account is None:
        return _signin_page(
            request, username=username, next_path=_local(next), problem=refused, status=401
        )
    if account.locked(now):
        locked = _("Too many wrong passwords: this account is locked for 15 minutes.")
        return _signin_page(
            request, username=username, next_path=_local(next), problem=locked, status=423
        )
    if not password_matches(account.password_hash, password):
        account = account.after_failure(now)
        await store.save_attempts(console.pool, account)
        problem = refused
        if account.locked(now):
            problem = _("Too many wrong passwords: this account is locked for 15 minutes.")
        return _signin_page(
            request, username=username, next_path=_local(next), problem=problem, status=401
        )
    if account.failed_attempts:
        await store.save_attempts(
            console.pool, replace(account, failed_attempts=0, locked_until=None)
        )
    session_id = new_secret()
    token, token_expires = console.issue_token(account)
    lifetime = timedelta(hours=console.settings.session_hours)
    await store.open_session(
        console.pool,
        store.Session(
            id_hash=store.id_hash(session_id),
            username=account.username,
            csrf=new_secret(),
            token=token,
            token_expires_at=token_expires,
            expires_at=now + lifetime,
        ),
    )
    response = RedirectResponse(_local(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session_id,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=console.settings.secure_cookies,
    )
    response.delete_cookie(SIGNIN_COOKIE)
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    session_id = request.cookies.get(SESSION_COOKIE)
    if session_id:
        await store.close_session(console_of(request).pool, store.id_hash(session_id))
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.post("/site")
async def choose_site(
    request: Request,
    staff: Annotated[SignedIn, Depends(signed_in)],
    site: Annotated[str, Form()],
    back: Annotated[str, Form()] = "/",
) -> Response:
    """The site the user works for in this session (one of theirs or below them)."""
    console = console_of(request)
    if site in sites_of(console, staff.account):
        await store.choose_site(console.pool, staff.session, site)
    return RedirectResponse(_local(back), status_code=303)


@router.post("/language")
async def choose_language(
    request: Request, language: Annotated[str, Form()], back: Annotated[str, Form()] = "/"
) -> Response:
    """Kept on the account (or, before sign-in, in a cookie)."""
    response = RedirectResponse(_local(back), status_code=303)
    if language not in LANGUAGES:
        return response
    staff = await current_staff(request)
    if staff is None:
        response.set_cookie(LANGUAGE_COOKIE, language, httponly=True, samesite="lax")
    else:
        await store.set_language(console_of(request).pool, staff.account.username, language)
    return response
