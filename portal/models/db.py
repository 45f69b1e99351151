"""Engine selection and the one transaction helper every write goes through."""

from __future__ import annotations

import sqlite3
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import asyncpg
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType

from portal.settings import Settings

# What each driver raises when a unique index refuses a row (a lost race, never a bug).
UNIQUE_VIOLATIONS: tuple[type[Exception], ...] = (sqlite3.IntegrityError, asyncpg.exceptions.UniqueViolationError)


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db`` -> ``relative.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    if not url.startswith("sqlite:///"):
        raise ValueError("a SQLite URL looks like sqlite:///relative.db or sqlite:////abs/path.db")
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ValueError("the SQLite URL names no file")
    return path


def make_engine(settings: Settings) -> Engine:
    url = settings.database_url
    if url.startswith("sqlite:"):
        # One connection per query in Piccolo's SQLite engine: wait for locks instead of failing.
        return SQLiteEngine(path=sqlite_path(url), timeout=30)
    scheme = urlsplit(url).scheme
    if scheme in {"postgresql", "postgres"}:
        return PostgresEngine(config={"dsn": url})
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")


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
