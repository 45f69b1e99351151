"""The database helpers and the written-out hot queries: what they return is what Piccolo's own
query returns, typed, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import msgspec
import pytest

from portal.clock import now
from portal.models import accounts as accounts_q
from portal.models import registration as q
from portal.models.db import as_struct, transaction
from portal.models.rows import CodeSend, ContactData, Draft, DraftChange, PersonalData, QuestionHash
from portal.models.tables import Application, AuditEvent, RegistrationDraft


async def _orm_draft(token: str) -> Draft:
    """The same draft through Piccolo's query builder, as the reference."""
    row = await (
        RegistrationDraft.select(
            *RegistrationDraft.all_columns(),
            RegistrationDraft.application.code.as_alias("application_code"),
            RegistrationDraft.application.name.as_alias("application_name"),
            RegistrationDraft.application.requires_ssn.as_alias("requires_ssn"),
            RegistrationDraft.role.code.as_alias("role_code"),
            RegistrationDraft.role.name.as_alias("role_name"),
        )
        .where(RegistrationDraft.token == token)
        .output(load_json=True)
        .first()
    )
    return as_struct(Draft, row)


async def test_the_draft_query_returns_what_piccolo_does_with_every_column_filled(database):
    app = await Application.select(Application.id).where(Application.code == "PSR").first()
    token = await q.create_draft(app["id"], "t1")
    fresh = await q.get_draft(token)
    assert fresh == await _orm_draft(token) and fresh.personal is None and fresh.code_sends == []
    rules = await q.role_rules(app["id"])
    role = rules.roles[0]
    at = now()
    change = DraftChange(
        personal=PersonalData(first_name="Ann", last_name="Lee", date_of_birth="1980-03-27"),
        email="ann@example.gov",
        email_verified_at=at,
        code_sends=[CodeSend(at=at.isoformat(), digest="d")],
        code_wrong_tries=[at.isoformat()],
        contact=ContactData(organization="Org", fields={"npi": "1234567893"}),
        role=role.id,
        questions=[QuestionHash("first-car", "$argon2id$x")],
    )
    await q.update_draft(token, change)
    full = await q.get_draft(token)
    assert full == await _orm_draft(token)
    assert full.role_code == role.code and full.application_code == "PSR"
    assert full.contact == change.contact and full.questions == change.questions
    assert full.email_verified_at == at


async def test_the_locked_draft_read_sees_its_transactions_own_writes(database):
    app = await Application.select(Application.id).where(Application.code == "PSR").first()
    token = await q.create_draft(app["id"], "t1")

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with transaction():
            await q.update_draft(token, DraftChange(email="lock@example.gov"))
            locked = await q.get_draft(token, lock=True)  # FOR UPDATE on PostgreSQL
            assert locked is not None and locked.email == "lock@example.gov"
            raise Undo
    assert (await q.get_draft(token)).email is None  # rolled back
    assert await q.get_draft("no-such-token") is None


async def test_an_account_and_its_session_come_back_typed(database):
    from portal.accounts.service import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT, create_account, new_initial_password

    initial = new_initial_password()
    questions = [QuestionHash("first-car", "$argon2id$a"), QuestionHash("first-school", "$argon2id$b")]
    async with transaction():
        account_id, user_id = await create_account(
            first_name="Ann", last_name="Lee", email="Typed@Example.gov", initial=initial, questions=questions
        )
    account = await accounts_q.account_by_user_id(user_id)
    assert account is not None and account.id == account_id and account.email == "typed@example.gov"
    assert account.questions == questions and account.password_initial is True
    assert await accounts_q.account_for_email("TYPED@example.gov") == account
    assert await accounts_q.account_by_user_id_and_email(user_id, "other@example.gov") is None
    await accounts_q.create_session("h" * 64, account_id)
    session = await accounts_q.session_with_account("h" * 64, idle=IDLE_TIMEOUT, absolute=ABSOLUTE_TIMEOUT)
    assert session is not None and session.account_id == account_id and session.user_id == user_id
    assert session.ends_at == session.created_at + ABSOLUTE_TIMEOUT
    assert session.expires_at == session.last_seen_at + IDLE_TIMEOUT
    assert await accounts_q.session_with_account("x" * 64, idle=IDLE_TIMEOUT, absolute=ABSOLUTE_TIMEOUT) is None


async def test_a_row_that_does_not_fit_its_struct_is_an_error_not_a_wrong_value(database):
    await AuditEvent.insert(AuditEvent(at=now(), action="typed-test", detail={"n": 1}))
    (entry,) = await accounts_q.audit_events(action="typed-test")
    assert entry.detail == {"n": 1} and entry.action == "typed-test"
    with pytest.raises(msgspec.ValidationError):
        as_struct(Draft, {"id": "not a number"})


def test_every_table_is_bound_and_in_piccolos_app():
    """``bind`` and Piccolo's app both read TABLES: a table left out of it would keep Piccolo's
    default engine and be missing from the migrations."""
    from piccolo.table import Table

    from portal.models import tables
    from portal.models.piccolo_app import APP_CONFIG

    defined = {v for v in vars(tables).values() if isinstance(v, type) and issubclass(v, Table) and v is not Table}
    assert set(tables.TABLES) == defined
    assert APP_CONFIG.table_classes == list(tables.TABLES)


def test_a_web_worker_does_not_load_piccolos_migration_writer(tmp_path):
    """Piccolo's app registry imports black (its migrations' formatter, 7 MiB resident): a
    worker binds its tables without it. Piccolo's own commands (migrate) still load it."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from portal.app import create_app\n"
        "create_app()\n"
        "print(sorted(m for m in ('black', 'piccolo.conf.apps', 'portal.piccolo_conf') if m in sys.modules))\n"
    )
    env = {**os.environ, "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'portal.db'}", "PORTAL_ENV": "development"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
