"""The volunteer rota (the coming two weeks' sessions, the duties still wanted and who stands
on each) and the volunteers list (teams, skills, hours; log hours, deactivate, reactivate)."""

from __future__ import annotations

import asyncio
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.access import may_use
from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.web import NAV, Page, console_of, render

CALENDAR = ("groups", "calendar")
UNFILLED = ("volunteers", "unfilled_duties")
ASSIGNMENTS = ("volunteers", "assignments")
REQUEST = ("volunteers", "request_volunteers")
ASSIGN = ("volunteers", "assign_volunteer")
CONFIRM = ("volunteers", "confirm_assignment")
DECLINE = ("volunteers", "decline_assignment")
VOLUNTEERS = ("volunteers", "volunteers")
LOG_HOURS = ("volunteers", "log_hours")
DEACTIVATE = ("volunteers", "deactivate_volunteer")
REACTIVATE = ("volunteers", "reactivate_volunteer")
PERSON = ("intake", "person")

ROTA = NAV.add(
    Page(
        "/rota",
        N_("Volunteer rota"),
        requests=(CALENDAR, UNFILLED, ASSIGNMENTS, VOLUNTEERS, REQUEST, ASSIGN, CONFIRM, DECLINE),
        order=40,
    )
)
LIST = NAV.add(
    Page(
        "/volunteers",
        N_("Volunteers"),
        requests=(VOLUNTEERS, LOG_HOURS, DEACTIVATE, REACTIVATE),
        order=41,
    )
)
DAYS = 14
STATUSES: dict[str, str] = {
    "proposed": N_("Proposed"),
    "confirmed": N_("Confirmed"),
    "declined": N_("Declined"),
    "cancelled": N_("Cancelled"),
}
REASONS: dict[str, str] = {
    "on_leave": N_("On leave"),
    "moved_away": N_("Moved away"),
    "stopped": N_("Stopped volunteering"),
    "other": N_("Other"),
}

router = APIRouter()


def _words(text: Any) -> list[str]:
    """A comma-separated field as a list (skills, teams)."""
    return [word.strip() for word in str(text or "").split(",") if word.strip()]


def _today(request: Request) -> date:
    return datetime.now(console_of(request).settings.organisation.zone).date()


