"""What every page uses: the signed-in user, the page access guard, CSRF, rendering.

A page module declares a ``Page`` (its address, its label in the nav, the requests it sends)
and guards its routes with ``Depends(PAGE.guard)``; the nav shows it by the same check
(``services.console.access.may_use``).
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape

from services.console import i18n, store
from services.console.access import Request as ServiceRequest
from services.console.access import may_use
from services.console.accounts import LANGUAGES, Language, SignedIn, StaffAccount

if TYPE_CHECKING:
    from services.console.app import Console

HERE = Path(__file__).parent
SESSION_COOKIE = "console_session"
SIGNIN_COOKIE = "console_signin"
"""Before sign-in: the CSRF token of the sign-in form (double submit)."""
LANGUAGE_COOKIE = "console_language"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SignInRequired(Exception):
    """No valid session: the user is sent to the sign-in page."""


class Forbidden(Exception):
    """The user's roles do not allow this page."""


class CsrfRefused(Exception):
    """A POST without the session's CSRF token."""


@dataclass(frozen=True)
class Page:
    """A page (or area) of the console: its nav entry and its access rule.

    ``requests`` are the commands and queries the page sends; the page is shown only to roles
    the access table allows for every one of them. ``nav=False`` keeps it out of the nav (a
    person's page, opened from a search)."""

    path: str
    label: str
    """An ``N_("...")`` string, translated where it is shown."""
    requests: tuple[ServiceRequest, ...]
    nav: bool = True
    order: int = 100
    """Where it stands in the nav: lower first (then by path)."""
    roles: tuple[str, ...] = ()
    """Only for these roles, besides ``requests``: for a page that sends no request the
    access table could guard (the operator's page reads the services' status)."""

    def allows(self, staff: SignedIn) -> bool:
        return may_use(staff.roles, self.requests, self.roles)

    async def guard(self, request: Request) -> SignedIn:
        """The route dependency: the signed-in user, if this page is for them."""
        staff = await signed_in(request)
        if not self.allows(staff):
            raise Forbidden()
        return staff


@dataclass
class Navigation:
    pages: list[Page] = field(default_factory=list)

    def add(self, page: Page) -> Page:
        if any(known.path == page.path for known in self.pages):
            raise ValueError(f"two pages at {page.path}")
        self.pages.append(page)
        return page

    def for_staff(self, staff: SignedIn | None) -> list[Page]:
        if staff is None:
            return []
        shown = [page for page in self.pages if page.nav and page.allows(staff)]
        return sorted(shown, key=lambda page: (page.order, page.path))


NAV = Navigation()
"""Every page, in nav order; ``services.console.pages`` registers them."""


def console_of(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


def sites_of(console: Console, account: StaffAccount) -> list[str]:
    """The sites the user may choose to work for: each of theirs and every site below it
    (``*``: every site), in the sites file's order."""
    organisation = console.settings.organisation
    if "*" in account.sites:
        return organisation.codes()
    reached = {code for mine in account.sites for code in organisation.with_descendants(mine)}
    return [code for code in organisation.codes() if code in reached]


def working_site(console: Console, account: StaffAccount, chosen: str | None = None) -> str:
    """The site the user works for: the one chosen in the header, else their first (the top
    site for head office, ``*``)."""
    choices = sites_of(console, account)
    if chosen in choices:
        assert chosen is not None
        return chosen
    first = account.sites[0]
    return first if first != "*" else choices[0]


async def current_staff(request: Request) -> SignedIn | None:
    """The signed-in user of this request (looked up once), or None; issues their carenet
    token again when a third of its life is left."""
    if hasattr(request.state, "staff"):
        found: SignedIn | None = request.state.staff
        return found
    request.state.staff = None
    session_id = request.cookies.get(SESSION_COOKIE)
    if not session_id:
        return None
    console = console_of(request)
    session = await store.session(console.pool, session_id)
    if session is None:
        return None
    account = await store.account(console.pool, session.username)
    if account is None:
        return None
    token = session.token
    ttl = console.settings.token_ttl_seconds
    if session.token_expires_at - datetime.now(UTC) < timedelta(seconds=ttl / 3):
        token, expires = console.issue_token(account)
        await store.renew_token(console.pool, session.id_hash, token, expires)
    site = working_site(console, account, session.site)
    i18n.use_language(account.language)
    request.state.staff = SignedIn(account, token, session.csrf, site, session.id_hash)
    return request.state.staff


async def signed_in(request: Request) -> SignedIn:
    """The route dependency for a page any signed-in user may see."""
    staff = await current_staff(request)
    if staff is None:
        raise SignInRequired()
    return staff


async def csrf_protect(request: Request) -> None:
    """Applied to every route: a POST (PUT, PATCH, DELETE) carries the CSRF token of the
    session (or, before sign-in, of the sign-in form) as form field ``csrf`` or header
    ``X-CSRF-Token`` (htmx 4 sends it from ``hx-headers:inherited`` on the body)."""
    if request.method not in UNSAFE_METHODS:
        return
    staff = await current_staff(request)
    expected = staff.csrf if staff is not None else request.cookies.get(SIGNIN_COOKIE)
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        content_type = request.headers.get("content-type", "")
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            value = (await request.form()).get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
    if not expected or not sent or not hmac.compare_digest(expected, sent):
        raise CsrfRefused()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def language_of(request: Request, staff: SignedIn | None) -> Language:
    if staff is not None:
        return staff.account.language
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    return next((language for language in LANGUAGES if language == chosen), "en")


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(  # type: ignore[attr-defined]
        gettext=i18n.gettext, ngettext=i18n.ngettext, newstyle=True
    )
    return env


TEMPLATES = _environment()


def render(
    request: Request,
    template: str,
    context: dict[str, Any] | None = None,
    *,
    status: int = 200,
    staff: SignedIn | None = None,
    csrf: str | None = None,
) -> HTMLResponse:
    """``template`` in the user's language, with what ``base.html`` needs."""
    staff = staff if staff is not None else getattr(request.state, "staff", None)
    console = console_of(request)
    zone = console.settings.organisation.zone
    language = language_of(request, staff)
    with i18n.speaking(language):
        html = TEMPLATES.get_template(template).render(
            request=request,
            staff=staff,
            csrf=csrf if csrf is not None else (staff.csrf if staff else ""),
            nav=NAV.for_staff(staff),
            sites=sites_of(console, staff.account) if staff is not None else [],
            language=language,
            languages=i18n.LANGUAGE_NAMES,
            day=lambda value, form="medium": i18n.format_day(value, zone, form),
            moment=lambda value, form="medium": i18n.format_moment(value, zone, form),
            **(context or {}),
        )
    return HTMLResponse(html, status_code=status)
