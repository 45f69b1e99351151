"""The registration journey: each function takes what a step submitted, checks it, and saves
it with the mail it causes in one transaction; ``step_view`` says what a step's page shows.
No HTTP here; queries live in portal.models. A draft that is gone raises ``DraftGone``."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import msgspec

from portal import metrics, timefmt
from portal.accounts.questions import MIN_QUESTIONS, QUESTIONS, SLOTS
from portal.approvals.service import notify_new_request
from portal.catalog import FieldRule
from portal.clock import now
from portal.crypto import FieldCipher, mask
from portal.errors import DraftGone
from portal.hashing import answers_secret, code_digest, hash_secret
from portal.links import Links
from portal.mail import caps, messages
from portal.models import registration as q
from portal.models.catalog import field_rows
from portal.models.db import UNIQUE_VIOLATIONS, transaction
from portal.models.registration import RoleRules
from portal.models.rows import (
    AnswerSet,
    Application,
    CodeSend,
    ContactData,
    Draft,
    DraftChange,
    Filing,
    NewRequest,
    PersonalData,
    RequestPersonal,
    RoleOption,
    StatusView,
    question_keys,
)
from portal.registration import verification as v
from portal.registration.forms import (
    STATES,
    ContactForm,
    ContactValues,
    Errors,
    PersonalForm,
    QuestionsForm,
    VerifyForm,
    date_parts,
    validate_code,
    validate_contact,
    validate_personal,
    validate_questions,
)
from portal.registration.steps import BY_SLUG, STEPS, Slug, Step
from portal.registration.tracking import new_tracking_number
from portal.settings import Settings

TERMS_VERSION = "2026-01"

StepForm = PersonalForm | VerifyForm | ContactForm | QuestionsForm


@dataclass
class Outcome:
    """What a step produced: errors to show (the step re-renders) or none (go on), plus a
    notice for the next page."""

    errors: Errors = field(default_factory=dict)
    notice: str = ""

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True)
class Filed:
    """The request was filed (now, or by an earlier submit of the same draft)."""

    tracking_number: str


@dataclass(frozen=True)
class Pending:
    """Refused: a request for the same email address and application is already pending."""

    tracking_number: str


def _when(moment: datetime, at: datetime | None = None) -> str:
    """A time to try again, in Eastern time and how long from now: "2:05pm ET (in 1 minute)",
    with its day when that is not today."""
    return timefmt.deadline(moment, at or now())


def _capped(until: datetime, at: datetime) -> str:
    """The per-address cap's message: says when, never whether the address has an account."""
    return (
        "We have sent as many codes to this email address as we can for now. You can ask for a"
        f" code again at {_when(until, at)}."
    )


async def _draft(token: str, *, lock: bool = False) -> Draft:
    draft = await q.get_draft(token, lock=lock)
    if draft is None:
        raise DraftGone()
    return draft


async def _issue_code(draft: Draft, settings: Settings, at: datetime, email: str) -> DraftChange:
    """The change that gives the draft a new code (voiding the old); queues its email. Call
    inside the transaction that saves it."""
    code = v.new_code()
    digest = code_digest(settings.secret_key, draft.token, code)
    expires = at + v.CODE_LIFETIME
    sends = v.recent_sends(draft.code_sends, at)
    await messages.verification_code(to=email, code=code, expires_at=expires, application=draft.application_name)
    return DraftChange(
        code_hash=digest,
        code_expires_at=expires,
        code_voided=False,
        code_failures=0,
        code_sends=[*sends, CodeSend(at=at.isoformat(), digest=digest)],
    )


