"""What every route reads: the form fields of each unsafe route (the ``msgspec.Struct`` it parses
with ``parse_form``, plus repeated fields read with ``getall``), the query parameters read
outside the handler's signature, and the routes themselves as the real app registers them.

A route the app has and this table does not know fails ``unknown_routes``, and a field a
handler reads (its source shows) that the table lacks fails ``unlisted_fields`` (both checked by
the CI sample), so a new route or field cannot go unfuzzed."""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass

from litestar import Litestar

PERSONAL = (
    "first_name",
    "middle_initial",
    "last_name",
    "dob_day",
    "dob_month",
    "dob_year",
    "ssn",
    "email",
    "email_confirm",
)
CONTACT = (
    "organization",
    "address1",
    "address2",
    "city",
    "state",
    "zip",
    "phone",
    "phone_ext",
    "role",
    "action",
    "tin",
    "legal_business_name",
    "contract_number",
    "gentran_mailbox",
    "npi",
    "organization_number",
)
QUESTIONS = ("question_1", "answer_1", "question_2", "answer_2", "question_3", "answer_3")
PASSWORDS = ("current_password", "new_password", "confirm_password")

AUTHORIZE = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "max_age",
    "acr_values",
    "login_hint",
)
LOGOUT = ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")

# Unsafe routes -> the form fields they read (portal/controllers/*.py, portal/registration/forms.py).
FORM_FIELDS: dict[str, tuple[str, ...]] = {
    "registration:accept": (),
    "registration:personal-save": PERSONAL,
    "registration:verify-check": ("code",),
    "registration:resend": (),
    "registration:contact-save": CONTACT,
    "registration:questions-save": QUESTIONS,
    # The inline save reads the form of its section: personal, contact or questions (its table
    # of forms, STEP_FORMS, has the verify step's too).
    "registration:review-save": PERSONAL + CONTACT + QUESTIONS + ("code",),
    "registration:submit": (),
    "registration:finish": (),
    "accounts:login-submit": ("user_id", "password"),
    "accounts:logout": (),
    "accounts:session-refresh": (),
    "accounts:change-password-submit": PASSWORDS,
    "accounts:recover-identify": ("user_id", "email"),
    "accounts:recover-answers": ("ticket", "answer_1", "answer_2", "answer_3"),
    "accounts:reset-submit": ("token", "new_password", "confirm_password"),
    "accounts:user-id-reveal": ("token",),
    "accounts:request-submit": CONTACT + ("ssn",),
    "mfa:second-step-submit": ("code", "credential", "token", "next"),
    "mfa:app-submit": ("secret", "name", "code"),
    "mfa:passkey-submit": ("token", "name", "credential"),
    "mfa:codes-new": (),
    "mfa:remove": (),
    "mfa:step-up-submit": ("code", "credential", "token", "next"),
    "approvals:approve": ("reason", "back"),
    "approvals:reject": ("reason", "back"),
    "approvals:bulk": ("back", "action", "reason"),
    "status:check": ("tracking_number", "email"),
    # Single sign-on (portal/controllers/sso.py reads these with _params, not parse_form).
    "sso:authorize-post": AUTHORIZE,
    "sso:token": ("grant_type", "code", "redirect_uri", "code_verifier", "client_id", "client_secret", "refresh_token"),
    "sso:userinfo-post": ("access_token",),
    "sso:revoke": ("token", "token_type_hint", "client_id", "client_secret"),
    "sso:logout-post": LOGOUT,
    "sso:logout-confirm": ("client_id", "post_logout_redirect_uri", "state"),
}
# Fields read as a list (``getall``): sent 0 to 120 times.
REPEATED_FIELDS: dict[str, tuple[str, ...]] = {"approvals:bulk": ("selected",)}

# Fields a route read before (so older code is driven too), sent more often than other extras.
OLD_FIELDS: dict[str, tuple[str, ...]] = {"accounts:recover-identify": ("identifier",)}

# Query parameters read from ``request.query_params`` (or in a template) rather than declared
# in the handler's signature, by route name. The registration steps read ``from``.
_STEPS = (
    "registration:personal",
    "registration:personal-save",
    "registration:verify",
    "registration:verify-check",
    "registration:contact",
    "registration:contact-save",
    "registration:questions",
    "registration:questions-save",
    "registration:review",
    "registration:review-edit",
    "registration:review-save",
    "registration:submit",
    "registration:done",
)
EXTRA_QUERY: dict[str, tuple[str, ...]] = {
    # QueueView.from_params (portal/models/approvals.py), and the signed notice ``done``.
    "approvals:table": ("application", "role", "overdue", "q", "sort", "dir", "page", "done", "select"),
    "approvals:confirm": ("selected",),  # repeated: the bulk form's ticked rows
    "accounts:login": ("signed_out", "reset", "again"),
    "sso:authorize": AUTHORIZE,
    "sso:logout": LOGOUT,
    **{name: ("from",) for name in _STEPS},
}

# Safe routes: nothing beyond their signature and EXTRA_QUERY.
GET_ROUTES = frozenset(
    {
        "home:getting-ready",
        "home:applications",
        "help:index",
        "help:contact",
        "help:accessibility",
        "help:privacy",
        "registration:start",
        "registration:terms",
        "registration:personal",
        "registration:verify",
        "registration:contact",
        "registration:contact-fields",
        "registration:questions",
        "registration:review",
        "registration:review-edit",
        "registration:review-section",
        "registration:done",
        "registration:pending",
        "accounts:login",
        "accounts:change-password",
        "accounts:applications",
        "accounts:recover",
        "accounts:reset",
        "accounts:user-id-link",
        "accounts:request-start",
        "accounts:request-form",
        "accounts:request-fields",
        "accounts:request-sent",
        "accounts:recover-questions",
        "accounts:recover-sent",
        "mfa:second-step",
        "mfa:manage",
        "mfa:app",
        "mfa:passkey",
        "mfa:codes",
        "mfa:step-up",
        "approvals:table",
        "approvals:details",
        "approvals:row",
        "approvals:reject-form",
        "approvals:confirm",
        "status:form",
        "ops:health",
        "ops:ready",
        "ops:metrics",
        "sso:discovery",
        "sso:jwks",
        "sso:authorize",
        "sso:userinfo",
        "sso:logout",
        "dev:mailbox",
        "static",
    }
)
KNOWN = frozenset(FORM_FIELDS) | GET_ROUTES

