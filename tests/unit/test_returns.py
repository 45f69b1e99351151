"""The returned-form cookie (portal/returns.py): what a refused plain form carries back to its
page, read only by that page, only while fresh, only when it is ours and untouched."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime, timedelta

import pytest
from litestar.testing import RequestFactory

from portal import returns
from portal.crypto import FieldCipher
from portal.registration.forms import ContactForm, PersonalForm
from portal.returns import COOKIE, MAX_AGE, NOTHING, Returns

AT = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PAGE = "/register/personal"


@pytest.fixture
def box(monkeypatch) -> Returns:
    monkeypatch.setattr(returns, "now", lambda: AT)
    return Returns(FieldCipher(base64.b64encode(os.urandom(32)).decode()), secure=True)


def sent(box: Returns, url: str = PAGE, **carried) -> str:
    """The cookie value a refused form is sent back with."""
    response = box.back(posted(url), url, **carried)
    assert response is not None and response.status_code == 303
    assert response.url == url
    (cookie,) = [c for c in response.cookies if c.key == COOKIE]
    assert cookie.httponly and cookie.secure and cookie.max_age == MAX_AGE and cookie.samesite == "lax"
    return str(cookie.value)


def posted(address: str):
    """A plain (not htmx) POST of a form from ``address``."""
    return RequestFactory().post(address.partition("?")[0])


def at(address: str, value: str):
    """A GET of ``address`` (a path, maybe with a query) carrying the cookie."""
    path, _, query = address.partition("?")
    params = dict(p.split("=", 1) for p in query.split("&")) if query else None
    return RequestFactory().get(path, query_params=params, headers={"Cookie": f"{COOKIE}={value}"})


def test_the_page_it_names_gets_the_form_messages_and_notice(box):
    form = PersonalForm(first_name="Ana", last_name="")
    value = sent(box, form=form, errors={"last_name": "Enter your last name"}, notice="Check the form")
    assert "Ana" not in value  # encrypted: what was typed may be personal
    returned = box.take(at(PAGE, value))
    assert returned is not NOTHING
    assert returned.errors == {"last_name": "Enter your last name"} and returned.notice == "Check the form"
    assert box.form_as(returned, PersonalForm) == form


def test_a_query_string_in_the_address_does_not_change_the_page_it_names(box):
    value = sent(box, "/register/contact?role=provider-user", form=ContactForm(role="provider-user"))
    assert box.form_as(box.take(at("/register/contact?role=provider-user", value)), ContactForm).role == "provider-user"


def test_a_cookie_for_another_page_is_ignored(box):
    value = sent(box, form=PersonalForm(first_name="Ana"), errors={"first_name": "x"})
    assert box.take(at("/register/contact", value)) is NOTHING
    assert box.take(at(PAGE, value)) is not NOTHING


@pytest.mark.parametrize("tamper", ["flip", "truncate", "garbage", "empty"])
def test_a_tampered_cookie_is_ignored(box, tamper):
    value = sent(box, form=PersonalForm(first_name="Ana"), errors={"first_name": "x"})
    changed = {
        "flip": value[:40] + ("A" if value[40] != "A" else "B") + value[41:],  # one character of the sealed body
        "truncate": value[: len(value) // 2],
        "garbage": "v1.not-ours.AAAA",
        "empty": "",
    }[tamper]
    assert box.take(at(PAGE, changed)) is NOTHING


def test_a_cookie_sealed_with_another_key_is_ignored(box):
    other = Returns(FieldCipher(base64.b64encode(os.urandom(32)).decode()), secure=True)
    assert box.take(at(PAGE, sent(other, errors={"a": "b"}))) is NOTHING


@pytest.mark.parametrize(
    ("later", "kept"),
    [
        (timedelta(seconds=0), True),
        (timedelta(seconds=MAX_AGE), True),
        (timedelta(seconds=MAX_AGE + 1), False),  # older than MAX_AGE
        (timedelta(seconds=-5), False),  # from the future: not ours to trust
    ],
)
def test_a_cookie_older_than_max_age_is_ignored(box, monkeypatch, later, kept):
    value = sent(box, errors={"first_name": "x"})
    monkeypatch.setattr(returns, "now", lambda: AT + later)
    assert (box.take(at(PAGE, value)) is not NOTHING) is kept


def test_a_form_too_big_for_a_cookie_is_answered_in_place(box):
    """No redirect: the handler answers at the POST address rather than lose what was typed."""
    big = ContactForm(organization="x" * 2000, address1="y" * 2000)
    assert box.back(posted(PAGE), PAGE, form=big) is None
    assert box.back(posted(PAGE), PAGE, form=ContactForm(organization="x" * 100)) is not None


def test_a_form_of_another_shape_is_no_form(box):
    value = sent(box, form={"first_name": ["not", "a", "string"]})
    assert box.form_as(box.take(at(PAGE, value)), PersonalForm) is None
    assert box.form_as(NOTHING, PersonalForm) is None


def test_an_htmx_request_is_never_sent_back(box):
    """htmx swaps its answer in place: ``back`` leaves it to the handler."""
    from litestar.plugins.htmx import HTMXRequest

    plain = posted(PAGE)
    htmx = HTMXRequest(RequestFactory().post(PAGE, headers={"HX-Request": "true"}).scope)
    assert box.back(plain, PAGE, errors={"a": "b"}) is not None
    assert box.back(htmx, PAGE, errors={"a": "b"}) is None
