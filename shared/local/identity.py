"""carenet's own token issuer for a local run: the signing key and the JWKS services trust.

``carenet up`` makes them once under the data directory (``.carenet/identity/``) and keeps them
across restarts, so tokens made with ``carenet token`` stay valid while it is stopped and
started again. The key never leaves this machine (``.carenet`` is not committed); the data
directory is made readable by its owner only, since ``up.json`` holds an operator token.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from shared.kit.identity.issuing import SigningKey

IDENTITY_DIR = "identity"
KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
OPERATOR = "operator"
OPERATOR_TTL_SECONDS = 7 * 24 * 3600
"""The operator token in up.json: valid for a week, made again at every start of up."""


@dataclass(frozen=True)
class LocalIssuer:
    key: SigningKey
    key_file: Path
    jwks_file: Path

    def operator_token(self) -> str:
        """For operators' tools and the CLI when no ``CARENET_TOKEN`` is set: runs rebuilds,
        replays and status, and reads no personal data (the access table says so)."""
        return self.key.token(
            OPERATOR, roles=["operator"], sites=["*"], ttl_seconds=OPERATOR_TTL_SECONDS
        )

    def summary(self) -> dict[str, str]:
        """What ``up.json`` says about identity: the JWKS file and the operator token."""
        return {"jwks": str(self.jwks_file), "token": self.operator_token()}


def key_file(data_dir: Path) -> Path:
    return data_dir / IDENTITY_DIR / KEY_FILE


def local_issuer(data_dir: Path) -> LocalIssuer:
    """The deployment's signing key and JWKS under ``data_dir``, made the first time."""
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    private = key_file(data_dir)
    jwks = private.parent / JWKS_FILE
    if private.exists():
        key = SigningKey.load(private)
        if not jwks.exists():
            key.save(private, jwks)
    else:
        key = SigningKey.generate()
        key.save(private, jwks)
    return LocalIssuer(key, private, jwks)


def trusted_jwks(issuer: LocalIssuer, configured: str | None) -> str:
    """``CARENET_JWKS`` for the services: this run's own JWKS, and any the caller configured
    (an agency's OpenID Connect provider) beside it."""
    return ",".join(part for part in (str(issuer.jwks_file), configured or "") if part)


def main(argv: list[str] | None = None) -> int:
    """``python -m shared.local.identity DIR``: make the deployment's key under DIR once (for
    a compose deployment) and print the JWKS file's path."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    issuer = local_issuer(Path(args[0] if args else ".carenet"))
    print(issuer.jwks_file)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
