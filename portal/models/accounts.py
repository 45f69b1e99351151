"""Queries for accounts, sessions, grants, approver rights, recovery links and the audit log."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import msgspec

from portal.clock import now
from portal.models.db import as_struct, as_structs
from portal.models.rows import Account as AccountRow
from portal.models.rows import (
    AuditEntry,
    Grant,
    LinkPurpose,
    Questions,
    RequestPersonal,
    RequestStatus,
    Right,
    SignedIn,
    Throttle,
)
from portal.models.tables import (
    AccessGrant,
    AccessRequest,
    Account,
    Application,
    ApproverRight,
    AuditEvent,
    LoginThrottle,
    PasswordReset,
    UserSession,
)

_ACCOUNT_SQL = """
SELECT id, user_id, first_name, last_name, email, password_hash, password_initial,
       password_expires_at, created_at, questions, mfa_failures, mfa_locked_until, mfa_enrol_required
FROM account WHERE {where} ORDER BY id LIMIT 1"""


async def _account(where: str, *values: Any) -> AccountRow | None:
    rows = await Account.raw(_ACCOUNT_SQL.format(where=where), *values)
    return as_struct(AccountRow, rows[0], ("questions",)) if rows else None


async def account_by_user_id(user_id: str) -> AccountRow | None:
    """Read on every sign-in, for real and unknown User IDs alike: one written-out statement."""
    return await _account("user_id = {}", user_id)


async def account_by_id(account_id: int) -> AccountRow | None:
    return await _account("id = {}", account_id)


async def account_for_email(email: str) -> AccountRow | None:
    """The account of an email address (the oldest, when several share it)."""
    return await _account("email = {}", email.lower())


async def account_by_user_id_and_email(user_id: str, email: str) -> AccountRow | None:
    """The account with this User ID, when this is its email address."""
    return await _account("user_id = {} AND email = {}", user_id, email.lower())


async def user_id_exists(user_id: str) -> bool:
    return bool(await Account.exists().where(Account.user_id == user_id))


async def insert_account(
    *,
    user_id: str,
    first_name: str,
    last_name: str,
    email: str,
    password_hash: str,
    expires_at: datetime,
    questions: Questions,
) -> int:
    """A new account with an initial password (to change at the first sign-in)."""
    rows = await Account.insert(
        Account(
            user_id=user_id,
            first_name=first_name,
            last_name=last_name,
            email=email.lower(),
            password_hash=password_hash,
            password_initial=True,
            password_expires_at=expires_at,
            questions=msgspec.to_builtins(questions),
        )
    )
    return int(rows[0]["id"])


async def set_password_hash(account_id: int, password_hash: str, *, initial_until: datetime | None) -> None:
    """A new password: an initial one valid until ``initial_until``, or (None) the holder's own."""
    changed: dict[Any, Any] = (
        {Account.password_expires_at: initial_until}
        if initial_until
        else {Account.password_expires_at: None, Account.password_changed_at: now()}
    )
    await Account.update(
        {Account.password_hash: password_hash, Account.password_initial: initial_until is not None, **changed}
    ).where(Account.id == account_id)


# ---- The lockout: one row per typed User ID -----------------------------------------------------

_RESERVE = """
INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ({}, 1, NULL, {})
ON CONFLICT (key) DO UPDATE SET failures = login_throttle.failures + 1, updated_at = excluded.updated_at
WHERE login_throttle.failures < {} AND (login_throttle.locked_until IS NULL OR login_throttle.locked_until <= {})
RETURNING failures, locked_until
"""


async def reserve_login(key: str, *, limit: int, at: datetime) -> Throttle | None:
    """Reserve one password check for the typed User ID ``key`` (a keyed hash of it) before the
    check is made, in one atomic statement that writes a row whether or not an account has that
    User ID: its count of failures (a check in progress counts as one until it succeeds) goes up
    by one unless it is locked or already at ``limit``. The count and the lock it had (an
    expired one, or None) when the check may go ahead; None when it may not."""
    rows = await LoginThrottle.raw(_RESERVE, key, at, limit, at)
    return as_struct(Throttle, rows[0]) if rows else None


async def lock_if_at_limit(key: str, *, limit: int, at: datetime, lock_for: timedelta) -> bool:
    """Lock ``key`` for ``lock_for`` when its count has reached ``limit`` (failures, and checks
    still in progress) and it is not locked yet; True when this call locked it. Run on every
    refused sign-in, for real and unknown User IDs alike."""
    unlocked = LoginThrottle.locked_until.is_null() | (LoginThrottle.locked_until <= at)
    rows = (
        await LoginThrottle.update({LoginThrottle.locked_until: at + lock_for, LoginThrottle.failures: 0})
        .where((LoginThrottle.key == key) & (LoginThrottle.failures >= limit) & unlocked)
        .returning(LoginThrottle.id)
    )
    return bool(rows)


