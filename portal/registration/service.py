"""The registration journey: each function takes what a step submitted, checks it, and saves
it with the mail it causes in one transaction. No HTTP here; queries live in portal.models."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import msgspec

from portal.approvals.service import notify_new_request
from portal.crypto import FieldCipher, mask
from portal.hashing import code_digest, hash_secret, normalise_answer
from portal.mail import caps, messages
from portal.models import accounts as accounts_q
from portal.models import registration as q
from portal.models.db import UNIQUE_VIOLATIONS, transaction
from portal.registration import verification as v
from portal.registration.forms import (
    ContactForm,
    Errors,
    PersonalForm,
    QuestionsForm,
    VerifyForm,
    validate_code,
    validate_contact,
    validate_personal,
    validate_questions,
)
from portal.registration.questions import MIN_QUESTIONS, QUESTIONS
from portal.registration.tracking import new_tracking_number
from portal.settings import Settings

TERMS_VERSION = "2026-01"


@dataclass
class Outcome:
    """What a step produced: errors to show (the step re-renders) or none (go on), plus
    notices for the next page."""

    errors: Errors = field(default_factory=dict)
    notice: str = ""
    tracking_number: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


def _when(moment: datetime, now: datetime | None = None) -> str:
    """A time to try again: "14:05 UTC", with its day when that is not today."""
    if now is not None and moment.date() != now.date():
        return moment.strftime("%H:%M UTC on %-d %B")
    return moment.strftime("%H:%M UTC")


def _capped(until: datetime, at: datetime) -> str:
    """The per-address cap's message: says when, never whether the address has an account."""
    return (
        "We have sent as many codes to this email address as we can for now. You can ask for a"
        f" code again at {_when(until, at)}."
    )


async def _issue_code(draft: dict[str, Any], settings: Settings, at: datetime, email: str) -> dict[str, Any]:
    """Values that give the draft a new code (voiding the old); queues its email. Call inside
    the transaction that saves them."""
    code = v.new_code()
    digest = code_digest(settings.secret_key, draft["token"], code)
    expires = at + v.CODE_LIFETIME
    sends = v.recent_sends(draft.get("code_sends"), at)
    await messages.verification_code(to=email, code=code, expires_at=expires, application=draft["application_name"])
    return {
        "code_hash": digest,
        "code_expires_at": expires,
        "code_voided": False,
        "code_failures": 0,
        "code_sends": [*sends, {"at": at.isoformat(), "digest": digest}],
    }


async def save_personal(token: str, form: PersonalForm, *, settings: Settings, cipher: FieldCipher) -> Outcome:
    async with transaction():
        draft = await q.get_draft(token, lock=True)
        if draft is None:
            return Outcome(errors={"_draft": "expired"})
        verified = bool(draft.get("email_verified_at"))
        at = q.now()
        stored_ssn = (draft.get("personal") or {}).get("ssn")
        if draft["requires_ssn"] and stored_ssn and not form.ssn.strip():
            form = msgspec.structs.replace(form, ssn=cipher.decrypt(stored_ssn, "ssn"))  # keep the saved one
        values, errors = validate_personal(
            form, requires_ssn=draft["requires_ssn"], today=at.date(), locked_email=draft["email"] if verified else None
        )
        if errors:
            return Outcome(errors=errors)
        personal = {k: values[k] for k in ("first_name", "middle_initial", "last_name", "date_of_birth")}
        if draft["requires_ssn"]:
            personal["ssn"] = cipher.encrypt(values["ssn"], "ssn")
        update: dict[str, Any] = {"personal": personal}
        notice = ""
        if not verified and (values["email"] != draft.get("email") or not draft.get("code_hash")):
            update["email"] = values["email"]
            verdict, when = v.may_send(draft.get("code_sends") or [], at)
            if verdict is v.ResendVerdict.ALLOWED:
                capped_until = await caps.may_email(values["email"], caps.CODES, at)
                if capped_until:
                    return Outcome(errors={"email": _capped(capped_until, at)})
                update |= await _issue_code(draft, settings, at, values["email"])
            else:
                update |= {"code_hash": None, "code_voided": False}
                notice = f"We could not send a code yet: you can ask for a new code at {_when(when)}."
        await q.update_draft(token, update)
    return Outcome(notice=notice)


