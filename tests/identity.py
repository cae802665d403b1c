"""Tokens for tests: one signing key per test process, its JWKS in a file every service trusts."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

from shared.kit.identity.access import ROLES
from shared.kit.identity.issuing import SigningKey

_folder = Path(tempfile.mkdtemp(prefix="carenet-test-keys-"))
KEY = SigningKey.generate(issuer="carenet-tests")
JWKS = _folder / "jwks.json"
KEY.save(_folder / "signing-key.pem", JWKS)


def token_for(
    sub: str = "worker-1",
    *,
    roles: Iterable[str] = ROLES,
    sites: Iterable[str] = ("*",),
    ttl_seconds: int = 3600,
) -> str:
    """A token the test services trust; by default every role, for every site."""
    return KEY.token(sub, roles=roles, sites=sites, ttl_seconds=ttl_seconds)


HEAD_OFFICE = token_for()
"""Every role at every site: for tests about something other than access."""
