"""Bad input on every registration step, the review's inline save, submit and the status form
(spec Journey 2 "Bad input never gives a 500", and Security "CSRF protection on every unsafe
request"): each bad value is a message next to its field or a clean 4xx, never a 500, nothing
invalid reaches the draft row, and markup never comes back unescaped."""

from __future__ import annotations

import re
import time

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from portal.drafts import COOKIE, SALT
from portal.models.tables import AccessRequest, RegistrationDraft
from tests.htmlcheck import field_errors, h1, input_value, notice, page, texts
from tests.integration.registration_flow import (
    CONTACT,
    PERSONAL,
    QUESTIONS,
    ROLE_FIELDS,
    Applicant,
    unique_email,
)
from tests.support import follow_back, url

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
LONG = "x" * 10_000
HX = {"HX-Request": "true"}
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# ---- Helpers ------------------------------------------------------------------------------

# The registration steps by the labels the tests use ("review/contact"...): the route each
# GETs, and the route (with its path parameters) each POSTs to.
GET_ROUTES = {
    "personal": "registration:personal",
    "verify": "registration:verify",
    "contact": "registration:contact",
    "questions": "registration:questions",
    "review": "registration:review",
    "done": "registration:done",
    "submit": "registration:submit",  # a POST route: GET on it is the odd request
}
POST_ROUTES = {
    "personal": ("registration:personal-save", {}),
    "verify": ("registration:verify-check", {}),
    "verify/resend": ("registration:resend", {}),
    "contact": ("registration:contact-save", {}),
    "questions": ("registration:questions-save", {}),
    "review/personal": ("registration:review-save", {"section": "personal"}),
    "review/contact": ("registration:review-save", {"section": "contact"}),
    "review/questions": ("registration:review-save", {"section": "questions"}),
    "submit": ("registration:submit", {}),
    "done": ("registration:finish", {}),
}


def get_url(client, step: str) -> str:
    return url(client, GET_ROUTES[step])


def post_url(client, step: str) -> str:
    name, params = POST_ROUTES[step]
    return url(client, name, **params)


def expired_url(client) -> str:
    return url(client, "registration:start", query="expired=1")


def draft_token(client) -> str:
    """The draft token named by the browser's signed cookie."""
    settings = client.app.state.settings
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT).loads(client.cookies[COOKIE])


async def draft_row(token: str) -> dict:
    row = await RegistrationDraft.select().where(RegistrationDraft.token == token).output(load_json=True).first()
    assert row is not None, "the draft row is gone"
    return row


def assert_no_markup(text: str) -> None:
    assert SCRIPT not in text, "a <script> came back unescaped"
    assert "<img src=x onerror" not in text, "an <img onerror> came back unescaped"


def assert_field_error(r, field: str, value: str = "") -> None:
    assert r.status_code == 200, (field, value[:40], r.status_code, r.headers.get("location"), r.text[-2000:])
    errors = field_errors(page(r))
    assert field in errors, f"no message next to {field!r}; messages: {errors}"
    assert_no_markup(r.text)


def stored_is_clean(value) -> bool:
    """No control characters anywhere in a stored (JSON) value."""
    if isinstance(value, dict):
        return all(stored_is_clean(v) for v in value.values())
    if isinstance(value, list):
        return all(stored_is_clean(v) for v in value)
    return not (isinstance(value, str) and CONTROL.search(value))


async def drain(smtp) -> None:
    """Deliver the whole outbox (the worker sends 20 a round; these tests queue many codes)."""
    from portal.mail.worker import deliver_due

    while await deliver_due(smtp.settings, batch=200):
        pass


@pytest.fixture(autouse=True, scope="module")
async def _empty_outbox_afterwards(smtp):
    yield
    await drain(smtp)


async def code_for(smtp, email: str) -> str:
    await drain(smtp)
    return await smtp.code_for(email)


async def at_personal(client, smtp, app_code: str = "PSR") -> tuple[Applicant, str]:
    a = Applicant(client, smtp, app_code=app_code)
    r = await a.accept_terms()
    assert r.status_code == 303
    return a, draft_token(client)


async def at_contact(client, smtp) -> tuple[Applicant, str]:
    a, token = await at_personal(client, smtp)
    assert (await a.personal()).status_code == 303
    assert (await a.verify(await code_for(smtp, a.email))).status_code == 303
    return a, token


async def at_review(client, smtp) -> tuple[Applicant, str]:
    a, token = await at_contact(client, smtp)
    assert (await a.contact()).status_code == 303
    assert (await a.questions()).status_code == 303
    return a, token


# ---- Step 1: New User Registration ---------------------------------------------------------

PERSONAL_BAD = [
    ("first_name", ""),
    ("first_name", "   "),
    ("first_name", LONG),
    ("first_name", SCRIPT),
    ("first_name", IMG),
    ("first_name", "😀"),
    ("first_name", "Ana😀"),
    ("first_name", "12345"),
    ("first_name", "\u202eanA"),  # right-to-left override
    ("first_name", "A\u200bna"),  # zero-width space
    ("first_name", "\x00\x01\x1f"),  # nothing but control characters
    ("middle_initial", "AB"),
    ("middle_initial", "1"),
    ("middle_initial", "😀"),
    ("middle_initial", LONG),
    ("middle_initial", SCRIPT),
    ("last_name", ""),
    ("last_name", LONG),
    ("last_name", SCRIPT),
    ("last_name", IMG),
    ("dob_day", ""),
    ("dob_month", ""),
    ("dob_year", ""),
    ("dob_year", "2099"),
    ("dob_day", "0"),
    ("dob_month", "13"),
    ("dob_month", "yesterday"),
    ("dob_year", "80"),
    ("dob_year", "1800"),
    ("dob_year", "0000"),
    ("dob_year", "99999999999999999999"),
    ("dob_day", LONG),
    ("dob_month", SCRIPT),
    ("dob_year", IMG),
    ("dob_day", "2\u200b7"),
    ("ssn", ""),
    ("ssn", "000-12-3456"),
    ("ssn", "666-12-3456"),
    ("ssn", "900-12-3456"),
    ("ssn", "123-00-4567"),
    ("ssn", "123-45-0000"),
    ("ssn", "123456789012"),
    ("ssn", "12345678"),
    ("ssn", "abc"),
    ("ssn", LONG),
    ("ssn", SCRIPT),
    ("email", ""),
    ("email", "not-an-email"),
    ("email", "a@b"),
    ("email", "a@@example.com"),
    ("email", LONG + "@example.com"),
    ("email", SCRIPT),
    ("email", IMG + "@example.com"),
]


