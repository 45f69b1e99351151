"""Binding the tables to an engine, and the one transaction helper every write goes through."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime
from enum import Enum
from typing import Any

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.querystring import QueryString

# What each driver raises when a unique index refuses a row (a lost race, never a bug).
UNIQUE_VIOLATIONS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, asyncpg.exceptions.UniqueViolationError)


def bind(engine: Engine) -> None:
    """Point every portal table (and Piccolo's migration table) at ``engine``."""
    from piccolo.apps.migrations.tables import Migration

    import portal.piccolo_conf as conf
    from portal.models.piccolo_app import APP_CONFIG

    conf.DB = engine
    for table in [*APP_CONFIG.table_classes, Migration]:
        table._meta.db = engine


def current_engine() -> Engine:
    import portal.piccolo_conf as conf

    return conf.DB


@asynccontextmanager
async def transaction():
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


# A compiled query: the Piccolo query object, its SQL with {} for values, where each value comes from.
_Shape = tuple[Any, str, tuple[tuple[int | None, Any], ...]]


class Prepared:
    """A hot select built by Piccolo once per engine type and then run with new values.

    Building the query tree is about a third of a step read's CPU, and its shape never changes
    between calls. ``build(*params, *variant)`` returns the Piccolo query; it is called once
    with a marker for each parameter and compiled, and the markers' places are remembered.
    ``rows(*values)`` then executes that SQL with the values and lets the same query object
    turn the rows into dicts (JSON columns loaded, as ``build`` asked). ``variant`` values
    pick a separately compiled shape (FOR UPDATE, say). The markers must reach the SQL
    unchanged (compare columns with them directly): a builder that transforms a parameter is
    refused when it is first compiled."""

    def __init__(self, build: Callable[..., Any]) -> None:
        self._build = build
        self._compiled: dict[tuple[str, int, tuple], _Shape] = {}

    def _compile(self, count: int, variant: tuple) -> _Shape:
        markers = [f"\x00Param{i}\x00" for i in range(count)]
        query = self._build(*markers, *variant)
        (querystring,) = query.querystrings
        _, fragments, args = querystring.bundle(start_index=1, bundled=[], combined_args=[])
        template = "".join(f.prefix + ("" if f.no_arg else "{}") for f in fragments)
        # Where each value comes from: a parameter's index, or None for a constant of the query.
        places = tuple((markers.index(a), None) if isinstance(a, str) and a in markers else (None, a) for a in args)
        if sorted(i for i, _ in places if i is not None) != list(range(count)) or "{" in template.replace("{}", ""):
            raise ValueError("each parameter must reach the SQL exactly once, as a plain value")
        return query, template, places

    async def rows(self, *values: Any, variant: tuple = ()) -> list[dict[str, Any]]:
        for value in values:
            # Piccolo rewrites these (None to IS NULL, rows to ids, enums to values); plain
            # values only, so the SQL built once means the same for every call.
            if not isinstance(value, str | int | float | datetime) or isinstance(value, Enum | bool):
                raise TypeError(f"a prepared query takes str, number or datetime values, not {type(value).__name__}")
        engine = current_engine()
        key = (engine.engine_type, len(values), variant)
        if key not in self._compiled:
            self._compiled[key] = self._compile(len(values), variant)
        query, template, places = self._compiled[key]
        raw = await engine.run_querystring(QueryString(template, *(c if i is None else values[i] for i, c in places)))
        return await query._process_results(raw)

    async def first(self, *values: Any, variant: tuple = ()) -> dict[str, Any] | None:
        found = await self.rows(*values, variant=variant)
        return found[0] if found else None


async def serialize_on(key: str) -> None:
    """Inside a transaction: wait for, then hold until it ends, a lock on ``key``, so that
    transactions that read-then-write about the same thing take turns. PostgreSQL: an advisory
    transaction lock; SQLite: nothing to do, ``transaction()`` already holds the write lock."""
    engine = current_engine()
    if isinstance(engine, PostgresEngine):
        await engine.run_querystring(QueryString("SELECT pg_advisory_xact_lock(hashtext({}))", key))
