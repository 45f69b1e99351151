"""User IDs: short (7 characters) and unambiguous: no 0/O, 1/I/L, and no U or V either."""

from __future__ import annotations

import secrets

LETTERS = "ABCDEFGHJKMNPQRSTWXYZ"
DIGITS = "23456789"


def new_user_id() -> str:
    """Four letters then three digits, e.g. ``KXPT472``: easy to read out and to type."""
    return "".join(secrets.choice(LETTERS) for _ in range(4)) + "".join(secrets.choice(DIGITS) for _ in range(3))


def looks_like_user_id(value: str) -> bool:
    return len(value) == 7 and all(c in LETTERS for c in value[:4]) and all(c in DIGITS for c in value[4:])
