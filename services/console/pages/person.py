"""A person's page: who they are, their carers, consents, cases with notes and care plan,
assessments (with a chart), enrolments and safety follow-ups, and the forms to change them.
Everything is read from and sent to the services; a refused form is shown again in place."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.gateway import CLEARED
from services.console.i18n import N_
from services.console.pages import access_request
from services.console.pages.people import ROLES, SEXES
from services.console.reads import (
    PERSON,
    answers_beside_items,
    ask,
    find_people,
    instruments,
    names_of,
)
from services.console.web import NAV, Page, console_of, render

CONSENT = ("intake", "consent")
RECORD_CONSENT = ("intake", "record_consent")
CASE_RECORD = ("intake", "case_record")
OPEN_CASE = ("intake", "open_case")
ADD_NOTE = ("intake", "add_case_note")
SET_GOAL = ("intake", "set_goal")
REVIEW_GOAL = ("intake", "review_goal")
END_GOAL = ("intake", "end_goal")
ASSESSMENTS = ("intake", "assessments")
RECORD_ASSESSMENT = ("intake", "record_assessment")
FOLLOWUPS = ("intake", "safety_followups")
ACKNOWLEDGE = ("intake", "acknowledge_safety_followup")
LINK_CARER = ("intake", "link_carer")
UPDATE = ("intake", "update_person")
ENROLMENTS = ("groups", "person_enrolments")
ERASE = ("intake", "erase_person")

PAGE = NAV.add(
    Page(
        "/people/{person_id}",
        N_("A person's page"),
        requests=(PERSON, CONSENT, CASE_RECORD, ASSESSMENTS, FOLLOWUPS, UPDATE, ENROLMENTS),
        nav=False,
    )
)

ERASING = NAV.add(
    Page("/people/{person_id}/erase", N_("Erase personal data"), requests=(ERASE,), nav=False)
)

PURPOSES: dict[str, str] = {
    "service": N_("Receiving services"),
    "outcome_data": N_("Outcome data"),
    "data_sharing": N_("Sharing data with partners"),
}
RELATIONSHIPS: dict[str, str] = {
    "parent": N_("Parent"),
    "spouse": N_("Spouse"),
    "sibling": N_("Sibling"),
    "child": N_("Child"),
    "other": N_("Other"),
}
SIDES: dict[str, str] = {
    "carer": N_("They care for this person"),
    "cared_for": N_("This person cares for them"),
}
PROGRESS: dict[str, str] = {
    "not_started": N_("Not started"),
    "some_progress": N_("Some progress"),
    "on_track": N_("On track"),
    "setback": N_("Setback"),
}
OUTCOMES: dict[str, str] = {"met": N_("Met"), "dropped": N_("Dropped")}
TIMEPOINTS: dict[str, str] = {
    "baseline": N_("Baseline"),
    "mid": N_("Midway"),
    "post": N_("End of service"),
    "follow_up": N_("Follow-up"),
}
STATUSES: dict[str, str] = {
    "open": N_("Open"),
    "transferring": N_("Being transferred"),
    "transferred": N_("Transferred"),
    "closed": N_("Closed"),
    "active": N_("Active"),
    "met": N_("Met"),
    "dropped": N_("Dropped"),
    "enrolled": N_("Enrolled"),
    "waitlisted": N_("Waitlisted"),
    "withdrawn": N_("Withdrawn"),
    "present": N_("Present"),
    "absent": N_("Absent"),
}
OPEN = ("open", "transferring")
EDITABLE = ("preferred_name", "legal_name", "roles", "sex", "birth_year", "phone", "language")
EDITABLE_ALL = (*EDITABLE, "address")
CLEARABLE = ("legal_name", "sex", "birth_year", "phone", "language", "address")
"""What a correction may empty; the form lists in ``had`` those that held something, so an
emptied field is cleared and a field that was empty all along is left alone."""
COLOURS = ("#24506b", "#b5502a", "#2f7d3b", "#7a3f8f", "#8a6d00", "#00707a")

router = APIRouter()


@dataclass
class ChartPoint:
    x: float
    y: float
    score: float
    timepoint: str
    day: str


@dataclass
class ChartLine:
    instrument: str
    title: str
    colour: str
    points: list[ChartPoint] = field(default_factory=list)

    @property
    def path(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


CHART_WIDTH, CHART_HEIGHT, MARGIN = 600, 220, 30


def chart_lines(assessments: list[dict[str, Any]]) -> list[ChartLine]:
    """One line per instrument: days along, each score's place in its instrument's range
    (lowest possible at the bottom, highest at the top) up, so instruments share one chart."""
    counted = [a for a in assessments if not a.get("voided")]
    if not counted:
        return []
    days = [date.fromisoformat(a["assessed_on"]) for a in counted]
    first, span = min(days), max((max(days) - min(days)).days, 1)
    known = instruments()
    lines: dict[str, ChartLine] = {}
    for assessment, day in zip(counted, days, strict=True):
        code = assessment["instrument"]
        if code not in lines:
            title = known[code].title if code in known else code
            lines[code] = ChartLine(code, title, COLOURS[len(lines) % len(COLOURS)])
        low, high = Decimal(0), Decimal(1)
        if code in known:
            low, high = known[code].lowest_score, known[code].highest_score
        share = float((Decimal(str(assessment["score"])) - low) / ((high - low) or 1))
        if len(set(days)) == 1:
            x = CHART_WIDTH / 2
        else:
            x = MARGIN + (CHART_WIDTH - 2 * MARGIN) * (day - first).days / span
        y = CHART_HEIGHT - MARGIN - (CHART_HEIGHT - 2 * MARGIN) * min(max(share, 0.0), 1.0)
        lines[code].points.append(
            ChartPoint(
                x, y, assessment["score"], assessment["timepoint"], assessment["assessed_on"]
            )
        )
    return list(lines.values())


async def _page(
    request: Request,
    staff: SignedIn,
    person_id: UUID,
    failed: dict[str, Form] | None = None,
    *,
    status: int = 200,
    carer_text: str = "",
    saved: str = "",
) -> Response:
    """The page, with ``failed`` (by form key) shown again as the user left them."""
    pid = str(person_id)
    person, asked = await ask(request, staff, PERSON, {"person_id": pid})
    if person is None:
        return render(
            request,
            "person/person.html",
            {"person": None, "asked": asked},
            staff=staff,
            status=404 if asked.error and asked.error.code == "not_found" else 200,
        )
    links = person.get("carers", []) + person.get("cares_for", [])
    names = await names_of(request, staff, [link["person_id"] for link in links])
    consent, consent_asked = await ask(request, staff, CONSENT, {"person_id": pid})
    records: dict[str, dict[str, Any]] = {}
    for case in person.get("cases", []):
        if case["status"] in OPEN:
            record, _asked = await ask(request, staff, CASE_RECORD, {"case_id": case["case_id"]})
            if record is not None:
                records[case["case_id"]] = record
    assessed, assessed_asked = await ask(request, staff, ASSESSMENTS, {"person_id": pid})
    assessments = (assessed or {}).get("assessments", [])
    counted = [a["assessed_on"] for a in assessments if not a.get("voided")]
    followed, followed_asked = await ask(request, staff, FOLLOWUPS, {})
    followups = [f for f in (followed or {}).get("followups", []) if f["person_id"] == pid]
    enrolled, enrolled_asked = await ask(request, staff, ENROLMENTS, {"person_id": pid})
    candidates, carer_search = await find_people(request, staff, carer_text)
    failed = failed or {}
    edit = failed.get("edit") or Form.blank(
        **{name: person.get(name) or "" for name in EDITABLE_ALL if name != "roles"},
        roles=list(person.get("roles", [])),
        had=[name for name in CLEARABLE if person.get(name) not in (None, "")],
    )
    return render(
        request,
        "person/person.html",
        {
            "person": person,
            "asked": asked,
            "names": names,
            "consent": consent,
            "consent_asked": consent_asked,
            "records": records,
            "has_open_case": any(c["status"] in OPEN for c in person.get("cases", [])),
            "assessments": assessments,
            "assessed_asked": assessed_asked,
            "lines": chart_lines(assessments),
            "first_day": min(counted, default=""),
            "last_day": max(counted, default=""),
            "chart": {"width": CHART_WIDTH, "height": CHART_HEIGHT, "margin": MARGIN},
            "followups": followups,
            "followed_asked": followed_asked,
            "enrolled": enrolled,
            "enrolled_asked": enrolled_asked,
            "candidates": [c for c in candidates if c["person_id"] != pid],
            "carer_search": carer_search,
            "failed": failed,
            "blank": Form.blank,
            "edit": edit,
            "saved": saved,
            "may_export": access_request.PAGE.allows(staff),
            "may_erase": ERASING.allows(staff),
            "erase": failed.get("erase") or Form.blank(),
            "instruments": instruments(),
            "roles": ROLES,
            "sexes": SEXES,
            "purposes": PURPOSES,
            "relationships": RELATIONSHIPS,
            "sides": SIDES,
            "progress": PROGRESS,
            "outcomes": OUTCOMES,
            "timepoints": TIMEPOINTS,
            "statuses": STATUSES,
        },
        staff=staff,
        status=status,
    )


@router.get("/people/{person_id}")
async def person_page(
    request: Request,
    person_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    carer_text: str = "",
    saved: str = "",
) -> Response:
    return await _page(request, staff, person_id, carer_text=carer_text, saved=saved)


async def _send(
    request: Request,
    staff: SignedIn,
    person_id: UUID,
    key: str,
    form: Form,
    what: tuple[str, str],
    payload: dict[str, Any],
) -> Response:
    """Send the form's command; back to the page when done, else the page with it refused."""
    await form.send(console_of(request).gateway, staff, what, payload)
    if form.ok:
        return RedirectResponse(f"/people/{person_id}?saved={key.split(':')[0]}", status_code=303)
    return await _page(request, staff, person_id, {key: form})


