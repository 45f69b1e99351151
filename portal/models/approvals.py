"""Queries of the approval journey: the queue an approver may decide, one request's details,
and the conditional updates that make every decision happen exactly once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec
from piccolo.columns.combination import Or

from portal.clock import now
from portal.models.db import as_struct, as_structs, current_engine
from portal.models.rows import Person, QueueRow, RequestDetail, RequestStatus, Right
from portal.models.tables import AccessRequest, Account, ApproverRight

PAGE_SIZE = 25

# Sort keys the table offers -> columns (the tracking number breaks ties, so pages are stable).
SORTS = {
    "tracking": AccessRequest.tracking_number,
    "applicant": AccessRequest.last_name,
    "organization": AccessRequest.organization,
    "application": AccessRequest.application.code,
    "role": AccessRequest.role.name,
    "submitted": AccessRequest.submitted_at,
    "due": AccessRequest.due_at,
}


class Decider(msgspec.Struct, frozen=True):
    """Who decides: an approver's User ID and email (never their own requests) and rights."""

    user_id: str
    email: str
    rights: list[Right]


def _queue_where(decider: Decider) -> Any:
    """Pending requests at a level the approver may decide, never their own, and at level 2
    never one they approved at level 1."""
    by_right = []
    for right in decider.rights:
        clause = (AccessRequest.level == right.level) & (AccessRequest.status == RequestStatus.PENDING)
        if right.application is not None:
            clause = clause & (AccessRequest.application == right.application)
        by_right.append(clause)
    if not by_right:
        return None
    where: Any = by_right[0]
    for clause in by_right[1:]:
        where = Or(where, clause)
    return (
        where
        & (AccessRequest.email != decider.email)
        & (AccessRequest.account_user_id != decider.user_id)
        & (AccessRequest.level1_by != decider.user_id)
    )


class QueueFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which page of the queue, filtered and sorted how (checked by the web layer, which reads
    it from the table's URL: see portal/controllers/approvals.py)."""

    application: str = ""
    role: str = ""
    overdue: bool = False
    search: str = ""
    sort: str = "due"  # a key of SORTS
    descending: bool = False
    page: int = 1


class TableRow(QueueRow, frozen=True, kw_only=True):
    """A row of the table (and of a bulk confirmation): the queue's row and whether its
    applicant already holds an account (a final approval then adds access, makes none)."""

    account_user_id: str = ""


ROW_COLUMNS = (
    AccessRequest.id,
    AccessRequest.application,
    AccessRequest.tracking_number,
    AccessRequest.first_name,
    AccessRequest.last_name,
    AccessRequest.organization,
    AccessRequest.application.code.as_alias("application_code"),
    AccessRequest.application.name.as_alias("application_name"),
    AccessRequest.role.code.as_alias("role_code"),
    AccessRequest.role.name.as_alias("role_name"),
    AccessRequest.submitted_at,
    AccessRequest.due_at,
    AccessRequest.status,
    AccessRequest.level,
    AccessRequest.levels,
    AccessRequest.decided_at,
    AccessRequest.decided_by,
    AccessRequest.level1_by,
    AccessRequest.reason,
    AccessRequest.account_user_id,
)


async def queue(decider: Decider, view: QueueFilter) -> tuple[list[TableRow], int]:
    """One page of the approver's queue and the number of requests in it (two queries)."""
    where = _queue_where(decider)
    if where is None:
        return [], 0
    if view.application:
        where = where & (AccessRequest.application.code == view.application)
    if view.role:
        where = where & (AccessRequest.role.code == view.role)
    if view.overdue:
        where = where & (AccessRequest.due_at < now())
    if view.search:
        term = view.search.replace("%", "").replace("_", "")
        needle = f"%{term}%"
        # SQLite's LIKE is already case-insensitive (ASCII); PostgreSQL needs ILIKE.
        op = "like" if current_engine().engine_type == "sqlite" else "ilike"
        where = where & Or(
            Or(getattr(AccessRequest.tracking_number, op)(needle), getattr(AccessRequest.last_name, op)(needle)),
            getattr(AccessRequest.first_name, op)(needle),
        )
    total = await AccessRequest.count().where(where)
    rows = (
        await AccessRequest.select(*ROW_COLUMNS)
        .where(where)
        .order_by(SORTS[view.sort], ascending=not view.descending)
        .order_by(AccessRequest.tracking_number)
        .limit(PAGE_SIZE)
        .offset((view.page - 1) * PAGE_SIZE)
    )
    return as_structs(TableRow, rows), int(total)


async def request_row(tracking_number: str) -> TableRow | None:
    row = await AccessRequest.select(*ROW_COLUMNS).where(AccessRequest.tracking_number == tracking_number).first()
    return as_struct(TableRow, row) if row else None


async def request_full(tracking_number: str) -> RequestDetail | None:
    row = (
        await AccessRequest.select(
            *AccessRequest.all_columns(),
            AccessRequest.application.code.as_alias("application_code"),
            AccessRequest.application.name.as_alias("application_name"),
            AccessRequest.role.code.as_alias("role_code"),
            AccessRequest.role.name.as_alias("role_name"),
        )
        .where(AccessRequest.tracking_number == tracking_number)
        .output(load_json=True)
        .first()
    )
    return as_struct(RequestDetail, row) if row else None


async def may_decide(decider: Decider, tracking_number: str) -> bool:
    where = _queue_where(decider)
    if where is None:
        return False
    return await AccessRequest.exists().where(where & (AccessRequest.tracking_number == tracking_number))


async def advance_level(request_id: int, *, from_level: int, by: str) -> bool:
    """Level ``from_level`` approved, more levels to go: one conditional UPDATE."""
    rows = (
        await AccessRequest.update({AccessRequest.level: from_level + 1, AccessRequest.level1_by: by})
        .where(
            (AccessRequest.id == request_id)
            & (AccessRequest.status == RequestStatus.PENDING)
            & (AccessRequest.level == from_level)
        )
        .returning(AccessRequest.id)
    )
    return bool(rows)


async def finish(request_id: int, *, level: int, status: RequestStatus, by: str, reason: str = "") -> bool:
    """The final decision (approved or rejected) at ``level``: one conditional UPDATE, so of
    any number of simultaneous deciders exactly one changes the row."""
    rows = (
        await AccessRequest.update(
            {
                AccessRequest.status: status,
                AccessRequest.decided_by: by,
                AccessRequest.decided_at: now(),
                AccessRequest.reason: reason,
            }
        )
        .where(
            (AccessRequest.id == request_id)
            & (AccessRequest.status == RequestStatus.PENDING)
            & (AccessRequest.level == level)
        )
        .returning(AccessRequest.id)
    )
    return bool(rows)


async def approvers_for(application_id: int, level: int) -> list[Person]:
    """Who decides this application at this level (for the 'in your queue' email)."""
    return await _approver_accounts(
        (ApproverRight.level == level)
        & Or(ApproverRight.application == application_id, ApproverRight.application.is_null())
    )


async def all_approvers() -> list[Person]:
    return await _approver_accounts(None)


async def _approver_accounts(where: Any) -> list[Person]:
    """The accounts holding approver rights that match ``where`` (all rights when None)."""
    rights = ApproverRight.select(ApproverRight.account)
    holders = rights.where(where) if where is not None else rights
    rows = await (
        Account.select(Account.id, Account.user_id, Account.email, Account.first_name)
        .where(Account.id.is_in(holders))
        .order_by(Account.id)
    )
    return as_structs(Person, rows)


async def overdue_count(decider: Decider, at: datetime) -> int:
    where = _queue_where(decider)
    if where is None:
        return 0
    return int(await AccessRequest.count().where(where & (AccessRequest.due_at < at)))


async def rows_by_tracking(tracking_numbers: list[str]) -> list[TableRow]:
    """The requests with these tracking numbers (those that exist), one query."""
    if not tracking_numbers:
        return []
    rows = await AccessRequest.select(*ROW_COLUMNS).where(AccessRequest.tracking_number.is_in(tracking_numbers))
    return as_structs(TableRow, rows)


async def decidable_among(decider: Decider, tracking_numbers: list[str]) -> set[str]:
    """Which of these requests this approver may decide now, one query."""
    where = _queue_where(decider)
    if where is None or not tracking_numbers:
        return set()
    rows = await AccessRequest.select(AccessRequest.tracking_number).where(
        where & AccessRequest.tracking_number.is_in(tracking_numbers)
    )
    return {r["tracking_number"] for r in rows}


async def waiting_count(decider: Decider) -> int:
    """How many requests wait for this approver's decision (the header link's count): one COUNT."""
    where = _queue_where(decider)
    if where is None:
        return 0
    return int(await AccessRequest.count().where(where))
