"""Who is asking: the session cookie, the signed-in session, and the access rules as Litestar
guards and dependencies.

A random 256-bit session id lives in an HttpOnly, SameSite=Lax cookie: ``__Host-iacs_session``
(Secure, Path=/) in production; ``iacs_session`` in development, where the portal runs over
plain http and browsers refuse ``__Host-`` cookies. The server stores only its SHA-256.

The page routers carry ``session_guard``: it finds the session once per request (static files
and /healthz are not behind it, so they never query it). A route opts in or out with ``opt``:
``signed_in=True`` needs a session; ``initial_password=True`` may be reached with an initial
password (every other page sends that person to Change password). ``approver_guard`` needs
approver rights; handlers receive ``session`` and ``decider`` as dependencies."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.di import Provide
from litestar.exceptions import HTTPException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler

from portal.accounts import service
from portal.accounts.mfa import step_up_needed
from portal.models import accounts as accounts_q
from portal.models import approvals as approvals_q
from portal.models.approvals import Decider
from portal.models.rows import Right, SignedIn
from portal.settings import Settings
from portal.signing import signed
from portal.web import wants_fragment

_UNSET = object()


class LoginRequired(HTTPException):
    status_code = 401
    detail = "Log in to continue"


class PasswordChangeRequired(HTTPException):
    """Signed in with an initial password: only Change password (and Log out) until it changes."""

    status_code = 303
    detail = "Choose your own password to continue"


class SecondFactorRequired(HTTPException):
    """Signed in with a password alone by an account that must use a second factor: only
    setting one up (and Log out) until it is."""

    status_code = 303
    detail = "Set up a second way to confirm it is you"


class StepUpRequired(HTTPException):
    """A decision needs a second factor used in the last 12 hours; ``next`` is where to return."""

    status_code = 303
    detail = "Confirm it is you"

    def __init__(self, next_url: str) -> None:
        super().__init__()
        self.next_url = next_url


def _cookie(name: str, value: str, *, secure: bool, max_age: int | None = None) -> Cookie:
    """The portal's own cookies: HttpOnly, SameSite=Lax, the whole site, Secure in production."""
    return Cookie(key=name, value=value, path="/", max_age=max_age, httponly=True, samesite="lax", secure=secure)


