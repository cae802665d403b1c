"""Staff accounts kept by the console: who may sign in, as whom the services see them, and
the lock-out rule."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal, get_args

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shared.kit.identity.access import ROLES

Language = Literal["en", "zh_Hant", "zh_Hans"]
LANGUAGES: tuple[Language, ...] = get_args(Language)

FAILURES_BEFORE_LOCK = 5
LOCKED_FOR = timedelta(minutes=15)

_hasher = PasswordHasher()


class AccountError(ValueError):
    """An account that cannot be made as asked; the message is one line for the operator."""


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@dataclass(frozen=True)
class StaffAccount:
    """A member of staff; ``username`` is their staff id, the ``sub`` of their tokens (what
    the services record as ``actor`` or ``worker_id``)."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    sites: tuple[str, ...]
    language: Language
    password_hash: str
    failed_attempts: int = 0
    locked_until: datetime | None = None

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and now < self.locked_until

    def after_failure(self, now: datetime) -> StaffAccount:
        """The account after one more wrong password: the fifth in a row locks it for 15
        minutes (a failure after a lock ran out starts the count again)."""
        count = (
            1
            if self.locked_until is not None and not self.locked(now)
            else self.failed_attempts + 1
        )
        if count >= FAILURES_BEFORE_LOCK:
            return replace(self, failed_attempts=0, locked_until=now + LOCKED_FOR)
        return replace(self, failed_attempts=count, locked_until=None)


def new_account(
    username: str,
    password: str,
    *,
    roles: list[str],
    sites: list[str],
    site_codes: list[str],
    display_name: str | None = None,
    language: str = "en",
) -> StaffAccount:
    """An account as ``carenet console add-user`` asks for it, checked."""
    if not username or len(username) > 64 or not username.isprintable() or " " in username:
        raise AccountError("the username is 1 to 64 characters, without spaces")
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise AccountError(
            f"unknown role(s) {', '.join(unknown) or '(none given)'}; roles are {', '.join(ROLES)}"
        )
    strange = [site for site in sites if site != "*" and site not in site_codes]
    if strange or not sites:
        raise AccountError(
            f"unknown site(s) {', '.join(strange) or '(none given)'}; sites are * or one of "
            f"{', '.join(sorted(site_codes))}"
        )
    if language not in LANGUAGES:
        raise AccountError(f"language is one of {', '.join(LANGUAGES)}")
    if len(password) < 8:
        raise AccountError("the password has at least 8 characters")
    return StaffAccount(
        username=username,
        display_name=display_name or username,
        roles=tuple(dict.fromkeys(roles)),
        sites=tuple(dict.fromkeys(sites)),
        language=language,  # type: ignore[arg-type]
        password_hash=hash_password(password),
    )


@dataclass(frozen=True)
class SignedIn:
    """Who is using the console for this request: their account, the carenet token the
    console holds for them, their session's CSRF token and the site they work for (chosen
    in the header)."""

    account: StaffAccount
    token: str
    csrf: str
    site: str
    session: str
    """The hash of the session's id (what the sessions table is keyed by)."""

    @property
    def roles(self) -> tuple[str, ...]:
        return self.account.roles
