"""Every page's router: a new area is a module here, added to ``ROUTERS`` (its ``Page``
registers itself in the nav when the module is imported; ``Page.order`` places it)."""

from fastapi import APIRouter

from services.console.pages import caseload, home, people, person, referrals, signin
from services.console.pages import calendar_week, home, people, programmes, roster, signin
from services.console.pages import home, operations, peer, people, rota, signin

ROUTERS: list[APIRouter] = [
    signin.router,
    home.router,
    people.router,
    person.router,
    referrals.router,
    caseload.router,
    calendar_week.router,
    programmes.router,
    roster.router,
    rota.router,
    peer.router,
    operations.router,
]
from services.console.pages import home, people, report, signin

ROUTERS: list[APIRouter] = [signin.router, home.router, people.router, report.router]
