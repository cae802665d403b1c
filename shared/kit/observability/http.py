"""``/healthz``, ``/readyz`` and ``/metrics`` on the service's HTTP port.

A few GET routes need no web framework; asyncio's own server keeps the service to one event
loop and one set of signal handlers.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

log = logging.getLogger("carenet.http")

ReadinessCheck = Callable[[], Awaitable[dict[str, Any]]]
"""Returns ``{"ready": bool, "checks": {...}}``."""


class StatusServer:
    def __init__(self, host: str, port: int, readiness: ReadinessCheck) -> None:
        self.host = host
        self.port = port
        self.readiness = readiness
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), timeout=5)
            while (await asyncio.wait_for(reader.readline(), timeout=5)) not in (b"\r\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            method, path = (parts[0], parts[1].split("?", 1)[0]) if len(parts) >= 2 else ("", "")
            status, content_type, body = await self._route(method, path)
            writer.write(
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        except Exception:
            log.exception("status request failed")
        finally:
            writer.close()

    async def _route(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/healthz":
            return "200 OK", "application/json", b'{"status": "ok"}\n'
        if path == "/readyz":
            try:
                report = await asyncio.wait_for(self.readiness(), timeout=5)
            except Exception as exc:  # noqa: BLE001 - a failing check means not ready
                report = {"ready": False, "error": repr(exc)}
            status = "200 OK" if report.get("ready") else "503 Service Unavailable"
            return status, "application/json", json.dumps(report).encode() + b"\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, generate_latest()
        return "404 Not Found", "text/plain", b"not found\n"
