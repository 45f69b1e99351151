from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Varchar
from piccolo.columns.indexes import IndexMethod

ID = "2026-11-28T10:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Recovery links have a purpose: a new password, or showing the User ID"


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)

    manager.add_column(
        table_class_name="PasswordReset",
        tablename="password_reset",
        column_name="purpose",
        db_column_name="purpose",
        column_class_name="Varchar",
        column_class=Varchar,
        params={
            "length": 20,
            "default": "password",
            "null": False,
            "primary_key": False,
            "unique": False,
            "index": False,
            "index_method": IndexMethod.btree,
            "choices": None,
            "db_column_name": None,
            "secret": False,
        },
        schema=None,
    )

    return manager
