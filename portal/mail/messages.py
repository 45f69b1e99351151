"""The words of every email the registration journey sends."""

from __future__ import annotations

from datetime import datetime

from portal import timefmt
from portal.clock import now
from portal.mail.outbox import enqueue


async def verification_code(*, to: str, code: str, expires_at: datetime, application: str) -> None:
    await enqueue(
        kind="verification_code",
        to=to,
        subject="Your IACS email verification code",
        body=(
            "You are registering for an IACS User ID"
            f" ({application}).\n\n"
            f"Your verification code is: {code}\n\n"
            "Enter it on the Email Verification page before"
            f" {timefmt.clock(expires_at)} on {timefmt.day(expires_at)} ({timefmt.time_left(expires_at, now())}).\n"
            "If you asked for a new code, only the newest one works.\n\n"
            "If you did not start an IACS registration, ignore this email: nothing happens"
            " without the code.\n"
        ),
    )


async def tracking_number(
    *, to: str, tracking: str, application: str, role: str, due_at: datetime, status_url: str
) -> None:
    await enqueue(
        kind="tracking_number",
        to=to,
        subject=f"IACS registration received: {tracking}",
        body=(
            "We have received your IACS registration request and it is being processed.\n\n"
            f"Registration tracking number: {tracking}\n"
            f"Application: {application}\n"
            f"Role: {role}\n"
            f"Review target date: {timefmt.day(due_at)}\n\n"
            f"Check the status of your request at {status_url} with the tracking number and"
            " this email address.\n\n"
            "Once your request is approved you will receive your IACS User ID and an initial"
            " password in two separate emails.\n"
        ),
    )


async def password_reset(*, to: str, link: str) -> None:
    await enqueue(
        kind="password_reset",
        to=to,
        subject="Reset your IACS password",
        body=(
            "Someone (we hope you) answered your authentication questions and asked to reset the"
            " password of your IACS account.\n\n"
            f"Set a new password here within 30 minutes; the link works once:\n{link}\n\n"
            "If this was not you, ignore this email and tell your organization's security official.\n"
        ),
    )


async def user_id_link(*, to: str, link: str) -> None:
    await enqueue(
        kind="user_id_link",
        to=to,
        subject="See your IACS User ID",
        body=(
            "Someone (we hope you) answered your authentication questions and asked for the User ID"
            " of your IACS account.\n\n"
            f"See it here within 30 minutes; the link works once:\n{link}\n\n"
            "If this was not you, ignore this email and tell your organization's security official.\n"
        ),
    )


# An approver hears of new requests in their queue at most once in this many minutes (see
# approvals.service.tell_approvers).
NOTICE_GAP_MINUTES = 15


async def approval_needed(*, to: str, tracking: str, application: str, level: int, due_at: datetime, url: str) -> None:
    await enqueue(
        kind="approval_needed",
        to=to,
        subject=f"IACS request {tracking} waits for your approval",
        body=(
            f"A request for {application} has reached your approval queue at level {level}.\n\n"
            f"Tracking number: {tracking}\nReview target date: {timefmt.day(due_at)}\n\n"
            f"Decide it here: {url}\n\n"
            f"We email you about new requests at most once every {NOTICE_GAP_MINUTES} minutes, so more may be"
            " waiting: your queue lists every one.\n"
        ),
    )


async def request_progress(*, to: str, tracking: str, application: str, level: int, levels: int) -> None:
    await enqueue(
        kind="request_progress",
        to=to,
        subject=f"IACS request {tracking}: approved at level {level} of {levels}",
        body=(
            f"Your request for {application} (tracking number {tracking}) has been approved at level"
            f" {level} of {levels}. It now waits for the next approver.\n"
        ),
    )


async def request_rejected(*, to: str, tracking: str, application: str, reason: str) -> None:
    await enqueue(
        kind="request_rejected",
        to=to,
        subject=f"IACS request {tracking} was not approved",
        body=(
            f"Your request for {application} (tracking number {tracking}) was not approved.\n\n"
            f"Reason: {reason}\n\n"
            "If you think this is a mistake, contact your organization or CMS contact, who can tell"
            " you what to change before you register again.\n"
        ),
    )


