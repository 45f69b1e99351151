"""Form structs and their validation: pure functions that return clean values and errors.

Every form field has a default, so a missing field is a validation message, never Litestar's
400. Errors map a field name to the sentence shown next to it and in the error summary.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

import msgspec
import phonenumbers

from portal.accounts.questions import MIN_QUESTIONS, QUESTIONS, SLOTS
from portal.catalog import FieldRule
from portal.invisible import has_invisible, invisible_errors
from portal.models.rows import ContactData
from portal.text import MAX_NAME, clean, normalise_email

# A field name and its message. A key starting with "_" marks one more input in error that the
# error summary does not list (a date's other parts in error: its message is on the first one).
Errors = dict[str, str]

# How each field is named in a message about the field as a whole (invisible characters).
LABELS = {
    "first_name": "First name",
    "middle_initial": "Middle initial",
    "last_name": "Last name",
    "dob": "Date of birth",
    "ssn": "Social Security Number",
    "email": "Email address",
    "email_confirm": "The confirmed email address",
    "code": "The code",
    "organization": "Organization",
    "address1": "Address line 1",
    "address2": "Address line 2",
    "city": "City",
    "state": "State",
    "zip": "ZIP code",
    "phone": "Phone number",
    "phone_ext": "Extension",
    "role": "Role",
    "tracking_number": "Tracking number",
    **{f"question_{i}": f"Question {i}" for i in range(1, 4)},
    **{f"answer_{i}": f"Answer {i}" for i in range(1, 4)},
}


class PersonalForm(msgspec.Struct):
    first_name: str = ""
    middle_initial: str = ""
    last_name: str = ""
    dob_day: str = ""
    dob_month: str = ""
    dob_year: str = ""
    ssn: str = ""
    email: str = ""
    email_confirm: str = ""


class VerifyForm(msgspec.Struct):
    code: str = ""


class ContactForm(msgspec.Struct):
    organization: str = ""
    address1: str = ""
    address2: str = ""
    city: str = ""
    state: str = ""
    zip: str = ""
    phone: str = ""
    phone_ext: str = ""
    role: str = ""
    action: str = ""
    # The application's fields from the catalog, by key (only the chosen role's are read).
    fields: dict[str, str] = {}

    def field(self, key: str) -> str:
        return self.fields.get(key, "")


class QuestionsForm(msgspec.Struct):
    question_1: str = ""
    answer_1: str = ""
    question_2: str = ""
    answer_2: str = ""
    question_3: str = ""
    answer_3: str = ""


class StatusForm(msgspec.Struct):
    tracking_number: str = ""
    email: str = ""


class PersonalValues(msgspec.Struct, frozen=True, kw_only=True):
    """Step 1, checked: trimmed, normalised (the SSN as ###-##-####, the email lower case)."""

    first_name: str
    middle_initial: str
    last_name: str
    date_of_birth: str
    ssn: str
    email: str


class ContactValues(msgspec.Struct, frozen=True):
    """Step 3, checked: the contact details with the role's fields in clear, and the role."""

    contact: ContactData
    role: str


STATES = {
    "AL": "Alabama",
    "AK": "Alaska",
    "AS": "American Samoa",
    "AZ": "Arizona",
    "AR": "Arkansas",
    "CA": "California",
    "CO": "Colorado",
    "CT": "Connecticut",
    "DE": "Delaware",
    "DC": "District of Columbia",
    "FL": "Florida",
    "GA": "Georgia",
    "GU": "Guam",
    "HI": "Hawaii",
    "ID": "Idaho",
    "IL": "Illinois",
    "IN": "Indiana",
    "IA": "Iowa",
    "KS": "Kansas",
    "KY": "Kentucky",
    "LA": "Louisiana",
    "ME": "Maine",
    "MD": "Maryland",
    "MA": "Massachusetts",
    "MI": "Michigan",
    "MN": "Minnesota",
    "MS": "Mississippi",
    "MO": "Missouri",
    "MT": "Montana",
    "NE": "Nebraska",
    "NV": "Nevada",
    "NH": "New Hampshire",
    "NJ": "New Jersey",
    "NM": "New Mexico",
    "NY": "New York",
    "NC": "North Carolina",
    "ND": "North Dakota",
    "MP": "Northern Mariana Islands",
    "OH": "Ohio",
    "OK": "Oklahoma",
    "OR": "Oregon",
    "PA": "Pennsylvania",
    "PR": "Puerto Rico",
    "RI": "Rhode Island",
    "SC": "South Carolina",
    "SD": "South Dakota",
    "TN": "Tennessee",
    "TX": "Texas",
    "UT": "Utah",
    "VT": "Vermont",
    "VI": "U.S. Virgin Islands",
    "VA": "Virginia",
    "WA": "Washington",
    "WV": "West Virginia",
    "WI": "Wisconsin",
    "WY": "Wyoming",
}

_SSN = re.compile(r"^([0-9]{3})-?([0-9]{2})-?([0-9]{4})$")
_ZIP = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")
_CODE = re.compile(r"^[0-9]{6}$")
_DOB = ("dob_day", "dob_month", "dob_year")  # checked as one date input


def _name_ok(value: str) -> bool:
    """Letters (with their combining marks, as Devanagari vowel signs), spaces, ' - . and ’."""
    return all(unicodedata.category(ch)[0] in "LM" or ch in " '-.’" for ch in value) and any(
        unicodedata.category(ch).startswith("L") for ch in value
    )


def _text(errors: Errors, field: str, value: str, label: str, *, max_len: int, required: bool = True) -> str:
    value = clean(value)
    if not value:
        if required:
            errors[field] = f"Enter {label}"
        return ""
    if len(value) > max_len:
        errors[field] = f"{label[0].upper()}{label[1:]} must be {max_len} characters or fewer"
    elif "<" in value or ">" in value:
        errors[field] = f"{label[0].upper()}{label[1:]} must not contain < or >"
    return value


def validate_ssn(value: str) -> str | None:
    """The SSN as ###-##-####, or None when it cannot be a real one (SSA rules)."""
    m = _SSN.match(value.strip())
    if not m:
        return None
    area, group, serial = m.groups()
    if area in {"000", "666"} or area[0] == "9" or group == "00" or serial == "0000":
        return None
    return f"{area}-{group}-{serial}"


def check_ssn(typed: str) -> tuple[str, str]:
    """An SSN as typed: the one to keep (###-##-####) and "", or "" and the message."""
    raw = clean(typed)
    ssn = validate_ssn(raw) if len(raw) <= 11 else None
    if not raw:
        return "", "Enter your Social Security Number"
    if ssn is None:
        return "", "Enter a valid Social Security Number, like 123-45-6789"
    return ssn, ""


DATE_PARTS = ("day", "month", "year")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_PART_MAX = 20  # a part longer than this is not looked at further: it is not a real date
_DAY_OR_MONTH = r"0*[0-9]{1,2}"  # leading zeros are harmless ("07", "007")


class DateProblem(msgspec.Struct, frozen=True):
    """Why a date input's value is refused: the message, and its inputs in error in order
    (the error summary links to the first)."""

    message: str
    parts: tuple[str, ...]


def _month(value: str) -> int | None:
    """A month as 1 to 12, from its number or its English name ("March", "mar", "Sept.")."""
    if re.fullmatch(_DAY_OR_MONTH, value):
        return int(value)
    name = value.rstrip(".").lower()
    if len(name) >= 3:
        for number, month in enumerate(MONTHS, start=1):
            if month.startswith(name):
                return number
    return None


def parse_date_parts(day: str, month: str, year: str, label: str) -> date | DateProblem:
    """A GOV.UK date input's three parts as a date, or what is wrong with them, in GOV.UK's
    words (https://design-system.service.gov.uk/components/date-input/). ``label`` names the
    date in the messages ("Date of birth"). The month may be a number or a name."""
    raw = dict(zip(DATE_PARTS, (day, month, year), strict=True))
    if hidden := tuple(part for part, value in raw.items() if has_invisible(value)):
        return DateProblem(f"{label} must not contain invisible or control characters: type it again", hidden)
    typed = {part: clean(value)[:_PART_MAX] for part, value in raw.items()}
    missing = tuple(part for part, value in typed.items() if not value)
    if len(missing) == len(DATE_PARTS):
        return DateProblem(f"Enter your {label[0].lower()}{label[1:]}", DATE_PARTS)
    if missing:
        return DateProblem(f"{label} must include a {' and '.join(missing)}", missing)
    d = int(typed["day"]) if re.fullmatch(_DAY_OR_MONTH, typed["day"]) else None
    m = _month(typed["month"])
    y = int(typed["year"]) if re.fullmatch(r"[0-9]+", typed["year"]) else None
    checks = (d is not None and 1 <= d <= 31, m is not None and 1 <= m <= 12, y is not None and y > 0)
    wrong = tuple(part for part, ok in zip(DATE_PARTS, checks, strict=True) if not ok)
    if wrong or d is None or m is None or y is None:
        return DateProblem(f"{label} must be a real date", wrong)
    if len(typed["year"]) != 4:
        return DateProblem("Year must include 4 numbers", ("year",))
    try:
        return date(y, m, d)
    except ValueError:  # a day the month does not have (30 February)
        return DateProblem(f"{label} must be a real date", ("day",))


def date_errors(name: str, problem: DateProblem) -> Errors:
    """A date input's problem as errors: the message on its first input in error, the others
    marked (``_`` keys, which the error summary does not list)."""
    first, *others = problem.parts
    return {f"{name}_{first}": problem.message, **{f"_{name}_{part}": problem.message for part in others}}


def date_parts(iso: str) -> tuple[str, str, str]:
    """A stored ISO date (YYYY-MM-DD) as a date input's day, month and year, without leading
    zeros; anything else stays blank."""
    try:
        d = date.fromisoformat(iso)
    except ValueError:
        return "", "", ""
    return str(d.day), str(d.month), str(d.year)


def validate_personal(
    form: PersonalForm, *, requires_ssn: bool, today: date, locked_email: str | None
) -> tuple[PersonalValues, Errors]:
    """Step 1. ``locked_email`` is the verified address, which can no longer change."""
    errors: Errors = {}
    values: dict[str, str] = {"ssn": ""}
    for field, label in (("first_name", "your first name"), ("last_name", "your last name")):
        v = _text(errors, field, form.first_name if field == "first_name" else form.last_name, label, max_len=MAX_NAME)
        if v and field not in errors and not _name_ok(v):
            errors[field] = (
                f"{label[5:].capitalize()} must contain only letters, spaces, hyphens, apostrophes and periods"
            )
        values[field] = v
    # Checked as it is kept, in capitals: one letter whose capital is two ("ﬁ" is "FI") is not an initial.
    mi = clean(form.middle_initial).rstrip(".").upper()
    if mi and (len(mi) != 1 or not unicodedata.category(mi).startswith("L")):
        errors["middle_initial"] = "Middle initial must be a single letter"
    values["middle_initial"] = mi

    dob = parse_date_parts(form.dob_day, form.dob_month, form.dob_year, LABELS["dob"])
    if isinstance(dob, date):
        if dob > today:
            dob = DateProblem(f"{LABELS['dob']} must be in the past", DATE_PARTS)
        elif not 16 <= today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day)) <= 120:
            dob = DateProblem(f"{LABELS['dob']} must be between 16 and 120 years ago", DATE_PARTS)
    if isinstance(dob, DateProblem):
        errors.update(date_errors("dob", dob))
    values["date_of_birth"] = dob.isoformat() if isinstance(dob, date) else ""

    if requires_ssn:
        values["ssn"], message = check_ssn(form.ssn)
        if message:
            errors["ssn"] = message

    if locked_email is not None:
        values["email"] = locked_email
        submitted = clean(form.email)
        if submitted and normalise_email(submitted) != locked_email:
            errors["email"] = "Your email address is verified and cannot be changed"
        invisible = invisible_errors(form, LABELS, skip=("email", "email_confirm", *_DOB))
        return PersonalValues(**values), {**errors, **invisible}

    email = normalise_email(form.email) if len(form.email) <= 254 else None
    if not clean(form.email):
        errors["email"] = "Enter your work email address"
    elif email is None:
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    confirm = normalise_email(form.email_confirm) if len(form.email_confirm) <= 254 else None
    if "email" not in errors:
        if not clean(form.email_confirm):
            errors["email_confirm"] = "Enter your work email address again"
        elif confirm != email:
            errors["email_confirm"] = "The email addresses do not match"
    values["email"] = email or clean(form.email)[:254]
    return PersonalValues(**values), {**errors, **invisible_errors(form, LABELS, skip=_DOB)}


