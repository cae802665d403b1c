"""Identity and access: verified tokens, roles, sites, and the access table."""

from shared.kit.identity.access import (
    CASEWORK,
    DUTIES,
    EVERY_ROLE,
    FIGURES,
    MANAGERS,
    OUTCOMES,
    PROGRAMMES,
    PUBLISHING,
    ROLES,
    VOLUNTEERING,
    Access,
    Identity,
    Role,
    Scope,
    allowed,
    rows,
)
from shared.kit.identity.tokens import TokenVerifier, Unauthenticated

__all__ = [
    "CASEWORK",
    "DUTIES",
    "EVERY_ROLE",
    "FIGURES",
    "MANAGERS",
    "OUTCOMES",
    "PROGRAMMES",
    "PUBLISHING",
    "ROLES",
    "VOLUNTEERING",
    "Access",
    "Identity",
    "Role",
    "Scope",
    "TokenVerifier",
    "Unauthenticated",
    "allowed",
    "rows",
]
