"""A role code is unique within its application (Piccolo has no composite unique column)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine import engine_finder

ID = "2026-11-28T07:39:17:000000"
VERSION = "1.38.0"
DESCRIPTION = "Unique role code per application"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def create_index():
        await engine_finder().run_ddl(
            "CREATE UNIQUE INDEX IF NOT EXISTS role_application_code ON role (application, code)"
        )

    async def drop_index():
        await engine_finder().run_ddl("DROP INDEX IF EXISTS role_application_code")

    manager.add_raw(create_index)
    manager.add_raw_backwards(drop_index)
    return manager
