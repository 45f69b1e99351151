"""The database helpers: a prepared (built once) query returns what Piccolo's own would."""

from __future__ import annotations

import pytest
from piccolo.engine.sqlite import SQLiteEngine

from portal.models.db import Prepared, current_engine, transaction
from portal.models.tables import Application, Role

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


async def test_prepared_query_loads_json_and_runs_inside_a_transaction(database):
    def build(code: str):
        return Role.select(Role.code, Role.fields).where(Role.code == code).limit(1).output(load_json=True)

    plain = await build("eligible-clinician").first()
    assert isinstance(plain["fields"], list) and plain["fields"]  # JSON loaded
    async with transaction():
        assert await Prepared(build).first("eligible-clinician") == plain


async def test_prepared_variants_compile_separately(database):
    prepared = Prepared(_roles)
    lock = not isinstance(current_engine(), SQLiteEngine)  # FOR UPDATE is PostgreSQL's
    async with transaction():
        locked = await prepared.rows("PSR", 0, variant=(lock,))
    assert locked == await prepared.rows("PSR", 0, variant=(False,)) == await _roles("PSR", 0)
    assert len(prepared._compiled) == (2 if lock else 1)


async def test_a_builder_that_changes_a_parameter_is_refused(database):
    prepared = Prepared(lambda code: Application.select().where(Application.code == code.lower()))
    with pytest.raises(ValueError, match="exactly once"):
        await prepared.rows("EQRS")
    twice = Prepared(lambda code: Application.select().where((Application.code == code) | (Application.name == code)))
    with pytest.raises(ValueError, match="exactly once"):
        await twice.rows("EQRS")
