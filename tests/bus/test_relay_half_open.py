"""A relay whose database link freezes (no reset, no close) steps down, and another takes over."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from urllib.parse import urlsplit, urlunsplit
from uuid import uuid4

import asyncpg
from nats.aio.client import Client as NatsClient

from shared.kit.bus.outbox import OutboxRelay
from shared.kit.bus.streams import ensure_stream, stream_config
from tests.bus.helpers import notes_schema
from tests.conftest import eventually


class FreezingProxy:
    """A TCP proxy that can stop forwarding while keeping every connection open, as a
    partition does when nothing resets the connections."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    def freeze(self) -> None:
        self.flowing.clear()

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for writer in self.writers:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.writers += [writer, up_writer]
        self.tasks += [
            asyncio.create_task(self._pipe(reader, up_writer)),
            asyncio.create_task(self._pipe(up_reader, writer)),
        ]

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                await self.flowing.wait()
                writer.write(data)
                await writer.drain()
            writer.close()


def through(dsn: str, port: int) -> str:
    """``dsn`` with its host and port replaced by 127.0.0.1:``port``."""
    parts = urlsplit(dsn)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def test_a_relay_behind_a_frozen_database_link_steps_down_and_a_standby_publishes(
    nc: NatsClient, database_url: str
):
    pool = await notes_schema(database_url)
    await ensure_stream(nc.jetstream(), stream_config("notes"))
    target = urlsplit(database_url)
    proxy = FreezingProxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    behind_proxy: list[str] = []
    direct: list[str] = []
    relays = [
        OutboxRelay(
            nats=nc,
            dsn=dsn,
            service="notes",
            schema="notes",
            poll_seconds=0.2,
            query_timeout=1.0,
            session_timeout=timedelta(seconds=3),
            on_state=states.append,
        )
        for dsn, states in ((through(database_url, port), behind_proxy), (database_url, direct))
    ]
    tasks = [asyncio.create_task(relays[0].run())]
    try:
        await eventually(lambda: _last_is(behind_proxy, "leader"))
        tasks.append(asyncio.create_task(relays[1].run()))
        await eventually(lambda: _last_is(direct, "standby"))
        await _write_event(pool)
        await eventually(lambda: _published(pool, 1))

        proxy.freeze()
        frozen_at = asyncio.get_running_loop().time()
        await _write_event(pool)

        await eventually(lambda: _last_is(behind_proxy, "retrying"), timeout=10)
        noticed = asyncio.get_running_loop().time() - frozen_at
        await eventually(lambda: _published(pool, 2), timeout=20)
        taken_over = asyncio.get_running_loop().time() - frozen_at

        assert "leader" in direct
        assert noticed < 5, noticed  # one timed query (1 s) after the next pass
        assert taken_over < 15, taken_over  # the server ends the silent session after 3 s
        info = await nc.jetstream().stream_info("NOTES")
        assert info.state.messages == 2
    finally:
        for relay in relays:
            relay.stop()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await proxy.close()
        await pool.close()


async def _last_is(states: list[str], state: str) -> bool:
    return bool(states) and states[-1] == state


async def _write_event(pool: asyncpg.Pool) -> None:
    event_id = uuid4()
    async with pool.acquire() as conn:
        await conn.execute(
            "INSERT INTO outbox (event_id, subject, body) VALUES ($1, $2, $3)",
            event_id,
            "evt.jinsha.notes.note.added",
            f'{{"id": "{event_id}"}}',
        )


async def _published(pool: asyncpg.Pool, count: int) -> bool:
    async with pool.acquire() as conn:
        marked = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
    return marked == count
