"""CI's sample of the generated-input tier (tests/fuzz; ``make fuzz`` runs 12,000 requests):
the same generator with a fixed seed and a few hundred requests, as the four personas, against
the real app, a real database and the real SMTP server of the ``smtp`` fixture.

The sample runs on a database of its own (made like the ``database`` fixture's): its approver
decides every application, so on the shared database it would decide other tests' requests,
and rows other tests write straight to the tables (not through the forms) would fail the
stored-row check. The shared table binding is put back afterwards."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec
import pytest

from tests.fuzz import stored
from tests.fuzz.routes import app_routes, unknown_routes, unlisted_fields
from tests.fuzz.runner import run
from tests.support import fresh_postgres_database, reset_database, using_postgres

SEED = 20261201
REQUESTS = 600


@pytest.fixture
async def fuzz_app(settings, smtp, tmp_root):
    from portal.app import create_app
    from portal.models.db import bind, current_engine

    engine = current_engine()
    if using_postgres():
        url = await fresh_postgres_database(settings.database_url, "portal_fuzz_sample")
    else:
        url = f"sqlite:///{tmp_root / 'fuzz-sample.db'}"
    fuzz_settings = msgspec.structs.replace(smtp.settings, database_url=url)
    try:
        await reset_database(fuzz_settings)
        yield create_app(fuzz_settings)
    finally:
        bind(engine)


def test_every_route_and_field_is_known_to_the_fuzzer(app):
    """A new route must be added to tests/fuzz/routes.py, with the form fields it reads."""
    assert unknown_routes(app) == []
    assert unlisted_fields(app) == []
    assert len(app_routes(app)) >= 50


async def test_fuzz_sample(fuzz_app, smtp):
    report = await run(fuzz_app, smtp, requests=REQUESTS, seed=SEED, html_sample=1.0)
    summary = report.summary(max_findings=10)
    print(summary)
    assert report.requests == REQUESTS, summary
    assert not report.of("setup", "generator"), summary
    assert sum(c for s, c in report.by_status.items() if s >= 500) == 0, summary
    assert not report.of("5xx", "exception"), summary  # probes of the personas included
    assert not report.of("echo", "offsite-redirect"), summary
    assert not report.of("html"), summary
    assert report.routes_not_driven == [], summary
    assert report.stored_problems == [], summary
    # The personas got somewhere: requests were submitted, accounts made.
    assert report.stored_checked.get("access_request", 0) >= 3 and report.stored_checked.get("account", 0) >= 2


async def test_the_stored_row_check_finds_what_the_forms_refuse(fuzz_app):
    """The checker itself: rows written straight to the tables, each breaking one rule."""
    from portal.models.tables import Account, Application, RegistrationDraft, Role

    marks = await stored.high_water_marks()
    cipher = fuzz_app.state.cipher
    app = await Application.select(Application.id).where(Application.code == "PSR").first()
    role = await Role.select(Role.id).where((Role.application == app["id"]) & (Role.code == "provider-user")).first()
    now = datetime.now(UTC)
    personal = {
        "first_name": "An\u202ea",  # a bidi override
        "middle_initial": "M",
        "last_name": "<b>Lopez</b>",
        "date_of_birth": "1980-03-27",
        "ssn": cipher.encrypt("000-12-3456", "ssn"),  # no real SSN starts with 000
    }
    contact = {
        "organization": "Acme\u200b",  # a zero-width space
        "address1": "7500 Security Blvd",
        "address2": "",
        "city": "Baltimore",
        "state": "MD",
        "zip": "2124",
        "phone": "(410) 786-3000",
        "phone_ext": "",
        "fields": {"npi": "1234567890", "tin": cipher.encrypt("123456789", "tin")},
    }
    await RegistrationDraft.insert(
        RegistrationDraft(
            token="planted-by-the-checker-test",
            application=app["id"],
            terms_version="2026-01",
            terms_accepted_at=now,
            personal=personal,
            email="ana@example.gov",
            contact=contact,
            role=role["id"],
        )
    )
    await Account.insert(
        Account(
            user_id="PLNT1234",
            first_name="Maria",
            last_name="Lopez1",
            email="Maria@Example.gov",
            password_hash="x",
        ),
    )
    found, checked = await stored.problems(cipher, since=marks)
    text = "\n".join(found)
    assert checked["registration_draft"] == 1 and checked["account"] == 1
    for expected in (
        "U+202E (Cf)",  # the bidi override
        "U+200B (Cf)",  # the zero-width space
        "personal.last_name holds < or >",
        "personal first_name",
        "personal ssn",
        "contact zip",
        "contact npi",
        "last_name 'Lopez1' is refused",
        "email 'Maria@Example.gov' is not normalised",
    ):
        assert expected in text, f"{expected!r} not reported in:\n{text}"
