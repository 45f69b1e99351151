"""Two-factor sign-in: second factors, recovery codes and halfway sign-ins; the account's
second-step count and lock; how a session was signed in; roles that require a second factor."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.base import OnDelete, OnUpdate
from piccolo.columns.column_types import Boolean, ForeignKey, Integer, Serial, Text, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

ID = "2026-12-02T09:00:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "Two-factor sign-in"


class Account(Table, tablename="account", schema=None):
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


def _account_key():
    return _params(
        references=Account,
        on_delete=OnDelete.cascade,
        on_update=OnUpdate.cascade,
        target_column=None,
        index=True,
    )


NEW_TABLES = {
    ("SecondFactor", "second_factor"): (
        ("account", ForeignKey, _account_key()),
        ("kind", Varchar, _params(length=20, default="")),
        ("name", Varchar, _params(length=60, default="")),
        ("secret", Text, _params(default="")),
        ("credential_id", Varchar, _params(length=1400, default=None, null=True, unique=True)),
        ("public_key", Text, _params(default="")),
        ("sign_count", Integer, _params(default=0)),
        ("device", Varchar, _params(length=10, default="")),
        ("last_step", Integer, _params(default=0)),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ("last_used_at", Timestamptz, _params(default=None, null=True)),
    ),
    ("RecoveryCode", "recovery_code"): (
        ("account", ForeignKey, _account_key()),
        ("code_hash", Varchar, _params(length=64, default="")),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ("used_at", Timestamptz, _params(default=None, null=True)),
    ),
    ("MfaChallenge", "mfa_challenge"): (
        ("token_hash", Varchar, _params(length=64, default="", unique=True)),
        ("account", ForeignKey, _account_key()),
        ("purpose", Varchar, _params(length=20, default="")),
        ("challenge", Varchar, _params(length=200, default="")),
        ("created_at", Timestamptz, _params(default=TimestamptzNow())),
        ("expires_at", Timestamptz, _params(default=TimestamptzNow(), index=True)),
    ),
}

NEW_COLUMNS = {
    ("Account", "account"): (
        ("mfa_failures", Integer, _params(default=0)),
        ("mfa_locked_until", Timestamptz, _params(default=None, null=True)),
        ("mfa_enrol_required", Boolean, _params(default=False)),
    ),
    ("UserSession", "user_session"): (
        ("amr", Varchar, _params(length=40, default="pwd")),
        ("mfa_at", Timestamptz, _params(default=None, null=True)),
        ("mfa_required", Boolean, _params(default=False)),
    ),
    ("Role", "role"): (("mfa", Boolean, _params(default=False)),),
}


async def forwards():
    manager = MigrationManager(migration_id=ID, app_name="portal", description=DESCRIPTION)
    for class_name, tablename in NEW_TABLES:
        manager.add_table(class_name=class_name, tablename=tablename, schema=None, columns=None)
    for (class_name, tablename), columns in (NEW_TABLES | NEW_COLUMNS).items():
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