@router.post("/people/{person_id}/erase")
async def erase(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(ERASING.guard)]
) -> Response:
    """Erase the person's personal data, once the manager has ticked that they checked why."""
    form = await Form.read(request)
    if form.value("checked") != "yes":
        form.refuse("checked", N_("Tick this to confirm before erasing."))
        return await _page(request, staff, person_id, {"erase": form})
    payload = form.payload("reason", person_id=str(person_id))
    return await _send(request, staff, person_id, "erase", form, ERASE, payload)


@router.post("/people/{person_id}/edit")
async def edit(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request, lists=("roles", "had"))
    payload = form.payload(*EDITABLE_ALL, person_id=str(person_id))
    for name in form.values.get("had", []):
        if name in CLEARABLE and name not in payload:
            payload[name] = CLEARED
    return await _send(request, staff, person_id, "edit", form, UPDATE, payload)


@router.post("/people/{person_id}/consent")
async def record_consent(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request)
    payload = form.payload("purpose", "given", person_id=str(person_id))
    return await _send(request, staff, person_id, "consent", form, RECORD_CONSENT, payload)


@router.post("/people/{person_id}/cases")
async def open_case(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request)
    form.values["worker_id"] = form.value("worker_id") or staff.account.username
    payload = form.payload("worker_id", person_id=str(person_id))
    return await _send(request, staff, person_id, "case", form, OPEN_CASE, payload)