@pytest.mark.parametrize(("field", "value"), PERSONAL_BAD, ids=lambda v: repr(v)[:30])
async def test_personal_rejects_bad_value_and_stores_nothing(client, smtp, field, value):
    a, token = await at_personal(client, smtp)
    override = {field: value}
    if field == "email":
        override["email_confirm"] = value
    r = await a.personal(**override)
    assert_field_error(r, "dob" if field.startswith("dob_") else field)
    assert h1(page(r)) == "Step 1 of 6: New User Registration"
    row = await draft_row(token)
    assert row["personal"] is None and row["email"] is None and row["code_hash"] is None


@pytest.mark.parametrize(
    ("email", "confirm"),
    [
        ("ana@example.gov", "bob@example.gov"),
        ("ana@example.gov", ""),
        ("ana@example.gov", LONG),
        ("ana@example.gov", SCRIPT),
    ],
    ids=["mismatch", "empty", "long", "markup"],
)
async def test_personal_rejects_bad_confirmation(client, smtp, email, confirm):
    a, token = await at_personal(client, smtp)
    r = await a.personal(email=email, email_confirm=confirm)
    assert_field_error(r, "email_confirm")
    row = await draft_row(token)
    assert row["personal"] is None and row["email"] is None


async def test_personal_with_every_field_bad_at_once_lists_each(client, smtp):
    a, token = await at_personal(client, smtp)
    r = await a.personal(
        first_name=SCRIPT, middle_initial=IMG, last_name=LONG, dob_month="yesterday", ssn="abc", email="a@b"
    )
    errors = field_errors(page(r))
    assert r.status_code == 200
    assert {"first_name", "middle_initial", "last_name", "dob", "ssn", "email"} <= errors.keys()
    assert_no_markup(r.text)
    assert (await draft_row(token))["personal"] is None


@pytest.mark.parametrize(
    "ssn",
    ["１２３-４５-６７８９", "١٢٣-٤٥-٦٧٨٩", "१२३-४५-६७८९"],
    ids=["fullwidth", "arabic-indic", "devanagari"],
)
async def test_personal_ssn_in_non_ascii_digits_is_never_stored_as_is(client, smtp, ssn):
    """``\\d`` matches every Unicode digit: an SSN must be stored as ASCII ###-##-#### or refused."""
    a, token = await at_personal(client, smtp)
    r = await a.personal(ssn=ssn)
    assert r.status_code in (200, 303), r.status_code
    row = await draft_row(token)
    if r.status_code == 200:
        assert "ssn" in field_errors(page(r))
        assert row["personal"] is None
    else:
        stored = client.app.state.cipher.decrypt(row["personal"]["ssn"], "ssn")
        assert re.fullmatch(r"[0-9]{3}-[0-9]{2}-[0-9]{4}", stored), f"stored SSN {stored!r}"


@pytest.mark.parametrize(
    ("first", "last"),
    [("Zoë", "Ångström"), ("李小龙", "李"), ("محمد", "عبد الله"), ("Siân", "O’Brien-Nuñez"), ("Zoe\u0308", "Ångström")],
    ids=["latin-diacritics", "cjk", "rtl-arabic", "apostrophe", "decomposed"],
)
async def test_personal_accepts_unicode_names_and_stores_them_nfc(client, smtp, first, last):
    import unicodedata

    a, token = await at_personal(client, smtp)
    r = await a.personal(first_name=first, last_name=last)
    assert r.status_code == 303, field_errors(page(r))
    row = await draft_row(token)
    assert row["personal"]["first_name"] == unicodedata.normalize("NFC", first)
    assert row["personal"]["last_name"] == unicodedata.normalize("NFC", last)
    r = await client.get(get_url(client, "personal"))
    assert input_value(page(r), "first_name") == unicodedata.normalize("NFC", first)


async def test_personal_control_characters_are_never_stored(client, smtp):
    a, token = await at_personal(client, smtp)
    r = await a.personal(first_name="A\x00n\ta\x7f", last_name="Gar\x1bcía\r\n", dob_year="1980\x00")
    assert r.status_code in (200, 303)
    row = await draft_row(token)
    if r.status_code == 200:
        assert field_errors(page(r)) and row["personal"] is None
    else:
        assert stored_is_clean(row["personal"]), row["personal"]
        assert row["personal"]["first_name"] == "Ana"


async def test_personal_stores_the_normalised_date(client, smtp):
    a, token = await at_personal(client, smtp)
    r = await a.personal(dob_day="027", dob_month=" Mar ", dob_year="1980")
    assert r.status_code == 303, field_errors(page(r))
    assert (await draft_row(token))["personal"]["date_of_birth"] == "1980-03-27"


async def test_personal_with_htmx_bad_input_is_a_fragment_with_messages(client, smtp):
    a, token = await at_personal(client, smtp)
    data = {**PERSONAL, "email": a.email, "email_confirm": a.email, "first_name": SCRIPT, "ssn": "000-12-3456"}
    r = await a.post(post_url(client, "personal"), data, headers=HX)
    assert_field_error(r, "first_name")
    assert "ssn" in field_errors(page(r))
    assert (await draft_row(token))["personal"] is None


