"""Intake's own settings, read when the service is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.intake.app import build
from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.config import ConfigError, load_settings
from tests.identity import JWKS

ENV = {
    "NATS_URL": "nats://127.0.0.1:4222",
    "DATABASE_URL": "postgresql://carenet@127.0.0.1:5432/carenet",
    "CARENET_CONFIG": str(DEMO_ORGANISATION),
    "CARENET_JWKS": str(JWKS),
}


def test_intake_builds_with_its_defaults_and_matches_the_contract_catalogue() -> None:
    build(load_settings("intake", ENV)).check_against_catalogue()


@pytest.mark.parametrize("days", ["-1", "366", "two"])
def test_urgent_referral_days_outside_0_to_365_stop_the_start(days: str) -> None:
    settings = load_settings("intake", {**ENV, "CARENET_URGENT_REFERRAL_DAYS": days})
    with pytest.raises(ConfigError, match="CARENET_URGENT_REFERRAL_DAYS"):
        build(settings)


def test_a_missing_agency_instruments_file_stops_the_start(tmp_path: Path) -> None:
    settings = load_settings("intake", {**ENV, "CARENET_INSTRUMENTS": str(tmp_path / "no.toml")})
    with pytest.raises(ValueError, match="does not exist"):
        build(settings)


def test_a_bad_agency_screenings_file_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    own = tmp_path / "screenings.toml"
    own.write_text('[needs_risk]\nurgent_flags = ["fire"]\n', encoding="utf-8")
    settings = load_settings("intake", {**ENV, "CARENET_SCREENINGS": str(own)})
    with pytest.raises(ValueError, match="urgent_flags fire are no item's flag"):
        build(settings)
