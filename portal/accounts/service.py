"""Sign-in, password changes, sessions and self-service recovery."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

import msgspec

from portal.accounts.passwords import initial_password, normalise, problem
from portal.accounts.questions import MIN_QUESTIONS, QUESTIONS, SLOTS
from portal.accounts.userids import new_user_id
from portal.clock import now
from portal.errors import LinkSpent
from portal.hashing import DUMMY_HASH, answers_secret, hash_random_secret, hash_secret, normalise_answer, verify_secret
from portal.mail import caps, messages
from portal.models import accounts as q
from portal.models import mfa as mfa_q
from portal.models.db import transaction
from portal.models.rows import Account, AnswerSet, ChallengePurpose, LinkPurpose, Questions, SignedIn, question_keys

LOCK_AFTER = 10
LOCK_FOR = timedelta(minutes=15)
IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
INITIAL_PASSWORD_LIFETIME = timedelta(hours=72)
RESET_LIFETIME = timedelta(minutes=30)
CHALLENGE_LIFETIME = timedelta(minutes=10)  # a halfway sign-in, or a passkey ceremony
LOGIN_FAILED = "The User ID or password is not correct."


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass
class LoginResult:
    ok: bool
    message: str = ""
    session_token: str = ""  # the new session's, or (second_step) the halfway sign-in's
    account: Account | None = None
    second_step: bool = False  # the account has a second factor: the session begins after it


def throttle_key(user_id: str, secret_key: str) -> str:
    """The lockout's key for a typed User ID: keyed, so the table never holds what was typed
    (a password typed into the User ID box, say)."""
    return hmac.new(secret_key.encode(), f"login:{user_id}".encode(), hashlib.sha256).hexdigest()


async def check_password(user_id: str, password: str, *, secret_key: str, ip: str, at: datetime) -> Account | None:
    """One password check of ``user_id``, reserved in the database before the argon2id hash so
    that no burst of concurrent tries gets more than ``LOCK_AFTER`` checks (see
    ``reserve_login``). The account when the password is right and the User ID was not locked
    meanwhile; None otherwise, audited. Every refusal — unknown User ID, locked, wrong password —
    runs the same statements in the same order around one hash, and the reservation writes a
    row for any User ID, so a refusal's time tells nothing."""
    key = throttle_key(user_id, secret_key)
    reserved = await q.reserve_login(key, limit=LOCK_AFTER, at=at)
    account = await q.account_by_user_id(user_id)
    right = await verify_secret(account.password_hash if account and reserved else DUMMY_HASH, password)
    if not (right and account and reserved):
        locked_now = await q.lock_if_at_limit(key, limit=LOCK_AFTER, at=at, lock_for=LOCK_FOR)
        await _audit_refusal(account.user_id if account else "", ip, locked_now, failed=bool(reserved))
        return None
    if not await q.settle_login(key, at=now()):
        await q.audit("login_refused_locked", actor=user_id, subject=user_id, ip=ip, reason="locked during the check")
        return None
    if reserved.locked_until:
        await q.audit("account_unlocked", actor="system", subject=user_id, ip=ip, reason="lock expired")
    return account


