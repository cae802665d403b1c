"""Verifying a caller's token: a signed JWT whose keys come from JWKS documents.

``CARENET_JWKS`` names one or more JWKS documents (paths or https URLs, comma-separated), so a
deployment can trust carenet's own issuer (``carenet token``) and the agency's OpenID Connect
provider side by side. A key is found by the token's ``kid``; a ``kid`` no document has makes
the documents be read again (at most every 30 s), so a rotated key is picked up, and they are
read again every 5 minutes anyway, so a key taken out of them stops verifying.

PyJWT (with ``cryptography``) checks the signature, ``exp``, ``iat`` and the audience; only
EdDSA, ES256 and RS256 are accepted, so ``alg: none`` and an HMAC key confusion never verify.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from jwt import PyJWK

from shared.kit.identity.access import Identity

AUDIENCE = "carenet"
ALGORITHMS = ("EdDSA", "ES256", "RS256")
REQUIRED_CLAIMS = ("sub", "iss", "aud", "exp", "iat")
RELOAD_EVERY_SECONDS = 30.0
REFRESH_EVERY_SECONDS = 300.0


class Unauthenticated(Exception):
    """The request carries no token carenet can trust; ``reason`` is a short metric label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _read(source: str) -> dict[str, Any]:
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=5) as response:
            return json.loads(response.read())
    return json.loads(Path(source).read_text())


@dataclass
class TokenVerifier:
    """Verifies bearer tokens against the keys of ``sources`` (JWKS paths or URLs)."""

    sources: Sequence[str]
    _keys: dict[str, PyJWK] = field(default_factory=dict, init=False)
    _loaded_at: float = field(default=0.0, init=False)
    _wanted: bool = field(default=False, init=False)
    """A read is due, and a URL is among the sources: ``keep_fresh`` reads them off the loop."""

    @property
    def remote(self) -> bool:
        """Whether a source is a URL: reading it may take seconds, so a request never does."""
        return any(source.startswith(("https://", "http://")) for source in self.sources)

    def __post_init__(self) -> None:
        if not self.sources:
            raise ValueError("no JWKS document to verify tokens with")
        self.load()

    def load(self) -> None:
        """Read every JWKS document again; a source that cannot be read keeps its old keys."""
        keys: dict[str, PyJWK] = {}
        for source in self.sources:
            for entry in _read(source).get("keys", []):
                key = PyJWK(entry)
                if key.key_id:
                    keys[key.key_id] = key
        self._keys = keys
        self._loaded_at = time.monotonic()

    def _key(self, kid: str | None) -> PyJWK:
        if kid is None:
            raise Unauthenticated("malformed", "the token names no key (kid)")
        age = time.monotonic() - self._loaded_at
        if age > REFRESH_EVERY_SECONDS or (kid not in self._keys and age > RELOAD_EVERY_SECONDS):
            if self.remote:
                self._wanted = True
            else:
                try:
                    self.load()
                except (OSError, ValueError):
                    self._loaded_at = time.monotonic()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthenticated(
                "unknown_key", "the token is signed with a key carenet does not trust"
            )
        return key

    async def keep_fresh(self, every: float = 1.0) -> None:
        """Read URL sources again in a worker thread whenever a read is due (run as a task)."""
        while True:
            await asyncio.sleep(every)
            if not self._wanted:
                continue
            try:
                await asyncio.to_thread(self.load)
            except (OSError, ValueError):
                self._loaded_at = time.monotonic()
            self._wanted = False

    def verify(self, authorization: str | None) -> Identity:
        """The identity of an ``Authorization: Bearer <jwt>`` header's token."""
        if not authorization:
            raise Unauthenticated("missing", "no token: send Authorization: Bearer <token>")
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("malformed", "the Authorization header is not Bearer <token>")
        try:
            header = jwt.get_unverified_header(token.strip())
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("malformed", "the token is not a JWT") from exc
        if header.get("alg") not in ALGORITHMS:
            raise Unauthenticated(
                "algorithm", f"tokens must be signed with one of {', '.join(ALGORITHMS)}"
            )
        key = self._key(header.get("kid"))
        try:
            claims = jwt.decode(
                token.strip(),
                key=key.key,
                algorithms=[header["alg"]],
                audience=AUDIENCE,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthenticated("expired", "the token has expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthenticated("audience", f"the token is not for {AUDIENCE}") from exc
        except jwt.InvalidSignatureError as exc:
            raise Unauthenticated("signature", "the token's signature does not verify") from exc
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated("claims", f"the token is not valid: {exc}") from exc
        roles, sites = _strings(claims.get("roles")), _strings(claims.get("sites"))
        if roles is None or sites is None or not str(claims["sub"]).strip():
            raise Unauthenticated("claims", "the token needs sub, and roles and sites as lists")
        return Identity(
            sub=str(claims["sub"]),
            name=str(claims.get("name") or claims["sub"]),
            roles=frozenset(roles),
            sites=frozenset(sites),
            issuer=str(claims["iss"]),
        )


def _strings(value: object) -> list[str] | None:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None
