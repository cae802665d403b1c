"""TokenVerifier without servers: what verifies, what is refused and with which reason, more than
one issuer, rotated keys; carenet's own issuer and ``carenet token``."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from shared.cli.main import main
from shared.kit.identity import TokenVerifier, Unauthenticated
from shared.kit.identity import tokens as token_module
from shared.kit.identity.issuing import SigningKey
from shared.local.identity import key_file, local_issuer, trusted_jwks


def _issuer(folder: Path, name: str = "carenet-local", kid: str | None = None) -> SigningKey:
    key = SigningKey.generate(issuer=name)
    if kid is not None:
        key = SigningKey(key.private, kid, name)
    folder.mkdir(parents=True, exist_ok=True)
    key.save(folder / "signing-key.pem", folder / "jwks.json")
    return key


def _bearer(token: str) -> str:
    return f"Bearer {token}"


def _refusal(verifier: TokenVerifier, authorization: str | None) -> str:
    with pytest.raises(Unauthenticated) as refused:
        verifier.verify(authorization)
    assert refused.value.message and "\n" not in refused.value.message
    return refused.value.reason


def _segment(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.fixture
def local(tmp_path: Path) -> tuple[SigningKey, TokenVerifier]:
    key = _issuer(tmp_path / "local")
    return key, TokenVerifier([str(tmp_path / "local" / "jwks.json")])


def test_a_good_token_gives_who_asks_their_roles_and_sites(local):
    key, verifier = local
    token = key.token("sw-lee", roles=["social_worker"], sites=["likang"], name="Lee Siu Ming")
    who = verifier.verify(_bearer(token))
    assert (who.sub, who.name, who.issuer) == ("sw-lee", "Lee Siu Ming", "carenet-local")
    assert who.roles == {"social_worker"} and who.sites == {"likang"}


def test_no_header_or_not_bearer_or_not_a_jwt_is_refused(local):
    _, verifier = local
    assert _refusal(verifier, None) == "missing"
    assert _refusal(verifier, "") == "missing"
    assert _refusal(verifier, "Basic dXNlcjpwYXNz") == "malformed"
    assert _refusal(verifier, "Bearer ") == "malformed"
    assert _refusal(verifier, "Bearer garbage") == "malformed"
    assert _refusal(verifier, "Bearer a.b.c") == "malformed"


def test_another_key_under_the_same_kid_fails_the_signature(local, tmp_path):
    key, verifier = local
    forger = _issuer(tmp_path / "forger", kid=key.kid)
    forged = forger.token("sw-lee", roles=["centre_manager"], sites=["*"])
    assert _refusal(verifier, _bearer(forged)) == "signature"


def test_a_token_with_a_changed_claim_fails_the_signature(local):
    key, verifier = local
    head, _, signature = key.token("sw-lee", roles=["social_worker"], sites=["likang"]).split(".")
    claims = jwt.decode(
        key.token("sw-lee", roles=["social_worker"], sites=["likang"]),
        options={"verify_signature": False},
    )
    widened = _segment({**claims, "sites": ["*"]})
    assert _refusal(verifier, _bearer(f"{head}.{widened}.{signature}")) == "signature"


def test_another_audience_expired_or_issued_in_the_future_is_refused(local):
    key, verifier = local
    other = key.token("x", roles=["analyst"], sites=["*"], audience="another-app")
    assert _refusal(verifier, _bearer(other)) == "audience"
    expired = key.token("x", roles=["analyst"], sites=["*"], ttl_seconds=60, now=time.time() - 3600)
    assert _refusal(verifier, _bearer(expired)) == "expired"
    future = key.token("x", roles=["analyst"], sites=["*"], now=time.time() + 3600)
    assert _refusal(verifier, _bearer(future)) == "claims"


def test_alg_none_and_an_hmac_token_keyed_with_the_public_key_are_refused(local):
    key, verifier = local
    claims = jwt.decode(
        key.token("x", roles=["operator"], sites=["*"]), options={"verify_signature": False}
    )
    unsigned = f"{_segment({'alg': 'none', 'typ': 'JWT', 'kid': key.kid})}.{_segment(claims)}."
    assert _refusal(verifier, _bearer(unsigned)) == "algorithm"
    # Signed by hand: PyJWT itself will not key HMAC with something that looks like a JWK.
    public = json.dumps(key.jwks()["keys"][0]).encode()
    signing_input = f"{_segment({'alg': 'HS256', 'kid': key.kid})}.{_segment(claims)}"
    mac = hmac.new(public, signing_input.encode(), hashlib.sha256).digest()
    confused = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    assert _refusal(verifier, _bearer(confused)) == "algorithm"


def test_missing_claims_roles_that_are_not_a_list_or_an_unknown_key_are_refused(local, tmp_path):
    key, verifier = local

    def signed(claims: dict[str, object], kid: str = key.kid) -> str:
        return jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": kid})

    base = {"sub": "x", "iss": "carenet-local", "aud": "carenet", "iat": int(time.time())}
    good = {**base, "exp": int(time.time()) + 60, "roles": ["analyst"], "sites": ["*"]}
    assert verifier.verify(_bearer(signed(good))).sub == "x"
    no_exp = {k: v for k, v in good.items() if k != "exp"}
    assert _refusal(verifier, _bearer(signed(no_exp))) == "claims"
    assert _refusal(verifier, _bearer(signed({**good, "roles": "analyst"}))) == "claims"
    assert _refusal(verifier, _bearer(signed({**good, "sites": None}))) == "claims"
    assert _refusal(verifier, _bearer(signed({**good, "sub": "  "}))) == "claims"
    no_kid = jwt.encode(good, key.private, algorithm="EdDSA")
    assert _refusal(verifier, _bearer(no_kid)) == "malformed"
    assert _refusal(verifier, _bearer(signed(good, kid="nobody-knows"))) == "unknown_key"


def test_tokens_of_a_second_independent_issuer_verify_beside_carenets_own(local, tmp_path):
    """The agency's own OpenID Connect provider: RS256 and ES256 keys in its own JWKS."""
    key, _ = local
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    provider = tmp_path / "provider-jwks.json"
    provider.write_text(
        json.dumps(
            {
                "keys": [
                    {**json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())), "kid": "rsa-1"},
                    {**json.loads(ECAlgorithm.to_jwk(ec_key.public_key())), "kid": "ec-1"},
                ]
            }
        )
    )
    both = TokenVerifier([str(tmp_path / "local" / "jwks.json"), str(provider)])
    claims = {
        "sub": "agency|4711",
        "name": "Wong Mei",
        "roles": ["centre_manager"],
        "sites": ["likang"],
        "iss": "https://login.agency.example",
        "aud": "carenet",
        "iat": int(time.time()),
        "exp": int(time.time()) + 300,
    }
    by_rsa = jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "rsa-1"})
    by_ec = jwt.encode(claims, ec_key, algorithm="ES256", headers={"kid": "ec-1"})
    for token in (by_rsa, by_ec):
        who = both.verify(_bearer(token))
        assert (who.sub, who.issuer) == ("agency|4711", "https://login.agency.example")
    assert both.verify(_bearer(key.token("sw-lee", roles=[], sites=[]))).sub == "sw-lee"
    # Only the documents configured are trusted.
    assert _refusal(TokenVerifier([str(provider)]), _bearer(key.token("x", roles=[], sites=[])))


