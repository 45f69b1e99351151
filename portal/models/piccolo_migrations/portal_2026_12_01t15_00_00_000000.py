"""An index for the per-address email caps: emails of a kind to an address since a moment."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-12-01T15:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Outbox index by address, kind and time, for the per-address email caps"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        await engine_finder().run_ddl(
            "CREATE INDEX IF NOT EXISTS outbox_message_to_kind_created ON outbox_message (to_address, kind, created_at)"
        )

    async def drop():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS outbox_message_to_kind_created")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