async def resend_code(token: str, *, settings: Settings) -> Outcome:
    async with transaction():
        draft = await q.get_draft(token, lock=True)
        if draft is None:
            return Outcome(errors={"_draft": "expired"})
        if draft.get("email_verified_at"):
            return Outcome(notice="Your email address is already verified.")
        at = q.now()
        verdict, when = v.may_send(draft.get("code_sends") or [], at)
        if verdict is v.ResendVerdict.TOO_SOON:
            return Outcome(errors={"code": f"You can ask for a new code once a minute: try again at {_when(when)}."})
        if verdict is v.ResendVerdict.HOURLY_LIMIT:
            return Outcome(
                errors={"code": f"You have asked for 5 codes in the last hour. You can ask again at {_when(when)}."}
            )
        capped_until = await caps.may_email(draft["email"], caps.CODES, at)
        if capped_until:
            return Outcome(errors={"code": _capped(capped_until, at)})
        await q.update_draft(token, await _issue_code(draft, settings, at, draft["email"]))
    return Outcome(notice=f"We have sent a new code to {draft['email']}. Only the newest code works.")


async def verify_code(token: str, form: VerifyForm, *, settings: Settings) -> Outcome:
    code, errors = validate_code(form)
    if errors:
        return Outcome(errors=errors)
    async with transaction():
        draft = await q.get_draft(token, lock=True)
        if draft is None:
            return Outcome(errors={"_draft": "expired"})
        if draft.get("email_verified_at"):
            return Outcome()
        at = q.now()
        verdict = v.judge(draft, code_digest(settings.secret_key, token, code), at)
        if verdict is v.CodeVerdict.VERIFIED:
            await q.update_draft(token, {"email_verified_at": at, "code_hash": None, "code_sends": []})
            return Outcome()
        if verdict is v.CodeVerdict.WRONG:
            tries = [*v.recent_wrong_tries(draft.get("code_wrong_tries"), at), at.isoformat()]
            voided = len(tries) >= v.MAX_WRONG_PER_HOUR
            await q.update_draft(
                token,
                {
                    "code_wrong_tries": tries,
                    "code_failures": (draft.get("code_failures") or 0) + 1,
                    "code_voided": voided or draft.get("code_voided"),
                },
            )
            if voided:
                unlock = _when(v.unlock_time(tries, at))
                message = (
                    "That code is not correct, and it was the fifth wrong code in an hour, so the code no"
                    f" longer works. Select Resend code for a new one; you can enter it after {unlock}."
                )
            else:
                left = v.MAX_WRONG_PER_HOUR - len(tries)
                tries_left = f"{left} {'try' if left == 1 else 'tries'} left"
                message = f"That code is not correct. Check the email and try again ({tries_left})."
            return Outcome(errors={"code": message})
    messages_for = {
        v.CodeVerdict.EXPIRED: "This code has expired: codes work for 30 minutes. Select Resend code to get a new one.",
        v.CodeVerdict.VOIDED: "This code no longer works: a newer code was sent, or too many wrong codes were entered."
        " Use the code in the newest email, or select Resend code.",
        v.CodeVerdict.NO_CODE: "There is no code to check yet. Select Resend code to get one.",
        v.CodeVerdict.LOCKED: "Too many wrong codes in the last hour. You can try again at "
        f"{_when(v.unlock_time(draft.get('code_wrong_tries') or [], at))}.",
    }
    return Outcome(errors={"code": messages_for[verdict]})


def _keep_saved_secrets(
    form: ContactForm, draft: dict[str, Any], rules: dict[str, list], cipher: FieldCipher
) -> ContactForm:
    """A sensitive field left blank (the page never shows it) keeps its saved value."""
    saved = ((draft.get("contact") or {}).get("fields")) or {}
    keep = {
        r.key: cipher.decrypt(saved[r.key], r.key)
        for r in rules.get(form.role, [])
        if r.sensitive and saved.get(r.key) and not getattr(form, r.key).strip()
    }
    return msgspec.structs.replace(form, **keep) if keep else form


def _sealed_contact(values: dict[str, Any], rules: dict[str, list], cipher: FieldCipher) -> dict[str, Any]:
    """Validated contact values as stored: the role's sensitive fields (TIN) encrypted."""
    sensitive = {r.key for r in rules[values["role"]] if r.sensitive}
    fields = {k: cipher.encrypt(val, k) if k in sensitive else val for k, val in values["fields"].items()}
    return {**{k: v for k, v in values.items() if k not in {"role", "fields"}}, "fields": fields}


async def save_contact(token: str, form: ContactForm, *, cipher: FieldCipher) -> Outcome:
    draft = await q.get_draft(token)
    if draft is None:
        return Outcome(errors={"_draft": "expired"})
    roles, rules = await q.role_rules(draft["application"])
    form = _keep_saved_secrets(form, draft, rules, cipher)
    values, errors = validate_contact(form, roles=rules)
    if errors:
        return Outcome(errors=errors)
    role_id = next(r["id"] for r in roles if r["code"] == values["role"])
    contact = _sealed_contact(values, rules, cipher)
    await q.update_draft(token, {"contact": contact, "role": role_id})
    return Outcome()