def validate_code(form: VerifyForm) -> tuple[str, Errors]:
    if invisible := invisible_errors(form, LABELS):
        return "", invisible
    code = re.sub(r"\s", "", clean(form.code))
    if not code:
        return "", {"code": "Enter the 6-digit code from the email"}
    if not _CODE.match(code):
        return "", {"code": "The code is 6 digits, like 123456"}
    return code, {}


def validate_field(rule: FieldRule, typed: str) -> tuple[str, str]:
    """One catalog field: the value to keep and "" , or what was typed and the message."""
    kind = rule.kind
    value = kind.prepare(clean(typed))
    if not value:
        return "", f"Enter your {rule.label}"
    if has_invisible(typed):
        return value[:120], f"{rule.label} must not contain invisible or control characters: type it again"
    if len(value) > 120 or not re.fullmatch(rule.pattern, value) or not kind.check(value):
        return value[:120], f"Enter a valid {rule.label}, like {rule.example}"
    return kind.store(value), ""


def validate_contact(form: ContactForm, *, roles: dict[str, list[FieldRule]]) -> tuple[ContactValues, Errors]:
    """Step 3. ``roles`` maps each role code of the application to the rules of its fields."""
    errors: Errors = {}
    v: dict[str, str] = {
        "organization": _text(errors, "organization", form.organization, "your organization", max_len=100),
        "address1": _text(errors, "address1", form.address1, "the first line of your address", max_len=100),
        "address2": _text(
            errors, "address2", form.address2, "the second line of your address", max_len=100, required=False
        ),
        "city": _text(errors, "city", form.city, "your city", max_len=50),
    }
    state = clean(form.state).upper()
    if state not in STATES:
        errors["state"] = "Select your state"
    v["state"] = state if state in STATES else ""
    zip_code = clean(form.zip)
    if not zip_code:
        errors["zip"] = "Enter your ZIP code"
    elif not _ZIP.match(zip_code):
        errors["zip"] = "Enter a ZIP code of 5 digits, or 5 digits, a hyphen and 4 digits"
    v["zip"] = zip_code[:10]

    phone_raw = clean(form.phone)
    v["phone"] = phone_raw[:30]
    if not phone_raw:
        errors["phone"] = "Enter your work phone number"
    else:
        try:
            number = phonenumbers.parse(phone_raw[:30], "US")
            if not phonenumbers.is_valid_number(number):
                raise phonenumbers.NumberParseException(0, "invalid")
            v["phone"] = phonenumbers.format_number(
                number,
                phonenumbers.PhoneNumberFormat.NATIONAL
                if number.country_code == 1
                else phonenumbers.PhoneNumberFormat.INTERNATIONAL,
            )
        except phonenumbers.NumberParseException:
            errors["phone"] = "Enter a work phone number, like 202 555 0143"
    ext = clean(form.phone_ext)
    if ext and not re.fullmatch(r"[0-9]{1,6}", ext):
        errors["phone_ext"] = "Extension must be up to 6 digits"
    v["phone_ext"] = ext[:6]

    role = clean(form.role)
    fields: dict[str, str] = {}
    if role not in roles:
        errors["role"] = "Select your role"
    for rule in roles.get(role, []):  # only the chosen role's fields are read and kept
        fields[rule.key], message = validate_field(rule, form.field(rule.key))
        if message:
            errors[rule.key] = message
    contact = ContactData(**v, fields=fields)
    invisible = invisible_errors(form, LABELS, skip=("action",))
    return ContactValues(contact, role if role in roles else ""), {**errors, **invisible}


def validate_questions(form: QuestionsForm) -> tuple[list[tuple[str, str]], Errors]:
    """Step 4: at least two different questions, each with an answer of 2 to 100 characters."""
    errors: Errors = {}
    chosen: list[tuple[str, str]] = []
    seen: set[str] = set()
    for i in range(1, SLOTS + 1):
        q = clean(getattr(form, f"question_{i}"))
        a = clean(getattr(form, f"answer_{i}"))
        required = i <= MIN_QUESTIONS
        if not q and not a and not required:
            continue
        if q not in QUESTIONS:
            errors[f"question_{i}"] = f"Select question {i}"
        elif q in seen:
            errors[f"question_{i}"] = "Choose a different question for each answer"
        if not a:
            errors[f"answer_{i}"] = f"Enter your answer to question {i}"
        elif len(a) > 100:
            errors[f"answer_{i}"] = "Answers must be 100 characters or fewer"
        elif len(a.replace(" ", "")) < 2:
            errors[f"answer_{i}"] = "Answers must be at least 2 characters"
        if q in QUESTIONS:
            seen.add(q)
        if f"question_{i}" not in errors and f"answer_{i}" not in errors:
            chosen.append((q, a))
    return chosen, {**errors, **invisible_errors(form, LABELS)}
