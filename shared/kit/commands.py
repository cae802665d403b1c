"""The shapes every command handler shares: find what it acts on, and name what it created.

A handler reads as *load, decide, save, record*: ``found`` turns a store's ``None`` (or a thing
kept for another site) into the contract's ``not_found``; ``created`` records the event about a
new thing and gives the reply that names it.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, TypeVar

from shared.kit.contracts.messages import EventData
from shared.kit.contracts.replies import CommandError, ErrorDetail
from shared.kit.db.uow import UnitOfWork
from shared.kit.identity.access import Grant, Role, only_as

T = TypeVar("T")


def _site_of(thing: object) -> str | None:
    if isinstance(thing, Mapping):
        return thing.get("site")
    try:
        return thing["site"]  # type: ignore[index]  # asyncpg.Record
    except (TypeError, KeyError):
        return getattr(thing, "site", None)


def found(
    thing: T | None, what: str, field: str, *, site: str | Collection[str] | None = None
) -> T:
    """``thing`` as loaded, or ``not_found`` naming request field ``field``.

    With ``site`` (a site, or the sites a request may see: the subject's and those below it),
    a thing kept for any other site is not found either: a site's staff never learn that an
    id exists elsewhere.
    """
    if thing is None:
        raise CommandError.not_found(what, field)
    if site is not None:
        kept = _site_of(thing)
        visible = kept == site if isinstance(site, str) else kept in site
        if not visible:
            raise CommandError.not_found(what, field)
    return thing


def must_own(grant: Grant | None, role: Role, owner: object, what: str, field: str) -> None:
    """``forbidden`` when the request came through ``role`` alone and ``owner`` is not the
    caller: a peer supporter acts on their own duties and matches only (their token's ``sub`` is
    their ``volunteer_id``)."""
    if grant is None or grant.identity is None or not only_as(grant.roles, role):
        return
    if str(owner) != grant.identity.sub:
        raise CommandError(
            "forbidden",
            f"a {role} acts on their own {what} only",
            [ErrorDetail(field=field, message=f"not {grant.identity.sub}'s")],
        )


def created(uow: UnitOfWork, event: EventData, key: str, **extra: Any) -> dict[str, Any]:
    """Record ``event`` about the new thing whose id is the event's field ``key`` (the event's
    subject), and return the reply naming it, with ``extra`` fields."""
    ident = getattr(event, key)
    uow.record(event, subject=ident)
    return {key: str(ident), **extra}


def once(inserted: bool, message: str, **fields: str) -> None:
    """``conflict`` when an insert-once (``rows.insert_once``) found its key already taken:
    the database, not a read before the write, settles two requests racing for it."""
    if not inserted:
        raise CommandError.conflict(message, **fields)
