"""Email verification rules: 6-digit codes valid 30 minutes, resend at most once a minute and
five times an hour, five wrong tries in an hour void the code (a resend does not reset them)."""

from __future__ import annotations

import enum
import hmac
import secrets
from datetime import datetime, timedelta

from portal.models.rows import CodeSend, Draft

CODE_LIFETIME = timedelta(minutes=30)
RESEND_GAP = timedelta(minutes=1)
WINDOW = timedelta(hours=1)
MAX_SENDS_PER_HOUR = 5
MAX_WRONG_PER_HOUR = 5


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _in_last_hour(stamp: str, at: datetime) -> bool:
    return datetime.fromisoformat(stamp) > at - WINDOW


def recent_sends(sends: list[CodeSend], at: datetime) -> list[CodeSend]:
    """The sends of the last hour, oldest first."""
    return sorted((s for s in sends if _in_last_hour(s.at, at)), key=lambda s: s.at)


def recent_wrong_tries(tries: list[str], at: datetime) -> list[str]:
    """The wrong tries (ISO times) of the last hour, oldest first."""
    return sorted(t for t in tries if _in_last_hour(t, at))


class ResendVerdict(enum.Enum):
    ALLOWED = "allowed"
    TOO_SOON = "too_soon"
    HOURLY_LIMIT = "hourly_limit"


def may_send(sends: list[CodeSend], at: datetime) -> tuple[ResendVerdict, datetime]:
    """Whether a new code may be sent now; when not, the time it may (``at`` when it may now)."""
    last_hour = [datetime.fromisoformat(s.at) for s in recent_sends(sends, at)]
    if len(last_hour) >= MAX_SENDS_PER_HOUR:
        return ResendVerdict.HOURLY_LIMIT, last_hour[0] + WINDOW
    if last_hour and last_hour[-1] + RESEND_GAP > at:
        return ResendVerdict.TOO_SOON, last_hour[-1] + RESEND_GAP
    return ResendVerdict.ALLOWED, at


class CodeVerdict(enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    VOIDED = "voided"  # replaced by a newer code, or voided by too many wrong tries
    LOCKED = "locked"  # five wrong tries in the last hour: wait
    NO_CODE = "no_code"


def judge(draft: Draft, digest: str, at: datetime) -> CodeVerdict:
    if len(recent_wrong_tries(draft.code_wrong_tries, at)) >= MAX_WRONG_PER_HOUR:
        return CodeVerdict.LOCKED
    current = draft.code_hash
    if not current:
        return CodeVerdict.NO_CODE
    if hmac.compare_digest(current, digest):
        if draft.code_voided:
            return CodeVerdict.VOIDED
        if draft.code_expires_at is None or draft.code_expires_at <= at:
            return CodeVerdict.EXPIRED
        return CodeVerdict.VERIFIED
    if any(hmac.compare_digest(s.digest, digest) for s in draft.code_sends):
        return CodeVerdict.VOIDED  # an earlier code, replaced by a resend
    return CodeVerdict.WRONG


def unlock_time(wrong_tries: list[str], at: datetime) -> datetime:
    last_hour = recent_wrong_tries(wrong_tries, at)
    return datetime.fromisoformat(last_hour[0]) + WINDOW if last_hour else at
