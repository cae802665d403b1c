"""carenet's own token issuer, for local and small deployments (``carenet token``,
``carenet up``): an Ed25519 signing key, the JWKS document services verify with, and tokens."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm

from shared.kit.identity.tokens import AUDIENCE

LOCAL_ISSUER = "carenet-local"


@dataclass(frozen=True)
class SigningKey:
    private: Ed25519PrivateKey
    kid: str
    issuer: str = LOCAL_ISSUER

    @classmethod
    def generate(cls, issuer: str = LOCAL_ISSUER) -> SigningKey:
        return cls(Ed25519PrivateKey.generate(), uuid.uuid4().hex[:16], issuer)

    def jwks(self) -> dict[str, object]:
        """The public half, as the JWKS document services are given (``CARENET_JWKS``)."""
        public = json.loads(OKPAlgorithm.to_jwk(self.private.public_key()))
        return {"keys": [{**public, "kid": self.kid, "alg": "EdDSA", "use": "sig"}]}

    def save(self, key_file: Path, jwks_file: Path) -> None:
        """The private key (readable by its owner only) and the JWKS beside it."""
        pem = self.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        key_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(pem)
        meta = {"kid": self.kid, "issuer": self.issuer}
        key_file.with_suffix(".json").write_text(json.dumps(meta))
        jwks_file.write_text(json.dumps(self.jwks(), indent=1))

    @classmethod
    def load(cls, key_file: Path) -> SigningKey:
        private = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
        if not isinstance(private, Ed25519PrivateKey):
            raise ValueError(f"{key_file} is not an Ed25519 private key")
        meta = json.loads(key_file.with_suffix(".json").read_text())
        return cls(private, meta["kid"], meta.get("issuer", LOCAL_ISSUER))

    def token(
        self,
        sub: str,
        *,
        roles: Iterable[str],
        sites: Iterable[str],
        name: str | None = None,
        ttl_seconds: int = 8 * 3600,
        audience: str = AUDIENCE,
        now: float | None = None,
    ) -> str:
        issued = int(time.time() if now is None else now)
        claims = {
            "sub": sub,
            "name": name or sub,
            "roles": list(roles),
            "sites": list(sites),
            "iss": self.issuer,
            "aud": audience,
            "iat": issued,
            "exp": issued + ttl_seconds,
        }
        return jwt.encode(claims, self.private, algorithm="EdDSA", headers={"kid": self.kid})
