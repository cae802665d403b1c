"""The reply shape of docs/contract.md and the error every handler raises to produce one."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ValidationError

ErrorCode = Literal[
    "validation_error",
    "not_found",
    "conflict",
    "not_allowed",
    "consent_required",
    "capacity_full",
    "unavailable",
    "internal",
    "unauthenticated",
    "forbidden",
]


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorBody(BaseModel):
    code: ErrorCode
    message: str
    details: list[ErrorDetail] = []


class Reply(BaseModel):
    """``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": {...}}``."""

    ok: bool
    result: dict[str, Any] | None = None
    error: ErrorBody | None = None

    @classmethod
    def success(cls, result: dict[str, Any] | BaseModel | None = None) -> Reply:
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return cls(ok=True, result=result or {})

    @classmethod
    def failure(
        cls, code: ErrorCode, message: str, details: list[ErrorDetail] | None = None
    ) -> Reply:
        return cls(ok=False, error=ErrorBody(code=code, message=message, details=details or []))

    def to_json(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()


class CommandError(Exception):
    """Raised by domain rules and handlers; becomes an ``ok: false`` reply and rolls back."""

    def __init__(
        self,
        code: ErrorCode,
        message: str,
        details: list[ErrorDetail] | None = None,
        **fields: str,
    ) -> None:
        super().__init__(message)
        self.code: ErrorCode = code
        self.message = message
        self.details = list(details or []) + [
            ErrorDetail(field=k, message=v) for k, v in fields.items()
        ]

    def reply(self) -> Reply:
        return Reply.failure(self.code, self.message, self.details)

    @classmethod
    def not_found(cls, what: str, field: str) -> CommandError:
        """``not_found`` for an unknown ``what`` named by request field ``field``."""
        return cls(
            "not_found", f"no such {what}", [ErrorDetail(field=field, message=f"unknown {what}")]
        )

    @classmethod
    def conflict(cls, message: str, **fields: str) -> CommandError:
        """``conflict``: the request clashes with what is already recorded."""
        return cls("conflict", message, None, **fields)

    @classmethod
    def not_allowed(cls, message: str, **fields: str) -> CommandError:
        """``not_allowed``: a rule of the agency forbids this, whatever is sent again."""
        return cls("not_allowed", message, None, **fields)


MAX_DETAILS = 20
"""At most this many field details in one reply, so a reply always fits in a NATS message."""


def validation_details(error: ValidationError) -> list[ErrorDetail]:
    """Pydantic errors as field details: ``answers.3`` names the fourth answer.

    At most ``MAX_DETAILS``, then one saying how many more; fields and messages are cut to a
    few hundred characters (a body can make pydantic name very long paths).
    """
    details = []
    found = error.errors(include_url=False, include_input=False, include_context=False)
    for item in found[:MAX_DETAILS]:
        field = ".".join(str(part) for part in item["loc"]) or "(body)"
        details.append(ErrorDetail(field=field[:200], message=item["msg"][:300]))
    if len(found) > MAX_DETAILS:
        more = len(found) - MAX_DETAILS
        details.append(ErrorDetail(field="(body)", message=f"and {more} more errors"))
    return details