# Fields no form reads, sent as "extra fields": the old recovery field, the CSRF field twice,
# another form's fields, and names no form would use.
EXTRA_FIELDS = (
    "identifier",
    "_csrf_token",
    "selected",
    "email",
    "role",
    "code",
    "token",
    "tracking_number",
    "password",
    "id",
    "account_id",
    "user_id",
    "is_approver",
    "password_initial",
    "status",
    "level",
    "__proto__",
    "a[]",
    "a[b]",
    "<script>alert(1)</script>",
    "",
    "x" * 300,
)


@dataclass(frozen=True)
class Route:
    """One route handler of the app: its name, path template, method, and what it reads."""

    name: str
    path: str
    method: str
    path_params: tuple[str, ...]
    query: tuple[str, ...]
    fields: tuple[str, ...] = ()
    repeated: tuple[str, ...] = ()

    @property
    def unsafe(self) -> bool:
        return self.method not in {"GET", "HEAD"}


def _handlers(app: Litestar):
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            methods = sorted(m for m in handler.http_methods if m != "OPTIONS")
            if methods:
                yield route, handler, methods


def _query_params(handler, path_params: tuple[str, ...]) -> tuple[str, ...]:
    """Query parameters from the handler's signature (``FromQuery``, ``QueryParameter(name=)``)."""
    names = []
    for pname, fd in handler.parsed_fn_signature.parameters.items():
        if pname in {"request", "scope", "state", "socket", "headers", "cookies", "query", "body", "data"}:
            continue
        if pname in path_params:
            continue
        kd = fd.kwarg_definition
        kind = type(kd).__name__ if kd is not None else ""
        if kind in {"", "QueryParameter", "ParameterKwarg"} and not getattr(kd, "header", None):
            names.append(getattr(kd, "name", None) or getattr(kd, "query", None) or pname)
    return tuple(names)


def app_routes(app: Litestar) -> list[Route]:
    """Every route handler of ``app`` (each method apart), with what it reads."""
    out = []
    for route, handler, methods in _handlers(app):
        path_params = tuple(route.path_parameters)
        name = handler.name or f"{'/'.join(methods)} {route.path}"
        query = _query_params(handler, path_params) + EXTRA_QUERY.get(name, ())
        for method in methods:
            out.append(
                Route(
                    name=name,
                    path=route.path,
                    method=method,
                    path_params=path_params,
                    query=tuple(dict.fromkeys(query)),
                    fields=FORM_FIELDS.get(name, ()),
                    repeated=REPEATED_FIELDS.get(name, ()),
                )
            )
    return sorted(out, key=lambda r: (r.path, r.method, r.name))  # the app's order varies from run to run


def unknown_routes(app: Litestar) -> list[str]:
    """Routes of ``app`` this table does not know (add them to FORM_FIELDS or GET_ROUTES),
    and unsafe routes listed as safe or the other way round."""
    problems = []
    for route in app_routes(app):
        if route.name not in KNOWN:
            problems.append(f"{route.method} {route.path} ({route.name}): not in tests/fuzz/routes.py")
        elif route.unsafe and route.name not in FORM_FIELDS:
            problems.append(f"{route.method} {route.path} ({route.name}): unsafe, but listed as a GET route")
        elif not route.unsafe and route.name in FORM_FIELDS:
            problems.append(f"{route.method} {route.path} ({route.name}): safe, but listed with form fields")
    return sorted(set(problems))


def _read_fields(fn) -> set[str]:
    """The fields a handler reads, from its source: the Structs it gives ``parse_form`` (a
    dict of them too, like STEP_FORMS) and the names it reads with ``getall``."""
    try:
        source = inspect.getsource(fn)
    except (OSError, TypeError):
        return set()
    fields: set[str] = set(re.findall(r"getall\(\s*[\"'](\w+)[\"']", source))
    for name in re.findall(r"parse_form\(\s*request\s*,\s*(\w+)", source):
        found = fn.__globals__.get(name)
        structs = found.values() if isinstance(found, dict) else [found]
        for struct in structs:
            fields |= set(getattr(struct, "__struct_fields__", ()))
    return fields - {"fields"}  # a form's catalog fields, named by the catalog (ROLE_FIELDS)


def unlisted_fields(app: Litestar) -> list[str]:
    """Fields a handler reads (as its source shows) that FORM_FIELDS and REPEATED_FIELDS lack."""
    problems = []
    for route, handler, methods in _handlers(app):
        name = handler.name or ""
        if name not in FORM_FIELDS:
            continue
        missing = _read_fields(handler.fn) - set(FORM_FIELDS[name]) - set(REPEATED_FIELDS.get(name, ()))
        if missing:
            problems.append(f"{'/'.join(methods)} {route.path} ({name}) reads {sorted(missing)}: add to FORM_FIELDS")
    return sorted(problems)


def stale_routes(app: Litestar) -> list[str]:
    """Names in this table that the app no longer has (harmless; worth tidying)."""
    present = {r.name for r in app_routes(app)}
    return sorted(KNOWN - present)