@router.post("/people/{person_id}/cases/{case_id}/notes")
async def add_note(
    request: Request,
    person_id: UUID,
    case_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
) -> Response:
    form = await Form.read(request)
    payload = form.payload("text", case_id=str(case_id))
    return await _send(request, staff, person_id, f"note:{case_id}", form, ADD_NOTE, payload)


@router.post("/people/{person_id}/cases/{case_id}/goals")
async def set_goal(
    request: Request,
    person_id: UUID,
    case_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
) -> Response:
    form = await Form.read(request)
    payload = form.payload("text", case_id=str(case_id))
    return await _send(request, staff, person_id, f"goal:{case_id}", form, SET_GOAL, payload)


@router.post("/people/{person_id}/goals/{goal_id}/review")
async def review_goal(
    request: Request,
    person_id: UUID,
    goal_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
) -> Response:
    form = await Form.read(request)
    payload = form.payload("progress", "note", goal_id=str(goal_id))
    return await _send(request, staff, person_id, f"review:{goal_id}", form, REVIEW_GOAL, payload)


@router.post("/people/{person_id}/goals/{goal_id}/end")
async def end_goal(
    request: Request,
    person_id: UUID,
    goal_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
) -> Response:
    form = await Form.read(request)
    payload = form.payload("outcome", "note", goal_id=str(goal_id))
    return await _send(request, staff, person_id, f"end:{goal_id}", form, END_GOAL, payload)


@router.post("/people/{person_id}/assessments")
async def record_assessment(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request)
    code = form.value("instrument")
    instrument = instruments().get(code)
    count = instrument.items if instrument is not None else 0
    names = [f"item_{n}" for n in range(1, count + 1)]
    # An item left blank is sent as it is, so intake names it and it is shown at its item.
    form.values["answers"] = [_answer(form.value(name)) for name in names]
    payload = form.payload("instrument", "timepoint", "answers", person_id=str(person_id))
    await form.send(console_of(request).gateway, staff, RECORD_ASSESSMENT, payload)
    if form.ok:
        return RedirectResponse(f"/people/{person_id}?saved=assessment", status_code=303)
    answers_beside_items(form, names)
    return await _page(request, staff, person_id, {f"assessment:{code}": form})


def _answer(typed: str) -> int | str:
    return int(typed) if typed.lstrip("-").isdigit() else typed


@router.post("/people/{person_id}/followups/{assessment_id}")
async def acknowledge(
    request: Request,
    person_id: UUID,
    assessment_id: UUID,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
) -> Response:
    form = await Form.read(request)
    payload = form.payload("note", assessment_id=str(assessment_id))
    key = f"followup:{assessment_id}"
    return await _send(request, staff, person_id, key, form, ACKNOWLEDGE, payload)


@router.post("/people/{person_id}/carers")
async def link_carer(
    request: Request, person_id: UUID, staff: Annotated[SignedIn, Depends(PAGE.guard)]
) -> Response:
    form = await Form.read(request)
    other, me = form.value("other_id"), str(person_id)
    carer, cared_for = (other, me) if form.value("side") == "carer" else (me, other)
    payload = form.payload("relationship", carer_id=carer, cared_for_id=cared_for)
    await form.send(console_of(request).gateway, staff, LINK_CARER, payload)
    if form.ok:
        return RedirectResponse(f"/people/{person_id}?saved=carer", status_code=303)
    failed = {f"carer:{other}": form}
    return await _page(request, staff, person_id, failed, carer_text=form.value("carer_text"))
