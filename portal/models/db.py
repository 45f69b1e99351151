"""Binding the tables to an engine, and the one transaction helper every write goes through."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg
import msgspec
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString
from piccolo.table import Table

# What each driver raises when a unique index refuses a row (a lost race, never a bug).
UNIQUE_VIOLATIONS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, asyncpg.exceptions.UniqueViolationError)


# The engine the tables are bound to. Piccolo's configuration module (PICCOLO_CONF,
# portal/piccolo_conf.py) is not imported to bind or to find it: it imports piccolo.conf.apps,
# which imports black (the code formatter Piccolo writes migrations with), 7 MiB more resident in
# every web worker for nothing. Only Piccolo's own commands (migrate, which loads it first) do.
_bound: Engine[Any] | None = None


def bind(engine: Engine[Any]) -> None:
    """Point every portal table (and Piccolo's migration table) at ``engine``, and Piccolo's
    configuration too when it is loaded."""
    global _bound
    from piccolo.apps.migrations.tables import Migration

    from portal.models.tables import TABLES

    _bound = engine
    conf = sys.modules.get("portal.piccolo_conf")
    if conf is not None:
        setattr(conf, "DB", engine)  # noqa: B010 (a module attribute mypy cannot know)
    tables: tuple[type[Table], ...] = (*TABLES, Migration)
    for table in tables:
        table._meta.db = engine


def current_engine() -> Engine[Any]:
    if _bound is not None:
        return _bound
    import portal.piccolo_conf as conf

    engine: Engine[Any] = conf.DB
    return engine


@asynccontextmanager
async def transaction() -> AsyncIterator[Any]:
    """A write transaction. On SQLite it takes the write lock up front (IMMEDIATE) so a
    read-then-write never fails with 'database is locked'; on PostgreSQL it is a plain one."""
    engine = current_engine()
    if isinstance(engine, SQLiteEngine):
        async with engine.transaction(transaction_type=TransactionType.immediate) as txn:
            yield txn
    else:
        async with engine.transaction() as txn:
            yield txn


async def ping() -> bool:
    """True when the database answers a trivial query."""
    from portal.models.tables import Application

    try:
        rows = await Application.raw("SELECT 1 AS ok")
    except Exception:  # any driver error means "not healthy"
        return False
    return bool(rows) and rows[0]["ok"] == 1


T = TypeVar("T", bound=msgspec.Struct)


def as_struct(kind: type[T], row: dict[str, Any], json: tuple[str, ...] = ()) -> T:
    """A row as its struct; the ``json`` columns, which a raw query returns as text, decoded."""
    for key in json:
        if isinstance(value := row.get(key), str | bytes):
            row[key] = msgspec.json.decode(value)
    return msgspec.convert(row, kind, strict=False)


def as_structs(kind: type[T], rows: list[dict[str, Any]], json: tuple[str, ...] = ()) -> list[T]:
    return [as_struct(kind, row, json) for row in rows]


async def serialize_on(key: str) -> None:
    """Inside a transaction: wait for, then hold until it ends, a lock on ``key``, so that
    transactions that read-then-write about the same thing take turns. PostgreSQL: an advisory
    transaction lock; SQLite: nothing to do, ``transaction()`` already holds the write lock."""
    engine = current_engine()
    if isinstance(engine, PostgresEngine):
        await engine.run_querystring(QueryString("SELECT pg_advisory_xact_lock(hashtext({}))", key))
