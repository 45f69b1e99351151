"""The catalog drives the role fields: a field added to a copy of the catalog (a key no code
knows) is asked for, checked, kept, reviewed and shown to the approver, with no code change."""

from __future__ import annotations

import re

import pytest
from bs4 import BeautifulSoup

from portal import catalog
from portal.cli import _catalog_load
from tests.integration.accounts_support import log_in, make_account
from tests.integration.registration_flow import Applicant

NEW_FIELD = """
[fields.dea_registration]
label = "DEA Registration Number"
pattern = '^[A-Z]{2}[0-9]{7}$'
example = "AB1234563"
hint = "2 letters and 7 digits, from your DEA certificate."
format = "code"
"""


@pytest.fixture
async def catalog_with_a_new_field(database, tmp_path):
    shipped = catalog.DEFAULT_CATALOG.read_text(encoding="utf-8")
    text = shipped.replace('version = "2026.11"', 'version = "2026.11-test"' + NEW_FIELD, 1)
    # PSR's provider role asks for it, after its own fields.
    text, n = re.subn(
        r'(code = "provider-user"\n(?:.*\n)*?  fields = \[)([^\]]*)\]', r'\1\2, "dea_registration"]', text, count=1
    )
    assert n == 1
    copy = tmp_path / "catalog.toml"
    copy.write_text(text, encoding="utf-8")
    await _catalog_load(database, str(copy))
    try:
        yield
    finally:
        await _catalog_load(database, None)  # the shipped catalog again (the role drops the field)


def soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


async def test_a_field_added_to_the_catalog_is_asked_checked_kept_and_shown(
    catalog_with_a_new_field, client, smtp, app
):
    a = Applicant(client, smtp, app_code="PSR")
    for step in (a.accept_terms, a.personal, a.verify):
        assert (await step()).status_code in (200, 303)

    page = soup((await client.get(app.route_reverse("registration:contact") + "?role=provider-user")).text)
    field = page.select_one("input#dea_registration")
    assert field is not None
    assert page.select_one("label[for=dea_registration]").get_text(strip=True) == "DEA Registration Number"

    r = await a.contact(dea_registration="12345")
    assert soup(r.text).select_one("#dea_registration-error").get_text(" ", strip=True) == (
        "Error: Enter a valid DEA Registration Number, like AB1234563"
    )
    r = await a.contact(dea_registration="ab1234563")  # the format upper-cases it
    assert r.status_code == 303
    assert (await a.questions()).status_code == 303

    review = soup((await client.get(app.route_reverse("registration:review"))).text)
    rows = {
        dt.get_text(strip=True): dt.find_next("dd").get_text(strip=True) for dt in review.select("#review-contact dt")
    }
    assert rows["DEA Registration Number"] == "AB1234563"

    r = await a.submit()
    tracking = soup(r.text).select_one(".tracking-number").get_text(strip=True)
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    await log_in(client, approver["user_id"], approver["password"])
    details = soup((await client.get(app.route_reverse("approvals:details", tracking=tracking))).text)
    shown = {
        dt.get_text(strip=True): dt.find_next("dd").get_text(strip=True) for dt in details.select(".row-details dt")
    }
    assert shown["DEA Registration Number"] == "AB1234563"


async def test_an_unknown_format_is_refused_naming_the_field(database, tmp_path):
    shipped = catalog.DEFAULT_CATALOG.read_text(encoding="utf-8")
    bad = tmp_path / "catalog.toml"
    bad.write_text(shipped.replace('version = "2026.11"', 'version = "x"' + NEW_FIELD.replace('"code"', '"dea"'), 1))
    with pytest.raises(catalog.CatalogError) as refused:
        await _catalog_load(database, str(bad))
    assert str(refused.value) == (
        "field dea_registration, field format: unknown format 'dea' (known: code, npi, text, tin)"
    )