async def save_questions(token: str, form: QuestionsForm) -> Outcome:
    chosen, errors = validate_questions(form)
    if errors:
        return Outcome(errors=errors)
    hashed = [{"question": key, "answer_hash": await hash_secret(normalise_answer(ans))} for key, ans in chosen]
    await q.update_draft(token, {"questions": hashed})
    return Outcome()


# ---- Review and submit -------------------------------------------------------------------


def personal_form_from(draft: dict[str, Any], cipher: FieldCipher, *, reveal: bool = False) -> PersonalForm:
    """The saved step 1 as a form. The SSN is never sent back to the browser (``reveal`` is
    for re-validating on the server); a blank SSN on save keeps the saved one."""
    p = draft.get("personal") or {}
    return PersonalForm(
        first_name=p.get("first_name", ""),
        middle_initial=p.get("middle_initial", ""),
        last_name=p.get("last_name", ""),
        date_of_birth=p.get("date_of_birth", ""),
        ssn=cipher.decrypt(p["ssn"], "ssn") if reveal and p.get("ssn") else "",
        email=draft.get("email") or "",
        email_confirm=draft.get("email") or "",
    )


def contact_form_from(
    draft: dict[str, Any], cipher: FieldCipher, sensitive: set[str], *, reveal: bool = False
) -> ContactForm:
    """The saved step 3 as a form; sensitive fields (TIN) stay blank unless ``reveal``."""
    c = draft.get("contact") or {}
    fields = {
        k: (cipher.decrypt(val, k) if reveal else "") if k in sensitive else val
        for k, val in (c.get("fields") or {}).items()
    }
    return ContactForm(**_contact_details(c), role=draft.get("role_code") or "", **fields)


def _contact_details(contact: dict[str, Any]) -> dict[str, str]:
    """The organization, address and phone of saved contact information, as form values."""
    keys = ("organization", "address1", "address2", "city", "state", "zip", "phone", "phone_ext")
    return {k: contact.get(k, "") for k in keys}


def summary(draft: dict[str, Any], cipher: FieldCipher, rules: dict[str, list]) -> dict[str, Any]:
    """What the Review Details page shows: SSN and TIN masked to the last four."""
    p = draft.get("personal") or {}
    c = draft.get("contact") or {}
    role_code = draft.get("role_code") or ""
    field_rows = []
    for rule in rules.get(role_code, []):
        raw = (c.get("fields") or {}).get(rule.key, "")
        shown = mask(cipher.decrypt(raw, rule.key)) if rule.sensitive and raw else raw
        field_rows.append((rule.label, shown))
    return {
        "name": " ".join(x for x in (p.get("first_name"), p.get("middle_initial"), p.get("last_name")) if x),
        "date_of_birth": p.get("date_of_birth", ""),
        "ssn": mask(cipher.decrypt(p["ssn"], "ssn")) if p.get("ssn") else "",
        "email": draft.get("email") or "",
        "contact": c,
        "role_name": draft.get("role_name") or "",
        "fields": field_rows,
        "questions": [QUESTIONS.get(x["question"], x["question"]) for x in (draft.get("questions") or [])],
    }


async def submit(token: str, *, settings: Settings, cipher: FieldCipher, status_url: str) -> Outcome:
    """Re-validate every step, then in one transaction turn the draft into an access request
    and queue the tracking-number email. A second submit of the same draft returns the same
    tracking number; a pending request for the same email and application is refused, also
    when two drafts race (the unique indexes decide, and the loser is told which one won)."""
    try:
        return await _submit(token, settings=settings, cipher=cipher, status_url=status_url)
    except UNIQUE_VIOLATIONS:
        existing = await q.request_by_draft(token)
        if existing:
            return Outcome(tracking_number=existing)
        draft = await q.get_draft(token)
        pending = await q.pending_request_for(draft["email"], draft["application"]) if draft else None
        if pending:
            return Outcome(errors={"_pending": pending})
        raise