async def save_personal(token: str, form: PersonalForm, *, settings: Settings, cipher: FieldCipher) -> Outcome:
    async with transaction():
        draft = await _draft(token, lock=True)
        verified = draft.email_verified_at is not None
        at = now()
        stored_ssn = draft.personal.ssn if draft.personal else ""
        if draft.requires_ssn and stored_ssn and not form.ssn.strip():
            form = msgspec.structs.replace(form, ssn=cipher.decrypt(stored_ssn, "ssn"))  # keep the saved one
        values, errors = validate_personal(
            form, requires_ssn=draft.requires_ssn, today=at.date(), locked_email=draft.email if verified else None
        )
        if errors:
            return Outcome(errors=errors)
        change = DraftChange(
            personal=PersonalData(
                first_name=values.first_name,
                middle_initial=values.middle_initial,
                last_name=values.last_name,
                date_of_birth=values.date_of_birth,
                ssn=cipher.encrypt(values.ssn, "ssn") if draft.requires_ssn else "",
            )
        )
        notice = ""
        if not verified and (values.email != draft.email or not draft.code_hash):
            change.email = values.email
            verdict, when = v.may_send(draft.code_sends, at)
            if verdict is v.ResendVerdict.ALLOWED:
                capped_until = await caps.may_email(values.email, caps.CODES, at)
                if capped_until:
                    return Outcome(errors={"email": _capped(capped_until, at)})
                code = await _issue_code(draft, settings, at, values.email)
                change = msgspec.structs.replace(code, personal=change.personal, email=values.email)
            else:
                change.code_hash, change.code_voided = None, False
                notice = f"We could not send a code yet: you can ask for a new code at {_when(when)}."
        await q.update_draft(token, change)
    return Outcome(notice=notice)


async def resend_code(token: str, *, settings: Settings) -> Outcome:
    async with transaction():
        draft = await _draft(token, lock=True)
        if draft.email_verified_at or not draft.email:
            return Outcome(notice="Your email address is already verified.")
        at = now()
        verdict, when = v.may_send(draft.code_sends, at)
        if verdict is v.ResendVerdict.TOO_SOON:
            return Outcome(errors={"code": f"You can ask for a new code once a minute: try again at {_when(when)}."})
        if verdict is v.ResendVerdict.HOURLY_LIMIT:
            return Outcome(
                errors={"code": f"You have asked for 5 codes in the last hour. You can ask again at {_when(when)}."}
            )
        capped_until = await caps.may_email(draft.email, caps.CODES, at)
        if capped_until:
            return Outcome(errors={"code": _capped(capped_until, at)})
        await q.update_draft(token, await _issue_code(draft, settings, at, draft.email))
    return Outcome(notice=f"We have sent a new code to {draft.email}. Only the newest code works.")


_VERDICT_MESSAGES = {
    v.CodeVerdict.EXPIRED: "This code has expired: codes work for 30 minutes. Select Resend code to get a new one.",
    v.CodeVerdict.VOIDED: "This code no longer works: a newer code was sent, or too many wrong codes were entered."
    " Use the code in the newest email, or select Resend code.",
    v.CodeVerdict.NO_CODE: "There is no code to check yet. Select Resend code to get one.",
}


