"""Configuration made of named TOML tables (instruments, screenings): the shipped file, an
agency's file adding tables or replacing keys of shipped ones, each table validated by a model.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

Model = TypeVar("Model", bound=BaseModel)


def load_tables(
    model: type[Model],
    what: str,
    shipped: Path,
    extra: Path | None = None,
    *,
    parse_float: Callable[[str], Any] = float,
) -> dict[str, Model]:
    """Every table of ``shipped``, with ``extra``'s: a table for a new code is a whole ``what``,
    one for a shipped code replaces only the keys it names. Each table's name is its ``code``.
    Raises ``ValueError`` with a one-line reason."""
    tables = _read(shipped, what, parse_float)
    sources = dict.fromkeys(tables, shipped)
    if extra is not None:
        for code, table in _read(extra, what, parse_float).items():
            tables[code] = {**tables.get(code, {}), **table}
            sources[code] = extra
    return {
        code: _validated(model, what, code, table, sources[code]) for code, table in tables.items()
    }


def _read(path: Path, what: str, parse_float: Callable[[str], Any]) -> dict[str, dict[str, Any]]:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"), parse_float=parse_float)
    except FileNotFoundError as exc:
        raise ValueError(f"{path} does not exist") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path} is not valid TOML: {exc}") from exc
    for code, table in raw.items():
        if not isinstance(table, dict):
            raise ValueError(f"{path}: {code} is not a table of {_a(what)}")
        if "code" in table:
            raise ValueError(f"{path}: {what} {code}: the code comes from the table name")
    return raw


def _validated(
    model: type[Model], what: str, code: str, table: dict[str, Any], source: Path
) -> Model:
    try:
        return model.model_validate({**table, "code": code})
    except ValidationError as exc:
        reasons = []
        for error in exc.errors(include_url=False):
            message = error["msg"].removeprefix("Value error, ")
            where = ".".join(str(part) for part in error["loc"])
            reasons.append(f"{where}: {message}" if where else message)
        raise ValueError(f"{source}: {what} {code}: {'; '.join(reasons)}") from exc


def _a(what: str) -> str:
    return f"an {what}" if what[0] in "aeiou" else f"a {what}"
