"""Find or register a person (intake's ``find_people`` and ``register_person``): a likely
duplicate is shown before anything is saved, with the choice to register anyway."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from services.console.accounts import SignedIn
from services.console.forms import Form
from services.console.i18n import N_, _
from services.console.reads import FIND, find_people
from services.console.web import NAV, Page, console_of, render

REGISTER = ("intake", "register_person")
PAGE = NAV.add(
    Page("/people", N_("Find or register a person"), requests=(FIND, REGISTER), order=10)
)

ROLES: dict[str, str] = {
    "person_in_recovery": N_("Person in recovery"),
    "family_carer": N_("Family carer"),
    "rehabilitee": N_("Rehabilitee"),
    "si_affected": N_("Affected by a suicide or self-harm"),
    "community_member": N_("Community member"),
    "volunteer": N_("Volunteer"),
}
SEXES: dict[str, str] = {
    "female": N_("Female"),
    "male": N_("Male"),
    "other": N_("Other"),
    "undisclosed": N_("Prefers not to say"),
}
FIELDS = (
    "preferred_name",
    "legal_name",
    "roles",
    "sex",
    "birth_year",
    "phone",
    "language",
    "address",
    "register_anyway",
)

router = APIRouter()


def _page(request: Request, staff: SignedIn, **context: Any) -> Response:
    return render(
        request,
        "people/find.html",
        {"roles": ROLES, "sexes": SEXES, "people": [], "duplicates": [], **context},
        staff=staff,
    )


@router.get("/people")
async def find(
    request: Request,
    staff: Annotated[SignedIn, Depends(PAGE.guard)],
    text: str = "",
    registered: str = "",
) -> Response:
    text = text.strip()
    people: list[dict[str, Any]] = []
    search = Form.blank(text=text)
    if text:
        people, search = await find_people(request, staff, text)
    typed_name = "" if any(ch.isdigit() for ch in text) else text
    form = Form.blank(preferred_name=typed_name, roles=[])
    return _page(
        request,
        staff,
        search=search,
        people=people,
        form=form,
        searched=bool(text),
        registered=registered,
    )


@router.post("/people/register")
async def register(request: Request, staff: Annotated[SignedIn, Depends(PAGE.guard)]) -> Response:
    form = await Form.read(request, lists=("roles",))
    reply = await form.send(console_of(request).gateway, staff, REGISTER, form.payload(*FIELDS))
    if reply.ok and reply.result is not None:
        query = urlencode(
            {"text": form.value("preferred_name"), "registered": reply.result.get("person_id", "")}
        )
        return RedirectResponse(f"/people?{query}", status_code=303)
    duplicates: list[dict[str, Any]] = []
    possible = set(form.detail("possible_duplicate"))
    if possible:
        # Nothing was saved: show who they may be, then let the worker decide.
        form.problem = _(
            "This person may already be registered. Check the people below; if none of them "
            "is this person, register anyway."
        )
        form.others = []
        for text in {form.value("preferred_name"), form.value("phone")} - {""}:
            found, _search = await find_people(request, staff, text)
            duplicates += [p for p in found if p["person_id"] in possible and p not in duplicates]
    return _page(
        request,
        staff,
        search=Form.blank(text=""),
        form=form,
        duplicates=duplicates,
        searched=False,
        registered="",
    )