async def verify_code(token: str, form: VerifyForm, *, settings: Settings) -> Outcome:
    code, errors = validate_code(form)
    if errors:
        await _draft(token)  # a draft that is gone says so before the form's message
        return Outcome(errors=errors)
    async with transaction():
        draft = await _draft(token, lock=True)
        if draft.email_verified_at:
            return Outcome()
        at = now()
        verdict = v.judge(draft, code_digest(settings.secret_key, token, code), at)
        if verdict is v.CodeVerdict.VERIFIED:
            await q.update_draft(token, DraftChange(email_verified_at=at, code_hash=None, code_sends=[]))
            return Outcome()
        if verdict is v.CodeVerdict.WRONG:
            tries = [*v.recent_wrong_tries(draft.code_wrong_tries, at), at.isoformat()]
            voided = len(tries) >= v.MAX_WRONG_PER_HOUR
            await q.update_draft(
                token,
                DraftChange(
                    code_wrong_tries=tries,
                    code_failures=draft.code_failures + 1,
                    code_voided=voided or draft.code_voided,
                ),
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
    if verdict is v.CodeVerdict.LOCKED:
        unlock = _when(v.unlock_time(draft.code_wrong_tries, at))
        return Outcome(errors={"code": f"Too many wrong codes in the last hour. You can try again at {unlock}."})
    return Outcome(errors={"code": _VERDICT_MESSAGES[verdict]})


def _keep_saved_secrets(form: ContactForm, draft: Draft, rules: RoleRules, cipher: FieldCipher) -> ContactForm:
    """A sensitive field left blank (the page never shows it) keeps its saved value."""
    saved = draft.contact.fields if draft.contact else {}
    keep = {
        r.key: cipher.decrypt(saved[r.key], r.key)
        for r in rules.of(form.role)
        if r.sensitive and saved.get(r.key) and not form.field(r.key).strip()
    }
    return msgspec.structs.replace(form, fields={**form.fields, **keep}) if keep else form


def _sealed(values: ContactValues, rules: RoleRules, cipher: FieldCipher) -> ContactData:
    """Validated contact values as stored: the role's sensitive fields (TIN) encrypted."""
    sensitive = {r.key for r in rules.of(values.role) if r.sensitive}
    fields = {k: cipher.encrypt(val, k) if k in sensitive else val for k, val in values.contact.fields.items()}
    return msgspec.structs.replace(values.contact, fields=fields)


async def save_contact(token: str, form: ContactForm, *, cipher: FieldCipher) -> Outcome:
    draft = await _draft(token)
    rules = await q.role_rules(draft.application)
    form = _keep_saved_secrets(form, draft, rules, cipher)
    values, errors = validate_contact(form, roles=rules.by_role)
    role = rules.role(values.role)
    if errors or role is None:
        return Outcome(errors=errors)
    await q.update_draft(token, DraftChange(contact=_sealed(values, rules, cipher), role=role.id))
    return Outcome()


async def save_questions(token: str, form: QuestionsForm) -> Outcome:
    await _draft(token)
    chosen, errors = validate_questions(form)
    if errors:
        return Outcome(errors=errors)
    hashed = AnswerSet([key for key, _ in chosen], await hash_secret(answers_secret(chosen)))
    await q.update_draft(token, DraftChange(questions=hashed))
    return Outcome()


def without_secrets(form: StepForm) -> StepForm:
    """The form as it may travel back to its page in the returned-form cookie: a verification
    code and the answers to the authentication questions are never carried (they are typed
    again)."""
    if isinstance(form, VerifyForm):
        return VerifyForm()
    if isinstance(form, QuestionsForm):
        return msgspec.structs.replace(form, answer_1="", answer_2="", answer_3="")
    return form


async def save_step(slug: Slug, token: str, form: StepForm, *, settings: Settings, cipher: FieldCipher) -> Outcome:
    """Save what step ``slug`` submitted (``form`` is that step's form); a saved step is
    counted (portal_registration_steps_total)."""
    if isinstance(form, PersonalForm):
        outcome = await save_personal(token, form, settings=settings, cipher=cipher)
    elif isinstance(form, VerifyForm):
        outcome = await verify_code(token, form, settings=settings)
    elif isinstance(form, ContactForm):
        outcome = await save_contact(token, form, cipher=cipher)
    else:
        outcome = await save_questions(token, form)
    if outcome.ok:
        metrics.registration_step(str(slug))
    return outcome


async def start(application: int) -> str:
    """The terms accepted: a new draft for ``application``; returns its token."""
    token = await q.create_draft(application, TERMS_VERSION)
    metrics.registration_step("terms")
    return token


# ---- What a step's page shows --------------------------------------------------------------


def personal_form_from(draft: Draft, cipher: FieldCipher, *, reveal: bool = False) -> PersonalForm:
    """The saved step 1 as a form. The SSN is never sent back to the browser (``reveal`` is
    for re-validating on the server); a blank SSN on save keeps the saved one."""
    p = draft.personal or PersonalData()
    day, month, year = date_parts(p.date_of_birth)
    return PersonalForm(
        first_name=p.first_name,
        middle_initial=p.middle_initial,
        last_name=p.last_name,
        dob_day=day,
        dob_month=month,
        dob_year=year,
        ssn=cipher.decrypt(p.ssn, "ssn") if reveal and p.ssn else "",
        email=draft.email or "",
        email_confirm=draft.email or "",
    )


def contact_form_from(
    contact: ContactData | None, role: str, cipher: FieldCipher, sensitive: set[str], *, reveal: bool = False
) -> ContactForm:
    """Saved contact information as a form; sensitive fields (TIN) stay blank unless ``reveal``."""
    c = contact or ContactData()
    fields = {k: (cipher.decrypt(val, k) if reveal else "") if k in sensitive else val for k, val in c.fields.items()}
    return _details_form(c, role, fields)


def _details_form(c: ContactData, role: str, fields: dict[str, str]) -> ContactForm:
    """Saved contact details as the form's values (the stored and the posted shape share names)."""
    return ContactForm(**(msgspec.structs.asdict(c) | {"role": role, "fields": fields}))


class Summary(msgspec.Struct, frozen=True):
    """What Review Details shows: SSN and TIN masked to the last four."""

    name: str
    date_of_birth: str
    ssn: str
    email: str
    contact: ContactData
    role_name: str
    fields: list[tuple[str, str]]
    questions: list[str]


def summary(draft: Draft, cipher: FieldCipher, rules: RoleRules) -> Summary:
    p = draft.personal or PersonalData()
    contact = draft.contact or ContactData()
    return Summary(
        name=" ".join(x for x in (p.first_name, p.middle_initial, p.last_name) if x),
        date_of_birth=p.date_of_birth,
        ssn=mask(cipher.decrypt(p.ssn, "ssn")) if p.ssn else "",
        email=draft.email or "",
        contact=contact,
        role_name=draft.role_name or "",
        fields=field_rows(contact, rules.of(draft.role_code or ""), cipher),
        questions=[QUESTIONS.get(k, k) for k in question_keys(draft.questions)],
    )


class StepView(msgspec.Struct, kw_only=True):
    """Everything a step's page (or one section of Review Details) is drawn from."""

    draft: Draft
    step: Step
    form: StepForm | None
    errors: Errors = {}
    notice: str = ""
    from_review: bool = False
    role_options: list[tuple[str, str]] = []
    saved_fields: dict[str, str] = {}
    rules: list[FieldRule] = []
    summary: Summary | None = None
    steps: tuple[Step, ...] = STEPS
    states: dict[str, str] = msgspec.field(default_factory=lambda: STATES)
    questions: dict[str, str] = msgspec.field(default_factory=lambda: QUESTIONS)
    slots: int = SLOTS
    min_questions: int = MIN_QUESTIONS
    code_minutes: int = int(v.CODE_LIFETIME.total_seconds() // 60)
    filed: StatusView | None = None  # the acknowledgement: the request as filed (and emailed)
    now: datetime


async def step_view(
    draft: Draft,
    slug: Slug,
    cipher: FieldCipher,
    *,
    form: StepForm | None = None,
    errors: Errors | None = None,
    role: str = "",
) -> StepView:
    """Step ``slug`` of ``draft``: its saved values as the form (unless ``form`` is the one just
    submitted; ``role`` shows the saved contact details with another role chosen), and for
    Contact Information and Review Details the role's fields."""
    step = BY_SLUG[slug]
    rules = await q.role_rules(draft.application) if slug in {Slug.CONTACT, Slug.REVIEW} else RoleRules([], {})
    if form is None:
        if slug is Slug.PERSONAL:
            form = personal_form_from(draft, cipher)
        elif slug is Slug.CONTACT:
            sensitive = {r.key for r in rules.all_fields if r.sensitive}
            form = contact_form_from(draft.contact, role or draft.role_code or "", cipher, sensitive)
        elif slug is Slug.QUESTIONS:
            form = QuestionsForm()
    role = form.role if isinstance(form, ContactForm) else ""
    return StepView(
        draft=draft,
        step=step,
        form=form,
        errors=errors or {},
        role_options=[(r.code, r.name) for r in rules.roles],
        saved_fields=draft.contact.fields if draft.contact else {},
        rules=rules.of(role) if slug is Slug.CONTACT else [],
        summary=summary(draft, cipher, rules) if slug is Slug.REVIEW else None,
        filed=await filed_request(draft) if slug is Slug.DONE else None,
        now=now(),
    )


async def filed_request(draft: Draft) -> StatusView | None:
    """The request a submitted draft became, as stored: its submission time and the decision
    date the tracking-number email gave (``decision_due``), so the acknowledgement and the email
    always agree."""
    if not draft.tracking_number or not draft.email:
        return None
    return await q.request_status(draft.tracking_number, draft.email)


async def pending_request(draft: Draft) -> str | None:
    """The tracking number of the request already pending for the draft's email address and
    application (which refuses a submit), if there is one."""
    return await q.pending_request_for(draft.email, draft.application) if draft.email else None


def decision_due(submitted_at: datetime, role: RoleOption) -> datetime:
    """When a decision is expected: the role's review target in days after submission."""
    return submitted_at + timedelta(days=role.review_days)


# ---- Submit ----------------------------------------------------------------------------------------


async def submit(token: str, *, settings: Settings, cipher: FieldCipher, links: Links) -> Outcome | Filed | Pending:
    """Re-validate every step, then in one transaction turn the draft into an access request
    and queue the tracking-number email. A second submit of the same draft returns the same
    tracking number; a pending request for the same email and application is refused, also
    when two drafts race (the unique indexes decide, and the loser is told which one won)."""
    try:
        return await _submit(token, cipher=cipher, links=links)
    except UNIQUE_VIOLATIONS:
        existing = await q.request_by_draft(token)
        if existing:
            return Filed(existing)
        draft = await _draft(token)
        pending = await q.pending_request_for(draft.email or "", draft.application)
        if pending:
            return Pending(pending)
        raise


def _draft_errors(draft: Draft, rules: RoleRules, cipher: FieldCipher, today: date) -> Errors:
    """Every step of the draft checked again, as at submit."""
    sensitive = {r.key for r in rules.all_fields if r.sensitive}
    _, e1 = validate_personal(
        personal_form_from(draft, cipher, reveal=True),
        requires_ssn=draft.requires_ssn,
        today=today,
        locked_email=draft.email,
    )
    contact = contact_form_from(draft.contact, draft.role_code or "", cipher, sensitive, reveal=True)
    _, e3 = validate_contact(contact, roles=rules.by_role)
    errors = {**e1, **e3}
    if not draft.email_verified_at:
        errors["email"] = "Your email address is not verified"
    if len(question_keys(draft.questions)) < MIN_QUESTIONS:
        errors["questions"] = "Answer at least two authentication questions"
    return errors


async def _submit(token: str, *, cipher: FieldCipher, links: Links) -> Outcome | Filed | Pending:
    async with transaction():
        draft = await _draft(token, lock=True)
        if draft.tracking_number:
            return Filed(draft.tracking_number)
        at = now()
        rules = await q.role_rules(draft.application)
        errors = _draft_errors(draft, rules, cipher, at.date())
        role = rules.role(draft.role_code or "")
        if errors or role is None or draft.email is None or draft.personal is None or draft.contact is None:
            return Outcome(errors=errors or {"role": "Select your role"})
        existing = await q.pending_request_for(draft.email, draft.application)
        if existing:
            return Pending(existing)
        p = draft.personal
        application = Application(draft.application, draft.application_code, draft.application_name, draft.requires_ssn)
        tracking = await _file_request(
            Filing(
                draft_token=token,
                application=draft.application,
                email=draft.email,
                first_name=p.first_name,
                middle_initial=p.middle_initial,
                last_name=p.last_name,
                personal=RequestPersonal(date_of_birth=p.date_of_birth, ssn=p.ssn),
                contact=draft.contact,
                questions=draft.questions or [],
                terms_version=draft.terms_version,
                terms_accepted_at=draft.terms_accepted_at,
            ),
            application,
            role=role,
            at=at,
            links=links,
        )
        await q.update_draft(token, DraftChange(tracking_number=tracking))
    metrics.registration_step("submitted")
    return Filed(tracking)


async def _file_request(
    filing: Filing, application: Application, *, role: RoleOption, at: datetime, links: Links
) -> str:
    """Inside the caller's transaction: the access request with an unguessable tracking number
    and its due date, the tracking-number email, and the level-1 approvers' notice."""
    tracking = new_tracking_number()
    due = decision_due(at, role)
    await q.insert_request(
        NewRequest(
            **msgspec.structs.asdict(filing) | {"draft_token": filing.draft_token or f"holder:{tracking}"},
            tracking_number=tracking,
            role=role.id,
            levels=role.approval_levels,
            submitted_at=at,
            due_at=due,
            organization=filing.contact.organization[:100],
        )
    )
    if await caps.may_email(filing.email, caps.STATUS, at) is None:  # else the page alone shows it
        await messages.tracking_number(
            to=filing.email,
            tracking=tracking,
            application=application.name,
            role=role.name,
            due_at=due,
            status_url=links.status,
        )
    await notify_new_request(application, tracking, due, filing.email, links)
    return tracking
