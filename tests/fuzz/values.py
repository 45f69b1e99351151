"""Hostile values, drawn from a seeded ``random.Random``.

A value is ``str`` (sent UTF-8 encoded) or ``bytes`` (sent as these exact bytes: invalid UTF-8,
CESU-encoded lone surrogates), which the encoders percent-encode for a URL or an urlencoded body
and put raw in a multipart part. Valid-looking values (``Pools``) are drawn often, so that a
request gets past its first check and the deeper ones are reached too."""

from __future__ import annotations

import random
from collections.abc import Iterable

Value = str | bytes

# Markers whose unescaped echo in a response is a failure (see runner.ECHO_MARKERS).
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
SVG = "'><svg onload=alert(1)>"

C0 = [chr(i) for i in range(0x20)] + ["\x7f"]
C1 = [chr(i) for i in range(0x80, 0xA0)]
FORMAT = [
    "\u202e",  # right-to-left override
    "\u202d",
    "\u202a",
    "\u202b",
    "\u202c",
    "\u2066",  # left-to-right isolate
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",  # zero width space
    "\u200c",
    "\u200d",
    "\u2060",
    "\ufeff",  # BOM
    "\u00ad",
    "\u180e",
    "\U000e0041",  # tag character
    "\u2028",  # line separator (Zl)
    "\u2029",  # paragraph separator (Zp)
    "\ue000",  # private use
    "\U000f0000",
    "\ufffe",  # noncharacters
    "\uffff",
    "\ufdd0",
    "\U0010ffff",
    "\ufffd",
]
SURROGATES = ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"]
BAD_UTF8 = [
    b"\xff",
    b"\xfe",
    b"\xff\xfe",
    b"\xc3\x28",
    b"\xa0\xa1",
    b"\xe2\x28\xa1",
    b"\xe2\x82",
    b"\xf0\x28\x8c\xbc",
    b"\xf8\xa1\xa1\xa1\xa1",
    b"\xc0\xaf",
    b"\xc0\x80",
    b"\xed\xa0\x80",
    b"\xef\xbf\xbe",
    b"\x80",
    b"\xf4\x90\x80\x80",
]
MARKUP = [
    SCRIPT,
    IMG,
    SVG,
    "<b>bold</b>",
    "</textarea><script>alert(1)</script>",
    "</title><script>alert(1)</script>",
    "<a href=javascript:alert(1)>x</a>",
    "<iframe src=//evil.example>",
    "<!--",
    "]]>",
    "&lt;script&gt;",
    "&#60;script&#62;",
    "{{7*7}}",
    "{% include 'base.html' %}",
    "${7*7}",
    "<",
    ">",
    '"',
    "'",
    "&",
]
SQL = [
    "' OR '1'='1",
    "'; DROP TABLE account; --",
    '" OR ""="',
    "1) OR (1=1",
    "%",
    "_",
    "%%",
    "\\",
    "' UNION SELECT password_hash FROM account --",
    "$1",
    "?",
    ":name",
    "admin'--",
]
NUMBERS = [
    "9" * 400,
    "-1",
    "0",
    "00000",
    "1e309",
    "-0",
    "0x1F",
    "1_000",
    "NaN",
    "Infinity",
    "+1",
    "\uff11\uff12\uff13\uff14\uff15\uff16",  # fullwidth digits
    "\u0661\u0662\u0663\u0664\u0665\u0666",  # Arabic-Indic digits
    "1.5",
    "2147483648",
    "9223372036854775808",
    "99999999999999999999999999",
    " 123456 ",
    "123 456",
]
UNICODE = [
    "\uff21\uff4e\uff41",  # fullwidth
    "e\u0301",
    "Zo\u00eb",
    "\u00c5sa",
    "\u01c5",
    "\ufb01",
    "\u0130stanbul",
    "stra\u00dfe",
    "\u212a",  # Kelvin sign
    "\U0001f600",
    "\U0001f469\u200d\u2695\ufe0f",
    "\u0645\u0631\u062d\u0628\u0627",
    "\u05e9\u05dc\u05d5\u05dd",
    "\u6f22\u5b57",
    "\u16a0\u16c7\u16bb",
    "\u0301",
    "a" + "\u0300\u0301\u0302\u0303" * 20,
    "\U0001d400",
    "\u216b",
    "\u00b2",
    "\u3000",
    "\u00a0",
    "\u02bc",
    "\u2019",
]
PATHS = [
    "../../etc/passwd",
    "..%2f..%2fetc%2fpasswd",
    "//evil.example",
    "https://evil.example/",
    "/\\evil.example",
    "\\\\evil",
    "/approvals/../login",
    "/approvals?x=1",
    "/approvals#frag",
    "/approvals\r\nSet-Cookie: x=1",
    "file:///etc/passwd",
    "data:text/html,<script>alert(1)</script>",
    "javascript:alert(1)",
    "/approvals//evil.example",
    "/approvals/%2e%2e/login",
]
FORMAT_STRINGS = ["%s%s%s%n", "{0}", "{}", "%(x)s", "{{", "}}", "%x" * 20]

# Kinds of value and their weights.
KINDS = {
    "valid": 30,
    "valid_other": 5,
    "empty": 5,
    "blank": 2,
    "long": 4,
    "huge": 0.3,
    "control": 6,
    "format": 6,
    "surrogate": 2,
    "bad_utf8": 5,
    "markup": 9,
    "sql": 3,
    "number": 3,
    "unicode": 4,
    "path": 3,
    "format_string": 1,
    "mutated": 5,
    "random": 4,
}

