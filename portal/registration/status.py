"""Check registration status (spec Journey 3): a tracking number and the email address it was
filed with give the request's state; anything else gives the same "not found"."""

from __future__ import annotations

from dataclasses import dataclass, field

from portal.invisible import invisible_errors
from portal.models import registration as q
from portal.models.rows import StatusView
from portal.registration.forms import LABELS, Errors, StatusForm
from portal.registration.tracking import normalise_tracking_number
from portal.text import normalise_email

NOT_FOUND = (
    "We could not find a registration with that tracking number and email address. Check both"
    " and try again: use the email address you registered with."
)


@dataclass(frozen=True)
class StatusAnswer:
    errors: Errors = field(default_factory=dict)
    result: StatusView | None = None
    not_found: str = ""  # NOT_FOUND when the form was right but no request matched


async def check(form: StatusForm) -> StatusAnswer:
    errors: Errors = {}
    tracking = normalise_tracking_number(form.tracking_number[:40])
    email = normalise_email(form.email[:254]) if form.email.strip() else None
    if not form.tracking_number.strip():
        errors["tracking_number"] = "Enter your registration tracking number"
    elif not tracking:
        errors["tracking_number"] = "Enter the tracking number as it appears in your email, like IACS-7K4M-9QX2-HT3P"
    if not form.email.strip():
        errors["email"] = "Enter the email address you registered with"
    elif email is None:
        errors["email"] = "Enter an email address in the correct format, like name@example.com"
    errors |= invisible_errors(form, LABELS)
    if errors or email is None:
        return StatusAnswer(errors=errors)
    result = await q.request_status(tracking, email)
    return StatusAnswer(result=result, not_found="" if result else NOT_FOUND)


async def answer_again(form: StatusForm | None, errors: Errors) -> StatusAnswer:
    """What the status page shows after a check sent without JavaScript: the messages of a
    refused form, or the answer to the same pair looked up again (nothing without a form)."""
    if form is None:
        return StatusAnswer()
    if errors:
        return StatusAnswer(errors=errors)
    return await check(form)