async def user_id_issued(*, to: str, user_id: str, application: str) -> None:
    await enqueue(
        kind="user_id",
        to=to,
        subject="Your IACS User ID",
        body=(
            f"Your request for {application} has been approved and your IACS account has been created.\n\n"
            f"Your IACS User ID is: {user_id}\n\n"
            "Your initial password comes in a separate email, for security.\n"
        ),
    )


async def initial_password_issued(*, to: str, password: str, login_url: str) -> None:
    await enqueue(
        kind="initial_password",
        to=to,
        subject="Your IACS initial password",
        body=(
            "Your IACS account has been created. Your User ID comes in a separate email.\n\n"
            f"Your initial password is: {password}\n\n"
            "How to log in for the first time:\n"
            f"1. Go to {login_url}\n"
            "2. Enter your User ID (from the other email) and this initial password.\n"
            "3. Choose your own password: at least 15 characters, not your name and not a common password.\n\n"
            "This initial password works for 72 hours. After that, use Forgot password on the Log in page.\n"
        ),
    )


async def access_added(*, to: str, application: str, role: str, tracking: str) -> None:
    await enqueue(
        kind="access_added",
        to=to,
        subject=f"IACS: access to {application} approved",
        body=(
            f"Your request {tracking} has been approved: your IACS account can now use {application}"
            f" as {role}.\n\nLog in with your usual User ID and password; it appears in My applications.\n"
        ),
    )


async def overdue_reminder(*, to: str, count: int, url: str) -> None:
    await enqueue(
        kind="overdue_reminder",
        to=to,
        subject=f"IACS: {count} request{'s' if count != 1 else ''} past the review target date",
        body=(
            f"{count} request{'s' if count != 1 else ''} in your IACS approval queue"
            f" {'are' if count != 1 else 'is'} past the review target date.\n\nReview them here: {url}\n"
        ),
    )


_NOT_YOU = "If this was not you, call the IACS help desk at once: someone may know your password.\n"


async def second_factor_changed(*, to: str, what: str, added: bool) -> None:
    """A second factor was added to or removed from the account (never which secret)."""
    verb = "added to" if added else "removed from"
    await enqueue(
        kind="second_factor_changed",
        to=to,
        subject=f"A second factor was {verb.split()[0]} your IACS account",
        body=(
            f"{what} was {verb} your IACS account on {timefmt.day_and_clock(now())}.\n\n"
            "You use it after your password when you log in to IACS.\n\n" + _NOT_YOU
        ),
    )


async def recovery_code_used(*, to: str, left: int) -> None:
    await enqueue(
        kind="recovery_code_used",
        to=to,
        subject="A recovery code was used to log in to your IACS account",
        body=(
            f"One of your recovery codes was used to log in to your IACS account on {timefmt.day_and_clock(now())}."
            f" Each code works once; you have {left} left.\n\n"
            "If you have lost your authenticator app or passkey, log in and set up a new one, then"
            " remove the old one under Two-factor sign-in.\n\n" + _NOT_YOU
        ),
    )


async def recovery_codes_replaced(*, to: str) -> None:
    await enqueue(
        kind="recovery_codes_replaced",
        to=to,
        subject="New IACS recovery codes",
        body=(
            f"A new set of recovery codes was made for your IACS account on {timefmt.day_and_clock(now())}."
            " The codes you had before no longer work.\n\n" + _NOT_YOU
        ),
    )


async def second_factors_reset(*, to: str) -> None:
    await enqueue(
        kind="second_factors_reset",
        to=to,
        subject="The second factors of your IACS account were removed",
        body=(
            "The IACS help desk removed the authenticator apps, passkeys and recovery codes of your"
            f" IACS account on {timefmt.day_and_clock(now())}, as you asked.\n\n"
            "The next time you log in, set up a new second factor.\n\n"
            "If you did not ask the help desk for this, call them at once.\n"
        ),
    )
