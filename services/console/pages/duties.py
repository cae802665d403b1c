"""A peer supporter's own coming duties, to confirm or decline: they sign in as their
volunteer id (their tokens' ``sub``), and volunteers answers for that volunteer only."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.pages.rota import CONFIRM, DECLINE, STATUSES
from services.console.web import NAV, Page, console_of, render

DUTIES = ("volunteers", "volunteer_duties")

PAGE = NAV.add(
    Page(
        "/duties",
        N_("My duties"),
        requests=(DUTIES, CONFIRM, DECLINE),
        roles=("peer_supporter",),
        order=39,
    )
)

router = APIRouter()


async def _page(request: Request, staff: SignedIn, answer_form: Form | None = None) -> Response:
    looked = Form.blank()
    reply = await looked.send(
        console_of(request).gateway, staff, DUTIES, {"volunteer_id": staff.account.username}
    )
    duties: list[dict[str, Any]] = (reply.result or {}).get("duties", []) if reply.ok else []
    return render(
        request,
        "duties/duties.html",
        {
            "duties": duties,
            "looked": looked,
            "statuses": STATUSES,
            "answer_form": answer_form or Form.blank(),
            "done": request.query_params.get("done", ""),
        },
        staff=staff,
    )


@router.get("/duties")
async def duties(request: Request, staff: Annotated[SignedIn, Depends(PAGE.guard)]) -> Response:
    return await _page(request, staff)


@router.post("/duties/answer")
async def answer(request: Request, staff: Annotated[SignedIn, Depends(PAGE.guard)]) -> Response:
    """Confirm or decline one's own duty (the button pressed says which)."""
    form = await Form.read(request)
    confirming = form.value("answer") == "confirm"
    payload = form.payload("assignment_id") | ({} if confirming else form.payload("reason"))
    what = CONFIRM if confirming else DECLINE
    await form.send(console_of(request).gateway, staff, what, payload)
    if form.ok:
        done = "confirmed" if confirming else "declined"
        return RedirectResponse(f"/duties?{urlencode({'done': done})}", status_code=303)
    return await _page(request, staff, answer_form=form)
