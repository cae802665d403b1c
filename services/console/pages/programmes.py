"""Programmes and their waitlists (groups' ``programmes``, ``programme``, ``waitlist``):
places taken, who waits (names from intake's ``person`` with the user's token, or their
reference when the user may not read names), enrol someone found by name, withdraw, change
the places, add sessions on the programme's schedule."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.pages.calendar_week import PLANNING, PROGRAMME_TYPES, today
from services.console.pages.roster import PAGE as ROSTER_PAGE
from services.console.web import NAV, Page, console_of, render

LIST = ("groups", "programmes")
ONE = ("groups", "programme")
WAITLIST = ("groups", "waitlist")
ROSTER = ("groups", "roster")
COMPLETION = ("groups", "completion")
PERSON = ("intake", "person")
FIND = ("intake", "find_people")
ENROL = ("groups", "enrol")
WITHDRAW = ("groups", "withdraw")
CHANGE_CAPACITY = ("groups", "change_capacity")
EXTEND = ("groups", "extend_programme")
PAGE = NAV.add(Page("/programmes", N_("Programmes and waitlists"), requests=(LIST, ONE), order=40))
MANAGING = NAV.add(
    Page(
        "/programmes/managing",
        N_("Enrol and manage places"),
        requests=(
            LIST,
            ONE,
            WAITLIST,
            ROSTER,
            COMPLETION,
            FIND,
            ENROL,
            WITHDRAW,
            CHANGE_CAPACITY,
            EXTEND,
        ),
        nav=False,
    )
)

router = APIRouter()


@router.get("/programmes")
async def programmes(
    request: Request,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    include_ended: str = "",
) -> Response:
    shown = Form.blank(include_ended=include_ended)
    reply = await shown.send(
        console_of(request).gateway, staff, LIST, {"include_ended": include_ended == "true"}
    )
    return render(
        request,
        "programmes/list.html",
        {
            "programmes": (reply.result or {}).get("programmes", []) if reply.ok else [],
            "shown": shown,
            "types": PROGRAMME_TYPES,
        },
        staff=staff,
    )


async def names_of(request: Request, staff: SignedIn, person_ids: list[str]) -> dict[str, str]:
    """Preferred names from intake, read with the user's own token (intake logs each read);
    a person whose name the user may not read is left out, and shown by reference."""
    gateway = console_of(request).gateway

    async def one(person_id: str) -> tuple[str, str | None]:
        reply = await gateway.send(staff.token, staff.site, PERSON, {"person_id": person_id})
        return person_id, (reply.result or {}).get("preferred_name") if reply.ok else None

    found = await asyncio.gather(*(one(p) for p in dict.fromkeys(person_ids)))
    return {person_id: name for person_id, name in found if name}


async def _enrolled(
    request: Request, staff: SignedIn, sessions: list[dict[str, Any]], programme_id: str
) -> list[dict[str, Any]]:
    """Those enrolled now, with their enrolment (to withdraw it) and name: from the roster of
    a session (which names its people), less anyone there who has since withdrawn."""
    if not sessions:
        return []
    gateway = console_of(request).gateway
    roster, still = await asyncio.gather(
        gateway.send(staff.token, staff.site, ROSTER, {"session_id": sessions[-1]["session_id"]}),
        gateway.send(staff.token, staff.site, COMPLETION, {"programme_id": programme_id}),
    )
    if not (roster.ok and still.ok):
        return []
    enrolled = {
        p["person_id"]
        for p in (still.result or {}).get("participants", [])
        if p["status"] == "enrolled"
    }
    return [
        p
        for p in (roster.result or {}).get("people", [])
        if p["enrollment_id"] and p["person_id"] in enrolled
    ]


async def _programme_page(
    request: Request,
    staff: SignedIn,
    programme_id: UUID,
    *,
    text: str = "",
    enrolment: Form | None = None,
    withdrawal: Form | None = None,
    places: Form | None = None,
    more: Form | None = None,
    done: str = "",
) -> Response:
    gateway = console_of(request).gateway
    shown = Form.blank()
    reply = await shown.send(gateway, staff, ONE, {"programme_id": str(programme_id)})
    programme = (reply.result or {}) if reply.ok else {}
    managing = MANAGING.allows(staff)
    waitlist: list[dict[str, Any]] = []
    enrolled: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    found: list[dict[str, Any]] = []
    search = Form.blank(text=text)
    if programme and managing:
        waiting = await gateway.send(
            staff.token, staff.site, WAITLIST, {"programme_id": str(programme_id)}
        )
        waitlist = (waiting.result or {}).get("waitlist", []) if waiting.ok else []
        names = await names_of(request, staff, [w["person_id"] for w in waitlist])
        live = [s for s in programme.get("sessions", []) if s["status"] != "cancelled"]
        enrolled = await _enrolled(request, staff, live, str(programme_id))
        if text:
            answer = await search.send(gateway, staff, FIND, {"text": text})
            found = (answer.result or {}).get("people", []) if answer.ok else []
    return render(
        request,
        "programmes/programme.html",
        {
            "programme": programme,
            "programme_id": str(programme_id),
            "shown": shown,
            "managing": managing,
            "may_take_attendance": ROSTER_PAGE.allows(staff),
            "may_plan": PLANNING.allows(staff),
            "waitlist": waitlist,
            "enrolled": enrolled,
            "names": names,
            "found": found,
            "search": search,
            "searched": bool(text),
            "enrolment": enrolment or Form.blank(text=text),
            "withdrawal": withdrawal or Form.blank(),
            "places": places or Form.blank(capacity=programme.get("capacity", "")),
            "more": more or Form.blank(count="1"),
            "types": PROGRAMME_TYPES,
            "today": today(request).isoformat(),
            "done": done,
        },
        staff=staff,
        status=200 if programme or not shown.error or shown.error.code != "not_found" else 404,
    )


@router.get("/programmes/{programme_id}")
async def programme(
    request: Request,
    programme_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    text: str = "",
    done: str = "",
) -> Response:
    return await _programme_page(request, staff, programme_id, text=text.strip(), done=done)


def _done(programme_id: UUID, what: str) -> Response:
    return RedirectResponse(f"/programmes/{programme_id}?done={what}", status_code=303)


@router.post("/programmes/{programme_id}/enrol")
async def enrol(
    request: Request, programme_id: UUID, staff: Annotated[SignedIn, Depends(MANAGING.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("person_id", programme_id=str(programme_id))
    reply = await form.send(console_of(request).gateway, staff, ENROL, payload)
    if form.ok:
        status = (reply.result or {}).get("status", "enrolled")
        return _done(programme_id, status)
    return await _programme_page(
        request, staff, programme_id, text=form.value("text"), enrolment=form
    )


@router.post("/programmes/{programme_id}/withdraw")
async def withdraw(
    request: Request, programme_id: UUID, staff: Annotated[SignedIn, Depends(MANAGING.guard)]
) -> Response:
    form = await Form.read(request)
    await form.send(console_of(request).gateway, staff, WITHDRAW, form.payload("enrollment_id"))
    if form.ok:
        return _done(programme_id, "withdrawn")
    return await _programme_page(request, staff, programme_id, withdrawal=form)


@router.post("/programmes/{programme_id}/capacity")
async def change_capacity(
    request: Request, programme_id: UUID, staff: Annotated[SignedIn, Depends(MANAGING.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("capacity", programme_id=str(programme_id))
    await form.send(console_of(request).gateway, staff, CHANGE_CAPACITY, payload)
    if form.ok:
        return _done(programme_id, "capacity")
    return await _programme_page(request, staff, programme_id, places=form)


@router.post("/programmes/{programme_id}/extend")
async def extend(
    request: Request, programme_id: UUID, staff: Annotated[SignedIn, Depends(MANAGING.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("count", programme_id=str(programme_id))
    await form.send(console_of(request).gateway, staff, EXTEND, payload)
    if form.ok:
        return _done(programme_id, "extended")
    return await _programme_page(request, staff, programme_id, more=form)
