"""The database helpers: a prepared (built once) query returns what Piccolo's own would."""

from __future__ import annotations

import pytest
from piccolo.engine.sqlite import SQLiteEngine

from portal.models.accounts import now
from portal.models.db import Prepared, current_engine, transaction
from portal.models.tables import Application, AuditEvent, Role

ROLE_COLUMNS = (Role.code, Role.name, Role.application.code.as_alias("application_code"), Role.review_days)


def _roles(application: str, min_days: int, lock: bool = False):
    query = (
        Role.select(*ROLE_COLUMNS)
        .where((Role.application.code == application) & (Role.review_days >= min_days))
        .order_by(Role.code)
    )
    return query.lock_rows("UPDATE", of=(Role,)) if lock else query


async def test_prepared_query_gives_piccolos_answer_for_every_value(database):
    prepared = Prepared(_roles)
    for application, min_days in (("PSR", 0), ("EHRIP", 20), ("HPMS", 99), ("NOPE", 0)):
        assert await prepared.rows(application, min_days) == await _roles(application, min_days)
    assert await prepared.first("NOPE", 0) is None
    first = await prepared.first("PSR", 0)
    assert first == (await _roles("PSR", 0))[0] and first["application_code"] == "PSR"


async def test_prepared_query_loads_json_and_sees_its_transactions_own_writes(database):
    def build(code: str):
        return Role.select(Role.code, Role.fields).where(Role.code == code).limit(1).output(load_json=True)

    plain = await build("eligible-clinician").first()
    assert isinstance(plain["fields"], list) and plain["fields"]  # JSON loaded
    assert await Prepared(build).first("eligible-clinician") == plain

    events = Prepared(
        lambda action: (
            AuditEvent.select(AuditEvent.action, AuditEvent.detail)
            .where(AuditEvent.action == action)
            .output(load_json=True)
        )
    )

    class Undo(Exception):
        pass

    with pytest.raises(Undo):
        async with transaction():
            await AuditEvent.insert(AuditEvent(at=now(), action="prepared-test", detail={"n": 1}))
            # Not committed yet: only the transaction's own connection can see the row.
            assert await events.rows("prepared-test") == [{"action": "prepared-test", "detail": {"n": 1}}]
            raise Undo
    assert await events.rows("prepared-test") == []


async def test_prepared_variants_compile_separately(database):
    prepared = Prepared(_roles)
    lock = not isinstance(current_engine(), SQLiteEngine)  # FOR UPDATE is PostgreSQL's
    async with transaction():
        locked = await prepared.rows("PSR", 0, variant=(lock,))
    assert locked == await prepared.rows("PSR", 0, variant=(False,)) == await _roles("PSR", 0)
    assert len(prepared._compiled) == (2 if lock else 1)
    assert {key[1] for key in prepared._compiled} == {2}  # keyed by how many values too


async def test_values_piccolo_would_rewrite_are_refused(database):
    prepared = Prepared(_roles)
    for value in (None, True, ["PSR"]):
        with pytest.raises(TypeError, match="str, number or datetime"):
            await prepared.rows(value, 0)


async def test_a_builder_that_changes_a_parameter_is_refused(database):
    prepared = Prepared(lambda code: Application.select().where(Application.code == code.lower()))
    with pytest.raises(ValueError, match="exactly once"):
        await prepared.rows("EQRS")
    twice = Prepared(lambda code: Application.select().where((Application.code == code) | (Application.name == code)))
    with pytest.raises(ValueError, match="exactly once"):
        await twice.rows("EQRS")
