"""Reads several pages make: a query sent with a blank form (so a refusal is shown the same
way as a form's), people's names from intake, and the agency's instruments and screenings."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request

from services.console.access import Request as ServiceRequest
from services.console.accounts import SignedIn
from services.console.forms import Form, field_message
from services.console.i18n import _
from services.console.web import console_of
from shared.agency.instruments import Instrument, load_instruments
from shared.agency.screenings import Screening, load_screenings

PERSON = ("intake", "person")
FIND = ("intake", "find_people")


async def ask(
    request: Request, staff: SignedIn, what: ServiceRequest, payload: dict[str, Any]
) -> tuple[dict[str, Any] | None, Form]:
    """The query's result (None if refused) and a blank form carrying any refusal."""
    asked = Form.blank(**{k: v for k, v in payload.items() if isinstance(v, str)})
    reply = await asked.send(console_of(request).gateway, staff, what, payload)
    return (reply.result or {}) if reply.ok else None, asked


async def names_of(request: Request, staff: SignedIn, person_ids: Iterable[str]) -> dict[str, str]:
    """Each person's preferred name, from intake (a person not found is left out)."""
    names: dict[str, str] = {}
    for person_id in dict.fromkeys(person_ids):
        found, _asked = await ask(request, staff, PERSON, {"person_id": person_id})
        if found is not None:
            names[person_id] = found.get("preferred_name", "")
    return names


async def find_people(request: Request, staff: SignedIn, text: str) -> tuple[list[Any], Form]:
    """The people ``text`` finds at the site (none for a blank text)."""
    text = text.strip()
    if not text:
        return [], Form.blank(text="")
    found, search = await ask(request, staff, FIND, {"text": text})
    return (found or {}).get("people", []), search


def _agency_file(name: str) -> Path | None:
    value = os.environ.get(name)
    return Path(value) if value else None


@cache
def instruments() -> dict[str, Instrument]:
    """The instruments intake scores (shipped, plus the agency's ``CARENET_INSTRUMENTS``)."""
    return load_instruments(_agency_file("CARENET_INSTRUMENTS"))


@cache
def screenings() -> dict[str, Screening]:
    """The screenings intake asks (shipped, plus the agency's ``CARENET_SCREENINGS``)."""
    return load_screenings(_agency_file("CARENET_SCREENINGS"))


ANSWER = re.compile(r"^answers\.(\d+)$")


def answers_beside_items(form: Form, items: list[str]) -> None:
    """Put what the service said of ``answers.N`` beside the question it concerns (the form
    field ``items[N]``), so a questionnaire shows each refusal at its item."""
    if form.error is None:
        return
    form.errors.pop("answers", None)
    for detail in form.error.details:
        found = ANSWER.match(detail.field)
        if found and int(found[1]) < len(items):
            item = items[int(found[1])]
            unanswered = form.value(item) == ""
            message = _("Answer this question.") if unanswered else field_message(detail.message)
            form.errors.setdefault(item, []).append(message)
        elif detail.field.split(".", 1)[0] == "answers":
            form.errors.setdefault("answers", []).append(field_message(detail.message))
