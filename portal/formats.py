"""The formats a catalog field may declare (``format = "..."`` in catalog.toml): how a typed
value is prepared before the field's pattern is matched, how it is stored once it passes, and
any check a regular expression cannot make. A catalog naming a format not listed here is
refused by ``catalog load``."""

from __future__ import annotations

from collections.abc import Callable

import msgspec


def luhn_valid(digits: str) -> bool:
    """The Luhn (mod 10) check used by card numbers and, with a prefix, by the NPI."""
    if not digits.isascii() or not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def npi_valid(value: str) -> bool:
    """A National Provider Identifier: 10 digits whose last is a Luhn check digit computed
    over the prefix 80840 and the first nine digits (CMS NPI check digit rule)."""
    return len(value) == 10 and value.isascii() and value.isdigit() and luhn_valid("80840" + value)


def _same(value: str) -> str:
    return value


def _always(value: str) -> bool:
    return True


class Format(msgspec.Struct, frozen=True):
    prepare: Callable[[str], str] = _same  # before the pattern: what people type, made canonical
    store: Callable[[str], str] = _same  # after it passes: the value kept
    check: Callable[[str], bool] = _always  # beyond the pattern


FORMATS: dict[str, Format] = {
    "text": Format(),  # as typed (trimmed)
    "code": Format(prepare=str.upper),  # an identifier in capitals: "h1234" is H1234
    "tin": Format(store=lambda v: v.replace("-", "")),  # 12-3456789 is kept as 123456789
    "npi": Format(check=npi_valid),  # 10 digits with the NPI's Luhn check digit
}
