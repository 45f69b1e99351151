"""Errors as accessible HTML pages, never a stack trace or a JSON blob; and the one place where
the journeys' expected outcomes (portal.errors) and the access rules' refusals become pages."""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from asyncpg import exceptions as pg
from litestar import Request
from litestar.exceptions import HTTPException
from litestar.response import Response, Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from portal.accounts.passwords import MIN_LENGTH
from portal.auth import LoginRequired, PasswordChangeRequired, SecondFactorRequired, StepUpRequired
from portal.errors import DraftGone, LinkSpent, NotAllowed, NotYet
from portal.models.rows import LinkPurpose
from portal.web import AnyRequest, redirect, render

log = logging.getLogger("portal.errors")

MESSAGES = {
    400: ("Something in the request was not right", "Go back, check what you entered and try again."),
    403: ("You cannot do that", "The form may have expired or you may not have access. Reload the page and try again."),
    404: ("Page not found", "Check the address, or start again from the Getting Ready page."),
    405: ("That action is not allowed here", "Go back and use the buttons on the page."),
    413: ("What you sent is too large", "Shorten your answers and try again."),
    429: ("Too many attempts", "Wait a minute, then try again."),
}
SERVER_ERROR = ("Sorry, something went wrong", "Try again in a few minutes. Nothing you entered has been lost.")
UNAVAILABLE = (
    "The portal is unavailable for a moment",
    "Wait a few seconds, then go back and send the page again. The steps you finished are saved.",
)


def error_page(request: AnyRequest | None, status: int, headers: dict[str, str] | None = None) -> Template:
    if status == 503:
        title, advice = UNAVAILABLE
    else:
        title, advice = SERVER_ERROR if status >= 500 else MESSAGES.get(status, MESSAGES[400])
    signed_in = request.state.get("signed_in") if request is not None else None
    return Template(
        template_name="errors/error.html",
        context={"status": status, "title": title, "advice": advice, "signed_in": signed_in},
        status_code=status,
        headers=headers or {},
    )


# The rate limit counts a sliding minute, so a minute from now a try is always allowed again.
RETRY_AFTER_SECONDS = 60


def _http_exception(request: AnyRequest, exc: HTTPException) -> Template:
    headers = dict(exc.headers or {})
    if exc.status_code == 429:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return error_page(request, exc.status_code, headers)


def _server_error(request: AnyRequest, exc: Exception) -> Template:
    # Log the type, route and code locations only: exception messages can carry what the
    # user typed (personal data), so they are never logged.
    frames = "".join(traceback.format_tb(exc.__traceback__)[-8:])
    log.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method, request.url.path, frames)
    return error_page(request, HTTP_500_INTERNAL_SERVER_ERROR)


# The database going away (restarted, failed over, a network cut): the driver's errors while it
# is gone. The request changed nothing (its transaction, if any, never committed), and asyncpg's
# pool opens new connections once the database answers, so the worker needs no restart.
DATABASE_GONE: tuple[type[Exception], ...] = (
    ConnectionError,  # refused or reset: the server is down or went away mid-query
    pg.PostgresConnectionError,  # SQLSTATE class 08
    pg.CannotConnectNowError,  # starting up or shutting down
    pg.AdminShutdownError,
    pg.CrashShutdownError,
    pg.ConnectionDoesNotExistError,
)
# The driver's own errors on a connection the server closed: InterfaceError "connection is
# closed" (any other InterfaceError is a bug and stays a 500), and InternalClientError, which the
# pool raises when resetting a connection the server shut down under it (the pool drops that
# connection and opens a new one).
DRIVER_ERRORS: tuple[type[Exception], ...] = (pg.InterfaceError, pg.InternalClientError)


def database_gone(exc: BaseException) -> bool:
    return (
        isinstance(exc, DATABASE_GONE)
        or isinstance(exc, pg.InternalClientError)
        or (isinstance(exc, pg.InterfaceError) and "closed" in str(exc))
    )


def _database_unavailable(request: AnyRequest, exc: Exception) -> Template:
    """503 with the portal's own page and Retry-After while the database cannot be reached."""
    if not database_gone(exc):
        return _server_error(request, exc)
    log.warning("database unavailable: %s on %s %s", type(exc).__name__, request.method, request.url.path)
    return error_page(request, 503, {"Retry-After": "5"})


def _login_required(request: AnyRequest, exc: LoginRequired) -> Response[Any]:
    return redirect(request, request.app.route_reverse("accounts:login"))


def _password_change_required(request: AnyRequest, exc: PasswordChangeRequired) -> Response[Any]:
    return redirect(request, request.app.route_reverse("accounts:change-password"))


def _second_factor_required(request: AnyRequest, exc: SecondFactorRequired) -> Response[Any]:
    return redirect(request, request.app.route_reverse("mfa:manage"))


def _step_up_required(request: AnyRequest, exc: StepUpRequired) -> Response[Any]:
    """Confirm it is you, then back to the same request."""
    return redirect(request, request.app.route_reverse("mfa:step-up") + "?" + urlencode({"next": exc.next_url}))


def _draft_gone(request: AnyRequest, exc: DraftGone) -> Response[Any]:
    """The registration draft is gone (idle 24 hours, finished, or never there): start again."""
    return redirect(request, request.app.route_reverse("registration:start") + "?expired=1")


def _not_yet(request: AnyRequest, exc: NotYet) -> Response[Any]:
    return redirect(request, request.app.route_reverse(exc.route))


def _not_allowed(request: AnyRequest, exc: NotAllowed) -> Template:
    return error_page(request, 404)  # exactly like something that does not exist: no oracle


def _link_spent(request: AnyRequest, exc: LinkSpent) -> Template:
    """An expired or used recovery link: its own page, saying so, with a way to ask again."""
    if exc.purpose == LinkPurpose.USER_ID:
        return render(request, "accounts/user_id_link.html", {"token": "", "usable": False, "user_id": None})
    context = {"token": "", "usable": False, "errors": {}, "min_length": MIN_LENGTH}
    return render(request, "accounts/reset.html", context)


EXCEPTION_HANDLERS: dict[int | type[Exception], Callable[[Request[Any, Any, Any], Any], Response[Any]]] = {
    HTTPException: _http_exception,
    HTTP_500_INTERNAL_SERVER_ERROR: _server_error,
    **{kind: _database_unavailable for kind in (*DATABASE_GONE, *DRIVER_ERRORS)},
    LoginRequired: _login_required,
    PasswordChangeRequired: _password_change_required,
    SecondFactorRequired: _second_factor_required,
    StepUpRequired: _step_up_required,
    DraftGone: _draft_gone,
    NotYet: _not_yet,
    NotAllowed: _not_allowed,
    LinkSpent: _link_spent,
}
