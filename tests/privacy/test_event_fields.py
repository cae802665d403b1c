"""Events outlive any erasure (streams are replayed, never edited), so no event may carry words
that could describe a person: every string field of a public event is an id, a date, a code
(enum or pattern), or one of the few fields listed here, each with why it names nobody."""

from __future__ import annotations

from typing import Any

from shared.kit.contracts import CATALOGUE
from shared.kit.contracts.public import SERVICES, load_public_contracts

NAMES_NOBODY: dict[tuple[str, str], str] = {
    ("intake.case.opened", "worker_id"): "a staff member's id",
    ("intake.case.reassigned", "worker_id"): "a staff member's id",
    ("intake.case.reassigned", "previous_worker_id"): "a staff member's id",
    ("intake.safety_followup.acknowledged", "acknowledged_by"): "a staff member's id",
    ("intake.case.transferred", "to_site"): "a site code",
    ("intake.assessment.recorded", "instrument"): "an instrument's code",
    ("intake.assessment.recorded", "band"): "the instrument's band for the score",
    ("intake.assessment.voided", "instrument"): "an instrument's code",
    ("groups.programme.created", "target_roles[]"): "role codes",
    ("groups.programme.created", "tags[]"): "a programme's tags",
    ("groups.programme.created", "facilitators[]"): "staff running the programme",
    ("groups.session.scheduled", "venue"): "where a session is held",
    ("groups.session.scheduled", "facilitators[]"): "staff running the session",
    ("groups.session.scheduled", "tags[]"): "the programme's tags",
    ("groups.attendance.recorded", "tags[]"): "the programme's tags",
    ("volunteers.volunteer.registered", "teams[]"): "team codes",
    ("volunteers.volunteer.registered", "skills[]"): "sent by earlier versions only",
    ("volunteers.volunteer.joined_team", "team"): "a team code",
    ("volunteers.volunteer.deactivated", "reason"): "a reason code",
    ("volunteers.training.completed", "course"): "a course code",
    ("volunteers.training.completed", "active_teams[]"): "team codes",
    ("volunteers.assignment.made", "role"): "a duty's role code",
    ("volunteers.hours.logged", "team"): "a team code",
    ("volunteers.hours.logged", "activity"): "sent by earlier versions only",
    ("volunteers.hours.voided", "team"): "a team code",
    ("reporting.summary.published", "month"): "a month",
    ("reporting.summary.published", "suppressed[]"): "paths of hidden figures",
}


def _free_strings(schema: dict[str, Any], defs: dict[str, Any], path: str = "") -> list[str]:
    """The paths of string fields with no enum, constant, pattern or format."""
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    found = []
    for key in ("anyOf", "oneOf", "allOf"):
        for option in schema.get(key, []):
            found += _free_strings(option, defs, path)
    if schema.get("type") == "string" and not {"enum", "const", "pattern", "format"} & set(schema):
        found.append(path)
    if schema.get("type") == "array" and "items" in schema:
        found += _free_strings(schema["items"], defs, path + "[]")
    for key, value in schema.get("properties", {}).items():
        found += _free_strings(value, defs, f"{path}.{key}" if path else key)
    return found


def test_no_event_carries_free_words():
    load_public_contracts()
    free = {
        (spec.event_type, field)
        for spec in CATALOGUE.events.values()
        if spec.service in SERVICES
        for schema in [spec.model.model_json_schema()]
        for field in _free_strings(schema, schema.get("$defs", {}))
    }
    assert free, "the walk finds string fields"
    assert free - set(NAMES_NOBODY) == set()