# Field or parameter name -> the pool of valid-looking values it draws from.
POOL_OF = {
    "email_confirm": "email",
    "password": "password",
    "current_password": "password",
    "new_password": "password",
    "confirm_password": "password",
    "answer_1": "answer",
    "answer_2": "answer",
    "answer_3": "answer",
    "question_1": "question",
    "question_2": "question",
    "question_3": "question",
    "selected": "tracking",
    "tracking_number": "tracking",
    "application": "app_code",
    "code@path": "app_code",
    "q": "search",
    "identifier": "user_id",
}


class Pools:
    """Valid-looking values by pool name; the runner adds to them as the run goes on (tracking
    numbers, User IDs, emailed links)."""

    def __init__(self, initial: dict[str, Iterable[str]] | None = None) -> None:
        self._pools: dict[str, list[str]] = {}
        for name, values in (initial or {}).items():
            self.add(name, *values)

    def add(self, name: str, *values: str) -> None:
        pool = self._pools.setdefault(name, [])
        for value in values:
            if value not in pool:
                pool.append(value)
        del pool[:-200]  # the newest 200

    def get(self, name: str) -> list[str]:
        return self._pools.get(POOL_OF.get(name, name), [])

    def names(self) -> list[str]:
        return sorted(self._pools)

    def any(self, rng: random.Random) -> str:
        pool = self._pools[pick(rng, self.names())]
        return pick(rng, pool) if pool else ""


def below(rng: random.Random, n: int) -> int:
    """A number in [0, n) that always spends one draw of ``rng``, whatever ``n`` is (``choice``
    and ``randint`` spend more for some sizes): so values drawn from pools whose sizes differ
    between runs do not shift the draws after them."""
    return min(int(rng.random() * n), max(n - 1, 0))


def pick(rng: random.Random, seq):
    return seq[below(rng, len(seq))]


def _embed(rng: random.Random, base: str, inject: str) -> str:
    at = [0, len(base), below(rng, len(base) + 1)][below(rng, 3)]
    return base[:at] + inject + base[at:]


class Values:
    def __init__(self, rng: random.Random, pools: Pools) -> None:
        self.rng = rng
        self.pools = pools
        self._kinds = list(KINDS)
        self._weights = [KINDS[k] for k in self._kinds]

    def kind(self, where: str, hostile: bool = False) -> str:
        while True:
            kind = self.rng.choices(self._kinds, self._weights)[0]
            if (kind == "huge" and where != "body") or (hostile and kind in {"valid", "valid_other"}):
                continue
            return kind

    def valid(self, name: str) -> str:
        pool = self.pools.get(name)
        return pick(self.rng, pool) if pool else self.pools.any(self.rng)

    def value(self, name: str, where: str = "body", *, hostile: bool = False, base: str | None = None) -> Value:
        """A value for the field or parameter ``name`` sent in ``where`` (body, query, path);
        ``hostile``: never a valid-looking one; ``base``: the valid value to start from."""
        rng = self.rng
        kind = self.kind(where, hostile)
        base = self.valid(name) if base is None else base
        if kind == "valid":
            return base
        if kind == "valid_other":
            return self.pools.any(rng)
        if kind == "empty":
            return ""
        if kind == "blank":
            return rng.choice([" ", "   ", "\u00a0", "\u3000", "\t", " \n "])
        if kind == "long":
            unit = rng.choice(["a", "9", "\u00e9", "<", "\u202e", "\u5b57", "\U0001f600", " ", base or "x", "%"])
            return (unit * (10_000 // max(1, len(unit)) + 1))[:10_000]
        if kind == "huge":
            return rng.choice(["A", "\u00e9", base or "x"]) * (1_000_000 // max(1, len(base or "x")))
        if kind == "control":
            out = _embed(rng, base, rng.choice(C0 + C1))
            return _embed(rng, out, "\x00") if rng.random() < 0.3 else out
        if kind == "format":
            out = base
            for _ in range(rng.randint(1, 3)):
                out = _embed(rng, out, rng.choice(FORMAT))
            return out
        if kind == "surrogate":
            return _embed(rng, base, rng.choice(SURROGATES)).encode("utf-8", "surrogatepass")
        if kind == "bad_utf8":
            raw = base.encode()
            at = below(rng, len(raw) + 1)
            return raw[:at] + rng.choice(BAD_UTF8) + raw[at:]
        if kind == "markup":
            return rng.choice([rng.choice(MARKUP), _embed(rng, base, rng.choice(MARKUP))])
        if kind == "sql":
            return rng.choice([rng.choice(SQL), base + rng.choice(SQL)])
        if kind == "number":
            return rng.choice(NUMBERS)
        if kind == "unicode":
            return rng.choice([rng.choice(UNICODE), _embed(rng, base, rng.choice(UNICODE))])
        if kind == "path":
            return rng.choice(PATHS)
        if kind == "format_string":
            return rng.choice(FORMAT_STRINGS)
        if kind == "mutated":
            if not base:
                return chr(rng.randint(1, 0x2FFFF)).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            at = below(rng, len(base))
            ch = chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA0, 0x2FFF), rng.randint(0x10000, 0x1FFFF)]))
            return base[:at] + ch + base[at + rng.randint(0, 1) :]
        # random: any code point of the first planes, surrogates excluded
        chars = []
        for _ in range(rng.randint(1, 60)):
            cp = rng.choice([rng.randint(0, 0x7F), rng.randint(0x80, 0x7FF), rng.randint(0x800, 0xFFFF), 0x1F600])
            chars.append(chr(cp if not 0xD800 <= cp <= 0xDFFF else 0xFFFD))
        return "".join(chars)
