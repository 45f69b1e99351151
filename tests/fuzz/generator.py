"""One fuzzed request: a route, a method, its path and query parameters, a body in some content
type with duplicated, missing and extra fields, a CSRF token (mostly valid), the persona's
cookies (now and then tampered with) and htmx headers on or off."""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass, field
from urllib.parse import quote, quote_from_bytes, quote_plus

from itsdangerous import URLSafeTimedSerializer

from tests.fuzz.routes import EXTRA_FIELDS, OLD_FIELDS, Route
from tests.fuzz.values import Value, Values, below, pick

BASE = "http://testserver.local"
METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS")
MAX_URL = 60_000  # httpx refuses URLs over 64 KiB
DRAFT_SALT = "iacs.registration-draft.v1"  # portal/drafts.py
WEIRD_CONTENT_TYPES = [
    b"application/x-www-form-urlencoded; charset=utf-16",
    b"application/x-www-form-urlencoded; charset=\xff\xfe",
    b"application/x-www-form-urlencoded; charset=latin-1",
    b"multipart/form-data",
    b"multipart/form-data; boundary=",
    b'multipart/form-data; boundary="',
    b"multipart/form-data; boundary=" + b"x" * 300,
    b"multipart/mixed; boundary=x",
    b"application/xml",
    b"*/*",
    b"application/x-www-form-urlencoded, application/json",
    b"",
    b"text/html; charset=utf-8",
    b"application/octet-stream",
    b"application/x-www-form-urlencoded\x00",
]


def _valid_values() -> dict[str, str]:
    from tests.integration.registration_flow import CONTACT, PERSONAL, QUESTIONS, ROLE_FIELDS

    return {**PERSONAL, **CONTACT, **QUESTIONS, **ROLE_FIELDS, "reason": "Not eligible", "back": "/approvals"}


VALID = _valid_values()  # what the integration tests register with
VALID_QUESTIONS = ("first-school", "first-car", "first-street", "first-employer", "childhood-friend")
NEW_PASSWORDS = ("violet canyon eleven harbours", "copper meadow ninety lanterns")
BODY_KINDS = {
    "urlencoded": 66,
    "urlencoded_raw": 4,
    "urlencoded_broken": 3,
    "multipart": 10,
    "multipart_broken": 3,
    "json": 6,
    "text": 3,
    "none": 2,
    "weird": 3,
}
CSRF_BROKEN = ("missing", "wrong", "other", "garbage", "nonascii", "short", "duplicate", "field_only_wrong")


def _enc(value: Value, plus: bool = True) -> str:
    """Percent-encoding of a value for a query string or an urlencoded body."""
    if isinstance(value, bytes):
        return quote_from_bytes(value, safe="")
    return quote_plus(value, safe="") if plus else quote(value, safe="")


def _latin1(value: Value) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8")


def _short(data: bytes | str | None, limit: int = 600) -> str:
    if data is None:
        return "None"
    if len(data) <= limit:
        return repr(data)
    return f"{data[: limit // 2]!r} ... {data[-limit // 4 :]!r} ({len(data)} {'bytes' if isinstance(data, bytes) else 'chars'})"


@dataclass
class FuzzRequest:
    persona: str
    route: Route
    method: str
    url: str
    headers: list[tuple[bytes, bytes]]
    body: bytes | None
    notes: list[str] = field(default_factory=list)
    label: str = ""  # which request of which run, e.g. "request 17 of seed 1"

    @property
    def path(self) -> str:
        return self.url.split("?", 1)[0]

    def repro(self) -> str:
        """Everything needed to send the request again (bodies over 600 bytes abridged)."""
        headers = ",\n    ".join(f"({k!r}, {_short(v, 300)})" for k, v in self.headers)
        return (
            f"{self.label + ': ' if self.label else ''}persona={self.persona} route={self.route.name}"
            f" notes={self.notes}\n"
            f"  await client.request({self.method!r}, {_short(self.url, 400)},\n"
            f"    headers=[{headers}],\n"
            f"    content={_short(self.body)})"
        )