async def settle_login(key: str, *, at: datetime) -> bool:
    """A right password: the count starts again, unless ``key`` was locked while the check ran
    (a burst of tries reached the limit meanwhile). True when the sign-in may go ahead."""
    unlocked = LoginThrottle.locked_until.is_null() | (LoginThrottle.locked_until <= at)
    rows = (
        await LoginThrottle.update({LoginThrottle.failures: 0, LoginThrottle.locked_until: None})
        .where((LoginThrottle.key == key) & unlocked)
        .returning(LoginThrottle.id)
    )
    return bool(rows)


async def lock_state(key: str) -> Throttle | None:
    """The count and lock of ``key`` (None before its first try)."""
    row = (
        await LoginThrottle.select(LoginThrottle.failures, LoginThrottle.locked_until)
        .where(LoginThrottle.key == key)
        .first()
    )
    return as_struct(Throttle, row) if row else None


async def clear_lockout(key: str) -> None:
    """A new password (reset, change, or one issued by the help desk) ends any lockout."""
    await LoginThrottle.update({LoginThrottle.failures: 0, LoginThrottle.locked_until: None}).where(
        LoginThrottle.key == key
    )


async def purge_login_throttle(older_than: datetime) -> int:
    """Forget counts untouched since ``older_than`` that hold no lock (purge runs it)."""
    idle = (LoginThrottle.updated_at < older_than) & (
        LoginThrottle.locked_until.is_null() | (LoginThrottle.locked_until < older_than)
    )
    rows = await LoginThrottle.delete().where(idle).returning(LoginThrottle.id)
    return len(rows)


# ---- Sessions ---------------------------------------------------------------------------------


async def create_session(
    token_hash: str, account_id: int, *, amr: str = "pwd", mfa_at: datetime | None = None, mfa_required: bool = False
) -> None:
    at = now()
    await UserSession.insert(
        UserSession(
            token_hash=token_hash,
            account=account_id,
            created_at=at,
            last_seen_at=at,
            amr=amr,
            mfa_at=mfa_at,
            mfa_required=mfa_required,
        )
    )


# Read on every signed-in request: one written-out statement.
_SESSION_SQL = """
SELECT s.id AS session_id, s.created_at, s.last_seen_at, s.amr, s.mfa_at, s.mfa_required, a.id AS account_id,
       a.user_id, a.first_name, a.last_name, a.email, a.password_initial, a.password_expires_at
FROM user_session s JOIN account a ON a.id = s.account
WHERE s.token_hash = {}
LIMIT 1"""


async def session_with_account(token_hash: str, *, idle: timedelta, absolute: timedelta) -> SignedIn | None:
    """The session and its account in one query, with when it ends (``absolute`` after it
    began) and when it lapses if idle (``idle`` after it was last seen)."""
    rows = await UserSession.raw(_SESSION_SQL, token_hash)
    if not rows:
        return None
    row = rows[0]
    row["ends_at"] = row["created_at"] + absolute
    row["expires_at"] = min(row["last_seen_at"] + idle, row["ends_at"])
    return as_struct(SignedIn, row)


async def touch_session(session_id: int) -> None:
    await UserSession.update({UserSession.last_seen_at: now()}).where(UserSession.id == session_id)


async def delete_session(token_hash: str) -> None:
    await UserSession.delete().where(UserSession.token_hash == token_hash)


async def delete_sessions_of(account_id: int) -> None:
    await UserSession.delete().where(UserSession.account == account_id)


# ---- Grants and approver rights ---------------------------------------------------------------


async def grants_of(account_id: int) -> list[Grant]:
    rows = (
        await AccessGrant.select(
            AccessGrant.application.code.as_alias("application_code"),
            AccessGrant.application.name.as_alias("application_name"),
            AccessGrant.role.name.as_alias("role_name"),
            AccessGrant.granted_at,
        )
        .where(AccessGrant.account == account_id)
        .order_by(AccessGrant.application.name)
    )
    return as_structs(Grant, rows)


async def has_grant(account_id: int, application_id: int, role_id: int) -> bool:
    return await AccessGrant.exists().where(
        (AccessGrant.account == account_id)
        & (AccessGrant.application == application_id)
        & (AccessGrant.role == role_id)
    )


async def held_roles(account_id: int) -> set[tuple[str, str]]:
    """The (application code, role code) pairs an account holds."""
    rows = await AccessGrant.select(
        AccessGrant.application.code.as_alias("application_code"), AccessGrant.role.code.as_alias("role_code")
    ).where(AccessGrant.account == account_id)
    return {(str(r["application_code"]), str(r["role_code"])) for r in rows}


async def pending_by_application(email: str) -> dict[str, str]:
    """The tracking number of each application with a request of ``email`` waiting for approval
    (at most one per application: a unique index), by application code."""
    rows = await AccessRequest.select(
        AccessRequest.application.code.as_alias("application_code"), AccessRequest.tracking_number
    ).where((AccessRequest.email == email) & (AccessRequest.status == RequestStatus.PENDING))
    return {str(r["application_code"]): str(r["tracking_number"]) for r in rows}


