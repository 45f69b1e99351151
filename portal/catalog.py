"""The catalog file: CMS applications, their roles and the application-specific fields.

Decoding and checking are pure (no database): a malformed file is refused with a message that
names the entry and the field, before anything is written.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import msgspec

from portal.formats import FORMATS, Format

DEFAULT_CATALOG = Path(__file__).parent / "data" / "catalog.toml"

Code = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,39}$")]
Text = Annotated[str, msgspec.Meta(min_length=1, max_length=150)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]


class FieldSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    label: Text
    pattern: Annotated[str, msgspec.Meta(min_length=2, max_length=200)]
    example: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    hint: Description = ""
    format: str = "text"
    sensitive: bool = False


class FieldRule(msgspec.Struct, frozen=True):
    """An application-specific field as the forms, the review, the approver's details and the
    emails use it: declared once in the catalog, and nowhere in code."""

    key: str
    label: str
    pattern: str
    example: str
    hint: str
    format: str
    sensitive: bool

    @property
    def kind(self) -> Format:
        return FORMATS.get(self.format, FORMATS["text"])


class RoleSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    code: Code
    name: Text
    approval_levels: Annotated[int, msgspec.Meta(ge=1, le=2)]
    review_days: Annotated[int, msgspec.Meta(ge=12, le=60)]
    description: Description = ""
    fields: list[str] = []
    mfa: bool = False  # its holders must sign in with a second factor (they see PHI/PII)


Url = Annotated[str, msgspec.Meta(min_length=8, max_length=500)]


class LocalClientSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The same client's addresses on a developer's machine (``make run``'s demo application):
    added to its own outside production, ignored in production."""

    redirect_uris: Annotated[list[Url], msgspec.Meta(min_length=1, max_length=10)]
    login_url: Url
    post_logout_redirect_uris: Annotated[list[Url], msgspec.Meta(max_length=10)] = []


class ClientSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """The application's OpenID Connect client: how it signs people in through the portal.
    ``confidential`` clients authenticate with a secret (made by ``oidc secret``, stored
    hashed); ``public`` ones with PKCE alone (every client uses PKCE S256)."""

    client_id: Code
    type: Literal["confidential", "public"]
    redirect_uris: Annotated[list[Url], msgspec.Meta(min_length=1, max_length=10)]
    login_url: Url
    post_logout_redirect_uris: Annotated[list[Url], msgspec.Meta(max_length=10)] = []
    offline_access: bool = False  # may be given refresh tokens
    local: LocalClientSpec | None = None

    def for_environment(self, *, production: bool) -> ClientSpec:
        """The client as this environment serves it: outside production, with its ``local``
        addresses too (and the local login URL); in production, its own alone."""
        if production or self.local is None:
            return msgspec.structs.replace(self, local=None)
        return msgspec.structs.replace(
            self,
            redirect_uris=[*self.redirect_uris, *self.local.redirect_uris],
            post_logout_redirect_uris=[*self.post_logout_redirect_uris, *self.local.post_logout_redirect_uris],
            login_url=self.local.login_url,
            local=None,
        )


class ApplicationSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    code: Code
    name: Text
    roles: list[RoleSpec]
    description: Description = ""
    requires_ssn: bool = False
    client: ClientSpec | None = None


