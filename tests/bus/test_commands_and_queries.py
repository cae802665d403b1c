"""Commands and queries: the reply shape, idempotency by command_id, and bad input."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from shared.kit.bus.requests import request
from tests.bus.helpers import add
from tests.example.services import NOTES
from tests.identity import HEAD_OFFICE


async def _rows(runtime) -> int:
    async with runtime.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM notes"))


async def _outbox(runtime) -> int:
    async with runtime.pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM outbox"))


async def test_a_command_repeated_with_the_same_command_id_returns_the_first_reply_and_writes_once(
    start_service, nc
):
    notes = await start_service(NOTES)
    payload = {"command_id": str(uuid4()), "text": "weekly group"}

    first = await request(nc, "cmd", "jinsha", "notes", "add_note", payload, token=HEAD_OFFICE)
    again = await request(nc, "cmd", "jinsha", "notes", "add_note", payload, token=HEAD_OFFICE)

    assert first.ok and again == first
    assert await _rows(notes) == 1
    assert await _outbox(notes) == 1


async def test_concurrent_repeats_of_one_command_write_once_and_all_get_the_same_reply(
    start_service, nc
):
    notes = await start_service(NOTES)
    payload = {"command_id": str(uuid4()), "text": "house meeting"}

    replies = await asyncio.gather(
        *(
            request(nc, "cmd", "jinsha", "notes", "add_note", payload, token=HEAD_OFFICE)
            for _ in range(8)
        )
    )

    assert all(r.ok for r in replies)
    assert len({r.result["note_id"] for r in replies}) == 1
    assert await _rows(notes) == 1


async def test_a_command_id_reused_for_another_command_is_a_conflict(start_service, nc):
    await start_service(NOTES)
    command_id = str(uuid4())
    first = await request(
        nc,
        "cmd",
        "jinsha",
        "notes",
        "add_note",
        {"command_id": command_id, "text": "a"},
        token=HEAD_OFFICE,
    )
    reused = await request(
        nc,
        "cmd",
        "jinsha",
        "notes",
        "delete_note",
        {"command_id": command_id, "note_id": first.result["note_id"]},
        token=HEAD_OFFICE,
    )
    assert reused.error.code == "conflict"
    assert reused.error.details[0].field == "command_id"


async def test_invalid_payloads_get_validation_error_with_field_details_and_change_nothing(
    start_service, nc
):
    notes = await start_service(NOTES)
    reply = await request(
        nc,
        "cmd",
        "jinsha",
        "notes",
        "add_note",
        {"command_id": "not-a-uuid", "text": "", "colour": "red"},
        token=HEAD_OFFICE,
    )

    assert not reply.ok
    assert reply.error.code == "validation_error"
    fields = {d.field: d.message for d in reply.error.details}
    assert set(fields) == {"command_id", "text", "colour"}
    assert "UUID" in fields["command_id"]
    assert "Extra inputs are not permitted" in fields["colour"]
    assert await _rows(notes) == 0 and await _outbox(notes) == 0


async def test_a_body_that_is_not_json_gets_validation_error(start_service, nc):
    await start_service(NOTES)
    reply = await request(nc, "cmd", "jinsha", "notes", "add_note", b"<xml/>", token=HEAD_OFFICE)
    assert reply.model_dump(exclude_none=True) == {
        "ok": False,
        "error": {
            "code": "validation_error",
            "message": "the body is not valid JSON",
            "details": [],
        },
    }


async def test_a_rule_broken_in_a_handler_gets_its_code_and_rolls_back(start_service, nc):
    notes = await start_service(NOTES)
    reply = await add(nc, "taken")
    assert reply.error.code == "conflict"
    assert reply.error.details[0].field == "text"
    assert await _rows(notes) == 0 and await _outbox(notes) == 0


async def test_an_unexpected_exception_becomes_an_internal_error_with_a_reference(
    start_service, nc, caplog
):
    notes = await start_service(NOTES)
    correlation = str(uuid4())
    reply = await request(
        nc,
        "cmd",
        "jinsha",
        "notes",
        "add_note",
        {"command_id": str(uuid4()), "text": "explode"},
        correlation_id=correlation,
        token=HEAD_OFFICE,
    )
    assert reply.error.code == "internal"
    assert correlation in reply.error.message
    assert any("unexpected error" in r.getMessage() for r in caplog.records)
    assert await _rows(notes) == 0


async def test_unknown_commands_and_missing_entities_are_not_found(start_service, nc):
    await start_service(NOTES)
    unknown = await request(nc, "cmd", "jinsha", "notes", "shred_note", {}, token=HEAD_OFFICE)
    assert unknown.error.code == "not_found"
    missing = await request(
        nc, "qry", "jinsha", "notes", "note", {"note_id": str(uuid4())}, token=HEAD_OFFICE
    )
    assert missing.error.code == "not_found"


async def test_a_query_reads_without_writing(start_service, nc):
    await start_service(NOTES)
    added = await add(nc, "talk on caring skills")
    found = await request(
        nc,
        "qry",
        "jinsha",
        "notes",
        "note",
        {"note_id": added.result["note_id"]},
        token=HEAD_OFFICE,
    )
    assert found.ok
    assert found.result == {"note_id": added.result["note_id"], "text": "talk on caring skills"}


async def test_an_instance_serves_only_its_sites(start_service, nc):
    await start_service(NOTES, CARENET_SITES="jinsha,nanyuan")
    assert (await add(nc, "here", site="nanyuan")).ok
    elsewhere = await add(nc, "elsewhere", site="longjin")
    assert elsewhere.error is not None and elsewhere.error.code == "unavailable"


async def test_a_request_for_a_site_the_organisation_does_not_have_is_not_found(start_service, nc):
    notes = await start_service(NOTES)  # every site: subscribed to cmd.*.notes.*
    reply = await add(nc, "lost", site="nowhere")
    assert reply.error is not None and reply.error.code == "not_found"
    assert [d.field for d in reply.error.details] == ["site"]
    assert await _rows(notes) == 0


async def test_replicas_share_the_requests_of_a_queue_group(start_service, nc):
    first = await start_service(NOTES)
    second = await start_service(NOTES)
    for i in range(40):
        assert (await add(nc, f"note {i}")).ok
    assert await _rows(first) == 40
    assert first.endpoints.handled + second.endpoints.handled == 40
    assert first.endpoints.handled > 0 and second.endpoints.handled > 0
