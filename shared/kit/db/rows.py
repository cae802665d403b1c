"""Row writes for a service's store: a table and its column values, never a hand-numbered
``$1 .. $13`` list to keep in step with the columns.

Table and column names come from the store's code, never from a request.
"""

from __future__ import annotations

from dataclasses import fields
from decimal import Decimal
from typing import Any, TypeVar

import asyncpg

T = TypeVar("T")


def _insert_sql(table: str, columns: list[str]) -> str:
    placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"


async def insert(conn: asyncpg.Connection, table: str, /, **values: Any) -> None:
    """Insert one row."""
    await conn.execute(_insert_sql(table, list(values)), *values.values())


async def insert_once(conn: asyncpg.Connection, table: str, unique: str, /, **values: Any) -> bool:
    """Insert one row unless it would break ``unique`` (an ``ON CONFLICT`` target such as
    ``(carer_id, cared_for_id)``); whether the row was inserted. Concurrent inserts of the same
    key are settled by the constraint, so exactly one of them is told True."""
    sql = f"{_insert_sql(table, list(values))} ON CONFLICT {unique} DO NOTHING RETURNING true"
    return bool(await conn.fetchval(sql, *values.values()))


async def update(
    conn: asyncpg.Connection, table: str, key: dict[str, Any], /, **values: Any
) -> int:
    """Set ``values`` on the rows matching every column of ``key``; how many rows changed."""
    columns = list(values)
    sets = ", ".join(f"{c} = ${i}" for i, c in enumerate(columns, 1))
    where = " AND ".join(f"{c} = ${i}" for i, c in enumerate(key, len(columns) + 1))
    status = await conn.execute(
        f"UPDATE {table} SET {sets} WHERE {where}", *values.values(), *key.values()
    )
    return int(status.rsplit(" ", 1)[-1])


async def fetch_one(conn: asyncpg.Connection, shape: type[T], sql: str, *args: Any) -> T | None:
    """The first row of ``sql`` as a ``shape`` (a dataclass) built from the columns named as
    its fields (other columns are left out); None when there is no row."""
    row = await conn.fetchrow(sql, *args)
    if row is None:
        return None
    names = {f.name for f in fields(shape) if f.init}  # type: ignore[arg-type]
    return shape(**{column: value for column, value in row.items() if column in names})


async def fetch_all(conn: asyncpg.Connection, shape: type[T], sql: str, *args: Any) -> list[T]:
    """Every row of ``sql`` as a ``shape``, as ``fetch_one`` builds one."""
    names = {f.name for f in fields(shape) if f.init}  # type: ignore[arg-type]
    return [
        shape(**{column: value for column, value in row.items() if column in names})
        for row in await conn.fetch(sql, *args)
    ]


# --- plain JSON values of rows, for replies that show stored rows as they are (issue 17) -----


def jsonable(row: asyncpg.Record | dict[str, Any]) -> dict[str, Any]:
    """A row as JSON values: dates and times in ISO 8601, arrays as lists, ``numeric`` as a
    float, ids (and anything else not JSON) as text."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if hasattr(value, "isoformat"):
            out[key] = value.isoformat()
        elif isinstance(value, list | tuple):
            out[key] = [v.isoformat() if hasattr(v, "isoformat") else _plain(v) for v in value]
        else:
            out[key] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return float(value)
    return str(value)


async def fetch_jsonable(conn: asyncpg.Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Every row of ``sql`` as ``jsonable``."""
    return [jsonable(row) for row in await conn.fetch(sql, *args)]
