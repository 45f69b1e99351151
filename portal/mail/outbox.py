"""The outbox: every email is a row written in the same transaction as the change that causes
it; the mail worker (portal/mail/worker.py) delivers the rows over SMTP.

Rows move through three states, all decided by columns of ``OutboxMessage``:
pending (``sent_at`` NULL, ``claimed_until`` NULL or past), claimed by one worker
(``claimed_until`` in the future), and sent (``sent_at`` set; never sent again).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from piccolo.query.functions.aggregate import Count, Min

from portal.clock import now
from portal.logs import current_request_id
from portal.models.db import as_structs, current_engine
from portal.models.tables import OutboxMessage

MESSAGE_ID_DOMAIN = "iacs.portal"
MAX_ERROR_LENGTH = 300


class OutboxError(Exception):
    """An email could not be queued (outside a transaction, or a field it cannot carry)."""


def new_message_id() -> str:
    return f"<{uuid.uuid4().hex}@{MESSAGE_ID_DOMAIN}>"


def _header_value(name: str, value: str, max_length: int) -> str:
    if not value or "\r" in value or "\n" in value:
        raise OutboxError(f"{name} must be one non-empty line")
    if len(value) > max_length:
        raise OutboxError(f"{name} is longer than {max_length} characters")
    return value


async def enqueue(*, kind: str, to: str, subject: str, body: str) -> None:
    """Queue one email. Call it inside ``async with transaction():`` together with the change
    that causes the email, so both are committed or neither is. It refuses to run outside a
    transaction rather than open one of its own. The row keeps the current request's id, so the
    mail worker's log lines about it can be joined to the request's."""
    if not current_engine().transaction_exists():
        raise OutboxError("enqueue must run inside transaction(), with the change that causes the email")
    at = now()
    await OutboxMessage.insert(
        OutboxMessage(
            kind=_header_value("kind", kind, 40),
            to_address=_header_value("to", to, 254),
            subject=_header_value("subject", subject, 200),
            body=body,
            message_id=new_message_id(),
            created_at=at,
            attempts=0,
            next_attempt_at=at,
            claimed_until=None,
            sent_at=None,
            last_error="",
            request_id=current_request_id(),
        )
    )


def _claimable(at: datetime) -> Any:
    return (
        OutboxMessage.sent_at.is_null()
        & (OutboxMessage.next_attempt_at <= at)
        & (OutboxMessage.claimed_until.is_null() | (OutboxMessage.claimed_until < at))
    )


class Claimed(msgspec.Struct, frozen=True):
    """A message claimed for delivery."""

    id: int
    kind: str
    to_address: str
    subject: str
    body: str
    message_id: str
    attempts: int
    request_id: str = ""


# Emails someone is waiting for on a page right now ("Check your email"): claimed before any
# other due message, so a verification code never queues behind approvers' notices.
WAITED_FOR = ("verification_code", "password_reset", "user_id_link")


async def _due_ids(at: datetime, batch: int, waited_for: bool) -> list[int]:
    kinds = list(WAITED_FOR)
    rows = await (
        OutboxMessage.select(OutboxMessage.id)
        .where(_claimable(at) & (OutboxMessage.kind.is_in(kinds) if waited_for else OutboxMessage.kind.not_in(kinds)))
        .order_by(OutboxMessage.next_attempt_at)
        .order_by(OutboxMessage.id)
        .limit(batch)
    )
    return [row["id"] for row in rows]


async def claim_due(*, batch: int, lease: timedelta) -> list[Claimed]:
    """Claim up to ``batch`` due, unsent messages for ``lease`` and return them: the ones someone
    is waiting for first (WAITED_FOR), then the others, oldest due first. The claim is one
    conditional UPDATE that repeats the "due and unclaimed" test, so when two workers race for a
    row only one UPDATE matches it: the other gets nothing back."""
    at = now()
    ids = await _due_ids(at, batch, waited_for=True)
    if len(ids) < batch:
        ids += await _due_ids(at, batch - len(ids), waited_for=False)
    if not ids:
        return []
    claimed = await (
        OutboxMessage.update({OutboxMessage.claimed_until: at + lease})
        .where(OutboxMessage.id.is_in(ids) & _claimable(at))
        .returning(
            OutboxMessage.id,
            OutboxMessage.kind,
            OutboxMessage.to_address,
            OutboxMessage.subject,
            OutboxMessage.body,
            OutboxMessage.message_id,
            OutboxMessage.attempts,
            OutboxMessage.request_id,
        )
    )
    return as_structs(Claimed, sorted(claimed, key=lambda row: ids.index(row["id"])))


async def renew_claims(ids: list[int], *, lease: timedelta) -> set[int]:
    """Extend the claim on the messages ``ids`` that are still claimed and unsent (a worker
    part-way through a slow batch): which ones it still holds."""
    if not ids:
        return set()
    at = now()
    renewed = await (
        OutboxMessage.update({OutboxMessage.claimed_until: at + lease})
        .where(OutboxMessage.id.is_in(ids) & OutboxMessage.sent_at.is_null() & (OutboxMessage.claimed_until > at))
        .returning(OutboxMessage.id)
    )
    return {row["id"] for row in renewed}


# Emails that carry a secret (a code, an initial password, a recovery link): once delivered, the
# database keeps only that they were sent, never what they said.
SECRET_KINDS = ("verification_code", "initial_password", "password_reset", "user_id_link")
REMOVED = "[removed after delivery: this email carried a secret]"


async def mark_sent(message_id: int) -> None:
    """Record a delivery; the row is never claimed again, and a secret body is erased."""
    await OutboxMessage.update(
        {
            OutboxMessage.sent_at: now(),
            OutboxMessage.claimed_until: None,
            OutboxMessage.last_error: "",
        }
    ).where((OutboxMessage.id == message_id) & OutboxMessage.sent_at.is_null())
    await OutboxMessage.update({OutboxMessage.body: REMOVED}).where(
        (OutboxMessage.id == message_id) & OutboxMessage.kind.is_in(list(SECRET_KINDS))
    )


async def purge_sent(older_than: timedelta) -> int:
    """Delete delivered messages older than ``older_than``."""
    rows = (
        await OutboxMessage.delete()
        .where(OutboxMessage.sent_at.is_not_null() & (OutboxMessage.sent_at < now() - older_than))
        .returning(OutboxMessage.id)
    )
    return len(rows)


async def mark_failed(message_id: int, *, attempts: int, retry_at: datetime, error: str) -> None:
    """Record a failed attempt and release the claim so the row is retried at ``retry_at``.
    ``error`` must not carry an address, a subject or a body."""
    await OutboxMessage.update(
        {
            OutboxMessage.attempts: attempts,
            OutboxMessage.next_attempt_at: retry_at,
            OutboxMessage.claimed_until: None,
            OutboxMessage.last_error: error[:MAX_ERROR_LENGTH],
        }
    ).where((OutboxMessage.id == message_id) & OutboxMessage.sent_at.is_null())


async def queued_to(address: str, kinds: tuple[str, ...], since: datetime) -> list[datetime]:
    """When each email of ``kinds`` to ``address`` was queued since ``since``, oldest first."""
    rows = (
        await OutboxMessage.select(OutboxMessage.created_at)
        .where(
            (OutboxMessage.to_address == address)
            & OutboxMessage.kind.is_in(list(kinds))
            & (OutboxMessage.created_at > since)
        )
        .order_by(OutboxMessage.created_at)
    )
    return [r["created_at"] for r in rows]


async def emailed_since(addresses: list[str], kinds: tuple[str, ...], since: datetime) -> set[str]:
    """Which of ``addresses`` have had an email of ``kinds`` queued since ``since`` (one query)."""
    if not addresses:
        return set()
    rows = await (
        OutboxMessage.select(OutboxMessage.to_address)
        .where(
            OutboxMessage.to_address.is_in(addresses)
            & OutboxMessage.kind.is_in(list(kinds))
            & (OutboxMessage.created_at > since)
        )
        .distinct()
    )
    return {r["to_address"] for r in rows}


class Backlog(msgspec.Struct, frozen=True):
    """What is waiting to be delivered: how many emails, and how long the oldest has waited."""

    depth: int
    oldest_age_seconds: float


async def backlog() -> Backlog:
    """For /metrics: one query, counted at scrape time."""
    rows = await OutboxMessage.select(
        Count(OutboxMessage.id, alias="depth"), Min(OutboxMessage.created_at, alias="oldest")
    ).where(OutboxMessage.sent_at.is_null())
    depth = int(rows[0]["depth"] or 0) if rows else 0
    oldest = rows[0]["oldest"] if rows else None
    if isinstance(oldest, str):  # SQLite hands an aggregate back as text
        oldest = datetime.fromisoformat(oldest)
    age = max((now() - oldest).total_seconds(), 0.0) if isinstance(oldest, datetime) else 0.0
    return Backlog(depth=depth, oldest_age_seconds=age)
