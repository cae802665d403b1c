"""The console's bootstrap: its resources (database pool, NATS, signing key), the FastAPI app
with every page's router, and ``python -m services.console``."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote

import asyncpg
import uvicorn
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from nats.aio.client import Client as NatsClient

from services.console import i18n, store
from services.console.accounts import StaffAccount
from services.console.gateway import Gateway
from services.console.pages import ROUTERS
from services.console.settings import ConsoleSettings, load_console_settings
from services.console.web import CsrfRefused, Forbidden, SignInRequired, csrf_protect, render
from shared.kit.bus.address import connect_nats
from shared.kit.db.migrations import migrate
from shared.kit.db.pool import connect, create_pool
from shared.kit.identity.issuing import SigningKey

HERE = Path(__file__).parent
PROTECTIVE_HEADERS = {
    # Scripts and styles only from the console itself (htmx is vendored), never in a frame.
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; "
    "base-uri 'self'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
"""On every answer; ``no-store`` keeps personal data out of the browser's cache."""
log = logging.getLogger("carenet.console")


@dataclass
class Console:
    settings: ConsoleSettings
    pool: asyncpg.Pool
    nats: NatsClient
    gateway: Gateway
    key: SigningKey

    @classmethod
    async def start(cls, settings: ConsoleSettings) -> Console:
        i18n.load_all()
        key = SigningKey.load(settings.signing_key)
        await migrate_schema(settings.database_url, settings.schema)
        pool = await create_pool(settings.database_url, settings.schema, application="console")
        try:
            nats = await connect_nats(
                settings.nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.5
            )
        except BaseException:
            await pool.close()
            raise
        gateway = Gateway(nats, no_responders_patience=settings.no_responders_patience)
        return cls(settings, pool, nats, gateway, key)

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.nats.close()
        await self.pool.close()

    def issue_token(self, account: StaffAccount) -> tuple[str, datetime]:
        """A carenet token for ``account``: its username as ``sub``, its roles and sites."""
        ttl = self.settings.token_ttl_seconds
        token = self.key.token(
            account.username,
            roles=account.roles,
            sites=account.sites,
            name=account.display_name,
            ttl_seconds=ttl,
        )
        return token, datetime.now(UTC) + timedelta(seconds=ttl)


async def migrate_schema(database_url: str, schema: str) -> list[str]:
    conn = await connect(database_url, schema, application="console-migrate")
    try:
        return await migrate(conn, schema, store.MIGRATIONS)
    finally:
        await conn.close()


def build_app(console: Console | None = None) -> FastAPI:
    """The app; ``console`` is given by tests (the lifespan of ``create_app`` sets it)."""
    app = FastAPI(
        dependencies=[Depends(csrf_protect)], docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.console = console

    @app.middleware("http")
    async def protective_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.update(PROTECTIVE_HEADERS)
        if request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    for router in ROUTERS:
        app.include_router(router)

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        current: Console | None = app.state.console
        checks = {"nats": bool(current and current.nats.is_connected), "database": False}
        if current is not None:
            with contextlib.suppress(Exception):
                checks["database"] = await current.pool.fetchval("SELECT true")
        ready = all(checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    @app.exception_handler(SignInRequired)
    async def sign_in_first(request: Request, _exc: SignInRequired) -> Response:
        target = f"/signin?next={quote(request.url.path)}"
        if request.headers.get("HX-Request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, _exc: Forbidden) -> Response:
        return render(request, "errors/forbidden.html", status=403)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _exc: CsrfRefused) -> Response:
        return render(request, "errors/csrf.html", status=403)

    return app


def create_app(settings: ConsoleSettings) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        console = await Console.start(settings)
        app.state.console = console
        try:
            yield
        finally:
            await console.stop()

    app = build_app()
    app.router.lifespan_context = lifespan
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    settings = load_console_settings()
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="info",
        proxy_headers=False,
    )
