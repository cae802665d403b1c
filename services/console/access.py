"""Which pages a member of staff may see: the ONE check, read from the contracts' access table.

A page names the requests it sends (``("intake", "find_people")``); it is shown, in the nav and
at its address, only when every one of them has an access row granting one of the user's roles.
The services still check each request for its site: this only keeps staff away from pages that
would be refused anyway.
"""

from __future__ import annotations

from collections.abc import Iterable

from shared.kit.contracts.catalogue import CATALOGUE, RequestSpec
from shared.kit.contracts.public import load_public_contracts

Request = tuple[str, str]
"""A command or query by ``(service, name)``."""


def spec(request: Request) -> RequestSpec:
    load_public_contracts()
    found = CATALOGUE.commands.get(request) or CATALOGUE.queries.get(request)
    if found is None:
        raise KeyError(f"{request[0]}.{request[1]} is no command or query of the contract")
    return found


def may_use(roles: Iterable[str], requests: Iterable[Request], only: Iterable[str] = ()) -> bool:
    """Whether ``roles`` may send every one of ``requests`` for some site, and, when ``only``
    names roles (a page no request guards, such as the operator's), hold one of them."""
    held = set(roles)
    wanted = set(only)
    if wanted and not held & wanted:
        return False
    return all(held & set(spec(request).access) for request in requests)
