"""Streams: the kit creates what is missing and never overwrites what an operator set."""

from __future__ import annotations

from nats.js.api import StreamConfig

from tests.example.services import NOTES


async def test_a_restart_keeps_the_stream_settings_an_operator_changed(start_service, nc):
    await start_service(NOTES)
    js = nc.jetstream()
    notes = (await js.stream_info("NOTES")).config
    notes.max_msgs = 1000
    notes.max_bytes = 50_000_000
    notes.description = "capped by operations"
    notes.duplicate_window = 3600.0
    await js.update_stream(notes)
    dlq = (await js.stream_info("DLQ")).config
    dlq.max_age = 30 * 24 * 3600.0
    dlq.description = "dead letters, kept a month"
    await js.update_stream(dlq)

    await start_service(NOTES)  # a restart, or another replica starting

    notes = (await js.stream_info("NOTES")).config
    assert (notes.max_msgs, notes.max_bytes, notes.description) == (
        1000,
        50_000_000,
        "capped by operations",
    )
    assert notes.duplicate_window == 3600.0
    dlq = (await js.stream_info("DLQ")).config
    assert (dlq.max_age, dlq.description) == (30 * 24 * 3600.0, "dead letters, kept a month")


async def test_an_existing_stream_gets_only_what_the_kit_needs_added(start_service, nc):
    js = nc.jetstream()
    await js.add_stream(
        StreamConfig(
            name="NOTES",
            subjects=["archive.notes.>"],
            duplicate_window=60.0,
            max_msgs=500,
            description="made by operations",
        )
    )

    await start_service(NOTES)

    notes = (await js.stream_info("NOTES")).config
    assert notes.subjects == ["archive.notes.>", "evt.*.notes.>"]
    assert notes.duplicate_window == 15 * 60.0
    assert (notes.max_msgs, notes.description) == (500, "made by operations")
