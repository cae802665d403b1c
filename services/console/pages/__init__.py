"""Every page's router, in nav order: a new area is a module here, added to ``ROUTERS``
(its ``Page`` registers itself in the nav when the module is imported)."""

from fastapi import APIRouter

from services.console.pages import home, people, signin

ROUTERS: list[APIRouter] = [signin.router, home.router, people.router]
