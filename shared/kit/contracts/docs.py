"""Generate ``docs/asyncapi.json`` (AsyncAPI 3.0) and one JSON Schema per event from the catalogue.

``carenet docs`` writes them, and ``docs/access.md`` (``access_docs``); a test regenerates them
and fails if the files differ, so the published documents cannot drift from the code.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.kit.bus.dead_letters import (
    CONSUMER,
    DELIVERIES,
    ORIGINAL_SEQUENCE,
    ORIGINAL_STREAM,
    ORIGINAL_SUBJECT,
    REASON,
)
from shared.kit.contracts import access_docs
from shared.kit.contracts.catalogue import CATALOGUE, EventSpec, RequestSpec
from shared.kit.contracts.envelope import SITE_CODE, EventEnvelope
from shared.kit.contracts.public import SERVICES, load_public_contracts
from shared.kit.contracts.replies import Reply

REF = "#/components/schemas/{model}"


def _key(text: str) -> str:
    return text.replace(".", "-")


def _first_line(text: str | None) -> str:
    return (text or "").strip().split("\n", 1)[0]


def _site_parameter() -> dict[str, Any]:
    return {"description": f"Site code, matching {SITE_CODE.pattern}"}


def event_schema(spec: EventSpec) -> dict[str, Any]:
    """A self-contained JSON Schema of the whole envelope of one event type."""
    envelope = EventEnvelope.model_json_schema()
    data = spec.model.model_json_schema()
    defs = data.pop("$defs", {})
    envelope["properties"]["type"] = {"const": spec.event_type, "type": "string"}
    envelope["properties"]["version"] = {"const": spec.version, "type": "integer"}
    envelope["properties"]["data"] = data
    envelope["required"] = sorted(set(envelope.get("required", [])) | {"type", "data"})
    if defs:
        envelope["$defs"] = defs
    envelope["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    envelope["$id"] = f"urn:carenet:event:{spec.event_type}:v{spec.version}"
    envelope["title"] = f"{spec.event_type} v{spec.version}"
    envelope["description"] = _first_line(spec.model.__doc__) or spec.event_type
    return envelope


def asyncapi() -> dict[str, Any]:
    events = sorted(
        (s for s in CATALOGUE.events.values() if s.service in SERVICES), key=lambda s: s.event_type
    )
    requests: list[RequestSpec] = sorted(
        (
            s
            for s in [*CATALOGUE.commands.values(), *CATALOGUE.queries.values()]
            if s.service in SERVICES
        ),
        key=lambda s: (s.kind, s.service, s.name),
    )
    models: list[type[BaseModel]] = [EventEnvelope, Reply]
    models += [s.model for s in events] + [s.model for s in requests]
    _, top = models_json_schema([(m, "validation") for m in models], ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})

    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in events:
        key = f"evt-{_key(spec.event_type)}"
        messages[key] = {
            "name": spec.event_type,
            "title": spec.event_type,
            "summary": _first_line(spec.model.__doc__),
            "contentType": "application/json",
            "headers": {
                "type": "object",
                "properties": {"Nats-Msg-Id": {"type": "string", "description": "= envelope id"}},
            },
            "payload": {
                "allOf": [
                    {"$ref": REF.format(model="EventEnvelope")},
                    {
                        "type": "object",
                        "properties": {
                            "type": {"const": spec.event_type},
                            "version": {"const": spec.version},
                            "data": {"$ref": REF.format(model=spec.model.__name__)},
                        },
                    },
                ]
            },
        }
        channels[key] = {
            "address": f"evt.{{site}}.{spec.event_type}",
            "description": f"JetStream stream {spec.service.upper()}",
            "parameters": {"site": _site_parameter()},
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[f"publish-{_key(spec.event_type)}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{key}"},
            "summary": f"{spec.service} publishes {spec.event_type}",
        }
    channels["reply"] = {
        "address": None,
        "description": "The requester's inbox",
        "messages": {"reply": {"$ref": "#/components/messages/reply"}},
    }
    messages["reply"] = {
        "name": "reply",
        "contentType": "application/json",
        "payload": {"$ref": REF.format(model="Reply")},
    }
    for req in requests:
        key = f"{req.kind}-{req.service}-{req.name}"
        messages[key] = {
            "name": f"{req.service}.{req.name}",
            "contentType": "application/json",
            "payload": {"$ref": REF.format(model=req.model.__name__)},
        }
        channels[key] = {
            "address": f"{req.kind}.{{site}}.{req.service}.{req.name}",
            "description": f"{'Command' if req.kind == 'cmd' else 'Query'}: request/reply, "
            f"queue group {req.service}",
            "parameters": {"site": _site_parameter()},
            "messages": {key: {"$ref": f"#/components/messages/{key}"}},
        }
        operations[key] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{key}"},
            "reply": {
                "channel": {"$ref": "#/channels/reply"},
                "messages": [{"$ref": "#/channels/reply/messages/reply"}],
            },
        }
    channels["dead-letter"] = {
        "address": "dlq.{service}.{consumer}",
        "description": "JetStream stream DLQ: the original body, with why it could not be applied",
        "parameters": {
            "service": {"description": "The consuming service"},
            "consumer": {"description": "The consumer's name within the service"},
        },
        "messages": {"dead-letter": {"$ref": "#/components/messages/dead-letter"}},
    }
    messages["dead-letter"] = {
        "name": "dead-letter",
        "headers": {
            "type": "object",
            "properties": {
                name: {"type": "string"}
                for name in (
                    REASON,
                    CONSUMER,
                    ORIGINAL_SUBJECT,
                    ORIGINAL_STREAM,
                    ORIGINAL_SEQUENCE,
                    DELIVERIES,
                )
            },
        },
        "payload": {"description": "The original message body, unchanged"},
    }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "carenet public API",
            "version": "1",
            "description": "Events, commands and queries of carenet's services. Generated by "
            "`carenet docs` from shared/kit/contracts; do not edit by hand.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": {"schemas": schemas, "messages": messages},
    }


def render() -> dict[str, str]:
    """Every document, by path relative to ``docs/``, as text."""
    load_public_contracts()
    files = {"asyncapi.json": _dump(asyncapi())}
    for spec in CATALOGUE.events.values():
        if spec.service in SERVICES:
            files[f"events/{spec.event_type}.v{spec.version}.json"] = _dump(event_schema(spec))
    return files


def _dump(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def generated() -> dict[str, str]:
    """Every generated document: ``render()``'s, and ``access.md``."""
    return {**render(), "access.md": access_docs.render()}


def write(docs_dir: Path) -> list[Path]:
    """Regenerate ``docs_dir``'s generated files; stale event schemas are removed."""
    files = generated()
    written = []
    events_dir = docs_dir / "events"
    events_dir.mkdir(parents=True, exist_ok=True)
    for stale in events_dir.glob("*.json"):
        if f"events/{stale.name}" not in files:
            stale.unlink()
    for relative, text in files.items():
        path = docs_dir / relative
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
