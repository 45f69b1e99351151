"""Decisions on access requests, each exactly once, and the account they create.

A decision is a conditional UPDATE on the request's state inside one transaction with
everything it causes: the level change or the final state, the account and grant, the outbox
emails and the audit event. Of any number of simultaneous deciders exactly one changes the
row; the others find it already decided and change nothing, send nothing. A request that is
not the approver's to decide raises ``NotAllowed``, exactly as one that does not exist."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from portal import metrics, timefmt
from portal.accounts import service as accounts
from portal.accounts.questions import QUESTIONS
from portal.clock import now
from portal.crypto import FieldCipher, mask
from portal.errors import NotAllowed
from portal.invisible import has_invisible
from portal.links import Links
from portal.mail import messages, outbox
from portal.models import accounts as accounts_q
from portal.models import approvals as q
from portal.models.approvals import Decider
from portal.models.catalog import field_rows
from portal.models.db import transaction
from portal.models.registration import role_rules
from portal.models.rows import (
    Application,
    AuditEntry,
    ContactData,
    Person,
    QueueRow,
    RequestDetail,
    RequestStatus,
    Right,
    question_keys,
)

MAX_REASON = 500
NOTICE_GAP = timedelta(minutes=messages.NOTICE_GAP_MINUTES)
MAX_BULK = 100
CREATED = "approved, account created"
ADDED = "approved, access added to their account"
REJECTED = "rejected, the applicant has been emailed the reason"
NOT_YOURS = "not a request you may decide"


@dataclass(frozen=True)
class Decision:
    ok: bool
    message: str = ""
    error: str = ""  # a message for the reason field
    outcome: str = ""  # what became of it, in a few words: "approved, waits for level 2"


def _decided_text(row: QueueRow | None) -> str:
    if row is None:
        return "This request no longer exists."
    when = timefmt.day_and_clock(row.decided_at) if row.decided_at else ""
    if row.status is RequestStatus.APPROVED:
        return f"Already approved by {row.decided_by} on {when}."
    if row.status is RequestStatus.REJECTED:
        return f"Already rejected by {row.decided_by} on {when}."
    return f"Already approved at level 1 by {row.level1_by}; it now waits at level {row.level}."


async def _decidable(decider: Decider, tracking: str) -> tuple[RequestDetail, Decision | None]:
    """The request, or why this approver cannot decide it now: already decided (who and when).
    NotAllowed when it is not theirs to decide at all (their own, another application, or both
    levels) or does not exist."""
    decidable = await q.may_decide(decider, tracking)
    row = await q.request_full(tracking)  # read after: as fresh as the answer above
    if row is None:
        raise NotAllowed()
    if decidable:
        return row, None
    if decided_in_their_applications(decider.rights, row):
        return row, Decision(False, _decided_text(row))
    raise NotAllowed()


async def approve(decider: Decider, tracking: str, *, ip: str, links: Links) -> Decision:
    decision = await _approve(decider, tracking, ip=ip, links=links)
    if decision.ok:  # committed: counted (portal_decisions_total)
        metrics.decision("approved" if decision.outcome in {CREATED, ADDED} else "approved_level")
    return decision


async def _approve(decider: Decider, tracking: str, *, ip: str, links: Links) -> Decision:
    row, refusal = await _decidable(decider, tracking)
    if refusal is not None:
        return refusal
    who = decider.user_id
    final = row.level >= row.levels
    # A holder's request ("Request another application") makes no account, so no password.
    initial = accounts.new_initial_password() if final and not row.account_user_id else None
    async with transaction():
        if not final:
            if not await q.advance_level(row.id, from_level=row.level, by=who):
                return Decision(False, _decided_text(await q.request_row(tracking)))
            await accounts_q.audit(
                "request_approved_level", actor=who, subject=tracking, ip=ip, level=row.level, of=row.levels
            )
            next_level = [
                p
                for p in await q.approvers_for(row.application, row.level + 1)
                if p.user_id != who and p.email != row.email
            ]
            await tell_approvers(
                next_level,
                tracking=tracking,
                application=row.application_name,
                level=row.level + 1,
                due_at=row.due_at,
                links=links,
            )
            await messages.request_progress(
                to=row.email,
                tracking=tracking,
                application=row.application_name,
                level=row.level,
                levels=row.levels,
            )
            return Decision(
                True,
                f"Approved at level {row.level}; it moves to level {row.level + 1}.",
                outcome=f"approved, waits for level {row.level + 1}",
            )
        if not await q.finish(row.id, level=row.level, status=RequestStatus.APPROVED, by=who):
            return Decision(False, _decided_text(await q.request_row(tracking)))
        await _provision(row, initial, by=who, ip=ip, links=links)
        await accounts_q.audit("request_approved", actor=who, subject=tracking, ip=ip, level=row.level, of=row.levels)
    if initial is None:
        return Decision(True, "Approved. The access has been added to their account.", outcome=ADDED)
    return Decision(True, "Approved. The account has been provisioned.", outcome=CREATED)


def decided_in_their_applications(rights: list[Right], row: QueueRow) -> bool:
    """Decided (or past level 1) in an application this approver decides: telling them who
    decided it, and when, reveals nothing they could not have seen in their own table."""
    return (row.status is not RequestStatus.PENDING or bool(row.level1_by)) and in_their_applications(rights, row)


def in_their_applications(rights: list[Right], row: QueueRow) -> bool:
    """Whether the request is of an application this approver decides."""
    return any(r.application is None or r.application == row.application for r in rights)


def reason_problem(reason: str, *, many: bool = False) -> str:
    """Why a rejection reason cannot be sent ("" when it can)."""
    if has_invisible(reason):
        return "The reason must not contain invisible or control characters: type it again"
    reason = " ".join(reason.split())
    if not reason:
        return "Enter the reason for rejecting " + ("these requests" if many else "this request")
    if len(reason) > MAX_REASON:
        return f"The reason must be {MAX_REASON} characters or fewer"
    return ""


async def reject(decider: Decider, tracking: str, reason: str, *, ip: str) -> Decision:
    if problem := reason_problem(reason):
        return Decision(False, error=problem)
    reason = " ".join(reason.split())
    row, refusal = await _decidable(decider, tracking)
    if refusal is not None:
        return refusal
    who = decider.user_id
    async with transaction():
        if not await q.finish(row.id, level=row.level, status=RequestStatus.REJECTED, by=who, reason=reason):
            return Decision(False, _decided_text(await q.request_row(tracking)))
        await messages.request_rejected(
            to=row.email, tracking=tracking, application=row.application_name, reason=reason
        )
        await accounts_q.audit("request_rejected", actor=who, subject=tracking, ip=ip, level=row.level)
    metrics.decision("rejected")
    return Decision(True, "Rejected. The applicant has been emailed the reason.", outcome=REJECTED)


async def _provision(
    row: RequestDetail, initial: accounts.InitialPassword | None, *, by: str, ip: str, links: Links
) -> None:
    """Inside the final approval's transaction: the grant, and the account when the applicant
    has none yet, with its two emails (User ID; initial password without the User ID).
    ``initial`` is None exactly for a holder's request ("Request another application")."""
    if initial is None:
        holder = await accounts_q.account_by_user_id(row.account_user_id)
        if holder is None or not await accounts_q.add_grant(holder.id, row.application, row.role, row.id):
            return  # held already (granted by another request meanwhile): nothing new to tell
        await messages.access_added(
            to=holder.email, application=row.application_name, role=row.role_name, tracking=row.tracking_number
        )
        await accounts_q.audit("grant_added", actor=by, subject=holder.user_id, ip=ip, tracking=row.tracking_number)
        return
    account_id, user_id = await accounts.create_account(
        first_name=row.first_name, last_name=row.last_name, email=row.email, initial=initial, questions=row.questions
    )
    await accounts_q.add_grant(account_id, row.application, row.role, row.id)
    await messages.user_id_issued(to=row.email, user_id=user_id, application=row.application_name)
    await messages.initial_password_issued(to=row.email, password=initial.password, login_url=links.login)
    await accounts_q.audit("account_created", actor=by, subject=user_id, ip=ip, tracking=row.tracking_number)