class SessionCookies:
    """The session cookie, and the halfway sign-in's (password right, second step to come)."""

    def __init__(self, settings: Settings) -> None:
        prefix = "__Host-" if settings.production else ""
        self.name = prefix + "iacs_session"
        self.halfway_name = prefix + "iacs_login"
        self.secure = settings.production

    def token(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        return connection.cookies.get(self.name)

    def _cookie(self, name: str, value: str, max_age: int | None = None) -> Cookie:
        return _cookie(name, value, secure=self.secure, max_age=max_age)

    def issue(self, token: str) -> Cookie:
        return self._cookie(self.name, token)  # ends with the browser session

    def clear(self) -> Cookie:
        return self._cookie(self.name, "", max_age=0)

    def halfway_token(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        return connection.cookies.get(self.halfway_name)

    def issue_halfway(self, token: str) -> Cookie:
        return self._cookie(self.halfway_name, token, max_age=600)  # the halfway sign-in's ten minutes

    def clear_halfway(self) -> Cookie:
        return self._cookie(self.halfway_name, "", max_age=0)


class Pending(msgspec.Struct, frozen=True, array_like=True):
    """An application's sign-in request waiting for the person to sign in (single sign-on)."""

    url: str  # the authorization request, as a path of this site
    application: str  # its code, for the login page
    after: float  # when it was sent to sign in (a fresh sign-in must come after it)
    hint: str = ""  # the request's login_hint, when it is a User ID: the login form starts with it

    @property
    def since(self) -> datetime:
        return datetime.fromtimestamp(self.after, tz=UTC)


class Continuation:
    """The signed ``iacs_continue`` cookie: where signing in goes on to (ten minutes)."""

    def __init__(self, settings: Settings) -> None:
        self.name = ("__Host-" if settings.production else "") + "iacs_continue"
        self.secure = settings.production
        self._signer = signed(settings.secret_key, "sso-continue", 600, 4000)

    def read(self, connection: ASGIConnection[Any, Any, Any, Any]) -> Pending | None:
        found = self._signer.loads(connection.cookies.get(self.name), list)
        try:
            pending = msgspec.convert(found, Pending) if found else None
        except msgspec.ValidationError:
            return None
        return pending if pending and pending.url.startswith("/") and not pending.url.startswith("//") else None

    def issue(self, url: str, application: str, hint: str = "") -> Cookie:
        hint = hint.strip().upper() if re.fullmatch(r"\s*[A-Za-z0-9]{4,12}\s*", hint) else ""
        value = self._signer.dumps([url, application, time.time(), hint])
        return _cookie(self.name, value, secure=self.secure)

    def clear(self) -> Cookie:
        return _cookie(self.name, "", secure=self.secure, max_age=0)

    def next_url(self, connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        """After signing in: the waiting application's request, if there is one."""
        pending = self.read(connection)
        return pending.url if pending else None


async def session_of(connection: ASGIConnection[Any, Any, Any, Any]) -> SignedIn | None:
    """The signed-in session of this request, looked up at most once."""
    state = connection.state
    found = state.get("signed_in", _UNSET)
    if found is _UNSET:
        cookies: SessionCookies = connection.app.state.sessions
        found = state["signed_in"] = await service.current_session(cookies.token(connection))
    return found if isinstance(found, SignedIn) else None


async def session_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    session = await session_of(connection)
    if session is None:
        if handler.opt.get("signed_in"):
            raise LoginRequired()
        return
    if session.password_initial:  # first the password, then the second factor
        if not handler.opt.get("initial_password"):
            raise PasswordChangeRequired()
    elif session.mfa_required and not session.second_factor and not handler.opt.get("mfa_setup"):
        raise SecondFactorRequired()
    if connection.scope.get("method") == "GET" and not wants_fragment(connection):
        # The header's "Requests to approve (N)" on every page an approver sees (pages are GETs:
        # a plain form answers 303): their rights (one query, kept for approver_guard) and, for
        # an approver only, one COUNT.
        rights = await _approver_rights(connection, session)
        if rights:
            decider = Decider(session.user_id, session.email, rights)
            connection.state["waiting_count"] = await approvals_q.waiting_count(decider)


async def _approver_rights(connection: ASGIConnection[Any, Any, Any, Any], session: SignedIn) -> list[Right]:
    """The signed-in account's approver rights, looked up at most once per request."""
    found = connection.state.get("approver_rights")
    if isinstance(found, list):
        return found
    rights = connection.state["approver_rights"] = await accounts_q.approver_rights(session.account_id)
    return rights


async def approver_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """Approver rights (of any application and level); they are kept for the ``decider``."""
    session = await session_of(connection)
    if session is None:
        raise LoginRequired()
    rights = await _approver_rights(connection, session)
    if not rights:
        raise PermissionDeniedException()
    mode = connection.app.state.settings.mfa_required
    if mode != "off" and not session.second_factor:  # approver rights given during this session
        raise SecondFactorRequired()
    if handler.opt.get("step_up") and step_up_needed(session, mode):
        raise StepUpRequired(_return_to(connection))
    connection.state["decider"] = Decider(session.user_id, session.email, rights)


def _return_to(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Where a decision asked to confirm it is you goes back to: that request's row (its
    details page), or for a bulk decision the table it came from."""
    tracking = connection.path_params.get("tracking")
    app = connection.app
    if isinstance(tracking, str) and re.fullmatch(r"[A-Z0-9-]{1,20}", tracking):
        return app.route_reverse("approvals:details", tracking=tracking)
    return app.route_reverse("approvals:table")


async def provide_session(request: ASGIConnection[Any, Any, Any, Any]) -> SignedIn:
    session = await session_of(request)
    if session is None:  # a route that asks for the session without signed_in=True
        raise LoginRequired()
    return session


def provide_decider(request: ASGIConnection[Any, Any, Any, Any]) -> Decider:
    decider = request.state.get("decider")
    if not isinstance(decider, Decider):
        raise PermissionDeniedException()
    return decider


def provide_settings(request: ASGIConnection[Any, Any, Any, Any]) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


DEPENDENCIES = {
    "session": Provide(provide_session),
    "decider": Provide(provide_decider, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
}


def client_ip(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    return (connection.client.host if connection.client else "")[:64]
