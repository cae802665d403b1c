"""A request nobody answers, or nobody answers in time, still gets a reply of the contract's
shape: ``unavailable``, saying so, and for a command the ``command_id`` to send again."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from uuid import uuid4

from shared.kit.bus.requests import request
from shared.kit.contracts import BusinessCommand, command
from shared.kit.db.uow import UnitOfWork
from shared.kit.identity import EVERY_ROLE
from shared.kit.service import ServiceDefinition
from tests.bus.helpers import add
from tests.example.services import NOTES
from tests.identity import HEAD_OFFICE


@command("slownotes", "slow_note", access=EVERY_ROLE)
class SlowNote(BusinessCommand):
    """Writes a row after a pause: a reply that comes too late for an impatient client."""

    seconds: float


async def slow_note(cmd: SlowNote, uow: UnitOfWork) -> dict[str, Any]:
    await asyncio.sleep(cmd.seconds)
    await uow.conn.execute("CREATE TABLE IF NOT EXISTS slow_notes (command_id uuid)")
    await uow.conn.execute("INSERT INTO slow_notes VALUES ($1)", cmd.command_id)
    return {"written": True}


SLOW = ServiceDefinition(name="slownotes", commands={"slow_note": slow_note})


async def test_a_command_to_a_service_that_is_not_running_is_unavailable_within_the_patience(nc):
    command_id = str(uuid4())
    started = time.monotonic()
    reply = await request(
        nc,
        "cmd",
        "jinsha",
        "notes",
        "add_note",
        {"command_id": command_id, "text": "nobody is there"},
        no_responders_patience=1.0,
        token=HEAD_OFFICE,
    )
    elapsed = time.monotonic() - started

    assert reply.ok is False and reply.error is not None
    assert reply.error.code == "unavailable"
    assert "no notes service answered" in reply.error.message
    assert command_id in reply.error.message
    assert "send it again with the same command_id" in reply.error.message
    assert [(d.field, d.message) for d in reply.error.details] == [("command_id", command_id)]
    assert 0.8 <= elapsed < 1.0 + 0.4


async def test_the_default_patience_of_two_seconds_is_two_seconds(nc):
    started = time.monotonic()
    reply = await request(
        nc, "qry", "jinsha", "notes", "note", {"note_id": str(uuid4())}, token=HEAD_OFFICE
    )
    elapsed = time.monotonic() - started
    assert reply.error is not None and reply.error.code == "unavailable"
    assert reply.error.details == []  # a query has no command_id to repeat
    assert 1.8 <= elapsed < 2.0 + 0.4


async def test_a_site_nobody_serves_is_unavailable(start_service, nc):
    await start_service(NOTES, CARENET_SITES="jinsha,nanyuan")
    assert (await add(nc, "here", site="nanyuan")).ok
    elsewhere = await request(
        nc,
        "cmd",
        "longjin",
        "notes",
        "add_note",
        {"command_id": str(uuid4()), "text": "elsewhere"},
        no_responders_patience=0.2,
        token=HEAD_OFFICE,
    )
    assert elsewhere.error is not None and elsewhere.error.code == "unavailable"


async def test_a_reply_that_comes_too_late_is_unavailable_and_the_repeat_is_applied_once(
    start_service, nc
):
    slow = await start_service(SLOW)
    command_id = str(uuid4())
    body = {"command_id": command_id, "seconds": 1.0}

    started = time.monotonic()
    late = await request(
        nc, "cmd", "jinsha", "slownotes", "slow_note", body, timeout=0.3, token=HEAD_OFFICE
    )
    assert time.monotonic() - started < 0.3 + 0.4

    assert late.error is not None and late.error.code == "unavailable"
    assert "no answer from slownotes within 0.3 s" in late.error.message
    assert command_id in late.error.message
    assert late.error.details[0].field == "command_id"
    # The first attempt does commit; sending it again returns that first reply.
    again = await request(nc, "cmd", "jinsha", "slownotes", "slow_note", body, token=HEAD_OFFICE)
    assert again.ok and again.result == {"written": True}
    assert slow.pool is not None
    async with slow.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM slow_notes") == 1


async def test_a_raw_body_command_that_nobody_answers_still_names_its_command_id(nc):
    command_id = str(uuid4())
    raw = b'{"command_id": "%s", "text": "x"}' % command_id.encode()
    reply = await request(
        nc, "cmd", "jinsha", "notes", "add_note", raw, no_responders_patience=0.1, token=HEAD_OFFICE
    )
    assert reply.error is not None and reply.error.code == "unavailable"
    assert command_id in reply.error.message
