"""Queries for accounts, sessions, grants, approver rights, recovery links and the audit log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from portal.models.db import Prepared
from portal.models.tables import (
    AccessGrant,
    Account,
    Application,
    ApproverRight,
    AuditEvent,
    LoginThrottle,
    PasswordReset,
    UserSession,
)


def now() -> datetime:
    return datetime.now(UTC)


async def account_by_user_id(user_id: str) -> dict[str, Any] | None:
    return await Account.select().where(Account.user_id == user_id).output(load_json=True).first()


_SIGN_IN = Prepared(
    lambda user_id: (
        Account.select(
            Account.id,
            Account.user_id,
            Account.first_name,
            Account.last_name,
            Account.email,
            Account.password_hash,
            Account.password_initial,
            Account.password_expires_at,
        )
        .where(Account.user_id == user_id)
        .limit(1)
    )
)  # read on every sign-in, for real and unknown User IDs alike: built once, no JSON to load


async def account_to_sign_in(user_id: str) -> dict[str, Any] | None:
    """What a password check needs of an account."""
    return await _SIGN_IN.first(user_id)


async def account_for_email(email: str) -> dict[str, Any] | None:
    """The account of an email address (the oldest, when several share it)."""
    return (
        await Account.select().where(Account.email == email.lower()).order_by(Account.id).output(load_json=True).first()
    )


async def account_by_user_id_and_email(user_id: str, email: str) -> dict[str, Any] | None:
    """The account with this User ID, when this is its email address."""
    return (
        await Account.select()
        .where((Account.user_id == user_id) & (Account.email == email.lower()))
        .output(load_json=True)
        .first()
    )


async def user_id_exists(user_id: str) -> bool:
    return await Account.exists().where(Account.user_id == user_id)


async def insert_account(values: dict[str, Any]) -> int:
    rows = await Account.insert(Account(**values))
    return rows[0]["id"]


async def update_account(account_id: int, values: dict[str, Any]) -> None:
    await Account.update(values).where(Account.id == account_id)


# ---- The lockout: one row per typed User ID -----------------------------------------------------

_RESERVE = """
INSERT INTO login_throttle (key, failures, locked_until, updated_at) VALUES ({}, 1, NULL, {})
ON CONFLICT (key) DO UPDATE SET failures = login_throttle.failures + 1, updated_at = excluded.updated_at
WHERE login_throttle.failures < {} AND (login_throttle.locked_until IS NULL OR login_throttle.locked_until <= {})
RETURNING failures, locked_until
"""


async def reserve_login(key: str, *, limit: int, at: datetime) -> dict[str, Any] | None:
    """Reserve one password check for the typed User ID ``key`` (a keyed hash of it) before the
    check is made, in one atomic statement that writes a row whether or not an account has that
    User ID: its count of failures (a check in progress counts as one until it succeeds) goes up
    by one unless it is locked or already at ``limit``. The count and the lock it had (an
    expired one, or None) when the check may go ahead; None when it may not."""
    rows = await LoginThrottle.raw(_RESERVE, key, at, limit, at)
    return rows[0] if rows else None


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


async def lock_state(key: str) -> dict[str, Any] | None:
    """The count and lock of ``key`` (None before its first try)."""
    return (
        await LoginThrottle.select(LoginThrottle.failures, LoginThrottle.locked_until)
        .where(LoginThrottle.key == key)
        .first()
    )


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


async def create_session(token_hash: str, account_id: int) -> None:
    at = now()
    await UserSession.insert(UserSession(token_hash=token_hash, account=account_id, created_at=at, last_seen_at=at))


_SESSION = Prepared(
    lambda token_hash: (
        UserSession.select(
            UserSession.id,
            UserSession.created_at,
            UserSession.last_seen_at,
            UserSession.account.id.as_alias("account_id"),
            UserSession.account.user_id.as_alias("user_id"),
            UserSession.account.first_name.as_alias("first_name"),
            UserSession.account.last_name.as_alias("last_name"),
            UserSession.account.email.as_alias("email"),
            UserSession.account.password_initial.as_alias("password_initial"),
            UserSession.account.password_expires_at.as_alias("password_expires_at"),
        )
        .where(UserSession.token_hash == token_hash)
        .limit(1)
    )
)  # read on every signed-in request: built once


async def session_with_account(token_hash: str) -> dict[str, Any] | None:
    """The session and its account in one query."""
    return await _SESSION.first(token_hash)


async def touch_session(session_id: int) -> None:
    await UserSession.update({UserSession.last_seen_at: now()}).where(UserSession.id == session_id)


async def delete_session(token_hash: str) -> None:
    await UserSession.delete().where(UserSession.token_hash == token_hash)


async def delete_sessions_of(account_id: int) -> None:
    await UserSession.delete().where(UserSession.account == account_id)


# ---- Grants and approver rights ---------------------------------------------------------------


async def grants_of(account_id: int) -> list[dict[str, Any]]:
    return (
        await AccessGrant.select(
            AccessGrant.application.code.as_alias("application_code"),
            AccessGrant.application.name.as_alias("application_name"),
            AccessGrant.role.name.as_alias("role_name"),
            AccessGrant.granted_at,
        )
        .where(AccessGrant.account == account_id)
        .order_by(AccessGrant.application.name)
    )


async def has_grant(account_id: int, application_id: int, role_id: int) -> bool:
    return await AccessGrant.exists().where(
        (AccessGrant.account == account_id)
        & (AccessGrant.application == application_id)
        & (AccessGrant.role == role_id)
    )


async def add_grant(account_id: int, application_id: int, role_id: int, request_id: int | None) -> bool:
    """Add a grant unless the account already has it; True when added."""
    if await has_grant(account_id, application_id, role_id):
        return False
    await AccessGrant.insert(
        AccessGrant(account=account_id, application=application_id, role=role_id, request=request_id, granted_at=now())
    )
    return True


async def add_approver_right(account_id: int, application_id: int | None, level: int) -> None:
    await ApproverRight.insert(ApproverRight(account=account_id, application=application_id, level=level))


async def approver_rights(account_id: int) -> list[dict[str, Any]]:
    return await ApproverRight.select(ApproverRight.application, ApproverRight.level).where(
        ApproverRight.account == account_id
    )


async def application_ids_by_code() -> dict[str, int]:
    return {r["code"]: r["id"] for r in await Application.select(Application.id, Application.code)}


# ---- Recovery links ---------------------------------------------------------------------------


def _usable(token_hash: str, purpose: str) -> Any:
    """A recovery link for ``purpose`` that exists, is unused and has not expired."""
    unused = PasswordReset.used_at.is_null() & (PasswordReset.expires_at > now())
    return (PasswordReset.token_hash == token_hash) & (PasswordReset.purpose == purpose) & unused


async def create_reset(token_hash: str, account_id: int, lifetime: timedelta, purpose: str) -> None:
    at = now()
    await PasswordReset.insert(
        PasswordReset(
            token_hash=token_hash, account=account_id, purpose=purpose, created_at=at, expires_at=at + lifetime
        )
    )


async def use_reset(token_hash: str, purpose: str) -> int | None:
    """Mark a valid, unused, unexpired link used, in one conditional UPDATE; its account id."""
    rows = (
        await PasswordReset.update({PasswordReset.used_at: now()})
        .where(_usable(token_hash, purpose))
        .returning(PasswordReset.account)
    )
    return rows[0]["account"] if rows else None


async def close_resets_of(account_id: int) -> None:
    """Every open recovery link of an account stops working (after a reset or a change)."""
    await PasswordReset.update({PasswordReset.used_at: now()}).where(
        (PasswordReset.account == account_id) & PasswordReset.used_at.is_null()
    )


async def reset_owner(token_hash: str, purpose: str) -> dict[str, Any] | None:
    """The account of a usable (unused, unexpired) recovery link."""
    return (
        await PasswordReset.select(
            PasswordReset.account.id.as_alias("id"),
            PasswordReset.account.user_id.as_alias("user_id"),
            PasswordReset.account.first_name.as_alias("first_name"),
            PasswordReset.account.last_name.as_alias("last_name"),
        )
        .where(_usable(token_hash, purpose))
        .first()
    )


async def reset_is_usable(token_hash: str, purpose: str) -> bool:
    return await PasswordReset.exists().where(_usable(token_hash, purpose))


# ---- Audit ------------------------------------------------------------------------------------


async def audit(action: str, *, actor: str = "", subject: str = "", ip: str = "", **detail: Any) -> None:
    await AuditEvent.insert(AuditEvent(at=now(), actor=actor, action=action, subject=subject, ip=ip, detail=detail))


async def audit_events(*, subject: str = "", action: str = "", limit: int = 100) -> list[dict[str, Any]]:
    query = AuditEvent.select().order_by(AuditEvent.id, ascending=False).limit(limit).output(load_json=True)
    if subject:
        query = query.where(AuditEvent.subject == subject)
    if action:
        query = query.where(AuditEvent.action == action)
    return await query
