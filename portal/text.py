"""Text as people type it: trimmed, normalised, and email addresses in their one form."""

from __future__ import annotations

import re
import unicodedata

from email_validator import EmailNotValidError, validate_email

from portal.invisible import CONTROL

MAX_NAME = 50  # the longest first or last name


_BREAKS = re.compile(r"[\t\r\n]+")


def clean(value: str) -> str:
    """Trim, NFC-normalise, fold tabs and line breaks into a space, drop other controls."""
    return CONTROL.sub("", _BREAKS.sub(" ", unicodedata.normalize("NFC", value))).strip()


def normalise_email(value: str) -> str | None:
    """The address in lower case, or None when it is not an email address."""
    try:
        info = validate_email(clean(value), check_deliverability=False)
    except EmailNotValidError:
        return None
    return info.normalized.lower()
