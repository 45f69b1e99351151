"""Shared test set-up. The environment is set before the portal is imported."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

_TMP = Path(tempfile.mkdtemp(prefix="portal-tests-"))
os.environ.setdefault("PORTAL_DATABASE_URL", f"sqlite:///{_TMP / 'portal.db'}")
os.environ["PORTAL_ENV"] = "development"
os.environ.setdefault("PORTAL_SMTP_URL", "smtp://127.0.0.1:1")
# The test client runs the app (and its lifespan) on another thread's event loop while tests
# query from their own: asyncpg pools belong to one loop, so on PostgreSQL the tests go without
# a pool (a connection per query).
os.environ["PORTAL_DB_POOL_SIZE"] = "0"
# Every test client shares one address; the rate limit itself is tested with its own app.
os.environ.setdefault("PORTAL_RATE_LIMIT", "100000")

import pytest  # noqa: E402

from tests.support import reset_database  # noqa: E402


def pytest_report_header(config):
    return f"database: {os.environ['PORTAL_DATABASE_URL']}"


@pytest.fixture(scope="session")
def tmp_root() -> Path:
    return _TMP


@pytest.fixture(scope="session")
def settings():
    from portal.settings import from_env

    return from_env()


@pytest.fixture(scope="session")
async def database(settings):
    """A new, migrated database with the shipped catalog, once per test run."""
    await reset_database(settings)
    return settings