def test_a_rotated_key_is_picked_up_at_most_every_reload_interval(local, tmp_path):
    old, verifier = local
    jwks = tmp_path / "local" / "jwks.json"
    new = SigningKey.generate()
    jwks.write_text(json.dumps({"keys": old.jwks()["keys"] + new.jwks()["keys"]}))
    token = new.token("sw-lee", roles=["social_worker"], sites=["likang"])
    # Read moments ago: an unknown kid does not make every request read the documents.
    assert _refusal(verifier, _bearer(token)) == "unknown_key"
    verifier._loaded_at -= token_module.RELOAD_EVERY_SECONDS + 1
    assert verifier.verify(_bearer(token)).sub == "sw-lee"
    assert verifier.verify(_bearer(old.token("a", roles=[], sites=[]))).sub == "a"
    # A document that cannot be read keeps the keys already known.
    jwks.write_text("not json")
    verifier._loaded_at -= token_module.RELOAD_EVERY_SECONDS + 1
    assert _refusal(verifier, _bearer(SigningKey.generate().token("b", roles=[], sites=[])))
    assert verifier.verify(_bearer(token)).sub == "sw-lee"


def test_a_key_taken_out_of_the_document_stops_verifying_at_the_next_refresh(local, tmp_path):
    old, verifier = local
    token = old.token("sw-lee", roles=["social_worker"], sites=["likang"])
    (tmp_path / "local" / "jwks.json").write_text(json.dumps(SigningKey.generate().jwks()))
    verifier._loaded_at -= token_module.RELOAD_EVERY_SECONDS + 1
    assert verifier.verify(_bearer(token)).sub == "sw-lee"  # a known kid: no reason to read
    verifier._loaded_at -= token_module.REFRESH_EVERY_SECONDS
    assert _refusal(verifier, _bearer(token)) == "unknown_key"


def test_a_verifier_needs_a_document():
    with pytest.raises(ValueError, match="no JWKS"):
        TokenVerifier([])


