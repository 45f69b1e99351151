"""Decisions on access requests, each exactly once, and the account they create.

A decision is a conditional UPDATE on the request's state inside one transaction with
everything it causes: the level change or the final state, the account and grant, the outbox
emails and the audit event. Of any number of simultaneous deciders exactly one changes the
row; the others find it already decided and change nothing, send nothing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from portal.accounts import service as accounts
from portal.invisible import has_invisible
from portal.mail import messages
from portal.models import accounts as accounts_q
from portal.models import approvals as q
from portal.models.db import transaction

MAX_REASON = 500


@dataclass
class Decision:
    ok: bool
    message: str = ""
    error: str = ""  # a message for the reason field
    refused: bool = False  # not this approver's to decide


def _decided_text(row: dict[str, Any]) -> str:
    when = row["decided_at"].strftime("%d %b %Y %H:%M UTC") if row.get("decided_at") else ""
    if row["status"] == "approved":
        return f"Already approved by {row['decided_by']} on {when}."
    if row["status"] == "rejected":
        return f"Already rejected by {row['decided_by']} on {when}."
    return f"Already approved at level 1 by {row['level1_by']}; it now waits at level {row['level']}."


async def _decidable(approver: dict[str, Any], rights: list[dict], tracking: str) -> tuple[dict, Decision | None]:
    """The request, or why this approver cannot decide it now: already decided (who and when),
    or not theirs to decide at all (their own, another application, or both levels)."""
    decidable = await q.may_decide(approver, rights, tracking)
    row = await q.request_full(tracking)  # read after: as fresh as the answer above
    if row is None:
        return {}, Decision(False, refused=True)
    if decidable:
        return row, None
    if decided_in_their_applications(rights, row):
        return row, Decision(False, _decided_text(row))
    return row, Decision(False, refused=True)


async def approve(approver: dict[str, Any], rights: list[dict], tracking: str, *, ip: str, settings: Any) -> Decision:
    row, refusal = await _decidable(approver, rights, tracking)
    if refusal is not None:
        return refusal
    who = approver["user_id"]
    final = row["level"] >= row["levels"]
    # A new account's password is hashed before the transaction opens (see new_initial_password);
    # a holder's request ("Request another application") makes no account.
    initial = await accounts.new_initial_password() if final and not row.get("account_user_id") else None
    async with transaction():
        if not final:
            if not await q.advance_level(row["id"], from_level=row["level"], by=who):
                return Decision(False, _decided_text(await q.request_row(tracking)))
            await accounts_q.audit(
                "request_approved_level", actor=who, subject=tracking, ip=ip, level=row["level"], of=row["levels"]
            )
            for person in await q.approvers_for(row["application"], row["level"] + 1):
                if person["user_id"] != who and person["email"] != row["email"]:
                    await messages.approval_needed(
                        to=person["email"],
                        tracking=tracking,
                        application=row["application_name"],
                        level=row["level"] + 1,
                        due_at=row["due_at"],
                        url=settings.base_url + "/approvals",
                    )
            await messages.request_progress(
                to=row["email"],
                tracking=tracking,
                application=row["application_name"],
                level=row["level"],
                levels=row["levels"],
            )
            return Decision(True, f"Approved at level {row['level']}; it moves to level {row['level'] + 1}.")
        if not await q.finish(row["id"], level=row["level"], status="approved", by=who):
            return Decision(False, _decided_text(await q.request_row(tracking)))
        await _provision(row, initial, by=who, ip=ip, settings=settings)
        await accounts_q.audit(
            "request_approved", actor=who, subject=tracking, ip=ip, level=row["level"], of=row["levels"]
        )
    return Decision(True, "Approved. The account has been provisioned.")


def decided_in_their_applications(rights: list[dict], row: dict) -> bool:
    """Decided (or past level 1) in an application this approver decides: telling them who
    decided it, and when, reveals nothing they could not have seen in their own table."""
    return (row["status"] != "pending" or bool(row["level1_by"])) and in_their_applications(rights, row)


def in_their_applications(rights: list[dict], row: dict) -> bool:
    """Whether the request is of an application this approver decides."""
    return any(r["application"] is None or r["application"] == row["application"] for r in rights)


async def reject(approver: dict[str, Any], rights: list[dict], tracking: str, reason: str, *, ip: str) -> Decision:
    if has_invisible(reason):
        return Decision(False, error="The reason must not contain invisible or control characters: type it again")
    reason = " ".join(reason.split())
    if not reason:
        return Decision(False, error="Enter the reason for rejecting this request")
    if len(reason) > MAX_REASON:
        return Decision(False, error=f"The reason must be {MAX_REASON} characters or fewer")
    row, refusal = await _decidable(approver, rights, tracking)
    if refusal is not None:
        return refusal
    who = approver["user_id"]
    async with transaction():
        if not await q.finish(row["id"], level=row["level"], status="rejected", by=who, reason=reason):
            return Decision(False, _decided_text(await q.request_row(tracking)))
        await messages.request_rejected(
            to=row["email"], tracking=tracking, application=row["application_name"], reason=reason
        )
        await accounts_q.audit("request_rejected", actor=who, subject=tracking, ip=ip, level=row["level"])
    return Decision(True, "Rejected. The applicant has been emailed the reason.")


async def _provision(
    row: dict[str, Any], initial: accounts.InitialPassword | None, *, by: str, ip: str, settings: Any
) -> None:
    """Inside the final approval's transaction: the grant, and the account when the applicant
    has none yet, with its two emails (User ID; initial password without the User ID).
    ``initial`` is None exactly for a holder's request ("Request another application")."""
    if initial is None:
        holder = await accounts_q.account_by_user_id(row["account_user_id"])
        if not await accounts_q.add_grant(holder["id"], row["application"], row["role"], row["id"]):
            return  # held already (granted by another request meanwhile): nothing new to tell
        await messages.access_added(
            to=holder["email"],
            application=row["application_name"],
            role=row["role_name"],
            tracking=row["tracking_number"],
        )
        await accounts_q.audit(
            "grant_added", actor=by, subject=holder["user_id"], ip=ip, tracking=row["tracking_number"]
        )
        return
    account_id, user_id = await accounts.create_account(
        first_name=row["first_name"],
        last_name=row["last_name"],
        email=row["email"],
        initial=initial,
        questions=row["questions"],
    )
    await accounts_q.add_grant(account_id, row["application"], row["role"], row["id"])
    await messages.user_id_issued(to=row["email"], user_id=user_id, application=row["application_name"])
    await messages.initial_password_issued(
        to=row["email"], password=initial.password, login_url=settings.base_url + "/login"
    )
    await accounts_q.audit("account_created", actor=by, subject=user_id, ip=ip, tracking=row["tracking_number"])


