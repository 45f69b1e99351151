"""Email verification rules: 6-digit codes valid 30 minutes, resend at most once a minute and
five times an hour, five wrong tries in an hour void the code (a resend does not reset them)."""

from __future__ import annotations

import enum
import hmac
import secrets
from datetime import datetime, timedelta
from typing import Any

CODE_LIFETIME = timedelta(minutes=30)
RESEND_GAP = timedelta(minutes=1)
WINDOW = timedelta(hours=1)
MAX_SENDS_PER_HOUR = 5
MAX_WRONG_PER_HOUR = 5


def new_code() -> str:
    return f"{secrets.randbelow(1_000_000):06d}"


def _in_last_hour(stamp: str, at: datetime) -> bool:
    return datetime.fromisoformat(stamp) > at - WINDOW


def recent_sends(sends: list[dict[str, str]], at: datetime) -> list[dict[str, str]]:
    """The sends ({"at": ISO time, "digest": the code's}) of the last hour, oldest first."""
    return sorted((s for s in sends or [] if _in_last_hour(s["at"], at)), key=lambda s: s["at"])


def recent_wrong_tries(tries: list[str], at: datetime) -> list[str]:
    """The wrong tries (ISO times) of the last hour, oldest first."""
    return sorted(t for t in tries or [] if _in_last_hour(t, at))


class ResendVerdict(enum.Enum):
    ALLOWED = "allowed"
    TOO_SOON = "too_soon"
    HOURLY_LIMIT = "hourly_limit"


def may_send(sends: list[dict[str, str]], at: datetime) -> tuple[ResendVerdict, datetime | None]:
    """Whether a new code may be sent now; when not, the time it may."""
    last_hour = [datetime.fromisoformat(s["at"]) for s in recent_sends(sends, at)]
    if len(last_hour) >= MAX_SENDS_PER_HOUR:
        return ResendVerdict.HOURLY_LIMIT, last_hour[0] + WINDOW
    if last_hour and last_hour[-1] + RESEND_GAP > at:
        return ResendVerdict.TOO_SOON, last_hour[-1] + RESEND_GAP
    return ResendVerdict.ALLOWED, None


class CodeVerdict(enum.Enum):
    VERIFIED = "verified"
    WRONG = "wrong"
    EXPIRED = "expired"
    VOIDED = "voided"  # replaced by a newer code, or voided by too many wrong tries
    LOCKED = "locked"  # five wrong tries in the last hour: wait
    NO_CODE = "no_code"


def judge(draft: dict[str, Any], digest: str, at: datetime) -> CodeVerdict:
    if len(recent_wrong_tries(draft.get("code_wrong_tries"), at)) >= MAX_WRONG_PER_HOUR:
        return CodeVerdict.LOCKED
    current = draft.get("code_hash")
    if not current:
        return CodeVerdict.NO_CODE
    if hmac.compare_digest(current, digest):
        if draft.get("code_voided"):
            return CodeVerdict.VOIDED
        if draft["code_expires_at"] <= at:
            return CodeVerdict.EXPIRED
        return CodeVerdict.VERIFIED
    if any(hmac.compare_digest(s["digest"], digest) for s in draft.get("code_sends") or []):
        return CodeVerdict.VOIDED  # an earlier code, replaced by a resend
    return CodeVerdict.WRONG


def unlock_time(wrong_tries: list[str], at: datetime) -> datetime:
    last_hour = recent_wrong_tries(wrong_tries, at)
    return datetime.fromisoformat(last_hour[0]) + WINDOW if last_hour else at
