"""Whatever bytes arrive, carenet's own code reads them and answers: deep nesting, bytes that
are not UTF-8, bodies near NATS's limit, control characters and blank text are each a
``validation_error`` that changes nothing."""

from __future__ import annotations

import json
from typing import Any
from uuid import uuid4

import pytest

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from shared.kit.bus.requests import QueryContext, request
from shared.kit.contracts import Query, query
from shared.kit.contracts.replies import Reply
from shared.kit.identity import EVERY_ROLE
from shared.kit.service import ServiceDefinition
from tests.conftest import ServiceClient
from tests.example.services import NOTES
from tests.identity import HEAD_OFFICE


@query("bigreply", "everything", access=EVERY_ROLE)
class Everything(Query):
    """Answers with ``size`` characters: more than NATS carries, if asked."""

    size: int


async def everything(q: Everything, ctx: QueryContext) -> dict[str, Any]:
    return {"text": "x" * q.size}


BIG = ServiceDefinition(name="bigreply", queries={"everything": everything})


def note(**fields: Any) -> dict[str, Any]:
    return {"command_id": str(uuid4()), "text": "a note", **fields}


async def _notes_written(runtime) -> int:
    async with runtime.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM notes"))


async def _outbox(runtime) -> int:
    async with runtime.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))


def _refused(reply: Reply) -> dict[str, str]:
    """The field details of a validation_error reply (fails on any other reply)."""
    assert reply.error is not None, reply
    assert reply.error.code == "validation_error", reply
    return {d.field: d.message for d in reply.error.details}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"[" * 100_000, id="100k-nested-arrays"),
        pytest.param(b'{"text": ' + b"[" * 5_000 + b"]" * 5_000 + b"}", id="5k-deep-valid-json"),
        pytest.param(b'{"a": ' * 50_000, id="nested-objects"),
        pytest.param(b'{"text": ' + b"[" * 100 + b"]" * 100 + b"}", id="100-deep-valid-json"),
        # Python refuses to read an integer of more than 4,300 digits (a ValueError).
        pytest.param(b'{"text": "x", "on": ' + b"1" * 5_000 + b"}", id="5000-digit-number"),
    ],
)
async def test_deeply_nested_json_gets_a_validation_error(start_service, nc, body):
    notes = await start_service(NOTES)
    reply = await request(
        nc, "cmd", "jinsha", "notes", "add_note", body, timeout=5, token=HEAD_OFFICE
    )
    _refused(reply)
    assert await _notes_written(notes) == 0


async def test_bytes_that_are_not_utf8_get_a_validation_error(start_service, nc):
    await start_service(NOTES)
    for body in (b"\xff\xfe\x00{", b'{"text": "\xc3\x28"}', b"\x80" * 1000):
        reply = await request(
            nc, "cmd", "jinsha", "notes", "add_note", body, timeout=5, token=HEAD_OFFICE
        )
        _refused(reply)


async def test_a_900_kb_body_gets_a_validation_error(start_service, nc):
    notes = await start_service(NOTES)
    huge_text = await request(
        nc,
        "cmd",
        "jinsha",
        "notes",
        "add_note",
        note(text="x" * 900_000),
        timeout=5,
        token=HEAD_OFFICE,
    )
    assert "text" in _refused(huge_text)
    # Many small wrong items: the reply stays small enough to be sent.
    many = await request(
        nc,
        "cmd",
        "jinsha",
        "notes",
        "add_note",
        note(text=[1] * 300_000),
        timeout=5,
        token=HEAD_OFFICE,
    )
    assert "text" in _refused(many)
    assert len(many.to_json()) < 64 * 1024
    assert await _notes_written(notes) == 0


