"""The retention rule keeps the data of people active elsewhere: intake learns from groups' and
volunteers' events who came to a group or volunteered, so a carer at the weekly group or a
volunteer logging hours, with no casework, is not erased."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any
from uuid import uuid4

from services.groups.app import build as build_groups
from services.intake import retention
from services.intake.app import build as build_intake
from services.volunteers.app import build as build_volunteers
from shared.agency.sites import DEMO_ORGANISATION
from shared.kit.bus.streams import ensure_stream, stream_config, stream_name
from shared.kit.contracts import EventEnvelope
from shared.kit.contracts.envelope import event_subject
from shared.kit.service import ServiceRuntime
from tests.conftest import ServiceClient, eventually
from tests.groups.conftest import day, today
from tests.intake.conftest import FAST_HANDOFFS
from tests.intake.test_subject_access import known_to


def _with_retention(tmp_path: Path, days: int) -> Path:
    sites = tmp_path / "sites.toml"
    rule = f"\n[retention]\npersonal_data_days = {days}\n"
    sites.write_text(DEMO_ORGANISATION.read_text(encoding="utf-8") + rule, encoding="utf-8")
    return sites


async def _last_active(intake: ServiceRuntime, person_id: str) -> date | None:
    assert intake.pool is not None
    async with intake.pool.acquire() as conn:
        found: date | None = await conn.fetchval(
            "SELECT last_active_on FROM person_activity WHERE person_id = $1::uuid", person_id
        )
        return found


async def test_attendance_and_volunteering_keep_a_persons_data_from_the_retention_rule(
    start_service, nc, tmp_path
):
    sites = _with_retention(tmp_path, 30)
    intake = await start_service(
        ("intake", build_intake), CARENET_CONFIG=str(sites), **FAST_HANDOFFS
    )
    groups = await start_service(("groups", build_groups))
    volunteers = await start_service(("volunteers", build_volunteers))
    staff = ServiceClient(nc, "intake", "likang")
    long_ago = (today() - timedelta(days=100)).isoformat()

    async def register(name: str, roles: list[str]) -> str:
        done = await staff.ok("register_person", preferred_name=name, roles=roles, on=long_ago)
        person_id = str(done["person_id"])
        await staff.ok(
            "record_consent", person_id=person_id, purpose="service", given=True, on=long_ago
        )
        return person_id

    carer = await register("Weekly Carer", ["family_carer"])
    helper = await register("Steady Volunteer", ["volunteer"])
    quiet = await register("Quiet Old-Timer", ["family_carer"])

    # The carer drops in at the carers' group yesterday: no enrolment, no casework.
    await known_to(groups, carer)
    group = await ServiceClient(nc, "groups", "likang").ok(
        "create_programme",
        title="Carers' circle",
        type="support_group",
        target_roles=["family_carer"],
        capacity=0,
        venue="Activity room 1",
        schedule={"first_date": day(-1), "start_time": "10:00", "duration_min": 90},
    )
    await ServiceClient(nc, "groups", "likang").ok(
        "record_attendance", session_id=group["session_ids"][0], dropped_in=[carer]
    )

    # The volunteer registered as one long ago and logged hours yesterday.
    await known_to(volunteers, helper)
    v = ServiceClient(nc, "volunteers", "likang")
    volunteer = (
        await v.ok("register_volunteer", person_id=helper, teams=["outreach"], on=long_ago)
    )["volunteer_id"]
    await v.ok("log_hours", volunteer_id=volunteer, minutes=120, date=day(-1))

    async def learnt() -> bool:
        return await _last_active(intake, carer) == today() - timedelta(
            days=1
        ) and await _last_active(intake, helper) == today() - timedelta(days=1)

    await eventually(learnt)
    assert await _last_active(intake, quiet) is None

    # Tomorrow, with a cut-off 29 days ago: only the person with nothing since is erased.
    tomorrow = today() + timedelta(days=1)
    runs = [r for r in await retention.apply_due(intake, tomorrow) if r.site == "likang"]
    assert [[str(p) for p in r.erased] for r in runs] == [[quiet]]
    assert runs[0].cutoff == tomorrow - timedelta(days=30) > date.fromisoformat(long_ago)
    assert (await staff.ok("qry:person", person_id=quiet))["erased"] is True
    for kept in (carer, helper):
        assert "erased" not in await staff.ok("qry:person", person_id=kept)

    # Once the cut-off passes their last activity too, they go like anyone else.
    later = today() + timedelta(days=31)
    erased = {str(p) for r in await retention.apply_due(intake, later) for p in r.erased}
    assert {carer, helper} <= erased


async def _publish(nc: Any, envelope: EventEnvelope, msg_id: str | None = None) -> None:
    await nc.jetstream().publish(
        event_subject(envelope.site, envelope.type),
        envelope.model_dump_json().encode(),
        stream=stream_name("groups"),
        headers={"Nats-Msg-Id": msg_id or str(envelope.id)},
    )


def _attended(on: str, present: list[str]) -> EventEnvelope:
    session = uuid4()
    return EventEnvelope(
        type="groups.attendance.recorded",
        source="groups/likang",
        site="likang",
        subject=str(session),
        data={
            "session_id": str(session),
            "programme_id": str(uuid4()),
            "programme_type": "support_group",
            "date": on,
            "present": present,
            "absent": [],
            "walk_ins": 0,
            "revision": 1,
            "replaces": False,
        },
    )


async def test_a_merged_duplicates_attendance_counts_for_the_kept_person_and_is_applied_once(
    start_service, nc
):
    # Intake starts before groups has made its stream (groups waits for intake's, not the
    # other way round); its consumer binds once the stream is there.
    intake = await start_service(("intake", build_intake), **FAST_HANDOFFS)
    assert intake.pool is not None
    staff = ServiceClient(nc, "intake", "likang")

    async def ready() -> bool:
        return bool((await intake.readiness())["ready"])

    await eventually(ready)  # no stream to read yet is nothing missed

    async def register(name: str) -> str:
        done = await staff.ok("register_person", preferred_name=name, roles=["family_carer"])
        return str(done["person_id"])

    kept, duplicate = await register("Ah Fong"), await register("A. Fong")
    await ensure_stream(nc.jetstream(), stream_config("groups", 1))

    # The duplicate came to a group before the merge: the merge moves that to the person kept.
    await _publish(nc, _attended(day(-5), [duplicate]))
    await eventually(lambda: _last_active(intake, duplicate), timeout=20)
    await staff.ok("merge_people", duplicate_id=duplicate, into_id=kept, reason="registered twice")
    assert await _last_active(intake, kept) == today() - timedelta(days=5)
    assert await _last_active(intake, duplicate) is None

    # Attendance naming the duplicate after the merge counts for the person kept.
    attended = _attended(day(-2), [duplicate])
    await _publish(nc, attended)

    async def moved_on() -> bool:
        return await _last_active(intake, kept) == today() - timedelta(days=2)

    await eventually(moved_on)
    assert await _last_active(intake, duplicate) is None

    # The same event again (a redelivery: a new message, the same event id) is applied once,
    # and an earlier day does not move the latest back.
    await _publish(nc, attended, msg_id=f"{attended.id}:again")
    await _publish(nc, _attended(day(-9), [kept]))

    async def applied() -> int:
        async with intake.pool.acquire() as conn:  # type: ignore[union-attr]
            found: int = await conn.fetchval(
                "SELECT count(*) FROM inbox WHERE consumer = 'intake_groups-events'"
            )
            return found

    await eventually(lambda: _equals(applied, 3))
    assert await _last_active(intake, kept) == today() - timedelta(days=2)
    async with intake.pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM person_activity") == 1


async def _equals(check: Any, value: int) -> bool:
    return bool(await check() == value)
