"""The operator's page: each service instance's readiness, consumer lag, outbox and dead
letters, as `carenet status` reads them (shared.kit.observability.status). No personal data."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.accounts import SignedIn
from services.console.i18n import N_
from services.console.web import NAV, Page, console_of, render
from shared.kit.observability.status import collect

PAGE = NAV.add(
    Page("/operations", N_("Service status"), requests=(), roles=("operator",), order=90)
)

router = APIRouter()


@router.get("/operations")
async def operations(request: Request, staff: Annotated[SignedIn, Depends(PAGE.guard)]) -> Response:
    settings = console_of(request).settings
    urls = list(settings.status_urls)
    status = await collect(urls, None, settings.admin_nats_url, None) if urls else None
    return render(request, "operations/status.html", {"status": status}, staff=staff)