async def personal_on_file(email: str) -> RequestPersonal:
    """The date of birth and the encrypted SSN the person of ``email`` last gave on a request
    (either blank when never given)."""
    rows = (
        await AccessRequest.select(AccessRequest.personal)
        .where(AccessRequest.email == email)
        .order_by(AccessRequest.id, ascending=False)
        .output(load_json=True)
    )
    given = [msgspec.convert(r["personal"] or {}, RequestPersonal) for r in rows]
    return RequestPersonal(
        date_of_birth=next((p.date_of_birth for p in given if p.date_of_birth), ""),
        ssn=next((p.ssn for p in given if p.ssn), ""),
    )


async def add_grant(account_id: int, application_id: int, role_id: int, request_id: int | None) -> bool:
    """Add a grant unless the account already has it; True when added."""
    if await has_grant(account_id, application_id, role_id):
        return False
    await AccessGrant.insert(
        AccessGrant(account=account_id, application=application_id, role=role_id, request=request_id, granted_at=now())
    )
    return True


async def remove_grant(account_id: int, application_code: str, role_code: str) -> bool:
    """Take a role away from an account (single sign-on stops issuing it at once)."""
    found = await AccessGrant.select(AccessGrant.id).where(
        (AccessGrant.account == account_id)
        & (AccessGrant.application.code == application_code)
        & (AccessGrant.role.code == role_code)
    )
    if not found:
        return False
    await AccessGrant.delete().where(AccessGrant.id.is_in([row["id"] for row in found]))
    return True


async def add_approver_right(account_id: int, application_id: int | None, level: int) -> None:
    await ApproverRight.insert(ApproverRight(account=account_id, application=application_id, level=level))


async def approver_rights(account_id: int) -> list[Right]:
    rows = await ApproverRight.select(ApproverRight.application, ApproverRight.level).where(
        ApproverRight.account == account_id
    )
    return as_structs(Right, rows)


async def application_ids_by_code() -> dict[str, int]:
    return {r["code"]: r["id"] for r in await Application.select(Application.id, Application.code)}


# ---- Recovery links ---------------------------------------------------------------------------


def _usable(token_hash: str, purpose: LinkPurpose) -> Any:
    """A recovery link for ``purpose`` that exists, is unused and has not expired."""
    unused = PasswordReset.used_at.is_null() & (PasswordReset.expires_at > now())
    return (PasswordReset.token_hash == token_hash) & (PasswordReset.purpose == purpose) & unused


async def create_reset(token_hash: str, account_id: int, lifetime: timedelta, purpose: LinkPurpose) -> None:
    at = now()
    await PasswordReset.insert(
        PasswordReset(
            token_hash=token_hash, account=account_id, purpose=purpose, created_at=at, expires_at=at + lifetime
        )
    )


async def use_reset(token_hash: str, purpose: LinkPurpose) -> int | None:
    """Mark a valid, unused, unexpired link used, in one conditional UPDATE; its account id."""
    rows = (
        await PasswordReset.update({PasswordReset.used_at: now()})
        .where(_usable(token_hash, purpose))
        .returning(PasswordReset.account)
    )
    return int(rows[0]["account"]) if rows else None


async def close_resets_of(account_id: int) -> None:
    """Every open recovery link of an account stops working (after a reset or a change)."""
    await PasswordReset.update({PasswordReset.used_at: now()}).where(
        (PasswordReset.account == account_id) & PasswordReset.used_at.is_null()
    )


async def reset_owner(token_hash: str, purpose: LinkPurpose) -> AccountRow | None:
    """The account of a usable (unused, unexpired) recovery link."""
    row = await PasswordReset.select(PasswordReset.account).where(_usable(token_hash, purpose)).first()
    return await _account("id = {}", row["account"]) if row else None


async def reset_is_usable(token_hash: str, purpose: LinkPurpose) -> bool:
    return bool(await PasswordReset.exists().where(_usable(token_hash, purpose)))


# ---- Audit ------------------------------------------------------------------------------------


async def audit(action: str, *, actor: str = "", subject: str = "", ip: str = "", **detail: Any) -> None:
    await AuditEvent.insert(AuditEvent(at=now(), actor=actor, action=action, subject=subject, ip=ip, detail=detail))


async def audit_events(*, subject: str = "", action: str = "", limit: int = 100) -> list[AuditEntry]:
    query = AuditEvent.select().order_by(AuditEvent.id, ascending=False).limit(limit).output(load_json=True)
    if subject:
        query = query.where(AuditEvent.subject == subject)
    if action:
        query = query.where(AuditEvent.action == action)
    return as_structs(AuditEntry, await query)
