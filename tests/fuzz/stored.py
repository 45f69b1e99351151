"""The stored-row check: after a run, no row holds what the forms would refuse.

1. Every text value of every table (JSON columns recursed into) is free of characters of the
   Unicode categories Cc (line breaks allowed only in the few multi-line columns: email bodies,
   catalog descriptions), Cf, Cs, Co, Zl, Zp and of noncharacters; and has no ``<`` or ``>``
   in the fields whose form refuses them.
2. Every registration draft's personal and contact information, and every access request, passes
   the forms' own validators again (portal/registration/forms.py), SSN and TIN decrypted first,
   and would be stored exactly as it is.
3. Every account's first and last name passes the name rule, and its email is normalised.

``problems(cipher, since=marks)`` checks only rows with ids above ``marks`` (what a run added)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from typing import Any

from portal.accounts.questions import MIN_QUESTIONS, QUESTIONS, SLOTS
from portal.crypto import FieldCipher
from portal.models.piccolo_app import APP_CONFIG
from portal.models.registration import role_rules
from portal.models.tables import AccessRequest, Account, Application, RegistrationDraft, Role
from portal.registration.forms import (
    ContactForm,
    PersonalForm,
    date_parts,
    normalise_email,
    validate_contact,
    validate_personal,
)

REFUSED_CATEGORIES = {"Cc", "Cf", "Cs", "Co", "Zl", "Zp"}
LINE_BREAKS = {"\n", "\r", "\t"}
# Columns that are multi-line by design (not typed into a form field, or a whole email).
MULTILINE = {
    ("outbox_message", "body"),
    ("application", "description"),
    ("role", "description"),
    ("catalog_field", "hint"),
}
# Where the forms refuse < and > (portal/registration/forms.py ``_text``, the name rule, the
# email and format checks): table -> column -> JSON keys (None: the column itself).
NO_ANGLE_BRACKETS: dict[str, dict[str, tuple[str, ...] | None]] = {
    "registration_draft": {"email": None, "personal": ("*",), "contact": ("*",)},
    "access_request": {
        "email": None,
        "first_name": None,
        "middle_initial": None,
        "last_name": None,
        "organization": None,
        "personal": ("*",),
        "contact": ("*",),
    },
    "account": {"first_name": None, "last_name": None, "email": None},
}
CONTACT_KEYS = ("organization", "address1", "address2", "city", "state", "zip", "phone", "phone_ext")


def _noncharacter(cp: int) -> bool:
    return 0xFDD0 <= cp <= 0xFDEF or (cp & 0xFFFE) == 0xFFFE


def bad_characters(value: str, *, multiline: bool = False) -> list[str]:
    """The refused characters of ``value``, as ``U+XXXX (category)``."""
    found = []
    for ch in value:
        cat = unicodedata.category(ch)
        if (cat in REFUSED_CATEGORIES and not (multiline and ch in LINE_BREAKS)) or _noncharacter(ord(ch)):
            found.append(f"U+{ord(ch):04X} ({cat})")
    return sorted(set(found))


def _walk(value: Any, path: str = ""):
    """(json path, string) for every string inside ``value``, keys included."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            if isinstance(k, str):
                yield f"{path}{{key}}", k
            yield from _walk(v, f"{path}.{k}")
    elif isinstance(value, list | tuple):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else f"{text[:100]}... ({len(str(value))} characters)"


