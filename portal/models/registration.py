"""Queries of the registration journey: drafts, requests, and the catalog rows they need."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

import msgspec
from piccolo.engine.sqlite import SQLiteEngine

from portal.catalog import FieldRule
from portal.clock import now
from portal.models.db import as_struct, current_engine
from portal.models.rows import (
    Application as ApplicationRow,
)
from portal.models.rows import (
    ContactData,
    Draft,
    DraftChange,
    NewRequest,
    RequestStatus,
    RoleOption,
    StatusView,
)
from portal.models.tables import AccessRequest, Application, CatalogField, RegistrationDraft, Role

DRAFT_IDLE = timedelta(hours=24)

_CODE = re.compile(r"[A-Za-z0-9_-]{1,20}")


async def application_by_code(code: str) -> ApplicationRow | None:
    if not _CODE.fullmatch(code):  # not a catalog code: no query (and no NUL reaches the driver)
        return None
    row = (
        await Application.select(Application.id, Application.code, Application.name, Application.requires_ssn)
        .where((Application.code == code) & (Application.active.eq(True)))
        .first()
    )
    return as_struct(ApplicationRow, row) if row else None


class RoleRules(msgspec.Struct, frozen=True):
    """An application's active roles, in catalog order, and the rules of each role's fields."""

    roles: list[RoleOption]
    by_role: dict[str, list[FieldRule]]

    def of(self, role_code: str) -> list[FieldRule]:
        return self.by_role.get(role_code, [])

    def role(self, role_code: str) -> RoleOption | None:
        return next((r for r in self.roles if r.code == role_code), None)

    @property
    def all_fields(self) -> list[FieldRule]:
        """Every field any role of the application asks for, each once."""
        seen: dict[str, FieldRule] = {}
        for rules in self.by_role.values():
            for rule in rules:
                seen.setdefault(rule.key, rule)
        return list(seen.values())


async def role_rules(application_id: int) -> RoleRules:
    """The active roles of an application and the rules of their fields. Two queries."""
    roles = (
        await Role.select(
            Role.id, Role.code, Role.name, Role.description, Role.fields, Role.review_days, Role.approval_levels
        )
        .where((Role.application == application_id) & (Role.active.eq(True)))
        .order_by(Role.position)
        .output(load_json=True)
    )
    options = [as_struct(RoleOption, row) for row in roles]
    fields = {
        row["key"]: as_struct(FieldRule, row)
        for row in await CatalogField.select(
            CatalogField.key,
            CatalogField.label,
            CatalogField.pattern,
            CatalogField.example,
            CatalogField.hint,
            CatalogField.format,
            CatalogField.sensitive,
        )
    }
    return RoleRules(options, {r.code: [fields[k] for k in r.fields if k in fields] for r in options})


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


# Read on every step: one statement, written out (no query building per request).
_DRAFT_SQL = """
SELECT d.id, d.token, d.application, a.code AS application_code, a.name AS application_name,
       a.requires_ssn, d.terms_version, d.terms_accepted_at, d.updated_at, d.personal, d.email,
       d.email_verified_at, d.code_hash, d.code_expires_at, d.code_voided, d.code_failures,
       d.code_sends, d.code_wrong_tries, d.contact, d.role, r.code AS role_code, r.name AS role_name,
       d.questions, d.tracking_number
FROM registration_draft d
JOIN application a ON a.id = d.application
LEFT JOIN role r ON r.id = d.role
WHERE d.token = {} AND d.updated_at > {}
LIMIT 1"""
_DRAFT_JSON = ("personal", "code_sends", "code_wrong_tries", "contact", "questions")


async def get_draft(token: str, *, lock: bool = False) -> Draft | None:
    """The draft with its application and role names, in one query; None when unknown or idle
    for more than 24 hours. ``lock`` (inside a transaction) keeps other writers of this draft
    waiting until the transaction ends: FOR UPDATE on PostgreSQL; on SQLite the transaction
    helper already holds the database's write lock."""
    sql = _DRAFT_SQL
    if lock and not isinstance(current_engine(), SQLiteEngine):
        sql += " FOR UPDATE OF d"
    rows = await RegistrationDraft.raw(sql, token, now() - DRAFT_IDLE)
    return as_struct(Draft, rows[0], _DRAFT_JSON) if rows else None


async def update_draft(token: str, change: DraftChange) -> None:
    """Save a step's values (call inside a transaction when other writes go with it)."""
    values = msgspec.to_builtins(change, builtin_types=(datetime,))
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
            & (AccessRequest.status == RequestStatus.PENDING)
        )
        .first()
    )
    return str(row["tracking_number"]) if row else None


async def request_by_draft(token: str) -> str | None:
    row = await AccessRequest.select(AccessRequest.tracking_number).where(AccessRequest.draft_token == token).first()
    return str(row["tracking_number"]) if row else None


async def insert_request(request: NewRequest) -> None:
    await AccessRequest.insert(AccessRequest(**msgspec.to_builtins(request, builtin_types=(datetime,))))


async def request_status(tracking_number: str, email: str) -> StatusView | None:
    row = (
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
    return as_struct(StatusView, row) if row else None


async def latest_contact(email: str) -> ContactData:
    row = (
        await AccessRequest.select(AccessRequest.contact)
        .where(AccessRequest.email == email)
        .order_by(AccessRequest.id, ascending=False)
        .output(load_json=True)
        .first()
    )
    return as_struct(ContactData, row["contact"] or {}) if row else ContactData()
