"""Password policy after NIST SP 800-63B rev. 4 for password-only login: at least 15
characters, at least 64 accepted and never truncated, no composition rules, no expiry; refused
with the reason when it is commonly used, contains the User ID, the person's name or the
portal's own words. The common-password list is zxcvbn's (30,000 most used passwords)."""

from __future__ import annotations

import re
import secrets
import unicodedata
from functools import lru_cache
from itertools import pairwise

from portal.invisible import has_invisible

MIN_LENGTH = 15
MAX_LENGTH = 256  # far above the 64 NIST asks to accept; bounds the hashing work
PORTAL_WORDS = ("iacs", "cms")


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    return frozenset(FREQUENCY_LISTS["passwords"])


def normalise(password: str) -> str:
    """NFC, as 800-63B rev. 4 recommends before hashing; nothing is removed or truncated."""
    return unicodedata.normalize("NFC", password)


def _is_repetition(text: str) -> bool:
    return len(text) >= 2 and (text + text).find(text, 1) != len(text)


def _is_sequence(text: str) -> bool:
    """abcdef..., 98765..., 1234567890123 (digits wrap from 9 to 0)."""
    if len(text) < 4:
        return False
    diffs = {ord(b) - ord(a) for a, b in pairwise(text)}
    if text.isdigit():
        return {d % 10 for d in diffs} in ({1}, {9})
    return diffs in ({1}, {-1})


def problem(password: str, *, user_id: str = "", names: tuple[str, ...] = ()) -> str | None:
    """The reason a new password is refused, or None when it is acceptable."""
    pw = normalise(password)
    if has_invisible(pw):
        return "Your password must not contain invisible or control characters"
    if len(pw) < MIN_LENGTH:
        return f"Your password must be at least {MIN_LENGTH} characters long"
    if len(pw) > MAX_LENGTH:
        return f"Your password must be {MAX_LENGTH} characters or fewer"
    lowered = pw.casefold()
    if lowered in common_passwords():
        return "This password is on a list of commonly used passwords: choose another"
    if _is_repetition(lowered):
        return "Your password must not be the same characters repeated"
    if _is_sequence(lowered):
        return "Your password must not be a simple sequence like 123456789 or abcdefgh"
    core = re.sub(r"^[\W\d_]+|[\W\d_]+$", "", lowered)
    if core and core != lowered and (core in common_passwords() or _is_repetition(core) or _is_sequence(core)):
        return "This password is a commonly used password with numbers or symbols added: choose another"
    if user_id and user_id.casefold() in lowered:
        return "Your password must not contain your User ID"
    for name in names:
        if name and len(name) >= 3 and name.casefold() in lowered:
            return "Your password must not contain your name"
    for word in PORTAL_WORDS:
        if word in lowered:
            return "Your password must not contain the words CMS or IACS"
    return None


_ALPHABET = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"


def initial_password() -> str:
    """A random initial password that meets the policy: 4 groups of 5 from an unambiguous
    alphabet (about 114 bits), e.g. ``k7Hq2-XmP9r-...``."""
    while True:
        groups = ["".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(4)]
        candidate = "-".join(groups)
        if problem(candidate) is None:
            return candidate
