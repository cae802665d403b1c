"""The console's own tables (its schema, nobody else's): staff accounts and sessions."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from services.console.accounts import StaffAccount

MIGRATIONS = Path(__file__).parent / "migrations"


def id_hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


@dataclass(frozen=True)
class Session:
    id_hash: str
    username: str
    csrf: str
    token: str
    token_expires_at: datetime
    expires_at: datetime
    site: str | None = None
    """The site the user chose to work for (None: their first)."""


def _account(row: asyncpg.Record) -> StaffAccount:
    return StaffAccount(
        username=row["username"],
        display_name=row["display_name"],
        roles=tuple(row["roles"]),
        sites=tuple(row["sites"]),
        language=row["language"],
        password_hash=row["password_hash"],
        failed_attempts=row["failed_attempts"],
        locked_until=row["locked_until"],
    )


async def add_account(conn: asyncpg.Connection | asyncpg.Pool, account: StaffAccount) -> bool:
    """False when the username is taken."""
    done = await conn.fetchval(
        """INSERT INTO staff_accounts (username, display_name, roles, sites, language,
                                       password_hash)
           VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (username) DO NOTHING
           RETURNING true""",
        account.username,
        account.display_name,
        list(account.roles),
        list(account.sites),
        account.language,
        account.password_hash,
    )
    return bool(done)


async def account(conn: asyncpg.Connection | asyncpg.Pool, username: str) -> StaffAccount | None:
    row = await conn.fetchrow("SELECT * FROM staff_accounts WHERE username = $1", username)
    return None if row is None else _account(row)


async def save_attempts(conn: asyncpg.Connection | asyncpg.Pool, account: StaffAccount) -> None:
    await conn.execute(
        """UPDATE staff_accounts SET failed_attempts = $2, locked_until = $3
           WHERE username = $1""",
        account.username,
        account.failed_attempts,
        account.locked_until,
    )


async def set_language(
    conn: asyncpg.Connection | asyncpg.Pool, username: str, language: str
) -> None:
    await conn.execute(
        "UPDATE staff_accounts SET language = $2 WHERE username = $1", username, language
    )


async def open_session(conn: asyncpg.Connection | asyncpg.Pool, session: Session) -> None:
    await conn.execute(
        """INSERT INTO sessions (id_hash, username, csrf, token, token_expires_at, expires_at)
           VALUES ($1, $2, $3, $4, $5, $6)""",
        session.id_hash,
        session.username,
        session.csrf,
        session.token,
        session.token_expires_at,
        session.expires_at,
    )


async def session(conn: asyncpg.Connection | asyncpg.Pool, session_id: str) -> Session | None:
    """The session with this id, if it has not expired."""
    row = await conn.fetchrow(
        """SELECT id_hash, username, csrf, token, token_expires_at, expires_at, site
           FROM sessions
           WHERE id_hash = $1 AND expires_at > now()""",
        id_hash(session_id),
    )
    return None if row is None else Session(**dict(row))


async def renew_token(
    conn: asyncpg.Connection | asyncpg.Pool, hashed: str, token: str, expires_at: datetime
) -> None:
    await conn.execute(
        "UPDATE sessions SET token = $2, token_expires_at = $3 WHERE id_hash = $1",
        hashed,
        token,
        expires_at,
    )


async def choose_site(conn: asyncpg.Connection | asyncpg.Pool, hashed: str, site: str) -> None:
    await conn.execute("UPDATE sessions SET site = $2 WHERE id_hash = $1", hashed, site)


async def close_session(conn: asyncpg.Connection | asyncpg.Pool, hashed: str) -> None:
    await conn.execute("DELETE FROM sessions WHERE id_hash = $1 OR expires_at < now()", hashed)
