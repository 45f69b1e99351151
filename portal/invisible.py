"""Characters nobody can see: controls, format characters (bidi overrides such as U+202E,
zero-width spaces and joiners, the BOM), surrogates, private-use characters and line or
paragraph separators. Text fields refuse them with a message, so no stored value, email or
approval table can be spoofed by them; tab, line feed and carriage return are ordinary
white space (the forms fold them into spaces or trim them)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

import msgspec
from markupsafe import Markup

# C1 controls, surrogates and noncharacters, which HTML forbids in a document.
_C1_AND_NONCHARACTERS = r"\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff\U0001fffe\U0001ffff\U0010fffe\U0010ffff"
# What the forms drop before they check a single-line value: the above and every C0 control.
CONTROL = re.compile(rf"[\x00-\x1f{_C1_AND_NONCHARACTERS}]")
# What HTML forbids in a document (tab and line breaks are allowed): never printed.
NOT_IN_HTML = re.compile(rf"[\x00-\x08\x0b\x0c\x0e-\x1f{_C1_AND_NONCHARACTERS}]")
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
ORDINARY = frozenset("\t\n\r")


def _refused(ch: str) -> bool:
    return ch not in ORDINARY and unicodedata.category(ch) in REFUSED_CATEGORIES


def has_invisible(value: str) -> bool:
    # str.isprintable() is False for every refused character (and for spaces other than
    # U+0020): the quick answer for the common case of plain text.
    return not value.isprintable() and any(_refused(ch) for ch in value)


def strip_invisible(value: str) -> str:
    return value if value.isprintable() else "".join(ch for ch in value if not _refused(ch))


def invisible_errors(form: msgspec.Struct, labels: Mapping[str, str], skip: tuple[str, ...] = ()) -> dict[str, str]:
    """A message for each text field of ``form`` that holds an invisible character."""
    errors = {}
    for name in form.__struct_fields__:
        value = getattr(form, name)
        if name not in skip and isinstance(value, str) and has_invisible(value):
            label = labels.get(name, "This answer")
            errors[name] = f"{label} must not contain invisible or control characters: type it again"
    return errors


def displayable(value: Any) -> Any:
    """Jinja's ``finalize``: whatever a page prints loses the characters HTML forbids and the
    invisible ones (a refused value is shown again without them), so no page can be spoofed."""
    if not isinstance(value, str) or isinstance(value, Markup) or value.isprintable():
        return value  # every character either pattern removes is unprintable: most text stops here
    return strip_invisible(NOT_IN_HTML.sub("", value))