def test_the_local_issuer_is_made_once_and_kept(tmp_path):
    data = tmp_path / "carenet"
    first = local_issuer(data)
    again = local_issuer(data)
    assert again.key.kid == first.key.kid
    assert key_file(data).stat().st_mode & 0o077 == 0
    assert data.stat().st_mode & 0o077 == 0
    assert "PRIVATE" not in first.jwks_file.read_text()
    summary = first.summary()
    operator = TokenVerifier([summary["jwks"]]).verify(_bearer(summary["token"]))
    assert operator.roles == {"operator"} and operator.sites == {"*"}
    assert trusted_jwks(first, None) == str(first.jwks_file)
    assert trusted_jwks(first, "https://login.agency.example/jwks") == (
        f"{first.jwks_file},https://login.agency.example/jwks"
    )


def _carenet(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(argv))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_carenet_token_prints_a_token_signed_with_the_deployments_key(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.delenv("CARENET_SIGNING_KEY", raising=False)
    monkeypatch.delenv("CARENET_CONFIG", raising=False)
    issuer = local_issuer(tmp_path / "data")
    code, out, err = _carenet(
        capsys,
        *("token", "--sub", "sw-chan", "--roles", "social_worker,centre_manager"),
        *("--sites", "likang,jinsha", "--ttl", "30m", "--name", "Chan Tai Man"),
        *("--data", str(tmp_path / "data")),
    )
    assert (code, err) == (0, "") and out.count("\n") == 1
    who = TokenVerifier([str(issuer.jwks_file)]).verify(_bearer(out.strip()))
    assert (who.sub, who.name) == ("sw-chan", "Chan Tai Man")
    assert who.roles == {"social_worker", "centre_manager"} and who.sites == {"likang", "jinsha"}
    claims = jwt.decode(out.strip(), options={"verify_signature": False})
    assert claims["exp"] - claims["iat"] == 30 * 60

    monkeypatch.setenv("CARENET_SIGNING_KEY", str(issuer.key_file))
    code, out, _ = _carenet(capsys, "token", "--sub", "a", "--roles", "analyst", "--sites", "*")
    assert code == 0 and TokenVerifier([str(issuer.jwks_file)]).verify(_bearer(out.strip()))


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--roles", "social_worker,boss"], "unknown role(s) boss"),
        (["--roles", ","], "unknown role(s) (none given)"),
        (["--sites", "likang,atlantis"], "unknown site(s) atlantis"),
        (["--key", "/nowhere.pem"], "no signing key at /nowhere.pem"),
    ],
)
def test_carenet_token_refuses_unknown_roles_sites_and_a_missing_key(
    tmp_path, capsys, monkeypatch, argv, message
):
    monkeypatch.delenv("CARENET_SIGNING_KEY", raising=False)
    monkeypatch.delenv("CARENET_CONFIG", raising=False)
    local_issuer(tmp_path / "data")
    given = {"--roles": "social_worker", "--sites": "likang", "--data": str(tmp_path / "data")}
    given.update(dict(zip(argv[::2], argv[1::2], strict=True)))
    code, out, err = _carenet(capsys, "token", "--sub", "x", *sum(given.items(), ()))
    assert (code, out) == (2, "")
    assert message in err and err.count("\n") == 1


def test_carenet_token_refuses_a_ttl_it_cannot_read(tmp_path, capsys):
    code, _, err = _carenet(
        capsys, "token", "--sub", "x", "--roles", "analyst", "--sites", "*", "--ttl", "soon"
    )
    assert code == 2 and "not a duration" in err


async def test_a_jwks_url_is_read_again_off_the_event_loop_never_inside_a_request(tmp_path):
    import asyncio
    import functools
    import http.server
    import threading

    first = _issuer(tmp_path / "a")
    served = tmp_path / "served"
    served.mkdir()
    (served / "jwks.json").write_text(json.dumps(first.jwks()))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        verifier = TokenVerifier([url])
        assert verifier.remote
        assert verifier.verify(_bearer(first.token("sw-1", roles=[], sites=[]))).sub == "sw-1"

        rotated = _issuer(tmp_path / "b")
        (served / "jwks.json").write_text(json.dumps(rotated.jwks()))
        verifier._loaded_at -= token_module.RELOAD_EVERY_SECONDS + 1
        new_token = _bearer(rotated.token("sw-2", roles=[], sites=[]))
        assert _refusal(verifier, new_token) == "unknown_key"  # asked for, not fetched inline

        refresher = asyncio.create_task(verifier.keep_fresh(every=0.05))
        try:
            for _ in range(100):
                await asyncio.sleep(0.05)
                if not verifier._wanted:
                    break
        finally:
            refresher.cancel()
        assert verifier.verify(new_token).sub == "sw-2"
    finally:
        server.shutdown()