async def notify_new_request(
    application_id: int, tracking: str, application: str, due_at: datetime, status_url: str, email: str
) -> None:
    """Inside the submit transaction: tell the level-1 approvers a request is in their queue."""
    approvals_url = status_url.rsplit("/status", 1)[0] + "/approvals"
    for person in await q.approvers_for(application_id, 1):
        if person["email"] != email:
            await messages.approval_needed(
                to=person["email"],
                tracking=tracking,
                application=application,
                level=1,
                due_at=due_at,
                url=approvals_url,
            )


async def remind(at: datetime, base_url: str) -> int:
    """Email each approver their overdue requests, at most once a day. Returns emails queued."""
    sent = 0
    day = at.date().isoformat()
    for person in await q.all_approvers():
        rights = await accounts_q.approver_rights(person["id"])
        count = await q.overdue_count(person, rights, at)
        if not count:
            continue
        already = [
            e
            for e in await accounts_q.audit_events(subject=person["user_id"], action="reminder_sent", limit=5)
            if (e["detail"] or {}).get("day") == day
        ]
        if already:
            continue
        async with transaction():
            await messages.overdue_reminder(to=person["email"], count=count, url=base_url + "/approvals?overdue=1")
            await accounts_q.audit("reminder_sent", actor="system", subject=person["user_id"], day=day, overdue=count)
        sent += 1
    return sent