async def notify_new_request(
    application: Application, tracking: str, due_at: datetime, email: str, links: Links
) -> None:
    """Inside the submit transaction: tell the level-1 approvers a request is in their queue."""
    approvers = [p for p in await q.approvers_for(application.id, 1) if p.email != email]
    await tell_approvers(
        approvers, tracking=tracking, application=application.name, level=1, due_at=due_at, links=links
    )


async def tell_approvers(
    approvers: list[Person], *, tracking: str, application: str, level: int, due_at: datetime, links: Links
) -> None:
    """Email ``approvers`` that a request has reached their queue, each at most once in
    NOTICE_GAP: at 15 requests a second (make loadtest) every approver of an application would
    otherwise get 15 emails a second. Their queue lists every request waiting, and the daily
    reminder those past their target date."""
    told = await outbox.emailed_since([p.email for p in approvers], ("approval_needed",), now() - NOTICE_GAP)
    for person in approvers:
        if person.email not in told:
            await messages.approval_needed(
                to=person.email,
                tracking=tracking,
                application=application,
                level=level,
                due_at=due_at,
                url=links.approvals,
            )


async def remind(at: datetime, links: Links) -> int:
    """Email each approver their overdue requests, at most once a (US Eastern) day. Returns emails
    queued."""
    sent = 0
    day = timefmt.local(at).date().isoformat()
    for person in await q.all_approvers():
        rights = await accounts_q.approver_rights(person.id)
        count = await q.overdue_count(Decider(person.user_id, person.email, rights), at)
        if not count:
            continue
        already = [
            e
            for e in await accounts_q.audit_events(subject=person.user_id, action="reminder_sent", limit=5)
            if e.detail.get("day") == day
        ]
        if already:
            continue
        async with transaction():
            await messages.overdue_reminder(to=person.email, count=count, url=links.overdue)
            await accounts_q.audit("reminder_sent", actor="system", subject=person.user_id, day=day, overdue=count)
        sent += 1
    return sent


