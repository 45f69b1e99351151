"""At most one pending request per email address and application (a partial unique index,
which both SQLite and PostgreSQL enforce), and the outbox's delivery order."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T08:02:02:000000"
VERSION = "1.38.0"
DESCRIPTION = "One pending request per email and application"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create_indexes():
        engine = engine_finder()
        await engine.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS access_request_one_pending"
            " ON access_request (email, application) WHERE status = 'pending'"
        )
        await engine.run_ddl(
            "CREATE INDEX IF NOT EXISTS outbox_message_due ON outbox_message (next_attempt_at) WHERE sent_at IS NULL"
        )

    async def drop_indexes():
        engine = engine_finder()
        await engine.run_ddl("DROP INDEX IF EXISTS access_request_one_pending")
        await engine.run_ddl("DROP INDEX IF EXISTS outbox_message_due")

    manager.add_raw(create_indexes)
    manager.add_raw_backwards(drop_indexes)
    return manager