class Catalog(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    version: Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
    fields: dict[Code, FieldSpec]
    applications: list[ApplicationSpec]


# Names the contact step's own fields use: a catalog field may not take one.
RESERVED_KEYS = frozenset(
    {"organization", "address1", "address2", "city", "state", "zip", "phone", "phone_ext", "role", "action", "fields"}
)


class CatalogError(ValueError):
    """The catalog file is malformed; the message names the entry and the field."""


_PATH_PART = re.compile(r"\.(\w+)|\[(\d+)\]")


def _where(raw: dict[str, Any], path: str) -> str:
    """Turn msgspec's ``$.applications[2].roles[0].review_days`` into the words
    ``application PSR, role provider-user, field review_days`` using the codes in the file."""
    node: object = raw
    words: list[str] = []
    last_key = ""
    for m in _PATH_PART.finditer(path):
        key, index = m.groups()
        if key is not None:
            last_key = key
            node = node.get(key) if isinstance(node, dict) else None
        elif index is not None:
            i = int(index)
            item = node[i] if isinstance(node, list) and i < len(node) else None
            code = item.get("code") if isinstance(item, dict) else None
            kind = {"applications": "application", "roles": "role"}.get(last_key, last_key)
            words.append(f"{kind} {code}" if code else f"{kind} #{i + 1}")
            last_key = ""
            node = item
    if last_key:
        words.append(f"field {last_key}")
    return ", ".join(words) or "the file"


def parse(text: str, *, production: bool = False) -> Catalog:
    """Decode and check a catalog. Raises CatalogError naming the entry and field. In
    ``production`` every client address must be https."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"not valid TOML: {exc}") from None
    fields = raw.get("fields")
    if isinstance(fields, dict):  # checked one by one so an error can name the field's key
        for key, spec in fields.items():
            try:
                msgspec.convert(spec, FieldSpec)
            except msgspec.ValidationError as exc:
                message, _, path = str(exc).partition(" - at `")
                name = path.rstrip("`").removeprefix("$.") or "value"
                if message.startswith("Object missing required field"):
                    message, name = "required", message.split("`")[1]
                raise CatalogError(f"field {key}, field {name}: {message}") from None
    try:
        catalog = msgspec.convert(raw, Catalog)
    except msgspec.ValidationError as exc:
        message, _, path = str(exc).partition(" - at `")
        path = path.rstrip("`")
        if message.startswith("Object missing required field"):
            missing = message.split("`")[1]
            where = _where(raw, path)
            prefix = "" if where == "the file" else f"{where}, "
            raise CatalogError(f"{prefix}field {missing}: required") from None
        raise CatalogError(f"{_where(raw, path)}: {message}") from None
    _check(catalog)
    catalog = msgspec.structs.replace(
        catalog,
        applications=[
            msgspec.structs.replace(app, client=app.client.for_environment(production=production))
            if app.client
            else app
            for app in catalog.applications
        ],
    )
    _check_clients(catalog, production=production)
    return catalog


LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _local_host(host: str) -> bool:
    """This machine: localhost, a loopback address, or a name under .localhost (RFC 6761)."""
    return host in LOCAL_HOSTS or host.endswith(".localhost")


def url_problem(url: str, *, production: bool) -> str | None:
    """Why ``url`` cannot be a client's address: exact absolute https (http only for this
    machine, outside production), no wildcard, no fragment, no user name or password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 (a malformed port raises)
    except ValueError:
        return "not a valid URL"
    if "*" in url:
        return "wildcards are not allowed: list each address exactly"
    if parts.scheme == "http" and not production and _local_host(host):
        pass
    elif parts.scheme != "https":
        return "must start with https://" + ("" if production else " (http:// only for localhost)")
    if not host or parts.username or parts.password or parts.fragment or any(c.isspace() for c in url):
        return "must be an absolute address with a host, and no fragment, user name or spaces"
    return None


def _check_clients(catalog: Catalog, *, production: bool) -> None:
    seen: set[str] = set()
    for app in catalog.applications:
        if app.client is None:
            continue
        where = f"application {app.code}, client {app.client.client_id}"
        if app.client.client_id in seen:
            raise CatalogError(f"{where}, field client_id: used by two applications")
        seen.add(app.client.client_id)
        for name in ("redirect_uris", "post_logout_redirect_uris", "login_url"):
            value = getattr(app.client, name)
            for url in value if isinstance(value, list) else [value]:
                problem = url_problem(url, production=production)
                if problem:
                    raise CatalogError(f"{where}, field {name}: {url!r} {problem}")


def _check(catalog: Catalog) -> None:
    for key, spec in catalog.fields.items():
        where = f"field {key}"
        if key in RESERVED_KEYS:
            raise CatalogError(f"{where}: the key is a field of the contact step itself; choose another")
        try:
            pattern = re.compile(spec.pattern)
        except re.error as exc:
            raise CatalogError(f"{where}, field pattern: not a valid regular expression ({exc})") from None
        if spec.format not in FORMATS:
            raise CatalogError(
                f"{where}, field format: unknown format {spec.format!r} (known: {', '.join(sorted(FORMATS))})"
            )
        kind = FORMATS[spec.format]
        if not pattern.fullmatch(kind.prepare(spec.example)) or not kind.check(kind.prepare(spec.example)):
            raise CatalogError(f"{where}, field example: {spec.example!r} does not pass its own rule")
    seen_apps: set[str] = set()
    for app in catalog.applications:
        where = f"application {app.code}"
        if app.code.upper() in seen_apps:
            raise CatalogError(f"{where}, field code: listed twice")
        seen_apps.add(app.code.upper())
        if not app.roles:
            raise CatalogError(f"{where}, field roles: an application needs at least one role")
        seen_roles: set[str] = set()
        for role in app.roles:
            rwhere = f"{where}, role {role.code}"
            if role.code in seen_roles:
                raise CatalogError(f"{rwhere}, field code: listed twice in this application")
            seen_roles.add(role.code)
            for field_key in role.fields:
                if field_key not in catalog.fields:
                    raise CatalogError(f"{rwhere}, field fields: unknown field {field_key!r}")
            if len(set(role.fields)) != len(role.fields):
                raise CatalogError(f"{rwhere}, field fields: a field is listed twice")


def read(path: str | Path | None = None, *, production: bool = False) -> Catalog:
    path = Path(path) if path else DEFAULT_CATALOG
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"cannot read {path}: {exc}") from None
    return parse(text, production=production)
