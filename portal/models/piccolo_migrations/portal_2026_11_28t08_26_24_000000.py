"""One grant per account, application and role; the audit log refuses UPDATE and DELETE."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T08:26:24:000000"
VERSION = "1.38.0"
DESCRIPTION = "Grant uniqueness and an append-only audit log"

SQLITE_TRIGGERS = [
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_update BEFORE UPDATE ON audit_event"
    " BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_event_no_delete BEFORE DELETE ON audit_event"
    " BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END",
]
POSTGRES_TRIGGERS = [
    "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$"
    " BEGIN RAISE EXCEPTION 'audit_event is append-only'; END $$",
    "DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event",
    "CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event"
    " FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()",
]


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create():
        engine = engine_finder()
        await engine.run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS access_grant_unique ON access_grant (account, application, role)"
        )
        for statement in SQLITE_TRIGGERS if engine.engine_type == "sqlite" else POSTGRES_TRIGGERS:
            await engine.run_ddl(statement)

    async def drop():
        engine = engine_finder()
        await engine.run_ddl("DROP INDEX IF EXISTS access_grant_unique")
        if engine.engine_type == "sqlite":
            await engine.run_ddl("DROP TRIGGER IF EXISTS audit_event_no_update")
            await engine.run_ddl("DROP TRIGGER IF EXISTS audit_event_no_delete")
        else:
            await engine.run_ddl("DROP TRIGGER IF EXISTS audit_event_append_only ON audit_event")
            await engine.run_ddl("DROP FUNCTION IF EXISTS audit_event_append_only()")

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
