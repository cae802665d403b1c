"""Peer matches and their contacts: a peer supporter sees and logs their own (volunteers
enforces it); coordinators also start and end matches."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_
from services.console.pages.rota import VOLUNTEERS, names_of
from services.console.web import NAV, Page, console_of, render

MATCHES = ("volunteers", "peer_matches")
LOG_CONTACT = ("volunteers", "log_peer_contact")
START = ("volunteers", "start_peer_match")
END = ("volunteers", "end_peer_match")

PAGE = NAV.add(Page("/peer", N_("Peer matches"), requests=(MATCHES, LOG_CONTACT), order=42))
COORDINATING = NAV.add(
    Page(
        "/peer/match",
        N_("Start or end a peer match"),
        requests=(START, END, VOLUNTEERS),
        nav=False,
    )
)
"""The routes that start and end a match: for coordinators only."""

SHOWN: dict[str, str] = {"active": N_("Open"), "ended": N_("Ended"), "all": N_("All")}
MODES: dict[str, str] = {
    "phone": N_("Phone"),
    "visit": N_("Visit"),
    "online": N_("Online"),
    "group": N_("Group"),
}
END_REASONS: dict[str, str] = {
    "goals_met": N_("Goals met"),
    "user_request": N_("The person asked to end it"),
    "peer_request": N_("The peer supporter asked to end it"),
    "no_contact": N_("No contact"),
    "case_closed": N_("Case closed"),
    "other": N_("Other"),
}

router = APIRouter()


async def _page(
    request: Request, staff: SignedIn, status: str, match_id: str, **forms: Form
) -> Response:
    gateway = console_of(request).gateway
    looked = Form.blank()
    status = status if status in SHOWN else "active"
    reply = await looked.send(gateway, staff, MATCHES, {"status": status})
    matches: list[dict[str, Any]] = (reply.result or {}).get("matches", []) if reply.ok else []
    chosen: dict[str, Any] | None = None
    opened = Form.blank()
    if match_id:
        one = await opened.send(gateway, staff, MATCHES, {"match_id": match_id})
        found = (one.result or {}).get("matches", []) if one.ok else []
        chosen = found[0] if found else None
    shown = [*matches, *([chosen] if chosen else [])]
    coordinator = COORDINATING.allows(staff)
    team: list[dict[str, Any]] = []
    if coordinator:
        listed = await gateway.send(staff.token, staff.site, VOLUNTEERS, {})
        team = (listed.result or {}).get("volunteers", []) if listed.ok else []
    people = {m["person_id"] for m in shown} | {v["person_id"] for v in team}
    names = await names_of(request, staff, people)
    # Peer supporters as the user may know them: their name, else their volunteer id.
    peers = {v["volunteer_id"]: names.get(v["person_id"]) or v["volunteer_id"] for v in team}
    return render(
        request,
        "peer/matches.html",
        {
            "status": status,
            "matches": matches,
            "chosen": chosen,
            "names": names,
            "looked": looked,
            "opened": opened,
            "shown_options": SHOWN,
            "modes": MODES,
            "end_reasons": END_REASONS,
            "coordinator": coordinator,
            "peers": peers,
            "contact_form": Form.blank(match_id=match_id),
            "start_form": Form.blank(),
            "end_form": Form.blank(match_id=match_id),
            **forms,
        },
        staff=staff,
    )


def _back(match_id: str, done: str) -> RedirectResponse:
    query = urlencode({"match_id": match_id, "done": done} if match_id else {"done": done})
    return RedirectResponse(f"/peer?{query}", status_code=303)


@router.get("/peer")
async def matches(
    request: Request,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    status: str = "active",
    match_id: str = "",
) -> Response:
    """``?match_id=``: that match's contacts; ``?status=active|ended|all``."""
    return await _page(request, staff, status, match_id.strip())


@router.post("/peer/contact")
async def log_contact(
    request: Request, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("match_id", "date", "minutes", "mode")
    await form.send(console_of(request).gateway, staff, LOG_CONTACT, payload)
    if form.ok:
        return _back(form.value("match_id"), "contact")
    return await _page(request, staff, "active", form.value("match_id"), contact_form=form)


@router.post("/peer/match/start")
async def start(
    request: Request, staff: Annotated[SignedIn, Depends(COORDINATING.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("peer_volunteer_id", "person_id")
    reply = await form.send(console_of(request).gateway, staff, START, payload)
    if form.ok and reply.result is not None:
        return _back(str(reply.result.get("match_id", "")), "started")
    return await _page(request, staff, "active", "", start_form=form)


@router.post("/peer/match/end")
async def end(
    request: Request, staff: Annotated[SignedIn, Depends(COORDINATING.guard)]
) -> Response:
    form = await Form.read(request)
    await form.send(console_of(request).gateway, staff, END, form.payload("match_id", "reason"))
    if form.ok:
        return _back(form.value("match_id"), "ended")
    return await _page(request, staff, "active", form.value("match_id"), end_form=form)
