"""The kit's shapes every handler shares, and the wiring check against the catalogue; no servers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest

from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.commands import created, found
from shared.kit.config import ConfigError, load_settings
from shared.kit.contracts.intake import CarerLinked
from shared.kit.contracts.replies import CommandError
from shared.kit.db.uow import UnitOfWork
from shared.kit.service import ServiceDefinition
from tests.identity import JWKS


@dataclass
class Thing:
    site: str


def test_found_gives_back_what_was_loaded():
    thing = Thing("likang")
    assert found(thing, "case", "case_id", site="likang") is thing
    assert found(thing, "case", "case_id") is thing


def test_nothing_loaded_is_not_found_naming_the_request_field():
    with pytest.raises(CommandError) as caught:
        found(None, "case", "case_id")
    assert caught.value.code == "not_found"
    assert caught.value.message == "no such case"
    assert [(d.field, d.message) for d in caught.value.details] == [("case_id", "unknown case")]


@pytest.mark.parametrize("thing", [Thing("jinsha"), {"site": "jinsha"}])
def test_a_thing_kept_for_another_site_is_not_found_either(thing):
    with pytest.raises(CommandError) as caught:
        found(thing, "session", "session_id", site="likang")
    assert caught.value.code == "not_found"


def test_created_records_the_event_about_the_new_thing_and_replies_its_id():
    uow = UnitOfWork(
        pool=None, service="intake", schema="intake", site="likang", zone=ZoneInfo("UTC")
    )  # type: ignore[arg-type]
    link_id = uuid4()
    event = CarerLinked(
        link_id=link_id,
        carer_id=uuid4(),
        cared_for_id=uuid4(),
        relationship="parent",
        linked_on=date(2026, 11, 2),
    )
    reply = created(uow, event, "link_id", status="linked")
    assert reply == {"link_id": str(link_id), "status": "linked"}
    [recorded] = uow.events
    assert (recorded.type, recorded.subject, recorded.site) == (
        "intake.carer.linked",
        str(link_id),
        "likang",
    )


def test_conflict_and_not_allowed_name_their_fields():
    conflict = CommandError.conflict("already linked", cared_for_id="already linked")
    refused = CommandError.not_allowed("not a carer", carer_id="not a family carer")
    assert (conflict.code, conflict.details[0].field) == ("conflict", "cared_for_id")
    assert (refused.code, refused.details[0].message) == ("not_allowed", "not a family carer")


def _settings(**env: str):
    base = {
        "NATS_URL": "nats://127.0.0.1:1",
        "DATABASE_URL": "postgresql://carenet@127.0.0.1:1/carenet",
        "CARENET_CONFIG": str(DEMO_ORGANISATION),
        "CARENET_JWKS": str(JWKS),
    }
    return load_settings("groups", {**base, **env})


def test_a_services_own_settings_are_read_within_their_bounds():
    settings = _settings(CARENET_PUBLISH_DAY="7", CARENET_COMPLETION_SHARE="0.5")
    assert settings.integer("CARENET_PUBLISH_DAY", 5, 0, 28) == 7
    assert settings.integer("CARENET_UNSET", 5, 0, 28) == 5
    assert settings.number("CARENET_COMPLETION_SHARE", 0.75, 0.01, 1) == 0.5
    assert settings.path("CARENET_INSTRUMENTS") is None
    assert _settings(CARENET_INSTRUMENTS="/etc/x.toml").path("CARENET_INSTRUMENTS") == Path(
        "/etc/x.toml"
    )


@pytest.mark.parametrize(
    ("value", "says"),
    [("31", "outside 0..28"), ("soon", "not a whole number")],
)
def test_a_bad_whole_number_setting_is_one_line_naming_it(value, says):
    with pytest.raises(ConfigError, match=f"CARENET_PUBLISH_DAY.*{says}"):
        _settings(CARENET_PUBLISH_DAY=value).integer("CARENET_PUBLISH_DAY", 5, 0, 28)


def test_a_bad_number_setting_is_one_line_naming_it():
    with pytest.raises(ConfigError, match="CARENET_COMPLETION_SHARE"):
        _settings(CARENET_COMPLETION_SHARE="most").number("CARENET_COMPLETION_SHARE", 0.75, 0, 1)


async def _handler(*args: object) -> dict[str, str]:
    return {}


def test_wiring_that_leaves_a_catalogued_command_unhandled_is_refused():
    import services.groups.app as groups_app

    complete = groups_app.build(_settings())
    complete.check_against_catalogue()
    commands = dict(complete.commands)
    del commands["enrol"]
    incomplete = ServiceDefinition(name="groups", commands=commands, queries=complete.queries)
    with pytest.raises(ConfigError, match="no handler for the catalogued commands enrol"):
        incomplete.check_against_catalogue()


def test_wiring_that_handles_a_request_the_contract_lacks_is_refused():
    import services.groups.app as groups_app

    complete = groups_app.build(_settings())
    queries = {**complete.queries, "gossip": _handler}
    extra = ServiceDefinition(name="groups", commands=complete.commands, queries=queries)
    with pytest.raises(ConfigError, match="queries not in the catalogue: gossip"):
        extra.check_against_catalogue()


@pytest.mark.parametrize("service", ["intake", "groups", "volunteers", "reporting"])
def test_every_services_wiring_matches_the_catalogue(service):
    import importlib

    app = importlib.import_module(f"services.{service}.app")
    app.build(_settings()).check_against_catalogue()


def _module(**functions: object):
    import types

    module = types.ModuleType("notes_handlers")
    for name, function in functions.items():
        setattr(module, name, function)
    return module


def test_catalogued_wires_the_function_named_as_each_request_with_its_dependencies():
    from shared.kit.service import catalogued
    from tests.example import services  # noqa: F401 - registers the notes contract

    async def add_note(cmd: object, uow: object, *, shelf: str) -> dict[str, str]:
        return {"shelf": shelf}

    async def delete_note(cmd: object, uow: object) -> dict[str, str]:
        return {}

    wired = catalogued("notes", _module(add_note=add_note, delete_note=delete_note), shelf="top")
    assert sorted(wired) == ["add_note", "delete_note"]
    assert wired["delete_note"] is delete_note
    assert wired["add_note"].keywords == {"shelf": "top"}


def test_catalogued_refuses_a_missing_handler_and_an_unmet_dependency():
    from shared.kit.service import catalogued
    from tests.example import services  # noqa: F401 - registers the notes contract

    async def add_note(cmd: object, uow: object, *, shelf: str) -> dict[str, str]:
        return {}

    with pytest.raises(ConfigError, match="has no handler delete_note") as caught:
        catalogued("notes", _module(add_note=add_note))
    assert "add_note needs shelf" in str(caught.value)


def test_once_refuses_with_conflict_only_when_the_insert_found_its_key_taken():
    from shared.kit.commands import once

    once(True, "this person is already a volunteer", person_id="already a volunteer")
    with pytest.raises(CommandError) as caught:
        once(False, "this person is already a volunteer", person_id="already a volunteer")
    assert (caught.value.code, caught.value.message) == (
        "conflict",
        "this person is already a volunteer",
    )
    assert [(d.field, d.message) for d in caught.value.details] == [
        ("person_id", "already a volunteer")
    ]
