"""Single sign-on: the applications' OpenID Connect clients and the keys that sign ID tokens."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import JSONB, Boolean, ForeignKey, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-02T10:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "OpenID Connect clients and signing keys"


class Application(Table, tablename="application", schema=None):
    id = Serial(primary_key=True, db_column_name="id")


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


NEW_TABLES = {
    ("OidcClient", "oidc_client"): (
        (
            "application",
            ForeignKey,
            _params(
                references=Application,
                on_delete=OnDelete.cascade,
                on_update=OnUpdate.cascade,
                target_column=None,
                unique=True,
            ),
        ),
        ("client_id", Varchar, _params(length=40, default="", unique=True)),
        ("public", Boolean, _params(default=False)),
        ("redirect_uris", JSONB, _params(default=[])),
        ("post_logout_redirect_uris", JSONB, _params(default=[])),
        ("login_url", Varchar, _params(length=500, default="")),
        ("offline_access", Boolean, _params(default=False)),
        ("secret_hash", Varchar, _params(length=64, default="")),
        ("secret_set_at", Timestamptz, _params(default=None, null=True)),
        ("active", Boolean, _params(default=True)),
    ),
    ("SigningKey", "signing_key"): (
        ("kid", Varchar, _params(length=100, default="", unique=True)),
        ("alg", Varchar, _params(length=10, default="ES256")),
        ("private_jwk", Text, _params(default="")),
        ("public_jwk", JSONB, _params(default={})),
        ("state", Varchar, _params(length=10, default="", index=True)),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ("retired_at", Timestamptz, _params(default=None, null=True)),
    ),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    for class_name, tablename in NEW_TABLES:
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
    for (class_name, tablename), columns in NEW_TABLES.items():
        for name, column_class, params in columns:
            manager.add_column(
                table_class_name=class_name,
                tablename=tablename,
                column_name=name,
                db_column_name=name,
                column_class_name=column_class.__name__,
                column_class=column_class,
                params=params,
                schema=None,
            )
    return manager
