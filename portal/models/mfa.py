"""Queries for two-factor sign-in: second factors, recovery codes, halfway sign-ins and passkey
ceremonies, the second step's count and lock, and what a session says about its second factor.
Every "use once" is one conditional UPDATE or DELETE, so two requests at the same instant cannot
both use the same code, step, counter or challenge."""

from __future__ import annotations

from datetime import datetime, timedelta

from piccolo.query.functions.aggregate import Count

from portal.clock import now
from portal.models.db import as_struct, as_structs
from portal.models.rows import Challenge, Factor, FactorKind
from portal.models.tables import (
    AccessGrant,
    Account,
    MfaChallenge,
    RecoveryCode,
    SecondFactor,
    UserSession,
)

_FACTOR_COLUMNS = (
    SecondFactor.id,
    SecondFactor.kind,
    SecondFactor.name,
    SecondFactor.secret,
    SecondFactor.credential_id,
    SecondFactor.public_key,
    SecondFactor.sign_count,
    SecondFactor.device,
    SecondFactor.last_step,
    SecondFactor.created_at,
    SecondFactor.last_used_at,
)


# ---- Factors ------------------------------------------------------------------------------------


async def factors_of(account_id: int) -> list[Factor]:
    rows = (
        await SecondFactor.select(*_FACTOR_COLUMNS).where(SecondFactor.account == account_id).order_by(SecondFactor.id)
    )
    return as_structs(Factor, rows)


async def has_factor(account_id: int) -> bool:
    return bool(await SecondFactor.exists().where(SecondFactor.account == account_id))


async def add_factor(
    account_id: int,
    kind: FactorKind,
    name: str,
    *,
    secret: str = "",
    credential_id: str | None = None,
    public_key: str = "",
    sign_count: int = 0,
    device: str = "otp",
    last_step: int = 0,
) -> int:
    at = now()
    rows = await SecondFactor.insert(
        SecondFactor(
            account=account_id,
            kind=kind,
            name=name,
            secret=secret,
            credential_id=credential_id,
            public_key=public_key,
            sign_count=sign_count,
            device=device,
            last_step=last_step,
            created_at=at,
            last_used_at=at,
        )
    )
    return int(rows[0]["id"])


async def credential_exists(credential_id: str) -> bool:
    return bool(await SecondFactor.exists().where(SecondFactor.credential_id == credential_id))


async def remove_factor(account_id: int, factor_id: int) -> Factor | None:
    """Delete one factor of this account; what it was (None when it was not theirs or is gone)."""
    rows = (
        await SecondFactor.delete()
        .where((SecondFactor.id == factor_id) & (SecondFactor.account == account_id))
        .returning(*_FACTOR_COLUMNS)
    )
    return as_struct(Factor, rows[0]) if rows else None


async def remove_factors_of(account_id: int) -> int:
    """Every factor and recovery code of an account (a help-desk reset); how many factors."""
    rows = await SecondFactor.delete().where(SecondFactor.account == account_id).returning(SecondFactor.id)
    await RecoveryCode.delete().where(RecoveryCode.account == account_id)
    return len(rows)


async def use_totp_step(factor_id: int, step: int) -> bool:
    """Accept a TOTP code of time step ``step`` unless this step or a later one was accepted."""
    rows = (
        await SecondFactor.update({SecondFactor.last_step: step, SecondFactor.last_used_at: now()})
        .where((SecondFactor.id == factor_id) & (SecondFactor.last_step < step))
        .returning(SecondFactor.id)
    )
    return bool(rows)


async def use_passkey(factor_id: int, seen_count: int, new_count: int) -> bool:
    """Record a passkey's new sign counter, unless another sign-in moved it since it was read."""
    rows = (
        await SecondFactor.update({SecondFactor.sign_count: new_count, SecondFactor.last_used_at: now()})
        .where((SecondFactor.id == factor_id) & (SecondFactor.sign_count == seen_count))
        .returning(SecondFactor.id)
    )
    return bool(rows)


# ---- Recovery codes -------------------------------------------------------------------------------


async def replace_recovery_codes(account_id: int, hashes: list[str]) -> None:
    """A new set: the old codes, used or not, stop working. Call inside a transaction."""
    await RecoveryCode.delete().where(RecoveryCode.account == account_id)
    at = now()
    await RecoveryCode.insert(*[RecoveryCode(account=account_id, code_hash=h, created_at=at) for h in hashes])


