"""Plain SQL migrations per service, applied in order at start under an advisory lock.

A service's migrations run with ``search_path`` set to its schema, so the SQL files name no
schema. The bus tables (outbox, inbox, command log) are the same for every service and come
first, from ``shared/kit/db/bus_migrations``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.kit.db.pool import SCHEMA_NAME

BUS_MIGRATIONS = Path(__file__).parent / "bus_migrations"
FILE_NAME = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    namespace: str
    version: str
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(namespace: str, directory: Path) -> list[Migration]:
    found = []
    for path in sorted(directory.glob("*.sql")):
        match = FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(f"{path}: migration files are named NNN_words.sql")
        found.append(Migration(namespace, match[1], match[2], path.read_text(encoding="utf-8")))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"{directory}: two migrations share a number")
    return found


async def migrate(conn: asyncpg.Connection, schema: str, service_dir: Path | None) -> list[str]:
    """Apply what is missing; returns the names applied. Safe to run from many replicas."""
    if not SCHEMA_NAME.match(schema):
        raise MigrationError(f"invalid schema name {schema!r}")
    migrations = load_migrations("bus", BUS_MIGRATIONS)
    if service_dir is not None and service_dir.exists():
        migrations += load_migrations(schema, service_dir)
    lock_key = f"carenet.migrate.{schema}"
    await conn.execute("SELECT pg_advisory_lock(hashtext($1))", lock_key)
    try:
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.schema_migrations (
                    namespace text NOT NULL,
                    version text NOT NULL,
                    name text NOT NULL,
                    checksum text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now(),
                    PRIMARY KEY (namespace, version))"""
        )
        rows = await conn.fetch(
            f"SELECT namespace, version, checksum FROM {schema}.schema_migrations"
        )
        applied = {(r["namespace"], r["version"]): r["checksum"] for r in rows}
        done = []
        for migration in migrations:
            key = (migration.namespace, migration.version)
            if key in applied:
                if applied[key] != migration.checksum:
                    raise MigrationError(
                        f"{schema}: migration {migration.namespace}/{migration.version}_"
                        f"{migration.name} changed after it was applied; add a new one instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(f"SET LOCAL search_path TO {schema}")
                await conn.execute(migration.sql)
                await conn.execute(
                    f"""INSERT INTO {schema}.schema_migrations (namespace, version, name, checksum)
                        VALUES ($1, $2, $3, $4)""",
                    migration.namespace,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            done.append(f"{migration.namespace}/{migration.version}_{migration.name}")
        return done
    finally:
        await conn.execute("SELECT pg_advisory_unlock(hashtext($1))", lock_key)


async def pending(conn: asyncpg.Connection, schema: str, service_dir: Path | None) -> int:
    """How many migrations are not applied yet (readiness reports this)."""
    migrations = load_migrations("bus", BUS_MIGRATIONS)
    if service_dir is not None and service_dir.exists():
        migrations += load_migrations(schema, service_dir)
    exists = await conn.fetchval("SELECT to_regclass($1)", f"{schema}.schema_migrations")
    if exists is None:
        return len(migrations)
    rows = await conn.fetch(f"SELECT namespace, version FROM {schema}.schema_migrations")
    applied = {(r["namespace"], r["version"]) for r in rows}
    return sum(1 for m in migrations if (m.namespace, m.version) not in applied)
