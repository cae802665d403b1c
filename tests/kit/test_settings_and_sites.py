"""Settings come only from the environment; a bad one is a one-line error."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from shared.agency.sites import DEMO_ORGANISATION, load_organisation
from shared.kit.config import ConfigError, load_settings
from tests.conftest import REPO
from tests.identity import JWKS

GOOD = {
    "NATS_URL": "nats://127.0.0.1:1",
    "DATABASE_URL": "postgresql://x@127.0.0.1:1/x",
    "CARENET_CONFIG": str(DEMO_ORGANISATION),
    "CARENET_JWKS": str(JWKS),
}


def test_defaults_serve_every_site_of_the_file():
    settings = load_settings("intake", GOOD)
    assert settings.all_sites
    assert "jinsha" in settings.sites
    assert settings.max_deliver == 5
    assert settings.organisation.timezone == "Asia/Hong_Kong"
    assert settings.stream_replicas == 1


def test_a_cluster_is_named_by_all_its_servers_and_streams_get_its_replicas():
    settings = load_settings(
        "intake",
        {
            **GOOD,
            "NATS_URL": "nats://intake:pw@hub-1:4222, nats://hub-2:4222,nats://hub-3:4222",
            "CARENET_STREAM_REPLICAS": "3",
        },
    )
    assert settings.stream_replicas == 3


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"NATS_URL": ""}, "NATS_URL is not set"),
        ({"NATS_URL": "http://x"}, "NATS_URL: 'http://x' must look like nats://host:4222"),
        ({"NATS_URL": "nats://a:1,b:2"}, "NATS_URL: 'b:2' must look like nats://host:4222"),
        ({"NATS_URL": "nats://a:x@n1:1,nats://b:y@n2:1"}, "carry different credentials"),
        ({"CARENET_STREAM_REPLICAS": "7"}, "CARENET_STREAM_REPLICAS=7 is outside 1..5"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
        ({"CARENET_CONFIG": "/nowhere.toml"}, "CARENET_CONFIG: /nowhere.toml does not exist"),
        ({"CARENET_SITES": "jinsha,atlantis"}, "unknown site(s) atlantis"),
        ({"CARENET_HTTP_PORT": "eighty"}, "CARENET_HTTP_PORT='eighty' is not a whole number"),
        ({"CARENET_MAX_DELIVER": "0"}, "CARENET_MAX_DELIVER=0 is outside 1..100"),
        ({"CARENET_JWKS": ""}, "CARENET_JWKS is not set"),
        ({"CARENET_JWKS": f"{JWKS},/nowhere.json"}, "CARENET_JWKS: /nowhere.json does not exist"),
    ],
)
def test_a_missing_or_invalid_setting_is_a_clear_error(change, message):
    with pytest.raises(ConfigError) as caught:
        load_settings("intake", {**GOOD, **change})
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_service_started_without_settings_exits_with_one_line(tmp_path: Path):
    result = subprocess.run(
        [sys.executable, "-m", "tests.example", "notes"],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "carenet notes: NATS_URL is not set (for example NATS_URL=nats://127.0.0.1:4222)"
    )


def test_the_sites_file_knows_parents_and_children():
    organisation = load_organisation(DEMO_ORGANISATION)
    family_centre = set(organisation.with_descendants("likang"))
    assert family_centre == {"likang", "nanyuan", "jinsha", "longjin"}
    assert organisation.served("jinsha, nanyuan") == ["jinsha", "nanyuan"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[sites]]\ncode = "Bad Code"\nname = "x"\nkind = "centre"\n', "sites.0.code"),
        ('[[sites]]\ncode = "abc"\nname = "x"\nkind = "centre"\nparent = "zz"\n', "not a site"),
        (
            'timezone = "Mars/Olympus"\n[[sites]]\ncode = "abc"\nname = "x"\nkind = "centre"\n',
            "unknown time zone",
        ),
        ('[[sites]]\ncode = "abc"\nname = "x"\nkind = "castle"\n', "sites.0.kind"),
        ("sites = [", "not valid TOML"),
    ],
)
def test_a_bad_sites_file_is_refused_with_the_reason(tmp_path: Path, text, message):
    path = tmp_path / "sites.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        load_organisation(path)


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "services.intake"],
        ["-m", "services.groups"],
        ["-m", "services.volunteers"],
        ["-m", "services.reporting"],
        ["-m", "shared.cli", "run", "groups"],
    ],
)
def test_every_service_started_without_its_settings_says_which_in_one_line(command):
    result = subprocess.run(
        [sys.executable, *command],
        cwd=REPO,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "NATS_URL": "nats://127.0.0.1:1"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("carenet ") and "DATABASE_URL is not set" in line