async def test_a_control_character_in_any_text_is_a_validation_error_naming_the_field(
    start_service, nc
):
    notes = await start_service(NOTES)
    await start_service(("intake", build_intake))
    await start_service(("groups", build_groups))
    intake = ServiceClient(nc, "intake", "likang")
    groups = ServiceClient(nc, "groups", "likang")

    refused = await request(
        nc, "cmd", "jinsha", "notes", "add_note", note(text="a\x00b"), token=HEAD_OFFICE
    )
    assert "U+0000" in _refused(refused)["text"]
    refused = await request(
        nc, "cmd", "jinsha", "notes", "add_note", note(actor="w\x1b[31m"), token=HEAD_OFFICE
    )
    assert set(_refused(refused)) == {"actor"}
    assert await _notes_written(notes) == 0 and await _outbox(notes) == 0

    person = await intake.cmd("register_person", preferred_name="Chan\x00", roles=["volunteer"])
    assert set(_refused(person)) == {"preferred_name"}
    referral = await intake.cmd("receive_referral", source="self", reason="needs\x07help")
    assert set(_refused(referral)) == {"reason"}
    found = await intake.qry("find_people", text="\x00")
    assert set(_refused(found)) == {"text"}
    programme = await groups.cmd(
        "create_programme",
        title="Carers group",
        type="support_group",
        capacity=10,
        facilitators=["sw-lee", "sw-\x00wong"],
        venue="Room 1",
        schedule={"first_date": "2026-01-05", "start_time": "14:30", "duration_min": 90},
    )
    assert set(_refused(programme)) == {"facilitators.1"}

    # Tab, newline and carriage return are ordinary text.
    kept = await intake.cmd("receive_referral", source="self", reason="line one\r\n\tline two")
    assert kept.ok, kept


async def test_a_lone_surrogate_that_postgresql_cannot_store_is_a_validation_error(
    start_service, nc
):
    notes = await start_service(NOTES)
    body = json.dumps(note(text="half a pair \ud800")).encode()
    reply = await request(nc, "cmd", "jinsha", "notes", "add_note", body, token=HEAD_OFFICE)
    assert set(_refused(reply)) == {"text"}
    assert await _notes_written(notes) == 0


async def test_whitespace_only_actor_reason_or_name_is_a_validation_error(start_service, nc):
    notes = await start_service(NOTES)
    await start_service(("intake", build_intake))
    intake = ServiceClient(nc, "intake", "likang")

    blank_actor = await request(
        nc, "cmd", "jinsha", "notes", "add_note", note(actor="   "), token=HEAD_OFFICE
    )
    assert set(_refused(blank_actor)) == {"actor"}
    blank_text = await request(
        nc, "cmd", "jinsha", "notes", "add_note", note(text="\t \n"), token=HEAD_OFFICE
    )
    assert set(_refused(blank_text)) == {"text"}
    assert await _notes_written(notes) == 0

    referral = await intake.cmd("receive_referral", source="self", reason=" \n ")
    assert set(_refused(referral)) == {"reason"}
    person = await intake.cmd("register_person", preferred_name="  ", roles=["volunteer"])
    assert set(_refused(person)) == {"preferred_name"}
    blank_query_actor = await intake.qry("find_people", text="Chan", actor="  ")
    assert set(_refused(blank_query_actor)) == {"actor"}

    # Text around a name is trimmed, not refused.
    kept = await intake.ok("register_person", preferred_name="  Chan Tai  ", roles=["volunteer"])
    shown = await intake.ok("qry:person", person_id=kept["person_id"])
    assert shown["preferred_name"] == "Chan Tai"


async def test_an_answer_too_large_for_nats_is_an_internal_error_instead_of_no_reply(
    start_service, nc
):
    await start_service(BIG)
    small = await request(
        nc, "qry", "jinsha", "bigreply", "everything", {"size": 10}, token=HEAD_OFFICE
    )
    assert small.ok and small.result == {"text": "x" * 10}
    huge = await request(
        nc,
        "qry",
        "jinsha",
        "bigreply",
        "everything",
        {"size": 2_000_000},
        timeout=5,
        token=HEAD_OFFICE,
    )
    assert huge.error is not None and huge.error.code == "internal"
    assert "larger than NATS can carry" in huge.error.message