# ---- Step 2: Email Verification --------------------------------------------------------------

CODE_BAD = ["", "   ", "12345", "1234567", "abcdef", "12345a", "12 34 5", LONG, SCRIPT, IMG, "😀😀😀😀😀😀", "-12345"]


@pytest.mark.parametrize("code", CODE_BAD, ids=lambda v: repr(v)[:30])
async def test_verify_rejects_malformed_code_without_counting_a_try(client, smtp, code):
    a, token = await at_personal(client, smtp)
    assert (await a.personal()).status_code == 303
    r = await a.verify(code=code) if code else await a.post(post_url(client, "verify"), {"code": ""})
    assert_field_error(r, "code")
    row = await draft_row(token)
    assert row["email_verified_at"] is None
    assert row["code_wrong_tries"] == [] and row["code_failures"] == 0
    assert row["code_voided"] is False


async def test_verify_wrong_code_is_a_message_and_leaves_the_draft_unverified(client, smtp):
    a, token = await at_personal(client, smtp)
    assert (await a.personal()).status_code == 303
    real = await code_for(smtp, a.email)
    wrong = f"{(int(real) + 1) % 1_000_000:06d}"
    r = await a.verify(code=wrong)
    assert_field_error(r, "code")
    assert (await draft_row(token))["email_verified_at"] is None
    r = await a.verify(code=f" {real[:3]} {real[3:]} ")  # spaces are forgiven
    assert r.status_code == 303 and r.headers["location"] == get_url(client, "contact")


async def test_verify_with_non_ascii_digits_never_verifies(client, smtp):
    a, token = await at_personal(client, smtp)
    assert (await a.personal()).status_code == 303
    real = await code_for(smtp, a.email)
    fullwidth = "".join(chr(ord(c) - ord("0") + ord("０")) for c in real)
    r = await a.verify(code=fullwidth)
    assert r.status_code == 200
    assert "code" in field_errors(page(r))
    assert (await draft_row(token))["email_verified_at"] is None


# ---- Step 3: Contact Information ---------------------------------------------------------------

CONTACT_BAD = {
    "organization": ["", LONG, SCRIPT, IMG, "\x00\x01"],
    "address1": ["", LONG, SCRIPT, IMG],
    "address2": [LONG, SCRIPT, IMG],
    "city": ["", LONG, SCRIPT, IMG],
    "state": ["", "ZZ", "Maryland", LONG, SCRIPT, "M D"],
    "zip": ["", "1234", "ABCDE", "123456", "12345-12", LONG, SCRIPT, "٢١٢٤٤", "２１２４４"],
    "phone": ["", "12", "555-abc", "000 000 0000", LONG, SCRIPT, IMG],
    "phone_ext": ["abc", "1234567", LONG, SCRIPT, "١٢", "１２"],
    "role": ["", "no-such-role", LONG, SCRIPT],
    "npi": ["", "1234567890", "123456789", "12345678931", "abcdefghij", LONG, SCRIPT, "１２３４５６７８９３"],
    "tin": ["", "12-34567", "ab-cdefghi", "123-456789", LONG, SCRIPT, "１２-３４５６７８９"],
}


@pytest.mark.parametrize("field", sorted(CONTACT_BAD))
async def test_contact_rejects_bad_values_and_stores_nothing(client, smtp, field):
    a, token = await at_contact(client, smtp)
    for value in CONTACT_BAD[field]:
        r = await a.contact(**{field: value})
        assert_field_error(r, field, value)
        assert h1(page(r)) == "Step 3 of 6: Contact Information"
        row = await draft_row(token)
        assert row["contact"] is None and row["role"] is None, f"{field}={value[:40]!r} was stored"


@pytest.mark.parametrize("value", ["", "-", SCRIPT, IMG, LONG, "😀 Corp"], ids=lambda v: repr(v)[:20])
async def test_contact_rejects_bad_legal_business_name(client, smtp, value):
    a, token = await at_contact(client, smtp)
    r = await a.contact(role="security-official", legal_business_name=value)
    assert_field_error(r, "legal_business_name")
    assert (await draft_row(token))["contact"] is None


async def test_contact_accepts_unicode_and_keeps_markup_out_of_the_page(client, smtp):
    a, token = await at_contact(client, smtp)
    org = "Zoë Ångström Klinik — 李小龙 محمد"
    r = await a.contact(organization=org, address2="Suite «7»", city="Malmö")
    assert r.status_code == 303, field_errors(page(r))
    row = await draft_row(token)
    assert row["contact"]["organization"] == org
    assert row["contact"]["city"] == "Malmö"
    assert stored_is_clean(row["contact"])


INVISIBLE = ["\u202e", "\u2066", "\u200b", "\u200d", "\ufeff", "\x00", "\x1b", "\x85", "\u2028", "\ue000"]


@pytest.mark.parametrize("char", INVISIBLE, ids=lambda c: f"U+{ord(c):04X}")
async def test_contact_refuses_invisible_and_bidi_characters_with_a_message(client, smtp, char):
    """A bidi override in the second address line would show the address reversed to the
    approver: refused, with a message next to the field, and nothing saved."""
    a, token = await at_contact(client, smtp)
    r = await a.contact(address2=f"Suite {char}7", npi=f"12345{char}67893")
    assert r.status_code == 200
    errors = field_errors(page(r))
    assert errors["address2"] == "Address line 2 must not contain invisible or control characters: type it again"
    assert (
        errors["npi"]
        == "National Provider Identifier (NPI) must not contain invisible or control characters: type it again"
    )
    assert char not in r.text
    assert (await draft_row(token))["contact"] is None


