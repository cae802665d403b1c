"""Who may send which command or query, for which sites: the access table.

Each command and query declares its row where its contract is declared
(``@command("intake", "register_person", access=STAFF)``): for each role that may send it, the
sites it may send it for. ``docs/access.md`` is generated from these rows.

- ``own``: a site named in the caller's token;
- ``children``: a site in the token or below one of them (a parent's staff see their children's
  records); a token for ``*`` (head office) covers every site;
- ``all``: any site of the organisation, whatever the token names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, get_args

Role = Literal[
    "social_worker",
    "centre_manager",
    "volunteer_coordinator",
    "peer_supporter",
    "analyst",
    "operator",
]
ROLES: tuple[Role, ...] = get_args(Role)
Scope = Literal["own", "children", "all"]
Access = Mapping[Role, Scope]

EVERY_SITE = "*"


@dataclass(frozen=True)
class Identity:
    """Who is asking, as a verified token says: ``sub`` is the ``actor`` of what they do."""

    sub: str
    name: str
    roles: frozenset[str]
    sites: frozenset[str]
    issuer: str

    def holds(self, role: Role) -> bool:
        return role in self.roles

    def reaches(self, site: str, scope: Scope, below: Callable[[str], Iterable[str]]) -> bool:
        """Whether ``scope`` lets this caller act for ``site``; ``below(code)`` is the site
        ``code`` and every site under it."""
        if scope == "all":
            return True
        if scope == "own":
            return site in self.sites
        return EVERY_SITE in self.sites or any(site in below(mine) for mine in self.sites)


def granted(
    identity: Identity, access: Access, site: str, below: Callable[[str], Iterable[str]]
) -> frozenset[Role]:
    """The caller's roles through which this request may be sent for ``site`` (none: refused).

    A service that limits one role further (a peer supporter's own duties only) reads it here:
    the limit applies when that role is the only one granted."""
    return frozenset(
        role
        for role, scope in access.items()
        if identity.holds(role) and identity.reaches(site, scope, below)
    )


def allowed(
    identity: Identity, access: Access, site: str, below: Callable[[str], Iterable[str]]
) -> bool:
    """Whether any of the caller's roles may send this request for ``site``."""
    return bool(granted(identity, access, site, below))


def only_as(roles: frozenset[str], role: Role) -> bool:
    """Whether ``role`` is the only one a request was granted through (``granted``)."""
    return roles == {role}


def names_site(identity: Identity, site: str) -> bool:
    """Whether the token names ``site`` itself (not a parent of it, nor ``*``): the ``own``
    scope, as exact figures need."""
    return identity.reaches(site, "own", lambda code: (code,))


@dataclass(frozen=True)
class Grant:
    """What one request was let through with, for the rules a service checks record by record.

    ``sites``: the subject's site and every site below it (a record kept anywhere else is
    ``not_found``); ``roles``: the caller's roles the access table let it through by;
    ``reaches(site)``: whether the caller's token would let the same request through for
    another site (a person registered there)."""

    identity: Identity | None
    sites: frozenset[str]
    roles: frozenset[str]
    reaches: Callable[[str], bool]

    def sees(self, site: str | None) -> bool:
        return site in self.sites


def rows(*roles: Role, scope: Scope = "children") -> dict[Role, Scope]:
    """An access row giving each of ``roles`` the same ``scope``."""
    return {role: scope for role in roles}


CASEWORK: Access = rows("social_worker", "centre_manager")
"""Casework and personal data: the site's social workers and its manager."""
HANDOFFS: Access = {"social_worker": "all", "centre_manager": "all"}
"""A case handed over by another site's intake: it arrives with the sending site's worker's
token, which need not name the receiving site. Only an intake instance may publish it on NATS
(``shared.local.nats_users.INTAKE_ONLY``), so no staff tool writes a record into another site."""
TRANSFER_STATUS: Access = rows("social_worker", "centre_manager", "operator")
"""Where a site's transfers stand (ids, sites, codes: no personal data): casework staff, and
operators watching a cut link."""
MANAGERS: Access = rows("centre_manager")
VOLUNTEERING: Access = rows("volunteer_coordinator", "centre_manager")
"""Volunteer teams and duties: the coordinators and the manager."""
DUTIES: Access = rows("volunteer_coordinator", "centre_manager", "peer_supporter")
"""A volunteer's duties and contacts: coordinators, the manager, and peer supporters (their own
duties and matches only, which the service checks record by record: a peer supporter's token's
``sub`` is their ``volunteer_id``)."""
PROGRAMMES: Access = rows("social_worker", "centre_manager", "volunteer_coordinator")
"""A programme's sessions (ids, no names): casework staff, and coordinators who staff them."""
FIGURES: Access = {
    **rows("social_worker", "centre_manager", "volunteer_coordinator"),
    "analyst": "all",
}
"""Reporting's figures: staff for their sites; analysts for any site, de-identified only."""
OUTCOMES: Access = {**rows("social_worker", "centre_manager"), "analyst": "all"}
PUBLISHING: Access = {"centre_manager": "own", "operator": "all"}
"""Publishing a closed month's summary: the site's manager, or an operator."""
EVERY_ROLE: Access = rows(*ROLES)
"""For the kit's own example services in tests only: any verified caller of the site."""
