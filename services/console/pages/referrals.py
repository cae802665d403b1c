"""The referral inbox (intake's ``referrals_undecided``): undecided referrals, urgent and
oldest first, each with its decision and its needs-and-risk screening; waitlisted ones below,
to decide again; and a referral received by phone or letter."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.reads import (
    FIND,
    PERSON,
    answers_beside_items,
    ask,
    find_people,
    names_of,
    screenings,
)
from services.console.web import NAV, Page, console_of, render

UNDECIDED = ("intake", "referrals_undecided")
DECIDE = ("intake", "decide_referral")
SCREEN = ("intake", "screen_referral")
RECEIVE = ("intake", "receive_referral")
PAGE = NAV.add(
    Page(
        "/referrals",
        N_("Referrals"),
        requests=(UNDECIDED, DECIDE, SCREEN, RECEIVE, PERSON, FIND),
        order=20,
    )
)

DECISIONS: dict[str, str] = {
    "accepted": N_("Accept"),
    "declined": N_("Decline"),
    "waitlisted": N_("Waitlist"),
}
SOURCES: dict[str, str] = {
    "hospital": N_("Hospital"),
    "street_office": N_("Street office"),
    "residents_committee": N_("Residents' committee"),
    "ngo": N_("Another NGO"),
    "probation": N_("Probation"),
    "school": N_("School"),
    "family": N_("Family"),
    "self": N_("Self-referral"),
    "other": N_("Other"),
}
URGENCIES: dict[str, str] = {"routine": N_("Routine"), "urgent": N_("Urgent")}
SCREENING = "needs_risk"

router = APIRouter()


async def _inbox(
    request: Request,
    staff: SignedIn,
    failed: dict[str, Form] | None = None,
    *,
    text: str = "",
    saved: str = "",
    status: int = 200,
) -> Response:
    listed, asked = await ask(request, staff, UNDECIDED, {"include_waitlisted": True})
    referrals = (listed or {}).get("referrals", [])
    names = await names_of(request, staff, [r["person_id"] for r in referrals if r["person_id"]])
    failed = failed or {}
    receive = failed.get("receive") or Form.blank(person_id="", urgency="routine")
    people, search = await find_people(request, staff, text)
    return render(
        request,
        "referrals/inbox.html",
        {
            "asked": asked,
            "received": [r for r in referrals if r["status"] == "received"],
            "waitlisted": [r for r in referrals if r["status"] == "waitlisted"],
            "names": names,
            "failed": failed,
            "blank": Form.blank,
            "receive": receive,
            "people": people,
            "search": search,
            "saved": saved,
            "decisions": DECISIONS,
            "redecisions": {k: v for k, v in DECISIONS.items() if k != "waitlisted"},
            "sources": SOURCES,
            "urgencies": URGENCIES,
            "screening": screenings()[SCREENING],
        },
        staff=staff,
        status=status,
    )


@router.get("/referrals")
async def inbox(
    request: Request,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    text: str = "",
    saved: str = "",
) -> Response:
    return await _inbox(request, staff, text=text, saved=saved)


async def _send(
    request: Request,
    staff: SignedIn,
    key: str,
    form: Form,
    what: tuple[str, str],
    payload: dict[str, Any],
) -> Response:
    await form.send(console_of(request).gateway, staff, what, payload)
    if form.ok:
        return RedirectResponse(f"/referrals?{urlencode({'saved': key.split(':')[0]})}", 303)
    return await _inbox(request, staff, {key: form}, text=form.value("text"))


@router.post("/referrals/receive")
async def receive(request: Request, staff: Annotated[SignedIn, Depends(PAGE.guard)]) -> Response:
    form = await Form.read(request)
    payload = form.payload("person_id", "source", "reason", "urgency")
    return await _send(request, staff, "receive", form, RECEIVE, payload)


@router.post("/referrals/{referral_id}/decide")
async def decide(
    request: Request, referral_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("decision", "reason", referral_id=str(referral_id))
    return await _send(request, staff, f"decide:{referral_id}", form, DECIDE, payload)


@router.post("/referrals/{referral_id}/screen")
async def screen(
    request: Request, referral_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request)
    names = [f"item_{item.code}" for item in screenings()[SCREENING].items]
    # A question left unanswered is sent as it is, so intake names it and it is shown there.
    form.values["answers"] = [int(a) if a.isdigit() else a for a in map(form.value, names)]
    payload = form.payload("answers", referral_id=str(referral_id), screening=SCREENING)
    await form.send(console_of(request).gateway, staff, SCREEN, payload)
    if form.ok:
        return RedirectResponse("/referrals?saved=screen", status_code=303)
    answers_beside_items(form, names)
    return await _inbox(request, staff, {f"screen:{referral_id}": form})