async def use_recovery_code(account_id: int, code_hash: str) -> bool:
    rows = (
        await RecoveryCode.update({RecoveryCode.used_at: now()})
        .where(
            (RecoveryCode.account == account_id)
            & (RecoveryCode.code_hash == code_hash)
            & RecoveryCode.used_at.is_null()
        )
        .returning(RecoveryCode.id)
    )
    return bool(rows)


async def recovery_codes_left(account_id: int) -> int:
    row = (
        await RecoveryCode.select(Count(RecoveryCode.id, alias="n"))
        .where((RecoveryCode.account == account_id) & RecoveryCode.used_at.is_null())
        .first()
    )
    return int(row["n"]) if row else 0


# ---- Halfway sign-ins and passkey ceremonies ------------------------------------------------------


async def create_challenge(token_hash: str, account_id: int, purpose: str, challenge: str, lifetime: timedelta) -> None:
    at = now()
    await MfaChallenge.insert(
        MfaChallenge(
            token_hash=token_hash,
            account=account_id,
            purpose=purpose,
            challenge=challenge,
            created_at=at,
            expires_at=at + lifetime,
        )
    )


async def challenge(token_hash: str, purpose: str) -> Challenge | None:
    """An unexpired challenge for ``purpose``."""
    row = (
        await MfaChallenge.select(
            MfaChallenge.id,
            MfaChallenge.account,
            MfaChallenge.purpose,
            MfaChallenge.challenge,
            MfaChallenge.created_at,
            MfaChallenge.expires_at,
        )
        .where(
            (MfaChallenge.token_hash == token_hash)
            & (MfaChallenge.purpose == purpose)
            & (MfaChallenge.expires_at > now())
        )
        .first()
    )
    return as_struct(Challenge, row) if row else None


async def spend_challenge(token_hash: str, purpose: str) -> bool:
    """Delete a challenge once it is used; False when another request used it first."""
    rows = (
        await MfaChallenge.delete()
        .where((MfaChallenge.token_hash == token_hash) & (MfaChallenge.purpose == purpose))
        .returning(MfaChallenge.id)
    )
    return bool(rows)


async def purge_challenges(before: datetime) -> int:
    rows = await MfaChallenge.delete().where(MfaChallenge.expires_at < before).returning(MfaChallenge.id)
    return len(rows)


# ---- The second step's count and lock -------------------------------------------------------------


async def reserve_second_step(account_id: int, *, limit: int, at: datetime) -> bool:
    """Count one code check before it is made (as the lockout counts passwords): False when the
    second step is locked, or ``limit`` checks are already counted."""
    unlocked = Account.mfa_locked_until.is_null() | (Account.mfa_locked_until <= at)
    rows = (
        await Account.update({Account.mfa_failures: Account.mfa_failures + 1, Account.mfa_locked_until: None})
        .where((Account.id == account_id) & (Account.mfa_failures < limit) & unlocked)
        .returning(Account.id)
    )
    return bool(rows)


async def lock_second_step_at_limit(account_id: int, *, limit: int, at: datetime, lock_for: timedelta) -> bool:
    """Lock the second step for ``lock_for`` once ``limit`` wrong codes are counted; True when
    this call locked it."""
    rows = (
        await Account.update({Account.mfa_locked_until: at + lock_for, Account.mfa_failures: 0})
        .where((Account.id == account_id) & (Account.mfa_failures >= limit))
        .returning(Account.id)
    )
    return bool(rows)


async def settle_second_step(account_id: int) -> None:
    await Account.update({Account.mfa_failures: 0, Account.mfa_locked_until: None}).where(Account.id == account_id)


async def set_enrol_required(account_id: int, required: bool) -> None:
    await Account.update({Account.mfa_enrol_required: required}).where(Account.id == account_id)


# ---- Who must use it, and sessions ---------------------------------------------------------------


async def holds_mfa_role(account_id: int) -> bool:
    """Whether the account holds a role the catalog marks ``mfa = true``."""
    marked = AccessGrant.role.mfa == True  # noqa: E712 (a column comparison, not a truth test)
    return bool(await AccessGrant.exists().where((AccessGrant.account == account_id) & marked))


async def mark_session(session_id: int, *, amr: str, at: datetime) -> None:
    """A second factor was used in this session now (enrolment or step-up)."""
    await UserSession.update({UserSession.amr: amr, UserSession.mfa_at: at, UserSession.mfa_required: False}).where(
        UserSession.id == session_id
    )


async def end_other_sessions(account_id: int, keep_session_id: int) -> None:
    """After a factor is removed or reset: every other signed-in browser signs in again."""
    await UserSession.delete().where((UserSession.account == account_id) & (UserSession.id != keep_session_id))