async def test_contact_stores_only_clean_formats(client, smtp):
    """What a valid step stores: ZIP, phone and extension in ASCII digits, the TIN without its dash."""
    a, token = await at_contact(client, smtp)
    r = await a.contact(zip=" 21244 ", phone="(410) 786-3000", phone_ext=" 12 ")
    assert r.status_code == 303, field_errors(page(r))
    c = (await draft_row(token))["contact"]
    assert c["zip"] == "21244" and c["phone_ext"] == "12"
    assert re.fullmatch(r"[0-9 ()+-]+", c["phone"]), c["phone"]
    assert stored_is_clean(c)


async def test_contact_with_everything_bad_and_htmx_answers_a_fragment(client, smtp):
    a, token = await at_contact(client, smtp)
    bad = dict.fromkeys(["organization", "address1", "city", "state", "zip", "phone", "npi", "tin"], SCRIPT)
    r = await a.contact(headers=HX, **bad)
    assert r.status_code == 200
    assert set(bad) <= field_errors(page(r)).keys()
    assert_no_markup(r.text)
    assert (await draft_row(token))["contact"] is None


async def test_contact_role_switch_without_javascript_keeps_values_escaped(client, smtp):
    a, token = await at_contact(client, smtp)
    r = await a.contact(action="role", role="security-official", organization=SCRIPT, city=IMG)
    assert r.status_code == 200
    assert_no_markup(r.text)
    assert (await draft_row(token))["contact"] is None


@pytest.mark.parametrize("role", ["", "no-such-role", SCRIPT, LONG])
async def test_contact_role_fields_fragment_with_bad_role(client, smtp, role):
    await at_contact(client, smtp)
    r = await client.get(url(client, "registration:contact-fields"), params={"role": role}, headers=HX)
    assert r.status_code == 200
    assert_no_markup(r.text)
    r = await client.get(get_url(client, "contact"), params={"role": role})
    assert r.status_code == 200
    assert_no_markup(r.text)


# ---- Step 4: Authentication Questions --------------------------------------------------------

QUESTIONS_BAD = [
    ("question_1", ""),
    ("question_1", "no-such-question"),
    ("question_1", SCRIPT),
    ("question_1", LONG),
    ("question_2", "first-school"),  # the same question twice
    ("answer_1", ""),
    ("answer_1", "a"),
    ("answer_1", " a  "),
    ("answer_1", "x" * 101),
    ("answer_1", LONG),
    ("answer_2", "\x00\x01"),
    ("question_3", "first-car"),  # a third question repeating the second
    ("question_3", SCRIPT),
]


@pytest.mark.parametrize(("field", "value"), QUESTIONS_BAD, ids=lambda v: repr(v)[:30])
async def test_questions_reject_bad_values_and_store_nothing(client, smtp, field, value):
    a, token = await at_contact(client, smtp)
    assert (await a.contact()).status_code == 303
    extra = {"answer_3": "Something"} if field == "question_3" else {}
    r = await a.questions(**{field: value, **extra})
    assert_field_error(r, field)
    assert h1(page(r)) == "Step 4 of 6: Authentication Questions"
    assert (await draft_row(token))["questions"] is None


async def test_questions_third_answer_without_question(client, smtp):
    a, token = await at_contact(client, smtp)
    assert (await a.contact()).status_code == 303
    r = await a.questions(answer_3=SCRIPT)
    assert_field_error(r, "question_3")
    r = await a.questions(question_3="first-employer", answer_3="")
    assert_field_error(r, "answer_3")
    assert (await draft_row(token))["questions"] is None


async def test_questions_answers_are_never_echoed_or_stored_in_clear(client, smtp):
    a, token = await at_contact(client, smtp)
    assert (await a.contact()).status_code == 303
    r = await a.questions(answer_1=SCRIPT, question_2="")
    assert_field_error(r, "question_2")
    r = await a.questions(answer_1="Zoë 李小龙 " + SCRIPT, answer_2="محمد")
    assert r.status_code == 303, field_errors(page(r))
    stored = (await draft_row(token))["questions"]
    assert len(stored) == 2
    text = repr(stored)
    assert "script" not in text and "Zoë" not in text and "محمد" not in text


# ---- Step 5: Review, inline save --------------------------------------------------------------


REVIEW_BAD = {
    "personal": [
        ("first_name", SCRIPT),
        ("first_name", ""),
        ("last_name", LONG),
        ("dob_day", "32"),
        ("dob_year", "2099"),
        ("ssn", "000-12-3456"),
        ("ssn", "123456789012"),
        ("email", "someone.else@example.gov"),  # the verified address cannot change
        ("email", SCRIPT),
    ],
    "contact": [
        ("organization", IMG),
        ("zip", "ABCDE"),
        ("zip", "1234"),
        ("phone", "555-abc"),
        ("phone", "12"),
        ("npi", "1234567890"),
        ("tin", "12-34567"),
        ("tin", "ab-cdefghi"),
        ("role", "no-such-role"),
        ("state", LONG),
    ],
    "questions": [
        ("question_1", "no-such-question"),
        ("answer_2", ""),
        ("question_2", "first-school"),
        ("answer_1", LONG),
    ],
}
VALID = {"personal": PERSONAL, "contact": {**CONTACT, "role": "provider-user", **ROLE_FIELDS}, "questions": QUESTIONS}


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize("section", sorted(REVIEW_BAD))
async def test_review_inline_save_rejects_bad_values_and_keeps_the_draft(client, smtp, section, htmx):
    a, token = await at_review(client, smtp)
    before = await draft_row(token)
    headers = HX if htmx else {}
    for field, value in REVIEW_BAD[section]:
        r = await a.post(post_url(client, f"review/{section}"), {**VALID[section], field: value}, headers=headers)
        assert_field_error(r, "dob" if field.startswith("dob_") else field, value)
        after = await draft_row(token)
        for column in ("personal", "email", "contact", "role", "questions", "tracking_number"):
            assert after[column] == before[column], f"{section}.{field}={value[:40]!r} changed {column}"