def _first_day(request: Request, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return _today(request)


async def names_of(request: Request, staff: SignedIn, person_ids: set[str]) -> dict[str, str]:
    """Preferred names from intake, only when the user's roles may read people (else none:
    the page shows ids)."""
    if not person_ids or not may_use(staff.roles, (PERSON,)):
        return {}
    gateway = console_of(request).gateway
    ids = sorted(person_ids)
    replies = await asyncio.gather(
        *(gateway.send(staff.token, staff.site, PERSON, {"person_id": pid}) for pid in ids)
    )
    return {
        pid: str(reply.result.get("preferred_name") or "")
        for pid, reply in zip(ids, replies, strict=True)
        if reply.ok and reply.result
    }


async def _rota(request: Request, staff: SignedIn, first: date, **forms: Form) -> Response:
    gateway = console_of(request).gateway
    last = first + timedelta(days=DAYS - 1)
    looked = Form.blank()
    calendar = await looked.send(
        gateway, staff, CALENDAR, {"from": first.isoformat(), "to": last.isoformat()}
    )
    sessions: list[dict[str, Any]] = (
        (calendar.result or {}).get("sessions", []) if calendar.ok else []
    )
    wanted = Form.blank()
    unfilled = await wanted.send(
        gateway, staff, UNFILLED, {"from": first.isoformat(), "days": DAYS}
    )
    duties: list[dict[str, Any]] = (unfilled.result or {}).get("duties", []) if unfilled.ok else []
    replies = await asyncio.gather(
        *(
            gateway.send(staff.token, staff.site, ASSIGNMENTS, {"session_id": s["session_id"]})
            for s in sessions
        )
    )
    team = await gateway.send(staff.token, staff.site, VOLUNTEERS, {})
    active: list[dict[str, Any]] = (team.result or {}).get("volunteers", []) if team.ok else []
    names = await names_of(request, staff, {v["person_id"] for v in active})
    # Who each volunteer is, as the user may know them: their name, else their id.
    known = {v["volunteer_id"]: names.get(v["person_id"]) or v["volunteer_id"] for v in active}
    for session, reply in zip(sessions, replies, strict=True):
        session["assignments"] = (reply.result or {}).get("assignments", []) if reply.ok else []
        session["unfilled"] = [d for d in duties if d["session_id"] == session["session_id"]]
    blank = {
        "request_form": Form.blank(),
        "assign_form": Form.blank(),
        "answer_form": Form.blank(),
    }
    return render(
        request,
        "rota/rota.html",
        {
            "first": first,
            "last": last,
            "earlier": (first - timedelta(days=DAYS)).isoformat(),
            "later": (first + timedelta(days=DAYS)).isoformat(),
            "sessions": sessions,
            "duties": duties,
            "looked": looked if not looked.ok else wanted,
            "statuses": STATUSES,
            "known": known,
            **blank,
            **forms,
        },
        staff=staff,
    )


def _back(form: Form, **done: str) -> RedirectResponse:
    query = urlencode({"from": form.value("from"), **done})
    return RedirectResponse(f"/rota?{query}", status_code=303)


@router.get("/rota")
async def rota(
    request: Request,
    staff: Annotated[SignedIn, Depends(ROTA.guard)],
) -> Response:
    """``?from=YYYY-MM-DD``: the first day shown (default today)."""
    first = _first_day(request, request.query_params.get("from", ""))
    return await _rota(request, staff, first)


@router.post("/rota/request")
async def request_volunteers(
    request: Request, staff: Annotated[SignedIn, Depends(ROTA.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("session_id", "role", "count")
    payload["skills"] = _words(form.value("skills"))
    if _words(form.value("teams")):
        payload["teams"] = _words(form.value("teams"))
    await form.send(console_of(request).gateway, staff, REQUEST, payload)
    if form.ok:
        return _back(form, done="requested")
    return await _rota(request, staff, _first_day(request, form.value("from")), request_form=form)


@router.post("/rota/assign")
async def assign_volunteer(
    request: Request, staff: Annotated[SignedIn, Depends(ROTA.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("session_id", "volunteer_id", "role")
    payload["skills"] = _words(form.value("skills"))
    if _words(form.value("teams")):
        payload["teams"] = _words(form.value("teams"))
    await form.send(console_of(request).gateway, staff, ASSIGN, payload)
    if form.ok:
        return _back(form, done="assigned")
    return await _rota(request, staff, _first_day(request, form.value("from")), assign_form=form)


@router.post("/rota/answer")
async def answer(request: Request, staff: Annotated[SignedIn, Depends(ROTA.guard)]) -> Response:
    """Confirm or decline a volunteer's duty (the button pressed says which)."""
    form = await Form.read(request)
    what = CONFIRM if form.value("answer") == "confirm" else DECLINE
    await form.send(console_of(request).gateway, staff, what, form.payload("assignment_id"))
    if form.ok:
        return _back(form, done=form.value("answer"))
    return await _rota(request, staff, _first_day(request, form.value("from")), answer_form=form)


async def _list(request: Request, staff: SignedIn, **forms: Form) -> Response:
    looked = Form.blank()
    reply = await looked.send(
        console_of(request).gateway, staff, VOLUNTEERS, {"include_inactive": True}
    )
    found: list[dict[str, Any]] = (reply.result or {}).get("volunteers", []) if reply.ok else []
    names = await names_of(request, staff, {v["person_id"] for v in found})
    return render(
        request,
        "rota/volunteers.html",
        {
            "volunteers": found,
            "names": names,
            "looked": looked,
            "reasons": REASONS,
            "hours_form": Form.blank(on=_today(request).isoformat()),
            "change_form": Form.blank(),
            **forms,
        },
        staff=staff,
    )


@router.get("/volunteers")
async def volunteers(request: Request, staff: Annotated[SignedIn, Depends(LIST.guard)]) -> Response:
    return await _list(request, staff)


@router.post("/volunteers/hours")
async def log_hours(request: Request, staff: Annotated[SignedIn, Depends(LIST.guard)]) -> Response:
    form = await Form.read(request)
    payload = form.payload("volunteer_id", "minutes", "activity", "on")
    await form.send(console_of(request).gateway, staff, LOG_HOURS, payload)
    if form.ok:
        return RedirectResponse("/volunteers?done=hours", status_code=303)
    return await _list(request, staff, hours_form=form)


@router.post("/volunteers/active")
async def change(request: Request, staff: Annotated[SignedIn, Depends(LIST.guard)]) -> Response:
    """Deactivate (with a reason) or reactivate a volunteer."""
    form = await Form.read(request)
    if form.value("change") == "reactivate":
        what, payload = REACTIVATE, form.payload("volunteer_id")
    else:
        what, payload = DEACTIVATE, form.payload("volunteer_id", "reason")
    await form.send(console_of(request).gateway, staff, what, payload)
    if form.ok:
        return RedirectResponse(f"/volunteers?done={form.value('change')}", status_code=303)
    return await _list(request, staff, change_form=form)
