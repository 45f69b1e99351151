"""Queries of the registration journey: drafts, requests, and the catalog rows they need."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine
from piccolo.query import Select

from portal.models.db import Prepared, current_engine
from portal.models.tables import AccessRequest, Application, CatalogField, RegistrationDraft, Role
from portal.registration.forms import FieldRule

DRAFT_IDLE = timedelta(hours=24)


def now() -> datetime:
    return datetime.now(UTC)


_CODE = re.compile(r"[A-Za-z0-9_-]{1,20}")


async def application_by_code(code: str) -> dict[str, Any] | None:
    if not _CODE.fullmatch(code):  # not a catalog code: no query (and no NUL reaches the driver)
        return None
    return (
        await Application.select(Application.id, Application.code, Application.name, Application.requires_ssn)
        .where((Application.code == code) & (Application.active.eq(True)))
        .first()
    )


async def role_rules(application_id: int) -> tuple[list[dict[str, Any]], dict[str, list[FieldRule]]]:
    """The active roles of an application (id, code, name, description, review days,
    levels) and, per role code, the rules of its application-specific fields. Two queries."""
    roles = (
        await Role.select(
            Role.id, Role.code, Role.name, Role.description, Role.fields, Role.review_days, Role.approval_levels
        )
        .where((Role.application == application_id) & (Role.active.eq(True)))
        .order_by(Role.position)
        .output(load_json=True)
    )
    fields = {
        row["key"]: FieldRule(**row)
        for row in await CatalogField.select(
            CatalogField.key,
            CatalogField.label,
            CatalogField.pattern,
            CatalogField.example,
            CatalogField.hint,
            CatalogField.check,
            CatalogField.sensitive,
        )
    }
    return roles, {r["code"]: [fields[k] for k in r["fields"] if k in fields] for r in roles}


async def create_draft(application_id: int, terms_version: str) -> str:
    token = secrets.token_urlsafe(32)
    await RegistrationDraft.insert(
        RegistrationDraft(
            token=token,
            application=application_id,
            terms_version=terms_version,
            terms_accepted_at=now(),
        )
    )
    return token


_DRAFT_COLUMNS = (
    RegistrationDraft.all_columns(),
    RegistrationDraft.application.code.as_alias("application_code"),
    RegistrationDraft.application.name.as_alias("application_name"),
    RegistrationDraft.application.requires_ssn.as_alias("requires_ssn"),
    RegistrationDraft.role.code.as_alias("role_code"),
    RegistrationDraft.role.name.as_alias("role_name"),
)


def _draft_query(token: str, fresh_since: datetime, lock: bool) -> Select:
    query = (
        RegistrationDraft.select(*_DRAFT_COLUMNS)
        .where((RegistrationDraft.token == token) & (RegistrationDraft.updated_at > fresh_since))
        .limit(1)
        .output(load_json=True)
    )
    return query.lock_rows("UPDATE", of=(RegistrationDraft,)) if lock else query


_DRAFT = Prepared(_draft_query)  # read on every step: built once


async def get_draft(token: str, *, lock: bool = False) -> dict[str, Any] | None:
    """The draft with its application and role names, in one query; None when unknown or idle
    for more than 24 hours. ``lock`` (inside a transaction) keeps other writers of this draft
    waiting until the transaction ends: FOR UPDATE on PostgreSQL; on SQLite the transaction
    helper already holds the database's write lock."""
    lock = lock and not isinstance(current_engine(), SQLiteEngine)
    return await _DRAFT.first(token, now() - DRAFT_IDLE, variant=(lock,))


async def update_draft(token: str, values: dict[str, Any]) -> None:
    """Save a step's values (call inside a transaction when other writes go with it)."""
    await RegistrationDraft.update({**values, "updated_at": now()}).where(RegistrationDraft.token == token)


async def delete_draft(token: str) -> None:
    await RegistrationDraft.delete().where(RegistrationDraft.token == token)


async def purge_idle_drafts(older_than: timedelta = DRAFT_IDLE) -> int:
    """Delete drafts idle for longer than ``older_than`` with all their personal data."""
    rows = (
        await RegistrationDraft.delete()
        .where(RegistrationDraft.updated_at < now() - older_than)
        .returning(RegistrationDraft.id)
    )
    return len(rows)


async def pending_request_for(email: str, application_id: int) -> str | None:
    row = (
        await AccessRequest.select(AccessRequest.tracking_number)
        .where(
            (AccessRequest.email == email)
            & (AccessRequest.application == application_id)
            & (AccessRequest.status == "pending")
        )
        .first()
    )
    return row["tracking_number"] if row else None


async def request_by_draft(token: str) -> str | None:
    row = await AccessRequest.select(AccessRequest.tracking_number).where(AccessRequest.draft_token == token).first()
    return row["tracking_number"] if row else None


async def insert_request(values: dict[str, Any]) -> None:
    await AccessRequest.insert(AccessRequest(**values))


async def request_status(tracking_number: str, email: str) -> dict[str, Any] | None:
    return (
        await AccessRequest.select(
            AccessRequest.tracking_number,
            AccessRequest.status,
            AccessRequest.level,
            AccessRequest.levels,
            AccessRequest.submitted_at,
            AccessRequest.due_at,
            AccessRequest.decided_at,
            AccessRequest.reason,
            AccessRequest.application.name.as_alias("application_name"),
            AccessRequest.role.name.as_alias("role_name"),
        )
        .where((AccessRequest.tracking_number == tracking_number) & (AccessRequest.email == email))
        .first()
    )


async def latest_contact(email: str) -> dict[str, Any]:
    row = (
        await AccessRequest.select(AccessRequest.contact)
        .where(AccessRequest.email == email)
        .order_by(AccessRequest.id, ascending=False)
        .output(load_json=True)
        .first()
    )
    return (row or {}).get("contact") or {}