async def test_review_inline_save_with_valid_values_still_works(client, smtp):
    """The control for the test above: a valid inline save does change the draft."""
    a, token = await at_review(client, smtp)
    r = await a.post(post_url(client, "review/contact"), {**VALID["contact"], "city": "Zürich"})
    assert r.status_code == 303 and r.headers["location"] == get_url(client, "review")
    assert (await draft_row(token))["contact"]["city"] == "Zürich"


@pytest.mark.parametrize("section", ["email", "nope", "..", SCRIPT, "x" * 300])
async def test_review_unknown_section_is_404(client, smtp, section):
    a, _ = await at_review(client, smtp)
    r = await a.post(f"/register/review/{section}", VALID["contact"])
    assert r.status_code in (404, 405), r.status_code
    assert_no_markup(r.text)
    r = await client.get(f"/register/review/{section}/edit", headers=HX)
    assert 400 <= r.status_code < 500
    assert_no_markup(r.text)


# ---- Submit ---------------------------------------------------------------------------------


async def test_submit_ignores_crafted_fields(client, smtp):
    a, token = await at_review(client, smtp)
    r = await a.post(
        post_url(client, "submit"),
        {"email": "attacker@example.gov", "tracking_number": "IACS-AAAA-AAAA-AAAA", "role": SCRIPT, "x": LONG},
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "registration:done")
    r = await client.get(r.headers["location"])
    assert h1(page(r)) == "Step 6 of 6: Acknowledgement"
    assert_no_markup(r.text)
    rows = await AccessRequest.select(AccessRequest.email, AccessRequest.tracking_number).where(
        AccessRequest.draft_token == token
    )
    assert len(rows) == 1 and rows[0]["email"] == a.email
    assert rows[0]["tracking_number"] != "IACS-AAAA-AAAA-AAAA"


async def test_submit_twice_gives_the_same_request(client, smtp):
    a, token = await at_review(client, smtp)
    assert (await a.submit()).status_code == 200
    r = await a.submit()
    assert r.status_code in (200, 303)
    assert await AccessRequest.count().where(AccessRequest.draft_token == token) == 1


# ---- POST /status ---------------------------------------------------------------------------

STATUS_BAD = [
    ("tracking_number", ""),
    ("tracking_number", "abc"),
    ("tracking_number", LONG),
    ("tracking_number", SCRIPT),
    ("tracking_number", IMG),
    ("tracking_number", "IACS-😀😀😀😀-AAAA-BBBB"),
    ("tracking_number", "\u202eIACS-AAAA-BBBB-CCCC"),
    ("tracking_number", "\x00"),
    ("email", ""),
    ("email", "not-an-email"),
    ("email", "a@b"),
    ("email", LONG),
    ("email", SCRIPT),
    ("email", IMG + "@example.com"),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("field", "value"), STATUS_BAD, ids=lambda v: repr(v)[:30])
async def test_status_rejects_bad_values(client, field, value, htmx):
    await client.get(url(client, "status:form"))
    data = {"tracking_number": "IACS-7K4M-9QX2-HT3P", "email": "ana@example.gov", field: value}
    data["_csrf_token"] = client.cookies["csrftoken"]
    r = await client.post(url(client, "status:check"), data=data, headers=HX if htmx else {})
    assert (r.status_code == 303) is not htmx  # without JavaScript: back to the status page
    assert_field_error(await follow_back(client, r), field)


@pytest.mark.parametrize(
    "values",
    [
        {"tracking_number": "IACS-7K4M-9QX2-HT3P", "email": "zoë@example.gov"},
        {"tracking_number": "iacs 7k4m 9qx2 ht3p", "email": "李小龙@例子.中国"},
        {"tracking_number": "IACS-7K4M-9QX2-HT3P\x00", "email": "ana@example.gov\x00"},
    ],
    ids=["unicode-local", "unicode-domain", "nul"],
)
async def test_status_unknown_registration_is_a_message_not_an_error(client, values):
    await client.get(url(client, "status:form"))
    r = await client.post(url(client, "status:check"), data={**values, "_csrf_token": client.cookies["csrftoken"]})
    assert r.status_code == 303 and r.headers["location"] == url(client, "status:form")
    r = await client.get(r.headers["location"])  # the answer, on the status page
    assert r.status_code == 200, r.text[-2000:]
    soup = page(r)
    assert field_errors(soup) or notice(soup).startswith("We could not find a registration with that tracking number")


# ---- Crafted bodies: duplicated, unknown, non-text fields -------------------------------------


async def test_personal_duplicated_fields_keep_one_value(client, smtp):
    a, token = await at_personal(client, smtp)
    data = {
        **PERSONAL,
        "first_name": ["Ana", SCRIPT],
        "ssn": ["123-45-6789", "000-00-0000"],
        "email": [a.email, "other@example.gov"],
        "email_confirm": [a.email, a.email],
        "unknown": LONG,
        "personal": "{}",
        "email_verified_at": "2020-01-01",
        "_csrf_token": client.cookies["csrftoken"],
    }
    r = await client.post(post_url(client, "personal"), data=data)
    assert r.status_code == 303, field_errors(page(r))
    row = await draft_row(token)
    assert row["personal"]["first_name"] == "Ana"
    assert client.app.state.cipher.decrypt(row["personal"]["ssn"], "ssn") == "123-45-6789"
    assert row["email"] == a.email and row["email_verified_at"] is None


async def test_personal_duplicated_fields_first_bad_is_refused(client, smtp):
    a, token = await at_personal(client, smtp)
    data = {
        **PERSONAL,
        "first_name": [SCRIPT, "Ana"],
        "email": a.email,
        "email_confirm": a.email,
        "_csrf_token": client.cookies["csrftoken"],
    }
    r = await client.post(post_url(client, "personal"), data=data)
    r = await follow_back(client, r)  # a browser lands on the page it is sent back to
    assert_field_error(r, "first_name")
    assert (await draft_row(token))["personal"] is None


