"""The words of every email the registration journey sends."""

from __future__ import annotations

from datetime import datetime

from portal.mail.outbox import enqueue


def _when(at: datetime) -> str:
    return at.strftime("%H:%M UTC on %d %B %Y")


async def verification_code(*, to: str, code: str, expires_at: datetime, application: str) -> None:
    await enqueue(
        kind="verification_code",
        to=to,
        subject="Your IACS email verification code",
        body=(
            "You are registering for an IACS User ID"
            f" ({application}).\n\n"
            f"Your verification code is: {code}\n\n"
            f"Enter it on the Email Verification page before {_when(expires_at)} (30 minutes).\n"
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
            f"Review target date: {due_at.strftime('%d %B %Y')}\n\n"
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


async def user_id_reminder(*, to: str, user_id: str) -> None:
    await enqueue(
        kind="user_id_reminder",
        to=to,
        subject="Your IACS User ID",
        body=(
            "You asked for a reminder of your IACS User ID.\n\n"
            f"Your User ID is: {user_id}\n\n"
            "If this was not you, ignore this email and tell your organization's security official.\n"
        ),
    )
