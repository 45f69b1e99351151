"""Format checks for identifiers, beyond what a regular expression can say."""

from __future__ import annotations


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


# Named extra checks a catalog field may ask for (CatalogField.check).
EXTRA_CHECKS = {"npi": npi_valid}
