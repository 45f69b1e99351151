"""The forms' rules, each with its message (portal/registration/forms.py).

Every form is built by one factory (``personal_form``, ``contact_form``, ``questions_form``)
from values that pass, so a test names only what it changes; a change of the forms' shape is
an edit to that factory alone.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from portal.catalog import FieldRule, read
from portal.models.rows import ContactData
from portal.registration.forms import (
    ContactForm,
    ContactValues,
    DateProblem,
    PersonalForm,
    PersonalValues,
    QuestionsForm,
    VerifyForm,
    date_errors,
    date_parts,
    parse_date_parts,
    validate_code,
    validate_contact,
    validate_personal,
    validate_questions,
    validate_ssn,
)
from portal.text import clean, normalise_email

TODAY = datetime(2026, 12, 1, 12, 0, tzinfo=UTC).date()
CATALOG = read()
# Characters nobody can see, each refused with a message naming the field.
INVISIBLE = {
    "zero-width space": "\u200b",
    "right-to-left override": "\u202e",
    "byte order mark": "\ufeff",
    "line separator": "\u2028",
    "private use": "\ue000",
    "NUL": "\x00",
    "C1 control": "\x85",
}


def invisible(label: str) -> str:
    return f"{label} must not contain invisible or control characters: type it again"


def with_char(value: str, ch: str) -> str:
    """``value`` with ``ch`` after its first character (so trimming cannot remove it)."""
    return value[:1] + ch + value[1:]


# -- clean ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "cleaned"),
    [
        ("  Ann  ", "Ann"),
        ("\tAnn\r\n", "Ann"),
        ("Ann\x00", "Ann"),  # controls are dropped
        ("A\x85nn", "Ann"),
        ("Jose\u0301", "Jos\u00e9"),  # NFC: e and a combining acute become one é
        ("Ann\u200b", "Ann\u200b"),  # format characters are kept: the invisible check refuses them
        ("", ""),
        ("Mary\tAnn", "Mary Ann"),  # tab and line breaks inside are folded into a space
        ("Mary\r\nAnn", "Mary Ann"),
    ],
)
def test_clean_trims_normalises_and_drops_controls(typed, cleaned):
    assert clean(typed) == cleaned


# -- step 1: personal details -----------------------------------------------------------------

GOOD_PERSONAL = {
    "first_name": "Ann",
    "middle_initial": "",
    "last_name": "Lee",
    "dob_day": "27",
    "dob_month": "3",
    "dob_year": "1980",
    "ssn": "123-45-6789",
    "email": "ann@example.com",
    "email_confirm": "ann@example.com",
}
GOOD_PERSONAL_VALUES = PersonalValues(
    first_name="Ann",
    middle_initial="",
    last_name="Lee",
    date_of_birth="1980-03-27",
    ssn="123-45-6789",
    email="ann@example.com",
)


def personal_form(**values: str) -> PersonalForm:
    return PersonalForm(**{**GOOD_PERSONAL, **values})


def personal(
    *, requires_ssn: bool = True, locked_email: str | None = None, **values: str
) -> tuple[PersonalValues, dict[str, str]]:
    return validate_personal(personal_form(**values), requires_ssn=requires_ssn, today=TODAY, locked_email=locked_email)


def test_good_personal_details_pass_as_typed():
    assert personal() == (GOOD_PERSONAL_VALUES, {})


def test_good_personal_details_without_an_ssn():
    values, errors = personal(requires_ssn=False, ssn="not asked for")
    assert errors == {}
    assert values.ssn == ""  # nothing of what was typed is kept


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("first_name", "Enter your first name"),
        ("last_name", "Enter your last name"),
        ("ssn", "Enter your Social Security Number"),
        ("email", "Enter your work email address"),  # and nothing about the confirmation yet
        ("email_confirm", "Enter your work email address again"),
    ],
)
@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_each_required_personal_field_says_what_to_enter(field, message, blank):
    assert personal(**{field: blank})[1] == {field: message}


def test_the_middle_initial_is_optional():
    assert personal(middle_initial="")[1] == {}


@pytest.mark.parametrize(
    "name",
    [
        "Ann",
        "Anne-Marie",
        "O'Brien",
        "O\u2019Brien",  # a typographic apostrophe
        "St. John",
        "Mary Ann",
        "Jos\u00e9",
        "Zo\u00eb",
        "\u0141ukasz",
        "Nguy\u1ec5n",
        "\u674e",
        "A" * 50,
        "\u092a\u094d\u0930\u093f\u092f\u093e",  # Priya in Devanagari: letters and combining vowel signs
    ],
)
@pytest.mark.parametrize("field", ["first_name", "last_name"])
def test_names_of_letters_spaces_hyphens_apostrophes_and_periods_pass(field, name):
    values, errors = personal(**{field: f"  {name} "})
    assert errors == {}
    assert getattr(values, field) == name


@pytest.mark.parametrize(
    "name", ["Ann2", "Ann_Lee", "Ann!", "Ann & Bob", "ann@example", "Ann/Lee", "--", "'", ". .", "42"]
)
@pytest.mark.parametrize(("field", "message"), [("first_name", "First name"), ("last_name", "Last name")])
def test_names_with_other_characters_are_refused(field, message, name):
    assert personal(**{field: name})[1] == {
        field: f"{message} must contain only letters, spaces, hyphens, apostrophes and periods"
    }


@pytest.mark.parametrize(("field", "label"), [("first_name", "Your first name"), ("last_name", "Your last name")])
def test_names_are_at_most_fifty_characters(field, label):
    assert personal(**{field: "A" * 51})[1] == {field: f"{label} must be 50 characters or fewer"}


@pytest.mark.parametrize(("field", "label"), [("first_name", "Your first name"), ("last_name", "Your last name")])
def test_names_must_not_hold_markup(field, label):
    assert personal(**{field: "<b>Ann</b>"})[1] == {field: f"{label} must not contain < or >"}


@pytest.mark.parametrize(
    ("typed", "initial"), [("q", "Q"), ("Q", "Q"), ("Q.", "Q"), (" q. ", "Q"), ("\u00e9", "\u00c9"), (".", "")]
)
def test_a_middle_initial_is_one_letter_kept_in_capitals(typed, initial):
    values, errors = personal(middle_initial=typed)
    assert errors == {}
    assert values.middle_initial == initial


@pytest.mark.parametrize("typed", ["QR", "Quinn", "1", "-", "'", "Q.R.", "\ufb01", "\u00df"])  # ﬁ and ß: two capitals
def test_a_middle_initial_of_anything_else_is_refused(typed):
    assert personal(middle_initial=typed)[1] == {"middle_initial": "Middle initial must be a single letter"}


# -- step 1: the date of birth, a GOV.UK date input --------------------------------------------


def born(typed: str, **kw) -> tuple[PersonalValues, dict[str, str]]:
    """Step 1 with the date of birth typed as "day month year" (a blank part as "_")."""
    day, month, year = (part.replace("_", "") for part in typed.split(" "))
    return personal(dob_day=day, dob_month=month, dob_year=year, **kw)


@pytest.mark.parametrize(
    ("typed", "parsed"),
    [
        ("27 3 1980", "1980-03-27"),
        ("27 03 1980", "1980-03-27"),  # leading zeros
        ("07 3 1980", "1980-03-07"),
        ("007 003 1980", "1980-03-07"),
        ("7 March 1980", "1980-03-07"),  # the month by name, as GOV.UK advises
        ("7 march 1980", "1980-03-07"),
        ("7 MAR 1980", "1980-03-07"),
        ("7 Mar. 1980", "1980-03-07"),
        ("7 sept 1980", "1980-09-07"),
        ("7 Sep 1980", "1980-09-07"),
        ("1 may 1980", "1980-05-01"),
        ("29 2 2000", "2000-02-29"),  # a leap day
        ("1 12 2010", "2010-12-01"),  # 16 today
        ("1 12 1906", "1906-12-01"),  # 120 today
        ("30 11 2010", "2010-11-30"),  # 16 yesterday
        ("2 12 1905", "1905-12-02"),  # 121 tomorrow: 120 today
    ],
)
def test_a_date_of_birth_from_day_month_and_year(typed, parsed):
    values, errors = born(typed)
    assert errors == {}
    assert values.date_of_birth == parsed


def test_the_parts_of_a_date_are_trimmed():
    values, errors = personal(dob_day=" 27 ", dob_month="\t3", dob_year="1980\n")
    assert (values.date_of_birth, errors) == ("1980-03-27", {})


ENTER = "Enter your date of birth"
REAL = "Date of birth must be a real date"
YEAR4 = "Year must include 4 numbers"
PAST = "Date of birth must be in the past"
AGE = "Date of birth must be between 16 and 120 years ago"


@pytest.mark.parametrize(
    ("typed", "message", "in_error"),
    [
        ("_ _ _", ENTER, ("day", "month", "year")),
        ("_ 3 1980", "Date of birth must include a day", ("day",)),
        ("27 _ 1980", "Date of birth must include a month", ("month",)),
        ("27 3 _", "Date of birth must include a year", ("year",)),
        ("_ _ 1980", "Date of birth must include a day and month", ("day", "month")),
        ("_ 3 _", "Date of birth must include a day and year", ("day", "year")),
        ("27 _ _", "Date of birth must include a month and year", ("month", "year")),
        ("32 3 1980", REAL, ("day",)),
        ("0 3 1980", REAL, ("day",)),
        ("x 3 1980", REAL, ("day",)),
        ("2.5 3 1980", REAL, ("day",)),
        ("-1 3 1980", REAL, ("day",)),
        ("100 3 1980", REAL, ("day",)),
        ("27 13 1980", REAL, ("month",)),
        ("27 0 1980", REAL, ("month",)),
        ("27 ma 1980", REAL, ("month",)),  # too short to be a month's name
        ("27 Marchy 1980", REAL, ("month",)),
        ("27 3 19x0", REAL, ("year",)),
        ("27 3 0000", REAL, ("year",)),
        ("40 13 1980", REAL, ("day", "month")),
        ("30 2 1980", REAL, ("day",)),  # February has no 30th
        ("29 2 2001", REAL, ("day",)),  # not a leap year
        ("31 4 1980", REAL, ("day",)),
        ("\uff12\uff17 3 1980", REAL, ("day",)),  # full-width digits
        ("27 3 80", YEAR4, ("year",)),
        ("27 3 980", YEAR4, ("year",)),
        ("27 3 19800", YEAR4, ("year",)),
        ("2 12 2026", PAST, ("day", "month", "year")),  # tomorrow
        ("1 1 2030", PAST, ("day", "month", "year")),
        ("1 12 2026", AGE, ("day", "month", "year")),  # born today
        ("1 1 2011", AGE, ("day", "month", "year")),  # 15
        ("1 12 1905", AGE, ("day", "month", "year")),  # 121
        ("1 1 0001", AGE, ("day", "month", "year")),
        ("2 12 2010", AGE, ("day", "month", "year")),  # 16 tomorrow: 15 today
        ("30 11 1905", AGE, ("day", "month", "year")),  # 121 yesterday
    ],
)
def test_a_refused_date_of_birth_gets_the_gov_uk_message_on_its_first_part_in_error(typed, message, in_error):
    first, *others = in_error
    assert born(typed)[1] == {f"dob_{first}": message, **{f"_dob_{part}": message for part in others}}


@pytest.mark.parametrize(
    ("part", "typed"), [("dob_day", "9" * 10_000), ("dob_month", "<b>3</b>"), ("dob_year", "<script>")]
)
def test_a_date_part_too_long_or_of_markup_is_not_a_real_date(part, typed):
    assert personal(**{part: typed})[1] == {part: REAL}


@pytest.mark.parametrize("ch", INVISIBLE.values(), ids=INVISIBLE.keys())
def test_invisible_characters_in_a_date_part_are_one_message_for_the_date(ch):
    assert personal(dob_month=with_char("3", ch))[1] == {"dob_month": invisible("Date of birth")}
    assert personal(dob_day=with_char("27", ch), dob_year=with_char("1980", ch))[1] == {
        "dob_day": invisible("Date of birth"),
        "_dob_year": invisible("Date of birth"),
    }


def test_parse_date_parts_names_the_date_in_its_messages():
    assert parse_date_parts("", "", "", "Start date") == DateProblem("Enter your start date", ("day", "month", "year"))
    assert parse_date_parts("1", "", "2026", "Start date") == DateProblem("Start date must include a month", ("month",))
    assert parse_date_parts("1", "Dec", "2026", "Start date") == datetime(2026, 12, 1).date()


def test_date_errors_put_the_message_on_the_first_part_and_mark_the_others():
    assert date_errors("dob", DateProblem("m", ("month", "year"))) == {"dob_month": "m", "_dob_year": "m"}


@pytest.mark.parametrize(
    ("stored", "parts"),
    [("1980-03-07", ("7", "3", "1980")), ("2000-12-31", ("31", "12", "2000")), ("", ("", "", "")), ("x", ("", "", ""))],
)
def test_a_stored_date_of_birth_fills_the_date_input_without_leading_zeros(stored, parts):
    assert date_parts(stored) == parts


@pytest.mark.parametrize(
    ("typed", "ssn"),
    [
        ("123-45-6789", "123-45-6789"),
        ("123456789", "123-45-6789"),  # without hyphens
        ("123-456789", "123-45-6789"),
        ("12345-6789", "123-45-6789"),
        (" 123-45-6789 ", "123-45-6789"),
        ("001-01-0001", "001-01-0001"),
        ("665-99-9999", "665-99-9999"),
        ("667-12-3456", "667-12-3456"),
        ("899-12-3456", "899-12-3456"),
    ],
)
def test_a_valid_ssn_is_kept_with_hyphens(typed, ssn):
    assert validate_ssn(typed) == ssn
    values, errors = personal(ssn=typed)
    assert errors == {}
    assert values.ssn == ssn


@pytest.mark.parametrize(
    "typed",
    [
        "000-12-3456",  # area 000
        "000123456",
        "666-12-3456",  # area 666
        "666123456",
        "900-12-3456",  # area 9xx
        "987-65-4321",
        "999999999",
        "123-00-4567",  # group 00
        "123004567",
        "123-45-0000",  # serial 0000
        "123450000",
        "12-345-6789",  # hyphens in the wrong places
        "123 45 6789",
        "123-45-678",  # too short
        "1234567890",  # too long
        "0123-45-6789",
        "abc-de-fghi",
        "\uff11\uff12\uff13-45-6789",  # full-width digits
    ],
)
def test_an_ssn_that_cannot_be_real_is_refused(typed):
    assert validate_ssn(typed) is None
    values, errors = personal(ssn=typed)
    assert errors == {"ssn": "Enter a valid Social Security Number, like 123-45-6789"}
    assert values.ssn == ""


@pytest.mark.parametrize(
    ("typed", "email"),
    [
        ("ann@example.com", "ann@example.com"),
        ("  Ann.Lee@Example.COM ", "ann.lee@example.com"),
        ("ann+iacs@example.org", "ann+iacs@example.org"),
        ("ann@b\u00fccher.de", "ann@b\u00fccher.de"),
    ],
)
def test_an_email_address_is_kept_in_lower_case(typed, email):
    assert normalise_email(typed) == email
    values, errors = personal(email=typed, email_confirm=email.upper())
    assert errors == {}
    assert values.email == email


BAD_FORMAT = "Enter an email address in the correct format, like name@example.com"


@pytest.mark.parametrize(
    "typed",
    [
        "ann",
        "ann@",
        "@example.com",
        "ann@example",  # no top-level domain
        "ann@localhost",
        "ann@example..com",
        "ann@example.com.",
        "ann lee@example.com",
        "Ann <ann@example.com>",
        "ann@" + "a" * 250 + ".com",  # longer than 254 characters
    ],
)
def test_an_email_address_in_another_format_is_refused(typed):
    assert normalise_email(typed[:254]) is None
    values, errors = personal(email=typed, email_confirm=typed)
    assert errors == {"email": BAD_FORMAT}  # and nothing about the confirmation
    assert values.email == typed[:254]


@pytest.mark.parametrize("confirm", ["anne@example.com", "ann@example.org", "not an address"])
def test_the_confirmation_must_be_the_same_address(confirm):
    assert personal(email_confirm=confirm)[1] == {"email_confirm": "The email addresses do not match"}


def test_a_verified_email_address_stays_when_the_field_is_left_blank():
    values, errors = personal(email="", email_confirm="", locked_email="ann@example.com")
    assert errors == {}
    assert values.email == "ann@example.com"


@pytest.mark.parametrize("typed", ["ann@example.com", " ANN@Example.com "])
def test_a_verified_email_address_may_be_typed_again(typed):
    values, errors = personal(email=typed, email_confirm="anything", locked_email="ann@example.com")
    assert errors == {}  # the confirmation is not asked for
    assert values.email == "ann@example.com"


@pytest.mark.parametrize("typed", ["bob@example.com", "ann@example.org", "garbage", "ann@example.com\u200b"])
def test_a_verified_email_address_cannot_change(typed):
    values, errors = personal(email=typed, email_confirm=typed, locked_email="ann@example.com")
    assert errors == {"email": "Your email address is verified and cannot be changed"}
    assert values.email == "ann@example.com"


def test_a_verified_email_address_keeps_the_other_rules():
    assert personal(first_name="", locked_email="ann@example.com")[1] == {"first_name": "Enter your first name"}


PERSONAL_LABELS = [
    ("first_name", "First name"),
    ("middle_initial", "Middle initial"),
    ("last_name", "Last name"),
    ("ssn", "Social Security Number"),
    ("email", "Email address"),
    ("email_confirm", "The confirmed email address"),
]


@pytest.mark.parametrize("ch", INVISIBLE.values(), ids=INVISIBLE.keys())
@pytest.mark.parametrize(("field", "label"), PERSONAL_LABELS)
def test_invisible_characters_in_personal_details_are_refused_by_name(field, label, ch):
    typed = with_char(GOOD_PERSONAL[field] or "Q", ch)
    assert personal(**{field: typed})[1] == {field: invisible(label)}


@pytest.mark.parametrize("ch", ["\t", "\n", "\r"])
def test_tab_and_line_breaks_are_not_invisible_characters(ch):
    assert personal(first_name=f"{ch}Ann{ch}")[1] == {}


# -- step 2: the code -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "code"),
    [
        ("123456", "123456"),
        (" 123456 ", "123456"),
        ("123 456", "123456"),
        ("000042", "000042"),
        ("12\t34 56", "123456"),
    ],
)
def test_a_code_of_six_digits(typed, code):
    assert validate_code(VerifyForm(code=typed)) == (code, {})


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Enter the 6-digit code from the email"),
        ("   ", "Enter the 6-digit code from the email"),
        ("12345", "The code is 6 digits, like 123456"),
        ("1234567", "The code is 6 digits, like 123456"),
        ("12345a", "The code is 6 digits, like 123456"),
        ("123-456", "The code is 6 digits, like 123456"),
        ("\uff11\uff12\uff13\uff14\uff15\uff16", "The code is 6 digits, like 123456"),  # full-width digits
        ("123\u200b456", "The code must not contain invisible or control characters: type it again"),
        ("123456\u202e", "The code must not contain invisible or control characters: type it again"),
    ],
)
def test_anything_else_is_not_a_code(typed, message):
    assert validate_code(VerifyForm(code=typed)) == ("", {"code": message})


# -- step 3: contact details ------------------------------------------------------------------

ROLE_FIELD_KEYS = frozenset(CATALOG.fields)


def roles(application: str) -> dict[str, list[FieldRule]]:
    """The roles of a shipped application with the rules of their fields, as validate_contact takes them."""
    app = next(a for a in CATALOG.applications if a.code == application)
    return {role.code: [field_rule(key) for key in role.fields] for role in app.roles}


def field_rule(key: str) -> FieldRule:
    """A field of the shipped catalog as the forms use it."""
    spec = CATALOG.fields[key]
    return FieldRule(
        key=key,
        label=spec.label,
        pattern=spec.pattern,
        example=spec.example,
        hint=spec.hint,
        format=spec.format,
        sensitive=spec.sensitive,
    )


GOOD_CONTACT = {
    "organization": "Acme Health",
    "address1": "7500 Security Boulevard",
    "address2": "",
    "city": "Baltimore",
    "state": "MD",
    "zip": "21244",
    "phone": "410 786 3000",
    "phone_ext": "",
    "role": "provider-user",
    "npi": "1234567893",
    "tin": "12-3456789",
}
GOOD_CONTACT_VALUES = ContactValues(
    contact=ContactData(
        organization="Acme Health",
        address1="7500 Security Boulevard",
        address2="",
        city="Baltimore",
        state="MD",
        zip="21244",
        phone="(410) 786-3000",
        phone_ext="",
        fields={"npi": "1234567893", "tin": "123456789"},
    ),
    role="provider-user",
)


def contact_form(**values: str) -> ContactForm:
    """A ContactForm of values that pass (a PS&R Provider User), with ``values`` changed. The
    roles' fields are kept apart from the step's own."""
    values = {**GOOD_CONTACT, **values}
    role_fields = {key: values.pop(key) for key in list(values) if key in ROLE_FIELD_KEYS}
    return ContactForm(**values, fields=role_fields)


def contact(application: str = "PSR", **values: str) -> tuple[ContactValues, dict[str, str]]:
    return validate_contact(contact_form(**values), roles=roles(application))


def test_good_contact_details_pass():
    assert contact() == (GOOD_CONTACT_VALUES, {})


@pytest.mark.parametrize(
    ("field", "message"),
    [
        ("organization", "Enter your organization"),
        ("address1", "Enter the first line of your address"),
        ("city", "Enter your city"),
        ("state", "Select your state"),
        ("zip", "Enter your ZIP code"),
        ("phone", "Enter your work phone number"),
        ("role", "Select your role"),
    ],
)
@pytest.mark.parametrize("blank", ["", "  "])
def test_each_required_contact_field_says_what_to_enter(field, message, blank):
    assert contact(**{field: blank})[1] == {field: message}


@pytest.mark.parametrize("field", ["address2", "phone_ext"])
def test_the_second_address_line_and_the_extension_are_optional(field):
    values, errors = contact(**{field: "  "})
    assert errors == {}
    assert getattr(values.contact, field) == ""


@pytest.mark.parametrize(
    ("field", "limit", "label"),
    [
        ("organization", 100, "Your organization"),
        ("address1", 100, "The first line of your address"),
        ("address2", 100, "The second line of your address"),
        ("city", 50, "Your city"),
    ],
)
def test_contact_text_has_a_length_limit(field, limit, label):
    values, errors = contact(**{field: "x" * limit})
    assert errors == {}
    assert getattr(values.contact, field) == "x" * limit
    assert contact(**{field: "x" * (limit + 1)})[1] == {field: f"{label} must be {limit} characters or fewer"}


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("organization", "Your organization"),
        ("address1", "The first line of your address"),
        ("address2", "The second line of your address"),
        ("city", "Your city"),
    ],
)
@pytest.mark.parametrize("typed", ["<script>", "Suite > 4", "a<b"])
def test_contact_text_must_not_hold_markup(field, label, typed):
    assert contact(**{field: typed})[1] == {field: f"{label} must not contain < or >"}


@pytest.mark.parametrize(
    ("typed", "state"), [("MD", "MD"), ("md", "MD"), (" va ", "VA"), ("DC", "DC"), ("PR", "PR"), ("GU", "GU")]
)
def test_a_state_is_a_two_letter_code(typed, state):
    values, errors = contact(state=typed)
    assert errors == {}
    assert values.contact.state == state


@pytest.mark.parametrize("typed", ["Maryland", "XX", "M", "MDX", "UK"])
def test_anything_else_is_not_a_state(typed):
    values, errors = contact(state=typed)
    assert errors == {"state": "Select your state"}
    assert values.contact.state == ""


@pytest.mark.parametrize("typed", ["21244", "21244-1850", " 21244 "])
def test_a_zip_code_of_five_or_five_and_four_digits(typed):
    values, errors = contact(zip=typed)
    assert errors == {}
    assert values.contact.zip == typed.strip()


@pytest.mark.parametrize(
    "typed",
    [
        "2124",
        "212444",
        "21244-185",
        "21244-18500",
        "212441850",
        "21244 1850",
        "2124A",
        "ABCDE",
        "\uff12\uff11\uff12\uff14\uff14",
    ],
)
def test_anything_else_is_not_a_zip_code(typed):
    assert contact(zip=typed)[1] == {"zip": "Enter a ZIP code of 5 digits, or 5 digits, a hyphen and 4 digits"}


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("410 786 3000", "(410) 786-3000"),
        ("(410) 786-3000", "(410) 786-3000"),
        ("410.786.3000", "(410) 786-3000"),
        ("4107863000", "(410) 786-3000"),
        ("+1 410 786 3000", "(410) 786-3000"),
        ("1-410-786-3000", "(410) 786-3000"),
        ("202 555 0143", "(202) 555-0143"),
        ("800 555 0100", "(800) 555-0100"),
        ("410 786 3000 ext. 12", "(410) 786-3000 ext. 12"),
        ("+44 20 7946 0958", "+44 20 7946 0958"),  # international numbers keep their country code
        ("011 44 20 7946 0958", "+44 20 7946 0958"),
        ("+49 30 901820", "+49 30 901820"),
    ],
)
def test_a_phone_number_is_kept_in_a_standard_format(typed, phone):
    values, errors = contact(phone=typed)
    assert errors == {}
    assert values.contact.phone == phone


@pytest.mark.parametrize(
    "typed",
    [
        "786 3000",
        "410 786 300",
        "410 786 30000",
        "12345",
        "phone",
        "1-800-MEDICARE",
        "0044 20 7946 0958",
        "+1 410 786 3000" + "0" * 30,
    ],
)
def test_anything_else_is_not_a_phone_number(typed):
    values, errors = contact(phone=typed)
    assert errors == {"phone": "Enter a work phone number, like 202 555 0143"}
    assert values.contact.phone == typed[:30]


@pytest.mark.parametrize("typed", ["1", "12", "123456", " 42 "])
def test_an_extension_of_up_to_six_digits(typed):
    values, errors = contact(phone_ext=typed)
    assert errors == {}
    assert values.contact.phone_ext == typed.strip()


@pytest.mark.parametrize("typed", ["1234567", "x12", "12 3", "-1", "1.5", "\uff11\uff12"])
def test_anything_else_is_not_an_extension(typed):
    assert contact(phone_ext=typed)[1] == {"phone_ext": "Extension must be up to 6 digits"}


@pytest.mark.parametrize("role", ["plan-user", "PROVIDER-USER", "provider", "administrator"])
def test_a_role_must_be_one_of_the_application(role):
    values, errors = contact(role=role)  # plan-user is an HPMS role; this is PS&R
    assert errors == {"role": "Select your role"}
    assert (values.role, values.contact.fields) == ("", {})


def test_a_role_without_fields_asks_for_none():
    values, errors = contact("HPMS", role="cms-analyst", npi="", tin="")
    assert errors == {}
    assert (values.role, values.contact.fields) == ("cms-analyst", {})


# Values that pass for every field of the roles below.
GOOD_ROLE_VALUES = {
    "provider-user": {"npi": "1234567893", "tin": "12-3456789"},
    "plan-user": {"contract_number": "H1234", "legal_business_name": "Acme"},
    "mco-submitter": {"contract_number": "S0001", "gentran_mailbox": "GM004512"},
    "facility-viewer": {"organization_number": "0012345"},
}

# application, role, field, typed, kept
GOOD_ROLE_FIELDS = [
    ("PSR", "provider-user", "npi", "1234567893", "1234567893"),
    ("PSR", "provider-user", "npi", " 1245319599 ", "1245319599"),
    ("PSR", "provider-user", "tin", "12-3456789", "123456789"),  # the hyphen goes
    ("PSR", "provider-user", "tin", "123456789", "123456789"),
    ("HPMS", "plan-user", "contract_number", "H1234", "H1234"),
    ("HPMS", "plan-user", "contract_number", "h1234", "H1234"),  # kept in capitals
    ("HPMS", "plan-user", "legal_business_name", "Acme Health Services, LLC", "Acme Health Services, LLC"),
    ("HPMS", "plan-user", "legal_business_name", "A&B (East) / O'Neil-Smith", "A&B (East) / O'Neil-Smith"),
    ("MARX", "mco-submitter", "gentran_mailbox", "gm004512", "GM004512"),
    ("EQRS", "facility-viewer", "organization_number", "0012345", "0012345"),
]


@pytest.mark.parametrize(("application", "role", "field", "typed", "kept"), GOOD_ROLE_FIELDS)
def test_a_role_field_that_passes_its_rule(application, role, field, typed, kept):
    form_values = {**{key: "" for key in ROLE_FIELD_KEYS}, **dict(GOOD_ROLE_VALUES[role]), field: typed}
    values, errors = contact(application, role=role, **form_values)
    assert errors == {}
    assert values.contact.fields[field] == kept


TIN = "Tax Identification Number (TIN)"
NPI = "National Provider Identifier (NPI)"


@pytest.mark.parametrize(
    ("application", "role", "field", "typed", "message"),
    [
        ("PSR", "provider-user", "npi", "", f"Enter your {NPI}"),
        ("PSR", "provider-user", "npi", "1234567890", f"Enter a valid {NPI}, like 1234567893"),  # the Luhn check
        ("PSR", "provider-user", "npi", "123456789", f"Enter a valid {NPI}, like 1234567893"),
        ("PSR", "provider-user", "npi", "12345678931", f"Enter a valid {NPI}, like 1234567893"),
        ("PSR", "provider-user", "npi", "123456789X", f"Enter a valid {NPI}, like 1234567893"),
        ("PSR", "provider-user", "tin", "", f"Enter your {TIN}"),
        ("PSR", "provider-user", "tin", "12-345678", f"Enter a valid {TIN}, like 12-3456789"),
        ("PSR", "provider-user", "tin", "123-456789", f"Enter a valid {TIN}, like 12-3456789"),
        ("PSR", "provider-user", "tin", "12 3456789", f"Enter a valid {TIN}, like 12-3456789"),
        ("HPMS", "plan-user", "contract_number", "", "Enter your Contract Number"),
        ("HPMS", "plan-user", "contract_number", "X1234", "Enter a valid Contract Number, like H1234"),
        ("HPMS", "plan-user", "contract_number", "H123", "Enter a valid Contract Number, like H1234"),
        ("HPMS", "plan-user", "legal_business_name", "", "Enter your Legal Business Name"),
        (
            "HPMS",
            "plan-user",
            "legal_business_name",
            "A",
            "Enter a valid Legal Business Name, like Acme Health Services, LLC",
        ),
        (
            "HPMS",
            "plan-user",
            "legal_business_name",
            "Acme; DROP",
            "Enter a valid Legal Business Name, like Acme Health Services, LLC",
        ),
        (
            "HPMS",
            "plan-user",
            "legal_business_name",
            "A" * 121,
            "Enter a valid Legal Business Name, like Acme Health Services, LLC",
        ),
        ("MARX", "mco-submitter", "gentran_mailbox", "", "Enter your Gentran Mailbox"),
        ("MARX", "mco-submitter", "gentran_mailbox", "G004512", "Enter a valid Gentran Mailbox, like GM004512"),
        ("EQRS", "facility-viewer", "organization_number", "12345", "Enter a valid Organization Number, like 0012345"),
    ],
)
def test_a_role_field_that_fails_its_rule_says_how_it_looks(application, role, field, typed, message):
    values, errors = contact(application, role=role, **{**GOOD_ROLE_VALUES[role], field: typed})
    assert errors == {field: message}
    shown_again = typed.upper() if field == "contract_number" else typed
    assert values.contact.fields[field] == shown_again[:120]


def test_only_the_chosen_roles_fields_are_read_and_kept():
    values, errors = contact(
        "PSR",
        role="provider-user",
        legal_business_name="<not read>",
        gentran_mailbox="GM\u200b004512",  # not read, so not refused either
        contract_number="nonsense",
        action="save\u202e",
    )
    assert errors == {}
    assert values.contact.fields == {"npi": "1234567893", "tin": "123456789"}


def test_a_role_field_rule_may_be_any_field_rule():
    rules = {
        "auditor": [
            FieldRule(
                key="npi",
                label="NPI",
                pattern=r"[0-9]{10}",
                example="1234567893",
                hint="",
                format="npi",
                sensitive=False,
            ),
            FieldRule(
                key="organization_number",
                label="Office",
                pattern=r"[A-Z]{3}",
                example="BAL",
                hint="",
                format="text",
                sensitive=False,
            ),
        ]
    }
    form = contact_form(role="auditor", npi="1234567890", organization_number="bal")
    values, errors = validate_contact(form, roles=rules)
    assert errors == {
        "npi": "Enter a valid NPI, like 1234567893",
        "organization_number": "Enter a valid Office, like BAL",
    }
    values, errors = validate_contact(contact_form(role="auditor", organization_number="BAL"), roles=rules)
    assert errors == {}
    assert values.contact.fields == {"npi": "1234567893", "organization_number": "BAL"}


CONTACT_LABELS = [
    ("organization", "Organization"),
    ("address1", "Address line 1"),
    ("address2", "Address line 2"),
    ("city", "City"),
    ("state", "State"),
    ("zip", "ZIP code"),
    ("phone", "Phone number"),
    ("phone_ext", "Extension"),
    ("role", "Role"),
    ("npi", "National Provider Identifier (NPI)"),  # a role field is named by its catalog label
    ("tin", "Tax Identification Number (TIN)"),
]


@pytest.mark.parametrize("ch", INVISIBLE.values(), ids=INVISIBLE.keys())
@pytest.mark.parametrize(("field", "label"), CONTACT_LABELS)
def test_invisible_characters_in_contact_details_are_refused_by_name(field, label, ch):
    typed = with_char(GOOD_CONTACT[field] or "12", ch)
    errors = contact(**{field: typed})[1]
    assert errors == {field: invisible(label)}


# -- step 4: authentication questions ---------------------------------------------------------

GOOD_QUESTIONS = {
    "question_1": "first-car",
    "answer_1": "Ford Escort",
    "question_2": "first-school",
    "answer_2": "Lincoln",
}


def questions_form(**values: str) -> QuestionsForm:
    return QuestionsForm(**{**GOOD_QUESTIONS, **values})


def questions(**values: str) -> tuple[list[tuple[str, str]], dict[str, str]]:
    return validate_questions(questions_form(**values))


def test_two_questions_and_answers_pass():
    assert questions() == ([("first-car", "Ford Escort"), ("first-school", "Lincoln")], {})


def test_a_third_question_may_be_answered():
    chosen, errors = questions(question_3="first-employer", answer_3="  Acme  ")
    assert errors == {}
    assert chosen == [("first-car", "Ford Escort"), ("first-school", "Lincoln"), ("first-employer", "Acme")]


def test_nothing_chosen_asks_for_two_questions_and_answers():
    assert validate_questions(QuestionsForm()) == (
        [],
        {
            "question_1": "Select question 1",
            "answer_1": "Enter your answer to question 1",
            "question_2": "Select question 2",
            "answer_2": "Enter your answer to question 2",
        },
    )


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({"question_1": ""}, {"question_1": "Select question 1"}),
        ({"question_2": "favourite-colour"}, {"question_2": "Select question 2"}),  # not one of ours
        ({"question_2": "First-School"}, {"question_2": "Select question 2"}),
        ({"answer_1": ""}, {"answer_1": "Enter your answer to question 1"}),
        ({"answer_2": "   "}, {"answer_2": "Enter your answer to question 2"}),
        ({"question_2": "first-car"}, {"question_2": "Choose a different question for each answer"}),
        (
            {"question_3": "first-school", "answer_3": "Lincoln"},
            {"question_3": "Choose a different question for each answer"},
        ),
        ({"answer_3": "Lincoln"}, {"question_3": "Select question 3"}),  # an answer without its question
        ({"question_3": "first-employer"}, {"answer_3": "Enter your answer to question 3"}),
    ],
)
def test_each_question_rule_has_its_message(values, errors):
    assert questions(**values)[1] == errors


@pytest.mark.parametrize(("answer", "kept"), [("ab", "ab"), ("a b", "a b"), ("  Elm  ", "Elm"), ("x" * 100, "x" * 100)])
def test_an_answer_is_two_to_a_hundred_characters(answer, kept):
    chosen, errors = questions(answer_2=answer)
    assert errors == {}
    assert chosen[1] == ("first-school", kept)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ("a", "Answers must be at least 2 characters"),
        (" a ", "Answers must be at least 2 characters"),
        ("x" * 101, "Answers must be 100 characters or fewer"),
    ],
)
def test_an_answer_too_short_or_too_long_is_refused(answer, message):
    chosen, errors = questions(answer_2=answer)
    assert errors == {"answer_2": message}
    assert chosen == [("first-car", "Ford Escort")]


@pytest.mark.parametrize("ch", INVISIBLE.values(), ids=INVISIBLE.keys())
@pytest.mark.parametrize(
    ("field", "label"), [("question_1", "Question 1"), ("answer_2", "Answer 2"), ("answer_3", "Answer 3")]
)
def test_invisible_characters_in_questions_are_refused_by_name(field, label, ch):
    values = {"question_3": "first-employer", "answer_3": "Acme"}
    values[field] = with_char({**GOOD_QUESTIONS, **values}[field], ch)
    assert questions(**values)[1] == {field: invisible(label)}
