"""My caseload: the signed-in worker's open cases (intake's ``caseload``), oldest first."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from services.console.accounts import SignedIn
from services.console.i18n import N_
from services.console.reads import ask
from services.console.web import NAV, Page, render

CASELOAD = ("intake", "caseload")
PAGE = NAV.add(Page("/caseload", N_("My caseload"), requests=(CASELOAD,), order=15))

router = APIRouter()


@router.get("/caseload")
async def caseload(request: Request, staff: Annotated[SignedIn, Depends(PAGE.guard)]) -> Response:
    found, asked = await ask(request, staff, CASELOAD, {"worker_id": staff.account.username})
    return render(
        request,
        "caseload/caseload.html",
        {"cases": (found or {}).get("cases", []), "asked": asked},
        staff=staff,
    )