@pytest.mark.parametrize(
    "step", ["verify", "contact", "questions", "review/personal", "review/contact", "review/questions", "submit"]
)
async def test_duplicated_and_unknown_fields_never_500(client, smtp, step):
    a, token = await at_review(client, smtp)
    before = await draft_row(token)
    base = {
        "verify": {"code": ["12345", "999999"]},
        "contact": {**VALID["contact"], "zip": ["ABCDE", "21244"], "role": ["nope", "provider-user"]},
        "questions": {**QUESTIONS, "question_1": ["nope", "first-school"]},
        "review/personal": {**PERSONAL, "ssn": ["abc", "123-45-6789"]},
        "review/contact": {**VALID["contact"], "npi": ["1234567890", "1234567893"]},
        "review/questions": {**QUESTIONS, "answer_1": ["", "Lincoln"]},
        "submit": {"tracking_number": ["x", "y"]},
    }[step]
    data = {
        **base,
        "unknown_field": [LONG, SCRIPT],
        "id": "1",
        "token": "x",
        "_csrf_token": client.cookies["csrftoken"],
    }
    r = await client.post(post_url(client, step), data=data)
    assert r.status_code < 500, r.text[-2000:]
    assert_no_markup(r.text)
    after = await draft_row(token)
    if step != "submit":  # the first (bad) value of each duplicate wins or nothing changes
        for column in ("personal", "contact", "role", "questions", "email"):
            assert after[column] == before[column], f"{step} changed {column}"
    assert after["token"] == before["token"] and after["id"] == before["id"]


@pytest.mark.parametrize(
    ("step", "field"),
    [("personal", "first_name"), ("contact", "organization"), ("questions", "answer_1")],
)
async def test_file_upload_in_a_text_field_is_a_message(client, smtp, step, field):
    a, token = await at_contact(client, smtp)
    if step == "questions":
        assert (await a.contact()).status_code == 303
    before = await draft_row(token)
    data = {**{"personal": PERSONAL, "contact": VALID["contact"], "questions": QUESTIONS}[step]}
    data.pop(field)
    data["_csrf_token"] = client.cookies["csrftoken"]
    r = await client.post(
        post_url(client, step), data=data, files={field: ("x.txt", b"<script>alert(1)</script>", "text/plain")}
    )
    r = await follow_back(client, r)  # a browser lands on the page it is sent back to
    assert r.status_code == 200 or 400 <= r.status_code < 500, r.status_code
    if r.status_code == 200:
        assert field in field_errors(page(r))
    assert_no_markup(r.text)
    after = await draft_row(token)
    assert after[step] == before[step]


@pytest.mark.parametrize(
    "body",
    [
        b"first_name=%FF%FE&last_name=%C0%AF",
        b"first_name=\xff\xfe\xfd&last_name=\xc3",
        b"first_name=%ED%A0%80&last_name=%00",
        b"=&&&==&first_name",
        b"%",
        b"first_name=" + b"A" * 200_000,
    ],
    ids=["percent-invalid-utf8", "raw-invalid-utf8", "surrogate-and-nul", "empty-keys", "lone-percent", "huge"],
)
async def test_malformed_form_body_never_500(client, smtp, body):
    a, token = await at_personal(client, smtp)
    r = await client.post(
        post_url(client, "personal"),
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded", "x-csrftoken": client.cookies["csrftoken"]},
    )
    r = await follow_back(client, r)  # a browser lands on the page it is sent back to
    assert r.status_code == 200 or 400 <= r.status_code < 500, (r.status_code, r.text[-1000:])
    if r.status_code == 200:
        assert field_errors(page(r))
    assert (await draft_row(token))["personal"] is None


async def test_json_body_is_treated_as_an_empty_form(client, smtp):
    a, token = await at_personal(client, smtp)
    r = await client.post(
        post_url(client, "personal"),
        json={**PERSONAL, "email": a.email, "email_confirm": a.email},
        headers={"x-csrftoken": client.cookies["csrftoken"]},
    )
    r = await follow_back(client, r)  # a browser lands on the page it is sent back to
    assert r.status_code == 200 or 400 <= r.status_code < 500, r.status_code
    if r.status_code == 200:
        assert "first_name" in field_errors(page(r))
    assert (await draft_row(token))["personal"] is None


# ---- A tampered draft cookie -------------------------------------------------------------------

GET_STEPS = ["personal", "verify", "contact", "questions", "review", "done"]
POST_STEPS = [
    "personal",
    "verify",
    "verify/resend",
    "contact",
    "questions",
    "review/personal",
    "review/contact",
    "review/questions",
    "submit",
]
POST_BODY = {
    "personal": PERSONAL,
    "verify": {"code": "123456"},
    "contact": VALID["contact"],
    "questions": QUESTIONS,
    "review/personal": PERSONAL,
    "review/contact": VALID["contact"],
    "review/questions": QUESTIONS,
}


def _one_char_changed(value: str) -> str:
    i = 2
    return value[:i] + ("B" if value[i] != "B" else "C") + value[i + 1 :]


class _SignedADayAgo(TimestampSigner):
    def get_timestamp(self) -> int:
        return int(time.time()) - 24 * 3600 - 60


def _tamper(client, kind: str, token: str) -> None:
    jar_cookie = next(c for c in client.cookies.jar if c.name == COOKIE)
    value = jar_cookie.value
    jar_cookie.value = {
        "one-char": lambda: _one_char_changed(value),
        "made-up": lambda: "not-a-real-draft-cookie.AAAA.BBBB",
        "overlong": lambda: "A" * 5000,
        "signed-unknown-token": lambda: URLSafeTimedSerializer(client.app.state.settings.secret_key, salt=SALT).dumps(
            "no-such-draft-" + token[:8]
        ),
        "other-salt": lambda: URLSafeTimedSerializer(client.app.state.settings.secret_key, salt="other").dumps(token),
        # The real draft, properly signed, but the signature is older than the 24 hours allowed.
        "expired-signature": lambda: URLSafeTimedSerializer(
            client.app.state.settings.secret_key, salt=SALT, signer=_SignedADayAgo
        ).dumps(token),
        "empty": lambda: "",
    }[kind]()
    assert jar_cookie.value != value


