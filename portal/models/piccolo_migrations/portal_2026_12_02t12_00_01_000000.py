"""The account's ``sub`` is unique (SQLite cannot add a UNIQUE column, so an index does it)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Serial
from piccolo.table import Table

ID = "2026-12-02T12:00:01:000000"
VERSION = "1.38.0"
DESCRIPTION = "unique account subject"


class Account(Table, tablename="account", schema=None):
    id = Serial(primary_key=True, db_column_name="id")


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    async def unique_subject():
        await Account.raw("CREATE UNIQUE INDEX IF NOT EXISTS account_subject_key ON account (subject)")

    manager.add_raw(unique_subject)
    return manager
