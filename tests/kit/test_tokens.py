"""Tokens against a real intake service (NATS and PostgreSQL): every bad token is refused with a
structured error, changes nothing and is counted in /metrics; the actor is the token's sub; a
second issuer's JWKS configured beside carenet's own is trusted; a rotated key is picked up."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path
from typing import Any
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from services.intake.app import build as build_intake
from shared.kit.bus.requests import request
from shared.kit.identity import tokens as token_module
from shared.kit.identity.issuing import SigningKey
from shared.kit.service import ServiceRuntime
from tests.conftest import started_runtime
from tests.identity import JWKS, KEY, token_for

PERSON = {"preferred_name": "陳太", "roles": ["family_carer"], "birth_year": 1962}


async def _metrics(runtime: ServiceRuntime) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", runtime.status.port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = (await reader.read()).decode()
    writer.close()
    return data.partition("\r\n\r\n")[2]


async def _refused(runtime: ServiceRuntime, reason: str) -> float:
    pattern = (
        r"carenet_requests_refused_total\{reason=\"" + reason + r"\",service=\"intake\"\} (\S+)"
    )
    found = re.search(pattern, await _metrics(runtime))
    return float(found[1]) if found else 0.0


async def _written(runtime: ServiceRuntime) -> tuple[int, int, int]:
    """People, outbox rows and logged commands: what a refused request must not add to."""
    assert runtime.pool is not None
    async with runtime.pool.acquire() as conn:
        return (
            await conn.fetchval("SELECT count(*) FROM people"),
            await conn.fetchval("SELECT count(*) FROM outbox"),
            await conn.fetchval("SELECT count(*) FROM command_log"),
        )


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _register(nc, token: str | None, site: str = "likang", **extra: Any):
    body = {"command_id": str(uuid4()), **PERSON, **extra}
    return request(nc, "cmd", site, "intake", "register_person", body, token=token)


def _bad_tokens() -> dict[str, tuple[str | None, str]]:
    """label -> (token, the reason it is counted under)."""
    forger = SigningKey(SigningKey.generate().private, KEY.kid, KEY.issuer)  # same kid
    claims = jwt.decode(token_for("sw-lee"), options={"verify_signature": False})
    unsigned = f"{_segment({'alg': 'none', 'kid': KEY.kid})}.{_segment(claims)}."
    return {
        "none": (None, "missing"),
        "garbage": ("garbage", "malformed"),
        "wrong signature": (
            forger.token("sw-lee", roles=["social_worker"], sites=["*"]),
            "signature",
        ),
        "other audience": (
            KEY.token("sw-lee", roles=["social_worker"], sites=["*"], audience="elsewhere"),
            "audience",
        ),
        "expired": (
            KEY.token(
                "sw-lee",
                roles=["social_worker"],
                sites=["*"],
                ttl_seconds=60,
                now=time.time() - 600,
            ),
            "expired",
        ),
        "alg none": (unsigned, "algorithm"),
    }


@pytest.mark.parametrize("label", list(_bad_tokens()))
async def test_a_bad_token_is_unauthenticated_changes_nothing_and_is_counted(
    start_service, nc, label
):
    intake = await start_service(("intake", build_intake))
    token, reason = _bad_tokens()[label]
    before = await _refused(intake, reason)
    reply = await _register(nc, token)
    assert not reply.ok and reply.error is not None
    assert reply.error.code == "unauthenticated" and reply.error.message
    assert await _written(intake) == (0, 0, 0)
    # Queries too: nobody learns anything without a good token.
    query = await request(nc, "qry", "likang", "intake", "find_people", {"text": "陳"}, token=token)
    assert query.error is not None and query.error.code == "unauthenticated"
    assert await _refused(intake, reason) == before + 2


async def test_a_token_for_another_site_is_forbidden_changes_nothing_and_is_counted(
    start_service, nc
):
    intake = await start_service(("intake", build_intake))
    jinsha = token_for("sw-ko", roles=["social_worker"], sites=["jinsha"])
    before = await _refused(intake, "forbidden")
    reply = await _register(nc, jinsha, site="likang")
    assert reply.error is not None and reply.error.code == "forbidden"
    assert "sw-ko" in reply.error.message and "likang" in reply.error.message
    # A role the access table does not give: an analyst registers nobody, even at their site.
    analyst = token_for("analyst-1", roles=["analyst"], sites=["likang"])
    reply = await _register(nc, analyst, site="likang")
    assert reply.error is not None and reply.error.code == "forbidden"
    assert await _written(intake) == (0, 0, 0)
    assert await _refused(intake, "forbidden") == before + 2
    # Their own site, and a site below a parent they hold (likang covers jinsha), are fine.
    assert (await _register(nc, jinsha, site="jinsha")).ok
    parent = token_for("mgr-wong", roles=["centre_manager"], sites=["likang"])
    assert (await _register(nc, parent, site="jinsha", register_anyway=True)).ok


async def test_the_actor_is_the_tokens_sub_and_another_actor_is_not_allowed(start_service, nc):
    intake = await start_service(("intake", build_intake))
    sw_lee = token_for("sw-lee", roles=["social_worker"], sites=["likang"])
    posing = await _register(nc, sw_lee, actor="sw-chan")
    assert posing.error is not None and posing.error.code == "not_allowed"
    assert [d.field for d in posing.error.details] == ["actor"]
    assert await _written(intake) == (0, 0, 0)
    same = await _register(nc, sw_lee, actor="sw-lee")
    assert same.ok
    left_out = await _register(nc, sw_lee, register_anyway=True)
    assert left_out.ok
    assert intake.pool is not None
    async with intake.pool.acquire() as conn:
        actors = await conn.fetch("SELECT actor FROM command_log")
        registered_by = await conn.fetch("SELECT registered_by FROM people")
    assert {r["actor"] for r in actors} == {"sw-lee"}
    assert {r["registered_by"] for r in registered_by} == {"sw-lee"}


async def test_a_command_id_someone_else_used_does_not_give_their_reply(start_service, nc):
    await start_service(("intake", build_intake))
    body = {"command_id": str(uuid4()), **PERSON}
    sw_lee = token_for("sw-lee", roles=["social_worker"], sites=["likang"])
    first = await request(nc, "cmd", "likang", "intake", "register_person", body, token=sw_lee)
    assert first.ok
    other = token_for("sw-chan", roles=["social_worker"], sites=["likang"])
    replayed = await request(nc, "cmd", "likang", "intake", "register_person", body, token=other)
    assert replayed.error is not None and replayed.error.code == "conflict"
    assert "person_id" not in replayed.model_dump_json()


async def test_a_second_issuers_tokens_are_accepted_when_its_jwks_is_configured_beside(
    start_service, settings_for, nc, tmp_path: Path
):
    """The agency's OpenID Connect provider: its own RS256 key, its own JWKS document."""
    provider_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    provider_jwks = tmp_path / "agency-oidc-jwks.json"
    public = json.loads(RSAAlgorithm.to_jwk(provider_key.public_key()))
    provider_jwks.write_text(json.dumps({"keys": [{**public, "kid": "agency-2026"}]}))
    now = int(time.time())
    claims = {
        "sub": "agency|wong.mei",
        "name": "Wong Mei",
        "roles": ["social_worker"],
        "sites": ["likang"],
        "iss": "https://login.agency.example",
        "aud": "carenet",
        "iat": now,
        "exp": now + 600,
    }
    from_provider = jwt.encode(
        claims, provider_key, algorithm="RS256", headers={"kid": "agency-2026"}
    )

    only_ours = await started_runtime(settings_for, build_intake(settings_for("intake")))
    try:
        refused = await _register(nc, from_provider)
    finally:
        await only_ours.stop()
    assert refused.error is not None and refused.error.code == "unauthenticated"

    both = await start_service(("intake", build_intake), CARENET_JWKS=f"{JWKS},{provider_jwks}")
    accepted = await _register(nc, from_provider)
    assert accepted.ok, accepted
    assert (await _register(nc, token_for("sw-lee"), register_anyway=True)).ok
    assert both.pool is not None
    async with both.pool.acquire() as conn:
        actors = {r["actor"] for r in await conn.fetch("SELECT actor FROM command_log")}
    assert "agency|wong.mei" in actors


