"""Single sign-on: authorization codes, tokens, and each account's ``sub``."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import JSONB, ForeignKey, Serial, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-02T12:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "OpenID Connect codes and tokens; account subject"


class Account(Table, tablename="account", schema=None):
    id = Serial(primary_key=True, db_column_name="id")


class OidcClient(Table, tablename="oidc_client", schema=None):
    id = Serial(primary_key=True, db_column_name="id")


class OidcCode(Table, tablename="oidc_code", schema=None):
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


def _fk(table, **values):
    return _params(
        references=table, on_delete=OnDelete.cascade, on_update=OnUpdate.cascade, target_column=None, **values
    )


NEW_TABLES = {
    ("OidcCode", "oidc_code"): (
        ("code_hash", Varchar, _params(length=64, default="", unique=True)),
        ("client", ForeignKey, _fk(OidcClient, index=True)),
        ("account", ForeignKey, _fk(Account, index=True)),
        ("redirect_uri", Varchar, _params(length=500, default="")),
        ("scope", Varchar, _params(length=200, default="")),
        ("nonce", Varchar, _params(length=255, default="")),
        ("code_challenge", Varchar, _params(length=128, default="")),
        ("auth_time", Timestamptz, _params(default=TimestamptzNow())),
        ("acr", Varchar, _params(length=60, default="")),
        ("amr", JSONB, _params(default=[])),
        ("expires_at", Timestamptz, _params(default=TimestamptzNow(), index=True)),
        ("used_at", Timestamptz, _params(default=None, null=True)),
    ),
    ("OidcToken", "oidc_token"): (
        ("access_hash", Varchar, _params(length=64, default="", unique=True)),
        ("refresh_hash", Varchar, _params(length=64, default=None, null=True, unique=True)),
        ("client", ForeignKey, _fk(OidcClient, index=True)),
        ("account", ForeignKey, _fk(Account, index=True)),
        ("code", ForeignKey, _fk(OidcCode, index=True, null=True, default=None)),
        ("scope", Varchar, _params(length=200, default="")),
        ("auth_time", Timestamptz, _params(default=TimestamptzNow())),
        ("acr", Varchar, _params(length=60, default="")),
        ("amr", JSONB, _params(default=[])),
        ("issued_at", Timestamptz, _params(default=TimestamptzNow())),
        ("expires_at", Timestamptz, _params(default=TimestamptzNow(), index=True)),
        ("refresh_expires_at", Timestamptz, _params(default=None, null=True)),
        ("revoked_at", Timestamptz, _params(default=None, null=True)),
    ),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    manager.add_column(
        table_class_name="Account",
        tablename="account",
        column_name="subject",
        db_column_name="subject",
        column_class_name="Varchar",
        column_class=Varchar,
        params=_params(length=36, default=None, null=True),  # unique: the next migration's index
        schema=None,
    )
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
