"""One catalogue of every command, query and event type, filled by the contract modules.

The catalogue is what the docs generator, the privacy check and the bus read; a model that is
not registered here is not part of the public API.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from shared.kit.contracts.envelope import EVENT_TYPE
from shared.kit.contracts.messages import Command, EventData, Query
from shared.kit.identity.access import Access

E = TypeVar("E", bound=type[EventData])
C = TypeVar("C", bound=type[Command])
Q = TypeVar("Q", bound=type[Query])


@dataclass(frozen=True)
class EventSpec:
    event_type: str
    version: int
    model: type[EventData]

    @property
    def service(self) -> str:
        return self.event_type.split(".", 1)[0]


@dataclass(frozen=True)
class RequestSpec:
    kind: str  # "cmd" or "qry"
    service: str
    name: str
    model: type[Command] | type[Query]
    access: Access
    """Who may send it, for which sites (``shared/kit/identity/access.py``)."""


@dataclass
class Catalogue:
    events: dict[str, EventSpec] = field(default_factory=dict)
    commands: dict[tuple[str, str], RequestSpec] = field(default_factory=dict)
    queries: dict[tuple[str, str], RequestSpec] = field(default_factory=dict)

    def event_model(self, event_type: str) -> type[EventData]:
        return self.events[event_type].model

    def events_of(self, service: str) -> list[EventSpec]:
        return [spec for spec in self.events.values() if spec.service == service]

    def services(self) -> list[str]:
        names = {spec.service for spec in self.events.values()}
        names |= {service for service, _ in self.commands}
        names |= {service for service, _ in self.queries}
        return sorted(names)


CATALOGUE = Catalogue()


def event(event_type: str, version: int = 1) -> Callable[[E], E]:
    """Register an event payload model under its type, e.g. ``intake.case.opened``."""
    if not EVENT_TYPE.match(event_type):
        raise ValueError(f"invalid event type {event_type!r}")

    def register(model: E) -> E:
        existing = CATALOGUE.events.get(event_type)
        if existing and existing.model is not model:
            raise ValueError(f"event type {event_type} registered twice")
        CATALOGUE.events[event_type] = EventSpec(event_type, version, model)
        return model

    return register


def command(service: str, name: str, *, access: Access) -> Callable[[C], C]:
    """Register a command model, with its row of the access table."""

    def register(model: C) -> C:
        CATALOGUE.commands[(service, name)] = RequestSpec("cmd", service, name, model, access)
        return model

    return register


def query(service: str, name: str, *, access: Access) -> Callable[[Q], Q]:
    """Register a query model, with its row of the access table."""

    def register(model: Q) -> Q:
        CATALOGUE.queries[(service, name)] = RequestSpec("qry", service, name, model, access)
        return model

    return register
