"""The lockout counts move from the account to a table keyed by the typed User ID."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Integer, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod

ID = "2026-12-01T16:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Login throttle per typed User ID (the same write for real and unknown IDs)"


def _params(**values):
    return {
        "null": False,
        "primary_key": False,
        "unique": False,
        "index": False,
        "index_method": IndexMethod.btree,
        "choices": None,
        "db_column_name": None,
        "secret": False,
        **values,
    }


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    manager.add_table(class_name="LoginThrottle", tablename="login_throttle", schema=None, columns=None)
    for name, column_class, params in (
        ("key", Varchar, _params(length=64, default="", unique=True)),
        ("failures", Integer, _params(default=0)),
        ("locked_until", Timestamptz, _params(default=None, null=True)),
        ("updated_at", Timestamptz, _params(default=TimestamptzNow(), index=True)),
    ):
        manager.add_column(
            table_class_name="LoginThrottle",
            tablename="login_throttle",
            column_name=name,
            db_column_name=name,
            column_class_name=column_class.__name__,
            column_class=column_class,
            params=params,
            schema=None,
        )
    for name in ("failed_logins", "locked_until"):
        manager.drop_column(table_class_name="Account", tablename="account", column_name=name, db_column_name=name)
    return manager
