"""The generated client CLI: options from the request models, replies printed, exit codes."""

from __future__ import annotations

import argparse
import json
import socket
from datetime import date
from pathlib import Path
from typing import Any, Literal
from uuid import uuid4

import pytest
from pydantic import BaseModel, Field

from shared.cli.client import build_client_parsers, run_client
from shared.cli.main import build_parser
from shared.kit.contracts import BusinessCommand, command
from shared.kit.db.uow import UnitOfWork
from shared.kit.identity import EVERY_ROLE
from shared.kit.service import ServiceDefinition
from tests.example.services import NOTES
from tests.identity import token_for


class Slot(BaseModel):
    first_date: date
    weeks: int


@command("cliecho", "plan", access=EVERY_ROLE)
class Plan(BusinessCommand):
    """Echo the request: shows what the CLI made of its options."""

    tags: list[str]
    answers: list[int] = Field(default_factory=list)
    urgent: bool = False
    kind: Literal["group", "visit"] = "group"
    schedule: Slot | None = None


async def plan(cmd: Plan, uow: UnitOfWork) -> dict[str, Any]:
    return cmd.model_dump(mode="json", exclude={"command_id", "on"})


ECHO = ServiceDefinition(name="cliecho", commands={"plan": plan})
SERVICES = ["notes", "cliecho"]


@pytest.fixture(autouse=True)
def env(monkeypatch: pytest.MonkeyPatch, nats_url: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .carenet/up.json here
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("CARENET_TOKEN", token_for("worker-7"))
    for name in ("CARENET_SITE", "CARENET_DATA"):
        monkeypatch.delenv(name, raising=False)


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any, str]:
    """Exit code, the printed reply (parsed) and stderr."""
    code = await run_client(list(argv), SERVICES)
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


async def test_a_command_with_list_bool_and_json_options_is_sent_typed(start_service, capsys):
    await start_service(ECHO)
    code, reply, err = await cli(
        capsys,
        *("cliecho", "plan", "--site", "jinsha"),
        *("--tags", "陳太,b", "--tags", "c", "--answers", "4,2,4,2,4,2", "--urgent", "yes"),
        *("--kind", "visit", "--schedule", '{"first_date": "2026-12-01", "weeks": 6}'),
    )
    assert (code, err) == (0, "")
    assert reply == {
        "ok": True,
        "result": {
            "actor": "worker-7",
            "tags": ["陳太", "b", "c"],
            "answers": [4, 2, 4, 2, 4, 2],
            "urgent": True,
            "kind": "visit",
            "schedule": {"first_date": "2026-12-01", "weeks": 6},
        },
    }


async def test_the_actor_is_the_sub_of_carenet_token_and_a_bare_bool_flag_means_true(
    start_service, capsys, monkeypatch
):
    await start_service(ECHO)
    monkeypatch.setenv("CARENET_TOKEN", token_for("volunteer-3"))
    code, reply, _ = await cli(
        capsys, "cliecho", "plan", "--site", "jinsha", "--tags", "x", "--urgent"
    )
    assert code == 0
    assert reply["result"]["actor"] == "volunteer-3"
    assert reply["result"]["urgent"] is True and reply["result"]["answers"] == []
    with pytest.raises(SystemExit):
        build_parser().parse_args(["cliecho", "plan", "--site", "jinsha", "--actor", "x"])


async def test_without_a_token_the_cli_exits_2_saying_how_to_get_one(
    start_service, capsys, monkeypatch
):
    notes = await start_service(NOTES)
    monkeypatch.delenv("CARENET_TOKEN")
    code, reply, err = await cli(capsys, "notes", "add_note", "--site", "jinsha", "--text", "x")
    assert (code, reply) == (2, None)
    assert err.count("\n") == 1
    assert "no token" in err and "CARENET_TOKEN" in err and "carenet token" in err
    async with notes.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notes") == 0


async def test_the_token_is_read_from_up_json_and_a_bad_one_is_refused(
    start_service, capsys, monkeypatch, tmp_path
):
    await start_service(NOTES)
    monkeypatch.delenv("CARENET_TOKEN")
    (tmp_path / ".carenet").mkdir()
    up_json = tmp_path / ".carenet" / "up.json"
    up_json.write_text(json.dumps({"token": token_for("operator-1")}))
    argv = ["notes", "add_note", "--site", "jinsha", "--text", "x"]
    code, reply, _ = await cli(capsys, *argv)
    assert code == 0 and reply["ok"] is True
    monkeypatch.setenv("CARENET_TOKEN", "not-a-token")
    code, reply, _ = await cli(capsys, *argv)
    assert code == 1 and reply["error"]["code"] == "unauthenticated"


async def test_a_repeated_command_id_gets_the_identical_reply_and_writes_once(
    start_service, capsys
):
    notes = await start_service(NOTES)
    argv = ["notes", "add_note", "--site", "jinsha", "--text", "weekly group", "--poison", "false"]
    command_id = str(uuid4())
    first = await cli(capsys, *argv, "--command-id", command_id)
    again = await cli(capsys, *argv, "--command-id", command_id)
    assert first[0] == 0 and first[1]["ok"] is True and "note_id" in first[1]["result"]
    assert again == first
    other = await cli(capsys, *argv)  # a new command id: a second note
    assert other[1]["result"]["note_id"] != first[1]["result"]["note_id"]
    async with notes.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notes") == 2