async def _submit(token: str, *, settings: Settings, cipher: FieldCipher, status_url: str) -> Outcome:
    async with transaction():
        draft = await q.get_draft(token, lock=True)
        if draft is None:
            return Outcome(errors={"_draft": "expired"})
        if draft.get("tracking_number"):
            return Outcome(tracking_number=draft["tracking_number"])
        at = q.now()
        roles, rules = await q.role_rules(draft["application"])
        sensitive = {r.key for rs in rules.values() for r in rs if r.sensitive}
        _, e1 = validate_personal(
            personal_form_from(draft, cipher, reveal=True),
            requires_ssn=draft["requires_ssn"],
            today=at.date(),
            locked_email=draft["email"],
        )
        _, e3 = validate_contact(contact_form_from(draft, cipher, sensitive, reveal=True), roles=rules)
        errors = {**e1, **e3}
        if not draft.get("email_verified_at"):
            errors["email"] = "Your email address is not verified"
        if len(draft.get("questions") or []) < MIN_QUESTIONS:
            errors["questions"] = "Answer at least two authentication questions"
        if errors:
            return Outcome(errors=errors)
        existing = await q.pending_request_for(draft["email"], draft["application"])
        if existing:
            return Outcome(errors={"_pending": existing})
        role = next(r for r in roles if r["code"] == draft["role_code"])
        p = draft["personal"]
        tracking = await _file_request(
            {
                "draft_token": token,
                "application": draft["application"],
                "email": draft["email"],
                "first_name": p["first_name"],
                "middle_initial": p.get("middle_initial", ""),
                "last_name": p["last_name"],
                "personal": {k: p[k] for k in p if k not in {"first_name", "middle_initial", "last_name"}},
                "contact": draft["contact"],
                "questions": draft["questions"],
                "terms_version": draft["terms_version"],
                "terms_accepted_at": draft["terms_accepted_at"],
            },
            role=role,
            application_name=draft["application_name"],
            at=at,
            status_url=status_url,
        )
        await q.update_draft(token, {"tracking_number": tracking})
    return Outcome(tracking_number=tracking)


async def submit_for_holder(
    account: dict[str, Any], application: dict[str, Any], form: ContactForm, *, cipher: FieldCipher, status_url: str
) -> Outcome:
    """'Request another application': an account holder asks for one more application and role.
    No new registration: the request carries the account's name and verified email, and goes
    through approval like any other."""
    try:
        return await _submit_for_holder(account, application, form, cipher=cipher, status_url=status_url)
    except UNIQUE_VIOLATIONS:
        pending = await q.pending_request_for(account["email"], application["id"])
        if pending:
            return Outcome(errors={"_pending": pending})
        raise


async def _submit_for_holder(
    account: dict[str, Any], application: dict[str, Any], form: ContactForm, *, cipher: FieldCipher, status_url: str
) -> Outcome:
    roles, rules = await q.role_rules(application["id"])
    values, errors = validate_contact(form, roles=rules)
    if errors:
        return Outcome(errors=errors)
    role = next(r for r in roles if r["code"] == values["role"])
    if await accounts_q.has_grant(account["account_id"], application["id"], role["id"]):
        return Outcome(errors={"role": f"You already have {application['code']} as {role['name']}"})
    contact = _sealed_contact(values, rules, cipher)
    at = q.now()
    async with transaction():
        existing = await q.pending_request_for(account["email"], application["id"])
        if existing:
            return Outcome(errors={"_pending": existing})
        tracking = await _file_request(
            {
                "draft_token": "",  # none: a holder's request has no draft
                "application": application["id"],
                "email": account["email"],
                "first_name": account["first_name"],
                "middle_initial": "",
                "last_name": account["last_name"],
                "personal": {},
                "contact": contact,
                "questions": [],
                "terms_version": TERMS_VERSION,
                "terms_accepted_at": at,
                "account_user_id": account["user_id"],
            },
            role=role,
            application_name=application["name"],
            at=at,
            status_url=status_url,
        )
    return Outcome(tracking_number=tracking)


async def _file_request(
    person: dict[str, Any], *, role: dict[str, Any], application_name: str, at: datetime, status_url: str
) -> str:
    """Inside the caller's transaction: the access request with an unguessable tracking number
    and its due date, the tracking-number email, and the level-1 approvers' notice."""
    tracking = new_tracking_number()
    due = at + timedelta(days=role["review_days"])
    await q.insert_request(
        {
            **person,
            "draft_token": person["draft_token"] or f"holder:{tracking}",
            "tracking_number": tracking,
            "role": role["id"],
            "organization": person["contact"]["organization"][:100],
            "levels": role["approval_levels"],
            "submitted_at": at,
            "due_at": due,
        }
    )
    if await caps.may_email(person["email"], caps.STATUS, at) is None:  # else the page alone shows it
        await messages.tracking_number(
            to=person["email"],
            tracking=tracking,
            application=application_name,
            role=role["name"],
            due_at=due,
            status_url=status_url,
        )
    await notify_new_request(person["application"], tracking, application_name, due, status_url, person["email"])
    return tracking


async def holder_contact_form(email: str, role: str) -> ContactForm:
    """A holder's new request, filled in from the contact details of their latest one."""
    return ContactForm(**_contact_details(await q.latest_contact(email)), role=role)
