"""Every page's router: a new area is a module here, added to ``ROUTERS`` (its ``Page``
registers itself in the nav when the module is imported; ``Page.order`` places it)."""

from fastapi import APIRouter

from services.console.pages import home, people, report, signin

ROUTERS: list[APIRouter] = [signin.router, home.router, people.router, report.router]