TAMPER_KINDS = ["one-char", "made-up", "overlong", "signed-unknown-token", "other-salt", "expired-signature", "empty"]


def assert_expired(client, r, htmx: bool) -> None:
    assert r.status_code < 500, r.status_code
    if htmx:
        assert r.status_code == 200, r.status_code
        assert r.headers.get("hx-redirect") == expired_url(client), dict(r.headers)
    elif r.status_code in (302, 303):
        assert r.headers["location"] == expired_url(client), r.headers["location"]
    else:
        assert 400 <= r.status_code < 500, r.status_code


@pytest.mark.parametrize("kind", TAMPER_KINDS)
@pytest.mark.parametrize("step", GET_STEPS)
async def test_tampered_cookie_on_get(client, smtp, step, kind):
    a, token = await at_personal(client, smtp)
    assert (await a.personal()).status_code == 303
    _tamper(client, kind, token)
    r = await client.get(get_url(client, step))
    assert_expired(client, r, htmx=False)
    assert r.status_code == 303
    r = await client.get(get_url(client, step), headers=HX)
    assert_expired(client, r, htmx=True)


@pytest.mark.parametrize("kind", TAMPER_KINDS)
@pytest.mark.parametrize("step", POST_STEPS)
async def test_tampered_cookie_on_post(client, smtp, step, kind):
    a, token = await at_personal(client, smtp)
    assert (await a.personal()).status_code == 303
    before = await draft_row(token)
    _tamper(client, kind, token)
    r = await a.post(post_url(client, step), POST_BODY.get(step, {}))
    assert_expired(client, r, htmx=False)
    r = await a.post(post_url(client, step), POST_BODY.get(step, {}), headers=HX)
    assert_expired(client, r, htmx=True)
    after = await draft_row(token)
    assert after == before, "a request with a tampered cookie changed the draft"


@pytest.mark.parametrize("kind", TAMPER_KINDS)
async def test_tampered_cookie_on_done_ends_nothing(client, smtp, kind):
    a, token = await at_review(client, smtp)
    assert (await a.submit()).status_code == 200
    _tamper(client, kind, token)
    r = await a.post(post_url(client, "done"))
    assert r.status_code in (303, 400, 403, 404), r.status_code
    assert (await draft_row(token))["tracking_number"]  # the real draft is still there


@pytest.mark.parametrize("kind", ["one-char", "made-up", "overlong"])
async def test_tampered_cookie_on_the_start_page(client, smtp, kind):
    a, token = await at_personal(client, smtp)
    _tamper(client, kind, token)
    r = await client.get(url(client, "registration:start"))
    if r.status_code in (301, 302, 307, 308):
        r = await client.get(r.headers["location"])
    assert r.status_code == 200
    soup = page(r)  # a bad cookie names no draft:
    assert soup.select_one("main .panel") is None and "Continue your registration" not in texts(soup, "a")


# ---- CSRF ----------------------------------------------------------------------------------


async def drafts_of(code: str) -> int:
    return await RegistrationDraft.count().where(RegistrationDraft.application.code == code)


@pytest.mark.parametrize("code", ["PSR", "HIOS"])
async def test_accept_terms_without_csrf_token_is_403_and_creates_no_draft(client, smtp, code):
    """No other test registers for HIOS, so its draft count shows nothing was created even
    while another test run shares the database."""
    await client.get(url(client, "registration:terms", code=code))
    accept = url(client, "registration:accept", code=code)
    before = await drafts_of("HIOS")
    r = await client.post(accept)
    assert r.status_code == 403
    r = await client.post(accept, data={"_csrf_token": "forged"})
    assert r.status_code == 403
    r = await client.post(accept, headers={"x-csrftoken": "forged", "HX-Request": "true"})
    assert r.status_code == 403
    assert COOKIE not in client.cookies
    assert await drafts_of("HIOS") == before
    # The control: with the token the same POST does create a draft.
    r = await client.post(accept, data={"_csrf_token": client.cookies["csrftoken"]})
    assert r.status_code == 303 and COOKIE in client.cookies
    if code == "HIOS":
        assert await drafts_of("HIOS") == before + 1


CSRF_STEPS = [*POST_STEPS, "done"]


@pytest.mark.parametrize("step", CSRF_STEPS)
async def test_step_post_without_csrf_token_is_403_and_changes_nothing(client, smtp, step):
    a, token = await at_review(client, smtp)
    before = await draft_row(token)
    body = {**POST_BODY.get(step, {}), "first_name": "Mallory", "city": "Elsewhere"}
    path = post_url(client, step)
    for headers in ({}, HX):
        r = await client.post(path, data=body, headers=headers)
        assert r.status_code == 403, (step, r.status_code)
    r = await client.post(path, data={**body, "_csrf_token": "forged"})
    assert r.status_code == 403
    assert await draft_row(token) == before
    assert COOKIE in client.cookies and draft_token(client) == token
    assert await AccessRequest.count().where(AccessRequest.draft_token == token) == 0


async def test_status_post_without_csrf_token_is_403(client):
    await client.get(url(client, "status:form"))
    r = await client.post(
        url(client, "status:check"), data={"tracking_number": "IACS-7K4M-9QX2-HT3P", "email": "a@example.gov"}
    )
    assert r.status_code == 403
    r = await client.post(
        url(client, "status:check"),
        data={"tracking_number": "IACS-7K4M-9QX2-HT3P", "email": "a@example.gov"},
        headers=HX,
    )
    assert r.status_code == 403


# ---- Out-of-order steps ----------------------------------------------------------------------

