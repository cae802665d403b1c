"""No event type in the public catalogue has a field for personal identifiers."""

from __future__ import annotations

import re

from shared.kit.contracts import CATALOGUE
from shared.kit.contracts.public import SERVICES, load_public_contracts

PERSONAL = re.compile(
    r"name|phone|address|birth|dob|diagnos|id_number|document|email|note|reason_text|text",
    re.IGNORECASE,
)


def _fields(schema: dict, prefix: str = "") -> list[str]:
    found = []
    for key, value in schema.get("properties", {}).items():
        found.append(prefix + key)
        if isinstance(value, dict):
            found += _fields(value, prefix + key + ".")
    return found


def test_no_public_event_payload_has_a_field_for_personal_data():
    load_public_contracts()
    public = [spec for spec in CATALOGUE.events.values() if spec.service in SERVICES]
    assert public, "the catalogue has no public events"
    offending = [
        f"{spec.event_type}: {field}"
        for spec in public
        for field in _fields(spec.model.model_json_schema())
        if PERSONAL.search(field)
    ]
    assert offending == []
