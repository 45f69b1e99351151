"""Which engine a database URL names (SQLite file by default, PostgreSQL by URL). Piccolo's
configuration (portal/piccolo_conf.py) and the portal's binding (portal/models/db.py) both
start from here, so neither imports the other."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine

from portal.settings import Settings


def sqlite_path(url: str) -> str:
    """``sqlite:///relative.db`` -> ``relative.db``; ``sqlite:////abs/x.db`` -> ``/abs/x.db``."""
    if not url.startswith("sqlite:///"):
        raise ValueError("a SQLite URL looks like sqlite:///relative.db or sqlite:////abs/path.db")
    path = url.removeprefix("sqlite:///")
    if not path:
        raise ValueError("the SQLite URL names no file")
    return path


def make_engine(settings: Settings) -> Engine[Any]:
    url = settings.database_url
    if url.startswith("sqlite:"):
        # One connection per query in Piccolo's SQLite engine: wait for locks instead of failing.
        return SQLiteEngine(path=sqlite_path(url), timeout=30)
    scheme = urlsplit(url).scheme
    if scheme in {"postgresql", "postgres"}:
        return PostgresEngine(config={"dsn": url})
    raise ValueError(f"unsupported database URL scheme {scheme!r}: use sqlite:/// or postgresql://")