# ---- Bulk decisions: what will happen, then what happened ----------------------------------------


class Action(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


@dataclass(frozen=True)
class Planned:
    """One selected request on the confirmation step: what deciding it will do, or why it
    cannot be decided (``row`` is None for a request the approver may not see)."""

    tracking: str
    row: q.TableRow | None
    will: str
    decidable: bool


def _will(row: q.TableRow, action: Action) -> str:
    if action is Action.REJECT:
        return "rejected, the applicant is emailed the reason"
    if row.level < row.levels:
        return f"approved, waits for level {row.level + 1}"
    return ADDED if row.account_user_id else CREATED


def selection(trackings: list[str]) -> list[str]:
    """The selected tracking numbers, each once, in the order given, at most MAX_BULK."""
    return list(dict.fromkeys(trackings))[:MAX_BULK]


async def plan(decider: Decider, trackings: list[str], action: Action) -> list[Planned]:
    """What deciding each selected request would do (two queries, whatever the number). A
    request outside the approver's applications reads exactly like one that does not exist."""
    trackings = selection(trackings)
    decidable = await q.decidable_among(decider, trackings)
    rows = {r.tracking_number: r for r in await q.rows_by_tracking(trackings)}
    planned = []
    for tracking in trackings:
        row = rows.get(tracking)
        if tracking in decidable and row is not None:
            planned.append(Planned(tracking, row, _will(row, action), True))
        elif row is not None and decided_in_their_applications(decider.rights, row):
            planned.append(Planned(tracking, row, "cannot be decided: " + _decided_text(row), False))
        else:
            planned.append(Planned(tracking, None, "cannot be decided: " + NOT_YOURS, False))
    return planned


@dataclass(frozen=True)
class Outcome:
    """What became of one request of a bulk decision."""

    tracking: str
    text: str
    ok: bool


@dataclass(frozen=True)
class Notice:
    """The message above the table after a decision: a sentence, and for a bulk decision each
    request and what became of it."""

    text: str
    items: tuple[Outcome, ...] = ()

    @property
    def failed(self) -> bool:
        return any(not o.ok for o in self.items)


def bulk_notice(action: Action, outcomes: list[Outcome]) -> Notice:
    if not outcomes:
        return Notice(f"Select at least one request to {action.value}.")
    done = sum(o.ok for o in outcomes)
    verb = "Approved" if action is Action.APPROVE else "Rejected"
    text = f"{verb} {done} request{'s' if done != 1 else ''}."
    if len(outcomes) - done:
        text += f" {len(outcomes) - done} could not be decided."
    return Notice(text, tuple(outcomes))


async def decide_many(
    decider: Decider, trackings: list[str], action: Action, reason: str, *, ip: str, links: Links
) -> Notice | str:
    """Approve or reject (with one reason for all) each selected request, each its own
    decision, exactly once. Returns what became of each, or the reason's problem (nothing
    decided)."""
    trackings = selection(trackings)
    if action is Action.REJECT and trackings and (problem := reason_problem(reason, many=len(trackings) > 1)):
        return problem
    outcomes = []
    for tracking in trackings:
        try:
            if action is Action.APPROVE:
                decision = await approve(decider, tracking, ip=ip, links=links)
            else:
                decision = await reject(decider, tracking, reason, ip=ip)
        except NotAllowed:
            decision = Decision(False, NOT_YOURS)
        text = decision.outcome if decision.ok else "could not be decided: " + decision.message
        outcomes.append(Outcome(tracking, text, decision.ok))
    return bulk_notice(action, outcomes)


# ---- What an approver sees ---------------------------------------------------------------------


async def row_view(decider: Decider, tracking: str, *, expanded: bool) -> tuple[QueueRow | RequestDetail, bool]:
    """A request this approver may decide, or has seen decided in their applications, and
    whether they may decide it. Both queries whatever the answer, and NotAllowed for a request
    outside their rights and for no request at all: the table is no oracle of tracking numbers."""
    may_decide = await q.may_decide(decider, tracking)
    row = await (q.request_full if expanded else q.request_row)(tracking)
    if row is None or not (may_decide or decided_in_their_applications(decider.rights, row)):
        raise NotAllowed()
    return row, may_decide


@dataclass(frozen=True)
class Details:
    """What an expanded row shows: SSN and TIN masked to the last four, and the audit trail."""

    full: RequestDetail
    contact: ContactData
    fields: list[tuple[str, str]]
    ssn: str
    date_of_birth: str
    questions: list[str]
    audit: list[AuditEntry]


async def details(full: RequestDetail, cipher: FieldCipher) -> Details:
    rules = await role_rules(full.application)
    return Details(
        full=full,
        contact=full.contact,
        fields=field_rows(full.contact, rules.of(full.role_code), cipher),
        ssn=mask(cipher.decrypt(full.personal.ssn, "ssn")) if full.personal.ssn else "",
        date_of_birth=full.personal.date_of_birth,
        questions=[QUESTIONS.get(k, "") for k in question_keys(full.questions)],
        audit=list(reversed(await accounts_q.audit_events(subject=full.tracking_number))),
    )
