"""The public API as code: envelope, replies, and the catalogue of commands, queries and events.

AsyncAPI and the JSON Schemas in ``docs/`` are generated from what is registered here.
"""

from shared.kit.contracts.catalogue import CATALOGUE, Catalogue, command, event, query
from shared.kit.contracts.envelope import EventEnvelope, event_subject
from shared.kit.contracts.messages import (
    BusinessCommand,
    Command,
    EventData,
    Query,
)
from shared.kit.contracts.replies import CommandError, ErrorCode, ErrorDetail, Reply

__all__ = [
    "CATALOGUE",
    "BusinessCommand",
    "Catalogue",
    "Command",
    "CommandError",
    "ErrorCode",
    "ErrorDetail",
    "EventData",
    "EventEnvelope",
    "Query",
    "Reply",
    "command",
    "event",
    "event_subject",
    "query",
]
