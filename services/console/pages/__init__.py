"""Every page's router: a new area is a module here, added to ``ROUTERS`` (its ``Page``
registers itself in the nav when the module is imported; ``Page.order`` places it)."""

from fastapi import APIRouter

from services.console.pages import (
    access_request,
    calendar_week,
    caseload,
    duties,
    home,
    operations,
    peer,
    people,
    person,
    programmes,
    referrals,
    report,
    roster,
    rota,
    signin,
)

ROUTERS: list[APIRouter] = [
    signin.router,
    home.router,
    people.router,
    person.router,
    access_request.router,
    referrals.router,
    caseload.router,
    calendar_week.router,
    programmes.router,
    roster.router,
    rota.router,
    duties.router,
    peer.router,
    operations.router,
    report.router,
]