async def test_a_key_added_to_the_jwks_file_is_picked_up(
    start_service, nc, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(token_module, "RELOAD_EVERY_SECONDS", 0.5)
    jwks = tmp_path / "jwks.json"
    old = SigningKey.generate()
    old.save(tmp_path / "old.pem", jwks)
    await start_service(("intake", build_intake), CARENET_JWKS=str(jwks))
    new = SigningKey.generate()
    by_new = new.token("sw-lee", roles=["social_worker"], sites=["likang"])
    assert (await _register(nc, by_new)).error.code == "unauthenticated"

    jwks.write_text(json.dumps({"keys": old.jwks()["keys"] + new.jwks()["keys"]}))
    await asyncio.sleep(0.6)
    assert (await _register(nc, by_new)).ok
    by_old = old.token("sw-lee", roles=["social_worker"], sites=["likang"])
    assert (await _register(nc, by_old, register_anyway=True)).ok
    # Retired: the old key taken out of the file no longer verifies, once read again.
    jwks.write_text(json.dumps(new.jwks()))
    await asyncio.sleep(0.6)
    await _register(nc, SigningKey.generate().token("x", roles=[], sites=[]))  # an unknown kid
    retired = await _register(nc, by_old, register_anyway=True)
    assert retired.error is not None and retired.error.code == "unauthenticated"
