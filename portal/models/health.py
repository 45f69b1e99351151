"""Whether this worker is ready for traffic (/readyz): the database answers, every shipped
migration has run, and Redis (when configured) answers."""

from __future__ import annotations

import asyncio
import importlib
import pkgutil
from functools import cache

import msgspec
from redis.asyncio import Redis

from portal.models.db import ping

REDIS_TIMEOUT_SECONDS = 0.5


class Readiness(msgspec.Struct, frozen=True):
    """The name of each check that failed (``database``, ``migrations``, ``redis``): none, ready."""

    failed: tuple[str, ...]

    @property
    def ready(self) -> bool:
        return not self.failed


@cache
def shipped_migrations() -> frozenset[str]:
    """The ID of every migration in portal/models/piccolo_migrations/."""
    from portal.models import piccolo_migrations

    return frozenset(
        str(importlib.import_module(f"{piccolo_migrations.__name__}.{info.name}").ID)
        for info in pkgutil.iter_modules(piccolo_migrations.__path__)
        if info.name.startswith("portal_")
    )


async def unapplied_migrations() -> list[str]:
    """Shipped migrations the database has not run (piccolo's ``migration`` table)."""
    from piccolo.apps.migrations.tables import Migration

    ran = set(await Migration.get_migrations_which_ran(app_name="portal"))
    return sorted(shipped_migrations() - ran)


async def redis_answers(url: str) -> bool:
    """PING within half a second."""
    client = Redis.from_url(url, socket_connect_timeout=REDIS_TIMEOUT_SECONDS, socket_timeout=REDIS_TIMEOUT_SECONDS)
    try:
        return bool(await asyncio.wait_for(client.ping(), timeout=REDIS_TIMEOUT_SECONDS * 2))
    except Exception:  # refused, timed out, a wrong password: not ready
        return False
    finally:
        await client.aclose()


async def readiness(redis_url: str) -> Readiness:
    failed: list[str] = []
    if not await ping():
        failed.append("database")
    else:
        try:
            if await unapplied_migrations():
                failed.append("migrations")
        except Exception:  # no migration table at all: never migrated
            failed.append("migrations")
    if redis_url and not await redis_answers(redis_url):
        failed.append("redis")
    return Readiness(tuple(failed))
