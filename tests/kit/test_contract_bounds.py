"""Every string and list a command or query accepts is bounded, and no accepted command can
write an event too large to publish."""

from __future__ import annotations

from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.groups.app import build as build_groups
from services.intake.app import build as build_intake
from shared.kit.contracts import CATALOGUE, EventData, event
from shared.kit.contracts.messages import MAX_TEXT, Command
from shared.kit.contracts.public import load_public_contracts
from shared.kit.contracts.replies import CommandError
from shared.kit.db.uow import MAX_EVENT_BYTES, UnitOfWork
from tests.conftest import ServiceClient


def _unbounded(schema: dict[str, Any], defs: dict[str, Any], path: str) -> list[str]:
    """Paths in a JSON Schema where a string has no maxLength or an array no maxItems."""
    found: list[str] = []
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return _unbounded(defs[name], defs, path)
    kind = schema.get("type")
    if kind == "string" and "maxLength" not in schema:
        if "enum" not in schema and "const" not in schema and "format" not in schema:
            found.append(path)
    if kind == "array":
        if "maxItems" not in schema:
            found.append(path)
        found += _unbounded(schema.get("items", {}), defs, f"{path}[]")
    if kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        found += _unbounded(schema["additionalProperties"], defs, f"{path}{{}}")
    for name, sub in schema.get("properties", {}).items():
        found += _unbounded(sub, defs, f"{path}.{name}")
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            found += _unbounded(sub, defs, path)
    return found


def test_every_string_and_list_of_every_command_and_query_has_an_upper_bound():
    load_public_contracts()
    unbounded = []
    for (service, name), spec in {**CATALOGUE.commands, **CATALOGUE.queries}.items():
        if service not in ("intake", "groups", "volunteers", "reporting"):
            continue
        schema = spec.model.model_json_schema()
        unbounded += _unbounded(schema, schema.get("$defs", {}), f"{service}.{name}")
    assert unbounded == []


def test_a_string_without_its_own_bound_gets_the_shared_default():
    class Remark(Command):
        remark: str

    with pytest.raises(ValueError, match=f"at most {MAX_TEXT} characters"):
        Remark(command_id=uuid4(), remark="x" * (MAX_TEXT + 1))


@event("boundtest.blob.kept")
class BlobKept(EventData):
    blob: str


def test_recording_an_event_larger_than_the_kit_limit_is_a_validation_error():
    uow = UnitOfWork(None, "boundtest", "boundtest", "jinsha", ZoneInfo("Asia/Hong_Kong"))  # type: ignore[arg-type]
    uow.record(BlobKept(blob="x" * (MAX_EVENT_BYTES - 1_000)), subject="a")
    with pytest.raises(CommandError) as refused:
        uow.record(BlobKept(blob="x" * MAX_EVENT_BYTES), subject="b")
    assert refused.value.code == "validation_error"
    assert "boundtest.blob.kept" in refused.value.message
    assert len(uow.events) == 1  # the refused event is not kept


async def test_a_programme_with_a_one_megabyte_facilitator_is_refused_and_changes_nothing(
    start_service, nc
):
    await start_service(("intake", build_intake))
    groups = await start_service(("groups", build_groups))
    staff = ServiceClient(nc, "groups", "likang")

    reply = await staff.cmd(
        "create_programme",
        title="Carers group",
        type="support_group",
        capacity=10,
        facilitators=["x" * 1_000_000],
        venue="Room 1",
        schedule={"first_date": "2026-01-05", "start_time": "14:30", "duration_min": 90},
    )

    assert reply.error is not None and reply.error.code == "validation_error"
    assert [d.field for d in reply.error.details] == ["facilitators.0"]
    assert groups.pool is not None
    async with groups.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM outbox") == 0
        assert await conn.fetchval("SELECT count(*) FROM programmes") == 0


def test_a_month_in_year_zero_is_refused_by_publish_summary() -> None:
    from shared.kit.contracts.reporting import PublishSummary

    with pytest.raises(ValidationError):
        PublishSummary.model_validate({"command_id": str(uuid4()), "month": "0000-01"})
