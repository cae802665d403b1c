"""Base models for what crosses a service boundary.

Every command and query (a ``Message``) guarantees, before any handler sees it:

- unknown fields are refused, so typos are not silently dropped;
- every string is stripped of surrounding whitespace and is at most ``MAX_TEXT`` characters
  unless its field says less, so a required text that is only whitespace is refused;
- no string anywhere in the input (nested lists and objects included, keys too) holds a C0
  control character other than tab, newline and carriage return, or half of a surrogate pair:
  PostgreSQL cannot store NUL, and none of them is ever meant as text;
- the input is nested at most ``MAX_DEPTH`` levels.

Each refusal is a pydantic ``ValidationError`` naming the field path (``facilitators.1``),
which the request endpoints answer as ``validation_error``. Lists get explicit bounds per
field (``People``, ``Names`` ...): pydantic has no model-wide default for them, and
``tests/kit/test_contract_bounds.py`` fails on any list or string of a public command or query
without an upper bound.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

MAX_TEXT = 2000
"""Upper bound of any string in a command or query whose field does not set its own."""
MAX_DEPTH = 32
"""How deeply a command or query's JSON may nest; real requests use three or four levels."""
MAX_PEOPLE = 1000
"""Upper bound of a list of people (attendance, a roster)."""

Id = Annotated[str, Field(min_length=1, max_length=64)]
"""A staff or volunteer id, or another short identifier given by people."""
Name = Annotated[str, Field(min_length=1, max_length=200)]
"""A person's or a place's name, a title."""
Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
"""Free text: a reason, a note."""
Label = Annotated[str, Field(min_length=1, max_length=64)]
"""A short label in a list: a tag, a team, a skill."""

# C0 controls except tab (09), newline (0A) and carriage return (0D); lone surrogates.
_NOT_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")
_MAX_REPORTED = 10


def _character_error(found: str) -> PydanticCustomError:
    code = ord(found)
    if 0xD800 <= code <= 0xDFFF:
        return PydanticCustomError(
            "not_text", "half of a surrogate pair (U+{code}) is not text", {"code": f"{code:04X}"}
        )
    return PydanticCustomError(
        "control_character",
        "control character U+{code} is not allowed (tab, newline and carriage return are)",
        {"code": f"{code:04X}"},
    )


def refuse_control_characters(data: Any, title: str) -> None:
    """Raise a ``ValidationError`` naming each string in ``data`` (walked without recursion)
    that holds a character no text field accepts, or the place nesting goes past
    ``MAX_DEPTH``."""
    errors: list[InitErrorDetails] = []
    stack: list[tuple[tuple[str | int, ...], Any]] = [((), data)]
    while stack and len(errors) < _MAX_REPORTED:
        path, value = stack.pop()
        if isinstance(value, str):
            if found := _NOT_TEXT.search(value):
                errors.append(
                    InitErrorDetails(type=_character_error(found.group()), loc=path, input=value)
                )
            continue
        if not isinstance(value, dict | list | tuple):
            continue
        if len(path) >= MAX_DEPTH:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "too_deep", "nested more than {depth} levels", {"depth": MAX_DEPTH}
                    ),
                    loc=path,
                    input="...",
                )
            )
            continue
        if isinstance(value, dict):
            for key, item in value.items():
                key_path = (*path, str(key))
                if isinstance(key, str) and (found := _NOT_TEXT.search(key)):
                    error = _character_error(found.group())
                    errors.append(InitErrorDetails(type=error, loc=key_path, input=key))
                stack.append((key_path, item))
        else:
            stack.extend(((*path, index), item) for index, item in enumerate(value))
    if errors:
        errors.sort(key=lambda e: [str(part) for part in e["loc"]])
        raise ValidationError.from_exception_data(title, errors)


class Message(BaseModel):
    """Strict boundary model for commands and queries (see the module docstring)."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        str_max_length=MAX_TEXT,
        str_strip_whitespace=True,
    )

    @model_validator(mode="before")
    @classmethod
    def _only_text_in_strings(cls, data: Any) -> Any:
        refuse_control_characters(data, cls.__name__)
        return data


class Command(Message):
    """Every command carries its idempotency key and who is acting."""

    command_id: UUID = Field(description="Idempotency key: a repeat returns the first reply.")
    actor: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="Who acts: the token's sub. Optional; when given it must equal the sub.",
    )


class BusinessCommand(Command):
    """A command that records something that happened on a business date."""

    on: date | None = Field(
        default=None,
        description="Business date reporting counts by; default today in the organisation's zone.",
    )


class Query(Message):
    """A read request; queries change nothing and need no idempotency key."""

    actor: str | None = Field(default=None, min_length=1, max_length=64)


class EventData(BaseModel):
    """The typed payload of an event. Consumers ignore fields they do not know."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    @classmethod
    def of(cls, *about: object, **values: Any) -> Self:
        """The event about domain objects: each field from ``values`` if given there, else from
        the first of ``about`` with an attribute of that name; validated like any payload."""
        data = dict(values)
        for name in cls.model_fields:
            if name in data:
                continue
            for thing in about:
                if hasattr(thing, name):
                    data[name] = getattr(thing, name)
                    break
        return cls.model_validate(data)