async def _audit_refusal(user_id: str, ip: str, locked_now: bool, *, failed: bool) -> None:
    """One audit event per refused password check, for real and unknown User IDs alike (the
    User ID typed for no account is not kept: it may be a password typed in the wrong box)."""
    if not user_id:
        await q.audit("login_failed", actor="anonymous", subject="unknown", ip=ip)
    elif locked_now:
        minutes = int(LOCK_FOR.total_seconds() // 60)
        await q.audit("account_locked", actor="system", subject=user_id, ip=ip, minutes=minutes, after=LOCK_AFTER)
    elif failed:
        await q.audit("login_failed", actor=user_id, subject=user_id, ip=ip)
    else:  # locked, or at the limit with checks in progress
        await q.audit("login_refused_locked", actor=user_id, subject=user_id, ip=ip)


async def login(user_id: str, password: str, *, secret_key: str, ip: str, mfa_mode: str) -> LoginResult:
    """Check a User ID and password. A wrong password, an unknown User ID and a locked account
    give the same message and cost the same (see ``check_password``)."""
    user_id = user_id.strip().upper()[:20]
    password = normalise(password)
    at = now()
    account = await check_password(user_id, password, secret_key=secret_key, ip=ip, at=at)
    if account is None:
        return LoginResult(False, LOGIN_FAILED)
    if account.password_initial and account.password_expires_at and account.password_expires_at <= at:
        await q.audit("login_refused_initial_expired", actor=user_id, subject=user_id, ip=ip)
        return LoginResult(
            False,
            "Your initial password has expired (it is valid for 72 hours). Use Forgot password to set a new one.",
        )
    if await mfa_q.has_factor(account.id):  # no session until the second step (portal.accounts.mfa)
        await q.audit("login_password_ok", actor=user_id, subject=user_id, ip=ip)
        halfway = await new_challenge(account.id, ChallengePurpose.LOGIN)
        return LoginResult(True, session_token=halfway.token, account=account, second_step=True)
    async with transaction():
        token = await open_session(account, amr="pwd", mfa_at=None, mode=mfa_mode)
        await q.audit("login", actor=user_id, subject=user_id, ip=ip, amr="pwd")
    return LoginResult(True, session_token=token, account=account)


async def open_session(account: Account, *, amr: str, mfa_at: datetime | None, mode: str) -> str:
    """A new session of ``account`` signed in with ``amr``; its token (only the hash is stored).
    Without a second factor, an account that must use one reaches only enrolment."""
    token = secrets.token_urlsafe(32)  # 256 bits
    required = mfa_at is None and await required_for(account, mode)
    await q.create_session(token_hash(token), account.id, amr=amr, mfa_at=mfa_at, mfa_required=required)
    return token


async def required_for(account: Account, mode: str) -> bool:
    """Whether ``account`` must sign in with a second factor (``PORTAL_MFA_REQUIRED``): ``off``,
    nobody; ``all``, everyone; ``approvers-and-marked`` (the default), every approver, every
    holder of a role the catalog marks ``mfa = true``, and every account the help desk reset."""
    if mode == "off":
        return False
    if mode == "all" or account.mfa_enrol_required:
        return True
    return bool(await q.approver_rights(account.id)) or await mfa_q.holds_mfa_role(account.id)


class NewChallenge(NamedTuple):
    token: str  # random, for the cookie or the form (only its hash is stored)
    challenge: str  # the WebAuthn challenge, base64url


async def new_challenge(account_id: int, purpose: ChallengePurpose) -> NewChallenge:
    """A halfway sign-in, or a passkey ceremony, of ``account_id``: ten minutes, with a fresh
    WebAuthn challenge."""
    token = secrets.token_urlsafe(32)
    challenge = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    await mfa_q.create_challenge(token_hash(token), account_id, purpose, challenge, CHALLENGE_LIFETIME)
    return NewChallenge(token, challenge)


async def account_of(session: SignedIn) -> Account | None:
    """The account a session is signed in as (None once deleted)."""
    return await q.account_by_user_id(session.user_id)


async def landing(account_id: int) -> str:
    """The route an account lands on after signing in: an approver's work is the queue."""
    return "approvals:table" if await q.approver_rights(account_id) else "accounts:applications"


async def current_session(token: str | None) -> SignedIn | None:
    """The signed-in account for a session token, or None when absent, idle 30 minutes, or
    older than 12 hours (an expired session is deleted)."""
    if not token or len(token) > 100:
        return None
    hashed = token_hash(token)
    session = await q.session_with_account(hashed, idle=IDLE_TIMEOUT, absolute=ABSOLUTE_TIMEOUT)
    if session is None:
        return None
    at = now()
    if session.expires_at <= at:  # idle for IDLE_TIMEOUT, or ABSOLUTE_TIMEOUT since sign-in: the earlier
        await q.delete_session(hashed)
        return None
    if session.last_seen_at <= at - timedelta(seconds=30):
        await q.touch_session(session.session_id)
        session = msgspec.structs.replace(session, last_seen_at=at, expires_at=min(at + IDLE_TIMEOUT, session.ends_at))
    return session


async def logout(token: str | None, session: SignedIn | None, *, ip: str) -> None:
    """End the session ``token`` names; ``session`` is what it was signed in as (None when it
    had already lapsed)."""
    if token:
        await q.delete_session(token_hash(token))
    if session:
        await q.audit("logout", actor=session.user_id, subject=session.user_id, ip=ip)


@dataclass
class ChangeResult:
    errors: dict[str, str]
    session_token: str = ""


async def change_password(
    session: SignedIn, current: str, new: str, confirm: str, *, secret_key: str, ip: str, mfa_mode: str
) -> ChangeResult:
    """Current password required; the policy; not the same as before. On success the session id
    rotates and every other session of the account ends."""
    errors: dict[str, str] = {}
    account = await q.account_by_user_id(session.user_id)
    if account is None:  # deleted meanwhile: its sessions went with it
        return ChangeResult({"current_password": "Your current password is not correct"})
    if not current:
        errors["current_password"] = "Enter your current password"
    elif await check_password(account.user_id, normalise(current), secret_key=secret_key, ip=ip, at=now()) is None:
        # A wrong current password counts toward the lockout like a wrong login (a stolen
        # session must not be a way to guess the password without limit).
        errors["current_password"] = "Your current password is not correct"
    errors |= _new_password_errors(account, new, confirm)
    if not errors.get("new_password") and "current_password" not in errors and normalise(new) == normalise(current):
        errors["new_password"] = "Your new password must be different from your current password"
        errors.pop("confirm_password", None)
    if errors:
        return ChangeResult(errors)
    hashed = await hash_secret(normalise(new))
    async with transaction():
        await set_password(account, hashed, secret_key=secret_key)
        # The new session keeps how this one was signed in (and its second factor, if any).
        token = await open_session(account, amr=session.amr, mfa_at=session.mfa_at, mode=mfa_mode)
        await q.audit("password_changed", actor=account.user_id, subject=account.user_id, ip=ip)
    return ChangeResult({}, token)


def _new_password_errors(account: Account, new: str, confirm: str) -> dict[str, str]:
    """The policy for a new password chosen by this account's holder, and its confirmation."""
    if not new:
        return {"new_password": "Enter a new password"}
    reason = problem(new, user_id=account.user_id, names=(account.first_name, account.last_name))
    if reason:
        return {"new_password": reason}
    if normalise(confirm) != normalise(new):
        return {"confirm_password": "The passwords do not match"}
    return {}


async def set_password(account: Account, hashed: str, *, secret_key: str, initial: bool = False) -> None:
    """Inside a transaction: the password of ``account`` from now on (or, ``initial``, a one-time
    password to change within 72 hours); every session and open recovery link of the account
    ends, and any lockout."""
    until = now() + INITIAL_PASSWORD_LIFETIME if initial else None
    await q.set_password_hash(account.id, hashed, initial_until=until)
    await q.clear_lockout(throttle_key(account.user_id, secret_key))
    await q.delete_sessions_of(account.id)
    await q.close_resets_of(account.id)


async def reset_password(reset_hash: str, new: str, confirm: str, *, secret_key: str, ip: str) -> dict[str, str]:
    """Use a recovery link: the errors to show, none when the password was set. LinkSpent when
    the link is expired or used (also by a parallel request)."""
    account = await q.reset_owner(reset_hash, LinkPurpose.PASSWORD)
    if account is None:
        raise LinkSpent(LinkPurpose.PASSWORD)
    errors = _new_password_errors(account, new, confirm)
    if errors:
        return errors
    hashed = await hash_secret(normalise(new))
    async with transaction():
        if await q.use_reset(reset_hash, LinkPurpose.PASSWORD) is None:
            raise LinkSpent(LinkPurpose.PASSWORD)
        await set_password(account, hashed, secret_key=secret_key)
        await q.audit("password_reset", actor=account.user_id, subject=account.user_id, ip=ip)
    return {}


# ---- Creating accounts (approver CLI, provisioning) -------------------------------------------


@dataclass(frozen=True)
class InitialPassword:
    password: str
    hashed: str


def new_initial_password() -> InitialPassword:
    """A random initial password meeting the policy (114 bits), and its salted SHA-256
    (``hashing.hash_random_secret``: no argon2id for a secret nobody chose)."""
    password = initial_password()
    return InitialPassword(password, hash_random_secret(password))


async def create_account(
    *,
    first_name: str,
    last_name: str,
    email: str,
    initial: InitialPassword,
    questions: Questions | None = None,
) -> tuple[int, str]:
    """An account with a unique User ID and the given initial password (valid 72 hours), stored
    only as its hash. Call inside a transaction. Returns (id, User ID)."""
    for _ in range(20):
        user_id = new_user_id()
        if not await q.user_id_exists(user_id):
            break
    else:  # pragma: no cover - 21^4 * 8^3 = 99 million IDs
        raise RuntimeError("could not find a free User ID")
    account_id = await q.insert_account(
        user_id=user_id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        password_hash=initial.hashed,
        expires_at=now() + INITIAL_PASSWORD_LIFETIME,
        questions=questions or [],
    )
    return account_id, user_id


# ---- Recovery ---------------------------------------------------------------------------------


def questions_for(account: Account | None, email: str, secret_key: str) -> list[str]:
    """The keys of the questions to ask about ``email``: all of its account's own (two or
    three; an account from before 2026-12-03 its first two), or, for an address with no
    account, two or three chosen from the address with a keyed hash, so the same address always
    gets the same questions and nobody can tell from the page whether it has an account. Only
    the email address decides: a User ID typed beside it changes nothing, so the page never
    confirms that an ID and an address belong together."""
    chosen = account.questions if account else []
    own = [k for k in question_keys(chosen) if k in QUESTIONS]
    if isinstance(chosen, AnswerSet) and len(own) == len(chosen.keys) >= MIN_QUESTIONS:
        return own
    if len(own) >= MIN_QUESTIONS:
        return own[:MIN_QUESTIONS]
    keys = sorted(QUESTIONS)
    digest = hmac.new(secret_key.encode(), email.casefold().encode(), hashlib.sha256).digest()
    count = SLOTS if digest[2] % 4 == 0 else MIN_QUESTIONS  # about as often as people answer three
    stand_ins: list[str] = []
    for byte in digest[:count]:
        rest = [k for k in keys if k not in stand_ins]
        stand_ins.append(rest[byte % len(rest)])
    return stand_ins


async def answers_match(account: Account | None, keys: list[str], answers: list[str]) -> bool:
    """Whether ``answers`` answer the questions ``keys`` (from ``questions_for``) of ``account``.
    Always two argon2id checks, off the loop, whatever the account, so no kind of account
    answers sooner than another: an AnswerSet is one check plus one against a dummy hash;
    per-answer hashes from before 2026-12-03 are a check for each of the two questions asked; an
    unknown account is two dummy checks. (The dummy check can go once no per-answer hashes remain.)"""
    chosen = account.questions if account else []
    checks: list[tuple[str, str]]
    if isinstance(chosen, AnswerSet):
        checks = [(chosen.answers_hash, answers_secret(list(zip(keys, answers, strict=False))))]
    else:
        hashes = {x.question: x.answer_hash for x in chosen}
        checks = [(hashes.get(k, DUMMY_HASH), normalise_answer(a)) for k, a in zip(keys, answers, strict=False)]
        checks = checks[:MIN_QUESTIONS] if len(keys) == MIN_QUESTIONS else []
    results = [await verify_secret(hashed, secret) for hashed, secret in (checks + [(DUMMY_HASH, "")] * 2)[:2]]
    return account is not None and bool(checks) and len(keys) == len(answers) and all(results[: len(checks)])


async def recover(
    what: LinkPurpose,
    account: Account | None,
    keys: list[str],
    answers: list[str],
    link_for: Callable[[str], str],
    *,
    ip: str,
) -> None:
    """Forgot password / Forgot User ID, once the person has answered the questions ``keys``:
    when the answers match the account's, email its verified address a single-use link valid
    30 minutes (``link_for`` turns the link's secret id into its signed address), unless that
    address has had its recovery emails for the hour or the day; otherwise only audit the
    refusal. The caller answers the same either way, so nothing tells them apart."""
    matched = await answers_match(account, keys, answers)  # always: an unknown account costs the same
    if account is None or not matched:
        subject = account.user_id if account else "unknown"
        await q.audit(f"recovery_{what}_refused", actor="anonymous", subject=subject, ip=ip)
        return
    link_id = secrets.token_urlsafe(24)
    async with transaction():
        if await caps.may_email(account.email, caps.RECOVERY, now()):
            await q.audit(f"recovery_{what}_capped", actor="anonymous", subject=account.user_id, ip=ip)
            return
        await q.create_reset(token_hash(link_id), account.id, RESET_LIFETIME, what)
        if what is LinkPurpose.PASSWORD:
            await messages.password_reset(to=account.email, link=link_for(link_id))
        else:
            await messages.user_id_link(to=account.email, link=link_for(link_id))
        await q.audit(f"recovery_{what}_sent", actor="anonymous", subject=account.user_id, ip=ip)


async def reveal_user_id(link_hash: str, *, ip: str) -> str:
    """Use a Forgot User ID link: its account's User ID. LinkSpent when the link is expired or
    already used (also by a parallel request)."""
    account = await q.reset_owner(link_hash, LinkPurpose.USER_ID)
    if account is None:
        raise LinkSpent(LinkPurpose.USER_ID)
    async with transaction():
        if await q.use_reset(link_hash, LinkPurpose.USER_ID) is None:
            raise LinkSpent(LinkPurpose.USER_ID)
        await q.audit("user_id_shown", actor=account.user_id, subject=account.user_id, ip=ip)
    return account.user_id


async def revoke_grant(user_id: str, application: str, role: str, *, reason: str) -> bool:
    """The help desk takes a role away (``access revoke``); audited with its reason. False when
    the account does not hold it. Single sign-on refuses the next token for it."""
    account = await q.account_by_user_id(user_id.strip().upper())
    if account is None:
        return False
    async with transaction():
        removed = await q.remove_grant(account.id, application.strip().upper(), role.strip())
        if removed:
            await q.audit(
                "grant_revoked",
                actor="operator",
                subject=account.user_id,
                application=application,
                role=role,
                reason=reason,
            )
    return removed
