"""The console's only way to the data: a service's command or query, sent with the signed-in
user's own token, so every rule and access check stays in the service."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from uuid import uuid4

from nats.aio.client import Client as NatsClient

from services.console.access import Request, spec
from shared.kit.bus.requests import request
from shared.kit.contracts.replies import Reply

log = logging.getLogger("carenet.console")

CLEARED: Final = object()
"""A payload value the gateway sends as JSON null: "clear this field", unlike None ("leave
it out", so unchanged)."""


@dataclass
class Gateway:
    nats: NatsClient
    no_responders_patience: float = 2.0
    timeout: float = 10.0

    async def send(
        self, token: str, site: str, what: Request, payload: Mapping[str, Any] | None = None
    ) -> Reply:
        """Send ``what`` (``(service, name)``) for ``site`` with ``token``; always a Reply.

        Fields given as None are left out, fields given as ``CLEARED`` are sent as null; a
        command gets a ``command_id`` unless the form carried one (a form sent again after
        ``unavailable`` sends the same one, so the command is applied at most once)."""
        found = spec(what)
        body = {
            key: None if value is CLEARED else value
            for key, value in (payload or {}).items()
            if value is not None
        }
        if "site" in found.model.model_fields:
            body.setdefault("site", site)
        if found.kind == "cmd":
            body.setdefault("command_id", str(uuid4()))
        if self.nats.is_closed:
            return Reply.failure("unavailable", "the console has no connection to NATS")
        try:
            return await request(
                self.nats,
                found.kind,
                site,
                found.service,
                found.name,
                body,
                token=token,
                timeout=self.timeout,
                no_responders_patience=self.no_responders_patience,
            )
        except Exception as exc:  # noqa: BLE001 - whatever the bus does, the page says unavailable
            log.warning("%s.%s could not be sent: %r", found.service, found.name, exc)
            return Reply.failure("unavailable", f"{found.service} could not be reached")
