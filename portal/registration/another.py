"""Request another application (spec Journey 6): an account holder asks for one more role, in
any application, including more roles of an application they already hold. No new
registration: the request carries the account's name and verified email, and goes through
approval like any other. What the chosen application or role needs that the person never gave
(the SSN of an application that asks for it, the role's fields) is asked on the request form,
checked with registration's own validators and kept encrypted as registration keeps it.

It sits with registration (it files a request as registration does) and uses its filing."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from portal.catalog import FieldRule
from portal.clock import now
from portal.crypto import FieldCipher
from portal.links import Links
from portal.models import accounts as accounts_q
from portal.models import catalog as catalog_q
from portal.models import registration as q
from portal.models.db import UNIQUE_VIOLATIONS, transaction
from portal.models.rows import Application, Filing, RequestPersonal, SignedIn, StatusView
from portal.registration.forms import ContactForm, Errors, check_ssn, validate_contact
from portal.registration.service import TERMS_VERSION, Filed, Outcome, Pending, _details_form, _file_request, _sealed


class RequestForm(ContactForm):
    """The contact details, the role and its fields, and the SSN when it is asked for."""

    ssn: str = ""


class Choice(msgspec.Struct, frozen=True):
    """An application on the list: the roles the holder may ask for, the ones they hold, and
    the tracking number of a request of theirs still waiting (then nothing more can be asked
    for it until that one is decided)."""

    code: str
    name: str
    description: str
    open_roles: list[str]
    held_roles: list[str]
    pending: str


async def choices(holder: SignedIn) -> list[Choice]:
    """Every active application with a role the holder does not hold, in catalog order."""
    held = await accounts_q.held_roles(holder.account_id)
    pending = await accounts_q.pending_by_application(holder.email)
    found = []
    for app in await catalog_q.active_applications():
        open_roles = [r.name for r in app.roles if (app.code, r.code) not in held]
        if open_roles:
            held_names = [r.name for r in app.roles if (app.code, r.code) in held]
            found.append(Choice(app.code, app.name, app.description, open_roles, held_names, pending.get(app.code, "")))
    return found


@dataclass
class RequestView:
    """What the request form of one application shows."""

    form: RequestForm
    errors: Errors
    role_options: list[tuple[str, str]]  # the roles not held yet
    rules: list[FieldRule]  # the chosen role's fields
    asks_ssn: bool  # the application needs an SSN and the person never gave one
    pending: str  # a request of theirs for this application still waiting


async def request_view(
    holder: SignedIn, application: Application, form: RequestForm | None, errors: Errors, *, role: str = ""
) -> RequestView:
    """The form (a new one is filled in from the contact details of the holder's latest
    request; a role's fields are asked again) with the roles they may ask for."""
    if form is None:
        latest = _details_form(await q.latest_contact(holder.email), role, {})
        form = RequestForm(**msgspec.structs.asdict(latest))
    rules = await q.role_rules(application.id)
    held = await accounts_q.held_roles(holder.account_id)
    on_file = await accounts_q.personal_on_file(holder.email) if application.requires_ssn else RequestPersonal()
    pending = await accounts_q.pending_by_application(holder.email)
    return RequestView(
        form=form,
        errors=errors,
        role_options=[(r.code, r.name) for r in rules.roles if (application.code, r.code) not in held],
        rules=rules.of(form.role),
        asks_ssn=application.requires_ssn and not on_file.ssn,
        pending=pending.get(application.code, ""),
    )


async def sent(holder: SignedIn, tracking: str) -> StatusView | None:
    """A request filed with the holder's email address (theirs, or one waiting already)."""
    return await q.request_status(tracking[:40], holder.email)


async def submit(
    holder: SignedIn, application: Application, form: RequestForm, *, cipher: FieldCipher, links: Links, ip: str
) -> Outcome | Filed | Pending:
    """File the request, or say what is wrong with the form, or which request of the same
    application is already waiting (also when two submits race: the unique index decides)."""
    try:
        return await _submit(holder, application, form, cipher=cipher, links=links, ip=ip)
    except UNIQUE_VIOLATIONS:
        pending = await q.pending_request_for(holder.email, application.id)
        if pending:
            return Pending(pending)
        raise


async def _submit(
    holder: SignedIn, application: Application, form: RequestForm, *, cipher: FieldCipher, links: Links, ip: str
) -> Outcome | Filed | Pending:
    rules = await q.role_rules(application.id)
    values, errors = validate_contact(form, roles=rules.by_role)
    on_file = await accounts_q.personal_on_file(holder.email)
    ssn = on_file.ssn  # encrypted; given on an earlier request
    invisible = errors.pop("ssn", "")  # the SSN is read only when it is asked for
    if application.requires_ssn and not ssn:
        typed, message = check_ssn(form.ssn)
        if invisible or message:
            errors["ssn"] = invisible or message
        ssn = cipher.encrypt(typed, "ssn") if typed else ""
    role = rules.role(values.role)
    if role is not None and await accounts_q.has_grant(holder.account_id, application.id, role.id):
        errors["role"] = f"You already have {application.code} as {role.name}"
    if errors or role is None:
        return Outcome(errors=errors)
    at = now()
    async with transaction():
        existing = await q.pending_request_for(holder.email, application.id)
        if existing:
            return Pending(existing)
        personal = RequestPersonal(date_of_birth=on_file.date_of_birth, ssn=ssn if application.requires_ssn else "")
        tracking = await _file_request(
            Filing(
                draft_token="",  # none: a holder's request has no draft
                application=application.id,
                email=holder.email,
                first_name=holder.first_name,
                middle_initial="",
                last_name=holder.last_name,
                personal=personal,
                contact=_sealed(values, rules, cipher),
                questions=[],
                terms_version=TERMS_VERSION,
                terms_accepted_at=at,
                account_user_id=holder.user_id,
            ),
            application,
            role=role,
            at=at,
            links=links,
        )
        await accounts_q.audit(
            "request_submitted", actor=holder.user_id, subject=tracking, ip=ip, application=application.code
        )
    return Filed(tracking)