class Generator:
    def __init__(
        self,
        rng: random.Random,
        values: Values,
        routes: list[Route],
        secret_key: str,
        roles: dict[str, list[str]] | None = None,
    ) -> None:
        self.rng = rng
        self.values = values
        self.routes = routes
        self.secret_key = secret_key
        self.roles = roles or {}  # application code -> its role codes
        self._body_kinds = list(BODY_KINDS)
        self._body_weights = [BODY_KINDS[k] for k in self._body_kinds]
        self._round = 0

    def reseed(self, rng: random.Random) -> None:
        """Draw the next request from ``rng``: one stream per request, so that request i of a
        seed has the same shape whatever the answers to the requests before it were."""
        self.rng = self.values.rng = rng

    # ---- route and method ----------------------------------------------------------------------

    def pick_route(self, persona: str) -> Route:
        """Every third request takes the next route in turn (so a short run drives every route);
        the others are drawn, with the persona's own journey five times as likely."""
        self._round += 1
        if self._round % 3 == 1:
            return self.routes[(self._round // 3) % len(self.routes)]
        own = {"applicant": "registration:", "holder": "accounts:", "approver": "approvals:"}.get(persona, "~")
        weights = [5 if r.name.startswith(own) else 1 for r in self.routes]
        return self.rng.choices(self.routes, weights)[0]

    def build(
        self, persona: str, jars: dict[str, list[tuple[str, str, str]]], hints: dict[str, str] | None = None
    ) -> FuzzRequest:
        """A request as ``persona`` (``jars``: every persona's cookies; ``hints``: this persona's
        email, User ID, password and application, for coherent valid forms)."""
        rng = self.rng
        route = self.pick_route(persona)
        method = route.method if rng.random() < 0.88 else rng.choice(METHODS)
        notes: list[str] = []
        if method != route.method:
            notes.append(f"method:{method}")
        path_values: dict[str, str] = {}
        path = self._path(route, notes, path_values)
        query = self._query(route, method, notes)
        url = path + (f"?{query}" if query or rng.random() < 0.02 else "")
        if len(url) > MAX_URL:
            notes.append("url-trimmed")
            url = url[:MAX_URL].rsplit("%", 1)[0]
        headers: list[tuple[bytes, bytes]] = []
        body = None
        with_body = method in {"POST", "PUT", "DELETE", "PATCH"} or rng.random() < 0.03
        csrf_value = _cookie(jars.get(persona, []), "csrftoken")
        csrf_mode = "valid" if rng.random() < 0.85 else rng.choice(CSRF_BROKEN)
        if csrf_mode != "valid":
            notes.append(f"csrf:{csrf_mode}")
        token_in_field = None
        if with_body:
            kind = rng.choices(self._body_kinds, self._body_weights)[0]
            notes.append(f"body:{kind}")
            app_code = path_values.get("code") or (hints or {}).get("app_code", "")
            pairs = self._pairs(route, notes, {**(hints or {}), "app_code": app_code})
            if csrf_mode in {"valid", "field_only_wrong"} and kind.startswith(("urlencoded", "multipart")):
                if rng.random() < 0.4 or csrf_mode == "field_only_wrong":
                    token_in_field = csrf_value if csrf_mode == "valid" else secrets.token_hex(64)
                    at = rng.choice([0, len(pairs)])
                    pairs.insert(at, ("_csrf_token", token_in_field))
            body, content_type = self._body(kind, pairs)
            if content_type is not None:
                headers.append((b"content-type", content_type))
        headers += self._csrf_headers(csrf_mode, csrf_value, token_in_field, persona, jars)
        headers += self._htmx_headers(notes)
        headers += self._other_headers(notes)
        cookie = self._cookie_header(persona, jars, path, notes)
        if cookie is not None:
            headers.append((b"cookie", cookie))
        return FuzzRequest(persona, route, method, url, headers, body, notes)

    # ---- URL --------------------------------------------------------------------------------

    def _path(self, route: Route, notes: list[str], chosen: dict[str, str]) -> str:
        path = route.path
        for name in route.path_params:
            key = "code@path" if name == "code" else name
            value = self.values.value(key, where="path")
            if isinstance(value, str):
                chosen[name] = value
            if isinstance(value, str) and len(value) > 10_000:
                value = value[:10_000]
            encoded = _enc(value, plus=False)
            if name == "name" or self.rng.random() < 0.1:  # {name:path}, or a slash left unescaped
                encoded = encoded.replace("%2F", "/")
            if len(encoded) > 30_000:
                encoded = "a" * 10_000
                notes.append("path-trimmed")
            typed = next(p for p in route.path.split("{")[1:] if p.startswith(f"{name}:"))
            path = path.replace("{" + typed.split("}")[0] + "}", encoded)
        return path

    def _query(self, route: Route, method: str, notes: list[str]) -> str:
        rng = self.rng
        parts: list[str] = []
        include = 0.7 if method in {"GET", "HEAD"} else 0.25
        for name in route.query:
            if rng.random() < include:
                parts.append(f"{_enc(name)}={_enc(self.values.value(name, where='query'))}")
                if rng.random() < 0.08:
                    notes.append(f"query-duplicate:{name}")
                    parts.append(f"{_enc(name)}={_enc(self.values.value(name, where='query'))}")
        if rng.random() < 0.12:
            name = rng.choice(EXTRA_FIELDS + ("q", "page", "from", "token", "role", "back", "done"))
            notes.append("query-extra")
            parts.append(f"{_enc(name)}={_enc(self.values.value(name, where='query'))}")
        if rng.random() < 0.03:
            notes.append("query-malformed")
            parts.append(rng.choice(["&&=&", "%zz=1", "=", "a", "%", "a=%", "a=%f", "%ff%fe=%00", "a=1;b=2", "+"]))
        if rng.random() < 0.2:
            rng.shuffle(parts)
        query = "&".join(parts)
        while len(query) > MAX_URL - 200 and parts:
            parts.remove(max(parts, key=len))
            query = "&".join(parts)
            if "query-trimmed" not in notes:
                notes.append("query-trimmed")
        return query

    # ---- body -------------------------------------------------------------------------------

    def valid_form(self, route: Route, hints: dict[str, str]) -> dict[str, str]:
        """A form of ``route`` the portal would accept, as far as the fuzzer can tell: the
        integration tests' valid values, agreeing with each other and with the persona (its
        email, User ID and password, a role of its application); pools for the rest."""
        rng, v = self.rng, self.values
        form = {name: VALID[name] if name in VALID else v.valid(name) for name in route.fields}
        for name in ("email", "email_confirm"):
            if name in form:
                form[name] = hints.get("email") or form.get("email") or v.valid("email")
        if "role" in form:
            roles = self.roles.get(hints.get("app_code", "").upper())
            form["role"] = pick(rng, roles) if roles else v.valid("role")
            if "action" in form:
                form["action"] = "role" if rng.random() < 0.1 else ""
        if "question_1" in form:
            chosen = rng.sample(sorted(VALID_QUESTIONS), 3)
            for i in (1, 2, 3):
                form[f"question_{i}"] = chosen[i - 1]
                form[f"answer_{i}"] = rng.choice(["Lincoln  Elementary", "Ford Focus", "Springfield"])
            if rng.random() < 0.5:
                form["question_3"] = form["answer_3"] = ""
        if route.name == "accounts:recover-answers":
            form["answer_1"], form["answer_2"] = "Lincoln Elementary", "Ford Focus"
        if "user_id" in form and hints.get("user_id"):
            form["user_id"] = hints["user_id"]
        if route.name == "accounts:login-submit" and hints.get("password"):
            form["password"] = hints["password"]
        if "current_password" in form:
            form["current_password"] = hints.get("password") or v.valid("password")
        if "new_password" in form:
            form["new_password"] = form["confirm_password"] = rng.choice(NEW_PASSWORDS)
        return form

    def _pairs(self, route: Route, notes: list[str], hints: dict[str, str]) -> list[tuple[Value, Value]]:
        """The form's fields (each missing now and then), repeated fields, duplicates, extras.
        Half the time a valid, coherent form with one or two hostile fields (so that the
        hostile value meets the code that stores it); otherwise every field drawn on its own."""
        rng = self.rng
        pairs: list[tuple[Value, Value]] = []
        drop_all = rng.random() < 0.04
        if drop_all:
            notes.append("fields:none")
        if route.fields and not drop_all and rng.random() < 0.5:
            form: dict[str, Value] = dict(self.valid_form(route, hints))
            hostile = rng.sample(list(route.fields), min(len(route.fields), rng.choice([0, 0, 1, 1, 1, 2])))
            notes.append(f"valid-but:{','.join(hostile) or '-'}"[:80])
            for name in hostile:
                form[name] = self.values.value(name, hostile=True, base=str(form[name]))
            pairs = list(form.items())
        else:
            for name in route.fields:
                if not drop_all and rng.random() < 0.9:
                    pairs.append((name, self.values.value(name)))
        for name in route.repeated:
            count = rng.choice([0, 0, 1, 2, 3, 5, rng.randint(0, 120)])
            notes.append(f"{name}x{count}")
            pairs += [(name, self.values.value(name)) for _ in range(count)]
        if pairs and rng.random() < 0.1:
            name = pick(rng, pairs)[0]
            notes.append(f"duplicate:{name!r}"[:60])
            pairs.insert(rng.choice([0, len(pairs)]), (name, self.values.value(str(name))))
        for name in OLD_FIELDS.get(route.name, ()):
            if rng.random() < 0.6:
                notes.append(f"old-field:{name}")
                pairs.append((name, self.values.value(name)))
        if rng.random() < 0.2:
            for _ in range(rng.randint(1, 3)):
                name = rng.choice(EXTRA_FIELDS)
                notes.append(f"extra:{name[:20]!r}")
                pairs.append((name, self.values.value(name)))
        if pairs and rng.random() < 0.03:
            i = below(rng, len(pairs))
            name, value = pairs[i]
            mangled = rng.choice([f"{name}\x00", f"{name} ", str(name).upper(), f"{name}[]", b"\xff" + _latin1(name)])
            notes.append("field-name-mangled")
            pairs[i] = (mangled, value)
        return pairs

    def _body(self, kind: str, pairs: list[tuple[Value, Value]]) -> tuple[bytes, bytes | None]:
        rng = self.rng
        if kind == "urlencoded":
            body = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs).encode("ascii")
            return body, b"application/x-www-form-urlencoded"
        if kind == "urlencoded_raw":  # bytes as they are, not percent-encoded
            body = b"&".join(_latin1(k) + b"=" + _latin1(v) for k, v in pairs)
            return body, b"application/x-www-form-urlencoded"
        if kind == "urlencoded_broken":
            body = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs).encode("ascii")
            junk = rng.choice([b"&&&", b"=&=", b"%", b"%zz", b"a=%f", b";", b"\x00", b"&a", b"==="])
            at = below(rng, len(body) + 1)
            return body[:at] + junk + body[at:], b"application/x-www-form-urlencoded"
        if kind in {"multipart", "multipart_broken"}:
            boundary = secrets.token_hex(8).encode()
            parts = []
            for k, v in pairs:
                disposition = b'form-data; name="' + _latin1(k).replace(b'"', b"%22") + b'"'
                if rng.random() < 0.05:
                    disposition += b'; filename="x.txt"'
                parts.append(b"--" + boundary + b"\r\nContent-Disposition: " + disposition + b"\r\n\r\n" + _latin1(v))
            body = b"\r\n".join(parts) + (b"\r\n" if parts else b"") + b"--" + boundary + b"--\r\n"
            if kind == "multipart_broken":
                body = rng.choice(
                    [
                        body[: below(rng, len(body) + 1)],  # cut short
                        body.replace(b"Content-Disposition: form-data; ", b"", 1),  # no name
                        body.replace(b"\r\n\r\n", b"\r\n", 1),  # no blank line
                        body + b"--" + boundary + b"\r\nContent-Disposition: form-data\r\n\r\nx",
                        b"--%s\r\nX-Long: %s\r\n\r\nx\r\n--%s--" % (boundary, b"a" * 20_000, boundary),
                        body.replace(b"--" + boundary, b"--other"),
                    ]
                )
            return body, b"multipart/form-data; boundary=" + boundary
        if kind == "json":
            data: object = {
                (k if isinstance(k, str) else k.decode("utf-8", "surrogateescape")): (
                    v if isinstance(v, str) else v.decode("utf-8", "surrogateescape")
                )
                for k, v in pairs
            }
            if rng.random() < 0.2:
                data = rng.choice([[data], "x", 1, None, {"a": {"b": [1, 2, {"c": None}]}}])
            return json.dumps(data).encode(), b"application/json"
        if kind == "text":
            return b"\n".join(_latin1(k) + b"=" + _latin1(v) for k, v in pairs), b"text/plain"
        body = "&".join(f"{_enc(k)}={_enc(v)}" for k, v in pairs).encode("ascii")
        if kind == "none":
            return body, None
        return body, rng.choice(WEIRD_CONTENT_TYPES)

    # ---- headers ------------------------------------------------------------------------------

    def _csrf_headers(self, mode: str, valid: str, in_field: str | None, persona: str, jars) -> list:
        rng = self.rng
        if mode == "valid":
            return [] if in_field is not None else [(b"x-csrftoken", valid.encode("latin-1", "replace"))]
        if mode in {"missing", "field_only_wrong"}:
            return []
        if mode == "wrong":
            return [(b"x-csrftoken", secrets.token_hex(64).encode())]
        if mode == "other":
            others = [_cookie(jar, "csrftoken") for name, jar in jars.items() if name != persona]
            return [(b"x-csrftoken", (pick(rng, others) if others else "").encode())]
        if mode == "garbage":
            return [(b"x-csrftoken", rng.choice([b"", b"x", b"null", b"a" * 10_000, valid.encode()[::-1]]))]
        if mode == "nonascii":
            return [(b"x-csrftoken", valid.encode()[:-2] + bytes([rng.randint(0x80, 0xFF)]) * 2)]
        if mode == "short":
            return [(b"x-csrftoken", valid.encode()[:64])]
        # duplicate: a valid header and a wrong one, in either order
        both = [(b"x-csrftoken", valid.encode()), (b"x-csrftoken", secrets.token_hex(64).encode())]
        return both if rng.random() < 0.5 else both[::-1]

    def _htmx_headers(self, notes: list[str]) -> list:
        rng = self.rng
        headers: list[tuple[bytes, bytes]] = []
        roll = rng.random()
        if roll < 0.5:
            headers.append((b"hx-request", b"true"))
            notes.append("htmx")
            if rng.random() < 0.12:
                headers.append((b"hx-boosted", b"true"))
                notes.append("hx-boosted")
            if rng.random() < 0.06:
                headers.append((b"hx-history-restore-request", b"true"))
                notes.append("hx-history-restore")
        elif roll < 0.53:
            headers.append((b"hx-request", rng.choice([b"false", b"1", b"TRUE", b"", b"\xff"])))
            notes.append("hx-request-odd")
        if rng.random() < 0.08:
            url = rng.choice([BASE + "/register/review", BASE + "/approvals?page=2", "//evil.example", "\xff"])
            headers.append((b"hx-current-url", _latin1(url)))
            if rng.random() < 0.3:
                headers.append((b"hx-current-url-uri-autoencoded", b"true"))
        for name in (b"hx-target", b"hx-trigger", b"hx-trigger-name", b"hx-prompt"):
            if rng.random() < 0.03:
                value = self.values.value("hx", where="header")
                headers.append((name, _latin1(value)[:2000]))
        return headers

    def _other_headers(self, notes: list[str]) -> list:
        rng = self.rng
        headers: list[tuple[bytes, bytes]] = []
        if rng.random() < 0.1:
            headers.append((b"accept-encoding", rng.choice([b"identity", b"br", b"gzip", b"*", b"br;q=0", b"\xff"])))
        if rng.random() < 0.05:
            headers.append((b"accept", rng.choice([b"application/json", b"*/*", b"text/html;q=x", b"\xff"])))
        if rng.random() < 0.04:
            xff = rng.choice([b"1.2.3.4", b"1.2.3.4, 10.0.0.1", b"<script>", b"\xff", b"::1", b"999.1.1.1"])
            headers.append((b"x-forwarded-for", xff))
        if rng.random() < 0.01:
            notes.append("content-length-lie")
            headers.append((b"content-length", rng.choice([b"abc", b"-1", b"0", b"99999999999999999999", b"1"])))
        if rng.random() < 0.02:
            headers.append((b"if-none-match", rng.choice([b"*", b'"x"', b"\xff"])))
        return headers

    # ---- cookies ------------------------------------------------------------------------------

    def _cookie_header(self, persona: str, jars, path: str, notes: list[str]) -> bytes | None:
        """The persona's cookies for ``path``, as a browser sends them; now and then tampered."""
        rng = self.rng
        jar = [(n, v) for n, v, p in jars.get(persona, []) if path.startswith(p.rstrip("/") or "/")]
        if rng.random() < 0.12:
            for _ in range(rng.randint(1, 2)):
                jar = self._tamper(jar, persona, jars, notes)
        if not jar:
            return None
        return b"; ".join(_latin1(n) + b"=" + _latin1(v) for n, v in jar)

    def _tamper(self, jar: list[tuple[str, Value]], persona: str, jars, notes: list[str]) -> list:
        rng = self.rng
        names = [n for n, _ in jar] or ["iacs_session"]
        name = pick(rng, names + ["iacs_session", "iacs_draft", "csrftoken"])
        current = dict(jar).get(name, "")
        if isinstance(current, bytes):
            current = current.decode("latin-1")
        op = rng.choice(
            ["drop", "flip", "truncate", "other", "garbage", "nonascii", "duplicate", "resign", "host", "many", "empty"]
        )
        notes.append(f"cookie:{op}:{name}")
        rest = [(n, v) for n, v in jar if n != name]
        if op == "drop":
            return rest
        if op == "flip" and current:
            at = below(rng, len(current))
            ch = rng.choice("AZaz09-_.~")
            return [*rest, (name, current[:at] + ch + current[at + 1 :])]
        if op == "truncate":
            return [*rest, (name, current[: below(rng, len(current))])]
        if op == "other":
            values = [v for p, j in jars.items() if p != persona for n, v, _ in j if n == name]
            return [*rest, (name, pick(rng, values))] if values else rest
        if op == "garbage":
            value = rng.choice(
                [
                    "x",
                    "null",
                    "a" * 5000,
                    "%ff%fe",
                    "..",
                    '"quoted"',
                    secrets.token_urlsafe(32),
                    'x"><b>bold</b>',
                    "'><svg onload=alert(1)>",
                ]
            )
            return [*rest, (name, value)]
        if op == "nonascii":
            return [*rest, (name, _latin1(current)[:10] + bytes([rng.randint(0x80, 0xFF)]))]
        if op == "duplicate":
            extra = (name, secrets.token_urlsafe(16))
            return [*jar, extra] if rng.random() < 0.5 else [extra, *jar]
        if op == "resign":  # signed with the portal's key and salt, naming no draft (or not a string)
            signer = URLSafeTimedSerializer(self.secret_key, salt=DRAFT_SALT)
            payload = rng.choice([secrets.token_urlsafe(32), "", 1, ["x"], {"t": 1}, "a" * 400])
            return [*rest, ("iacs_draft", signer.dumps(payload))]
        if op == "host":
            return [*jar, ("__Host-iacs_session", current or "x")]
        if op == "many":
            return [*jar, *((f"junk{i}", "x" * 40) for i in range(200))]
        return [*rest, (name, "")]


def _cookie(jar: list[tuple[str, str, str]], name: str) -> str:
    return next((v for n, v, _ in jar if n == name), "")
