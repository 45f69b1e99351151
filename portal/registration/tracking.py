"""Tracking numbers: unguessable (12 characters of 30: about 59 random bits) and readable (no 0/O, 1/I/L or U)."""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"  # no 0 O 1 I L U
_SHAPE = re.compile(r"^IACS-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}$")


def new_tracking_number() -> str:
    chars = "".join(secrets.choice(ALPHABET) for _ in range(12))
    return f"IACS-{chars[:4]}-{chars[4:8]}-{chars[8:]}"


def normalise_tracking_number(value: str) -> str:
    """Accept what people type: any case, spaces, missing dashes or prefix."""
    raw = re.sub(r"[\s\-]", "", value.upper())
    raw = raw.removeprefix("IACS")
    if len(raw) != 12:
        return ""
    candidate = f"IACS-{raw[:4]}-{raw[4:8]}-{raw[8:]}"
    return candidate if _SHAPE.match(candidate) else ""