class Checker:
    def __init__(self, cipher: FieldCipher, since: dict[str, int] | None = None) -> None:
        self.cipher = cipher
        self.since = since or {}
        self.problems: list[str] = []
        self.checked: dict[str, int] = {}

    def add(self, table: str, row_id: Any, what: str) -> None:
        self.problems.append(f"{table} #{row_id}: {what}")

    async def rows(self, table) -> list[dict[str, Any]]:
        name = table._meta.tablename
        rows = await table.select().where(table.id > self.since.get(name, 0)).output(load_json=True)
        self.checked[name] = len(rows)
        return rows

    # ---- 1. characters -----------------------------------------------------------------------

    async def characters(self) -> None:
        for table in APP_CONFIG.table_classes:
            name = table._meta.tablename
            angle = NO_ANGLE_BRACKETS.get(name, {})
            for row in await self.rows(table):
                for column, value in row.items():
                    multiline = (name, column) in MULTILINE
                    for path, text in _walk(value):
                        bad = bad_characters(text, multiline=multiline)
                        if bad:
                            self.add(name, row["id"], f"{column}{path} holds {', '.join(bad)}: {_short(text)}")
                        if column in angle and ("<" in text or ">" in text) and not path.endswith("{key}"):
                            self.add(name, row["id"], f"{column}{path} holds < or >: {_short(text)}")

    # ---- 2. the forms' validators ------------------------------------------------------------

    def _decrypt(self, table: str, row_id: Any, value: str, purpose: str) -> str | None:
        try:
            return self.cipher.decrypt(value, purpose)
        except Exception as exc:  # noqa: BLE001 - any failure is a finding
            self.add(table, row_id, f"{purpose} does not decrypt: {type(exc).__name__}")
            return None

    def _personal(
        self, table: str, row_id: Any, names: dict[str, Any], personal: dict[str, Any], email: str, requires_ssn: bool
    ) -> None:
        ssn = ""
        if personal.get("ssn"):
            ssn = self._decrypt(table, row_id, personal["ssn"], "ssn") or ""
        born = str(personal.get("date_of_birth", ""))
        day, month, year = date_parts(born)  # blank unless stored as an ISO date: then refused
        form = PersonalForm(
            first_name=str(names.get("first_name", "")),
            middle_initial=str(names.get("middle_initial", "")),
            last_name=str(names.get("last_name", "")),
            dob_day=day,
            dob_month=month,
            dob_year=year,
            ssn=ssn,
            email=email,
            email_confirm=email,
        )
        today = datetime.now(UTC).date()
        values, errors = validate_personal(form, requires_ssn=requires_ssn, today=today, locked_email=None)
        errors = {field: message for field, message in errors.items() if not field.startswith("_")}
        dob_refused = any(field.startswith("dob_") for field in errors)  # no ISO date to compare
        if errors.get("dob_day", "").startswith("Date of birth must be between"):
            errors.pop("dob_day")  # accepted on another day, out of range today: not a refusal
        for field, message in errors.items():
            typed = born if field.startswith("dob_") else getattr(form, field, "")
            self.add(table, row_id, f"personal {field} {_short(typed)} is refused: {message}")
        for field in ("first_name", "middle_initial", "last_name", "date_of_birth", "email"):
            stored = born if field == "date_of_birth" else getattr(form, field)
            if (
                field not in errors
                and not (field == "date_of_birth" and dob_refused)
                and getattr(values, field) != stored
            ):
                shown = _short(getattr(values, field))
                self.add(table, row_id, f"personal {field} {_short(stored)} would be stored as {shown}")
        if requires_ssn and "ssn" not in errors and values.ssn != ssn:
            self.add(table, row_id, "the SSN would be stored in another form")

    async def _contact(
        self, table: str, row_id: Any, contact: dict[str, Any], application: int, role_code: str
    ) -> None:
        rules = (await role_rules(application)).by_role
        if role_code not in rules:
            self.add(table, row_id, f"role {role_code!r} is not an active role of its application")
            return
        sensitive = {r.key for r in rules[role_code] if r.sensitive}
        fields = dict(contact.get("fields") or {})
        for key in sensitive & set(fields):
            fields[key] = self._decrypt(table, row_id, fields[key], key) or ""
        unknown = set(fields) - {r.key for r in rules[role_code]}
        if unknown:
            self.add(table, row_id, f"contact holds fields its role does not have: {sorted(unknown)}")
        extra = set(contact) - {*CONTACT_KEYS, "fields"}
        if extra:
            self.add(table, row_id, f"contact holds unknown keys: {sorted(extra)}")
        form = ContactForm(
            **{k: str(contact.get(k, "")) for k in CONTACT_KEYS},
            role=role_code,
            fields={k: str(v) for k, v in fields.items()},
        )
        values, errors = validate_contact(form, roles=rules)
        for field, message in errors.items():
            typed = getattr(form, field, None) if field in ContactForm.__struct_fields__ else form.field(field)
            self.add(table, row_id, f"contact {field} {_short(typed)} is refused: {message}")
        for key in CONTACT_KEYS:
            kept = getattr(values.contact, key)
            if key not in errors and kept != contact.get(key, ""):
                self.add(table, row_id, f"contact {key} {_short(contact.get(key))} would be stored as {_short(kept)}")
        for key, value in values.contact.fields.items():
            if key not in errors and value != fields.get(key):
                self.add(
                    table, row_id, f"contact field {key} {_short(fields.get(key))} would be stored as {_short(value)}"
                )

    def _questions(self, table: str, row_id: Any, questions: Any) -> None:
        """An AnswerSet: known distinct keys, two or three, and one argon2id hash over the answers."""
        if not isinstance(questions, dict):
            self.add(table, row_id, f"questions is not an answer set: {_short(questions)}")
            return
        keys = questions.get("keys")
        if (
            not isinstance(keys, list)
            or not MIN_QUESTIONS <= len(keys) <= SLOTS
            or len(set(keys)) != len(keys)
            or not set(keys) <= set(QUESTIONS)
        ):
            self.add(table, row_id, f"questions are not two or three distinct known questions: {_short(keys)}")
        if not str(questions.get("answers_hash", "")).startswith("$argon2id$"):
            self.add(table, row_id, "the answers are not stored as an argon2id hash")

    async def forms(self) -> None:
        apps = {a["id"]: a for a in await Application.select(Application.id, Application.requires_ssn)}
        role_codes = {r["id"]: r["code"] for r in await Role.select(Role.id, Role.code)}
        for row in await self.rows(RegistrationDraft):
            table, rid = "registration_draft", row["id"]
            personal = row.get("personal")
            if personal:
                if not isinstance(personal, dict):
                    self.add(table, rid, f"personal is not an object: {_short(personal)}")
                else:
                    requires_ssn = apps[row["application"]]["requires_ssn"]
                    self._personal(table, rid, personal, personal, row.get("email") or "", requires_ssn)
            contact = row.get("contact")
            if contact:
                if not isinstance(contact, dict) or not row.get("role"):
                    self.add(table, rid, f"contact without a role, or not an object: {_short(contact)}")
                else:
                    await self._contact(table, rid, contact, row["application"], role_codes.get(row["role"], ""))
            if row.get("questions"):
                self._questions(table, rid, row["questions"])
        for row in await self.rows(AccessRequest):
            table, rid = "access_request", row["id"]
            if row.get("account_user_id"):  # a holder's request: the name and email are the account's
                if row.get("personal"):
                    self.add(table, rid, "a holder's request carries personal information")
            else:
                requires_ssn = apps[row["application"]]["requires_ssn"]
                self._personal(table, rid, row, row.get("personal") or {}, row["email"], requires_ssn)
                self._questions(table, rid, row.get("questions"))
            await self._contact(
                table, rid, row.get("contact") or {}, row["application"], role_codes.get(row["role"], "")
            )
            if row["organization"] != (row.get("contact") or {}).get("organization", "")[:100]:
                self.add(table, rid, "organization differs from the contact's")

    # ---- 3. accounts -------------------------------------------------------------------------

    async def accounts(self) -> None:
        for row in await self.rows(Account):
            form = PersonalForm(first_name=row["first_name"], last_name=row["last_name"])
            _, errors = validate_personal(
                form, requires_ssn=False, today=datetime.now(UTC).date(), locked_email=row["email"]
            )
            for field in ("first_name", "last_name"):
                if field in errors:
                    self.add("account", row["id"], f"{field} {_short(row[field])} is refused: {errors[field]}")
            if normalise_email(row["email"]) != row["email"]:
                self.add("account", row["id"], f"email {_short(row['email'])} is not normalised")


async def high_water_marks() -> dict[str, int]:
    """The largest id of every table now: check only what comes after with ``problems``."""
    marks = {}
    for table in APP_CONFIG.table_classes:
        row = await table.select(table.id).order_by(table.id, ascending=False).first()
        marks[table._meta.tablename] = row["id"] if row else 0
    return marks


async def problems(cipher: FieldCipher, *, since: dict[str, int] | None = None) -> tuple[list[str], dict[str, int]]:
    """Every stored row the forms would refuse, and the number of rows checked per table."""
    checker = Checker(cipher, since)
    await checker.characters()
    await checker.forms()
    await checker.accounts()
    return checker.problems, checker.checked