OUT_OF_ORDER = [
    ("GET", "verify"),
    ("GET", "contact"),
    ("POST", "contact"),
    ("GET", "questions"),
    ("POST", "questions"),
    ("GET", "review"),
    ("POST", "review/personal"),
    ("POST", "review/contact"),
    ("POST", "review/questions"),
    ("POST", "verify"),
    ("POST", "verify/resend"),
    ("POST", "submit"),
    ("GET", "done"),
    ("POST", "done"),
]


@pytest.mark.parametrize(("method", "step"), OUT_OF_ORDER, ids=[f"{m} {s}" for m, s in OUT_OF_ORDER])
async def test_out_of_order_step_sends_to_the_first_unfinished(client, smtp, method, step):
    a, token = await at_personal(client, smtp)
    before = await draft_row(token)
    body = POST_BODY.get(step, {})
    path = get_url(client, step) if method == "GET" else post_url(client, step)
    r = await (client.get(path) if method == "GET" else a.post(path, body))
    assert r.status_code == 303, (r.status_code, r.text[-500:])
    assert r.headers["location"] == get_url(client, "personal")
    r = await (client.get(path, headers=HX) if method == "GET" else a.post(path, body, headers=HX))
    assert r.status_code == 200, r.status_code
    assert r.headers.get("hx-redirect") == get_url(client, "personal")
    assert not (300 <= r.status_code < 400)
    assert COOKIE in client.cookies, "the draft cookie was dropped"
    assert await draft_row(token) == before


async def test_get_submit_is_a_clean_answer(client, smtp):
    await at_personal(client, smtp)
    r = await client.get(get_url(client, "submit"))
    assert r.status_code == 303 and r.headers["location"] == get_url(client, "personal") or r.status_code == 405


async def test_out_of_order_after_personal_sends_to_verify(client, smtp):
    a, token = await at_personal(client, smtp)
    assert (await a.personal()).status_code == 303
    for step in ("contact", "questions", "review", "done"):
        r = await client.get(get_url(client, step))
        assert r.status_code == 303 and r.headers["location"] == get_url(client, "verify"), step
    r = await a.contact()
    assert r.status_code == 303 and r.headers["location"] == get_url(client, "verify")
    assert (await draft_row(token))["contact"] is None


async def test_steps_after_submit_only_show_the_acknowledgement(client, smtp):
    a, token = await at_review(client, smtp)
    assert (await a.submit()).status_code == 200
    before = await draft_row(token)
    r = await a.personal(first_name="Changed")
    assert r.status_code == 303 and r.headers["location"] == get_url(client, "done")
    r = await a.post(post_url(client, "review/contact"), {**VALID["contact"], "city": "Changed"})
    assert r.status_code == 303 and r.headers["location"] == get_url(client, "done")
    assert await draft_row(token) == before


async def test_new_draft_without_cookie_redirects_to_start(client):
    r = await client.get(get_url(client, "personal"))
    assert r.status_code == 303 and r.headers["location"] == expired_url(client)
    email = unique_email()
    await client.get(url(client, "home:getting-ready"))
    r = await client.post(
        post_url(client, "personal"),
        data={**PERSONAL, "email": email, "email_confirm": email, "_csrf_token": client.cookies["csrftoken"]},
    )
    assert r.status_code == 303 and r.headers["location"] == expired_url(client)
    assert await RegistrationDraft.count().where(RegistrationDraft.email == email) == 0


@pytest.mark.parametrize("code", ["NOPE", SCRIPT, "x" * 300, "psr"])
async def test_terms_of_unknown_application(client, code):
    await client.get(url(client, "home:getting-ready"))
    r = await client.post(f"/register/{code}/terms", data={"_csrf_token": client.cookies["csrftoken"]})
    assert r.status_code in (303, 404), r.status_code
    assert_no_markup(r.text)
    if r.status_code == 404:
        assert COOKIE not in client.cookies


# ---- Characters HTML forbids (C1 controls, noncharacters) -------------------------------------

FORBIDDEN_IN_HTML = ["\x80", "Ana\x85", "\x9f", "\ufdd0", "\ufffe", "\U0001fffe", "A\x07na"]
C1_OR_NONCHAR = re.compile("[\x00-\x1f\x7f-\x9f\ufdd0-\ufdef\ufffe\uffff]|[\U0001fffe\U0001ffff]")


def stored_has_forbidden(value) -> bool:
    if isinstance(value, dict):
        return any(stored_has_forbidden(v) for v in value.values())
    if isinstance(value, list):
        return any(stored_has_forbidden(v) for v in value)
    return isinstance(value, str) and bool(C1_OR_NONCHAR.search(value))


@pytest.mark.parametrize("value", FORBIDDEN_IN_HTML, ids=lambda v: repr(v))
async def test_characters_html_forbids_are_never_echoed_or_stored(client, smtp, value):
    """The client's HTML check fails the test if the page echoes any of them; the draft must
    not keep them either (control characters are dropped or refused)."""
    a, token = await at_personal(client, smtp)
    r = await a.personal(first_name=value)
    assert r.status_code in (200, 303), r.status_code
    assert not stored_has_forbidden((await draft_row(token))["personal"])
    if r.status_code == 303:
        assert (await a.verify(await code_for(smtp, a.email))).status_code == 303
    else:
        assert (await a.personal()).status_code == 303
        assert (await a.verify(await code_for(smtp, a.email))).status_code == 303
    r = await a.contact(organization=value, city=value, address2=value)
    assert r.status_code in (200, 303), r.status_code
    assert not stored_has_forbidden((await draft_row(token))["contact"])
    await client.get(url(client, "status:form"))
    r = await client.post(
        url(client, "status:check"),
        data={"tracking_number": value, "email": value, "_csrf_token": client.cookies["csrftoken"]},
    )
    assert_field_error(await follow_back(client, r), "tracking_number")