async def test_the_services_validation_error_is_printed_and_exits_1(start_service, capsys):
    await start_service(NOTES)
    code, reply, err = await cli(capsys, "notes", "add_note", "--site", "jinsha", "--text", "")
    assert code == 1 and err.startswith("carenet: command_id ")
    assert reply["ok"] is False
    assert reply["error"]["code"] == "validation_error"
    assert [d["field"] for d in reply["error"]["details"]] == ["text"]


async def test_a_query(start_service, capsys):
    await start_service(NOTES)
    _, added, _ = await cli(capsys, "notes", "add_note", "--site", "jinsha", "--text", "陳太 visit")
    note_id = added["result"]["note_id"]
    code, reply, _ = await cli(capsys, "notes", "note", "--site", "jinsha", "--note-id", note_id)
    assert code == 0
    assert reply == {"ok": True, "result": {"note_id": note_id, "text": "陳太 visit"}}
    code, reply, _ = await cli(capsys, "notes", "note", "--site", "jinsha", "--note-id", "nope")
    assert code == 1 and reply["error"]["code"] == "validation_error"


async def test_the_site_comes_from_carenet_site_when_not_given(start_service, capsys, monkeypatch):
    await start_service(NOTES)
    assert (await run_client(["notes", "add_note", "--text", "x"], SERVICES)) == 2
    assert "--site" in capsys.readouterr().err
    monkeypatch.setenv("CARENET_SITE", "jinsha")
    code, reply, _ = await cli(capsys, "notes", "add_note", "--text", "x")
    assert code == 0 and reply["ok"] is True


async def test_a_site_nobody_serves_exits_2_with_one_line(start_service, capsys):
    await start_service(NOTES, CARENET_SITES="jinsha")
    code, reply, err = await cli(capsys, "notes", "add_note", "--site", "longjin", "--text", "x")
    assert code == 2 and reply["error"]["code"] == "unavailable"
    assert "no notes service answered for site longjin" in reply["error"]["message"]
    assert err.startswith("carenet: command_id ") and err.count("\n") == 1


async def test_without_nats_url_or_up_json_exits_2_with_the_hint(capsys, monkeypatch):
    monkeypatch.delenv("NATS_URL")
    code, reply, err = await cli(capsys, "notes", "note", "--site", "jinsha", "--note-id", "x")
    assert (code, reply) == (2, None)
    assert err.count("\n") == 1
    assert err.startswith("carenet: ") and "make up" in err and "NATS_URL" in err


async def test_the_url_is_read_from_up_json(start_service, capsys, monkeypatch, nats_url, tmp_path):
    await start_service(NOTES)
    monkeypatch.delenv("NATS_URL")
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "up.json").write_text(json.dumps({"nats": nats_url}))
    argv = ["notes", "add_note", "--site", "jinsha", "--text", "x"]
    code, reply, _ = await cli(capsys, *argv, "--data", "elsewhere")
    assert code == 0 and reply["ok"] is True
    monkeypatch.setenv("CARENET_DATA", "elsewhere")
    code, reply, _ = await cli(capsys, *argv)
    assert code == 0 and reply["ok"] is True


async def test_an_unreachable_nats_exits_2_with_one_line(capsys, monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("NATS_URL", f"nats://127.0.0.1:{port}")
    code, reply, err = await cli(capsys, "notes", "note", "--site", "jinsha", "--note-id", "x")
    assert (code, reply) == (2, None)
    assert err.startswith(f"carenet: cannot reach NATS at nats://127.0.0.1:{port}")
    assert err.count("\n") == 1


def test_the_carenet_parser_keeps_its_commands_and_refuses_clashing_service_names():
    parser = build_parser()
    assert parser.parse_args(["docs", "--check"]).check is True
    assert parser.parse_args(["up"]).data
    sub = argparse.ArgumentParser().add_subparsers()
    sub.add_parser("notes")
    with pytest.raises(ValueError, match="clashes"):
        build_client_parsers(sub, ["notes"])


async def test_a_command_nobody_answers_prints_its_command_id_and_the_retry_is_applied_once(
    start_service, capsys
):
    argv = ["notes", "add_note", "--site", "jinsha", "--text", "entered while notes was down"]
    code, reply, err = await cli(capsys, *argv)
    assert code == 2
    assert reply["error"]["code"] == "unavailable"
    command_id = reply["error"]["details"][0]["message"]
    assert f"send again with --command-id {command_id}" in err
    assert err.count("\n") == 1

    notes = await start_service(NOTES)
    retried = await cli(capsys, *argv, "--command-id", command_id)
    assert retried[0] == 0 and retried[1]["ok"] is True and retried[2] == ""
    assert await cli(capsys, *argv, "--command-id", command_id) == retried
    async with notes.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM notes") == 1


async def test_a_refused_command_prints_the_command_id_it_generated(start_service, capsys):
    await start_service(NOTES)
    code, reply, err = await cli(capsys, "notes", "add_note", "--site", "jinsha", "--text", "taken")
    assert code == 1 and reply["error"]["code"] == "conflict"
    assert err.startswith("carenet: command_id ")
    command_id = err.split()[2].rstrip(";")
    assert f"send again with --command-id {command_id}" in err
