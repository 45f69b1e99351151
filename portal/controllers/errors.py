"""Errors as accessible HTML pages, never a stack trace or a JSON blob."""

from __future__ import annotations

import logging
import traceback

from litestar import Request
from litestar.exceptions import HTTPException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

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


def error_page(status: int, headers: dict[str, str] | None = None) -> Template:
    title, advice = SERVER_ERROR if status >= 500 else MESSAGES.get(status, MESSAGES[400])
    return Template(
        template_name="errors/error.html",
        context={"status": status, "title": title, "advice": advice},
        status_code=status,
        headers=headers or {},
    )


# The rate limit counts a sliding minute, so a minute from now a try is always allowed again.
RETRY_AFTER_SECONDS = 60


def _http_exception(request: Request, exc: HTTPException) -> Template:
    headers = dict(exc.headers or {})
    if exc.status_code == 429:
        headers.setdefault("Retry-After", str(RETRY_AFTER_SECONDS))
    return error_page(exc.status_code, headers)


def _server_error(request: Request, exc: Exception) -> Template:
    # Log the type, route and code locations only: exception messages can carry what the
    # user typed (personal data), so they are never logged.
    frames = "".join(traceback.format_tb(exc.__traceback__)[-8:])
    log.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method, request.url.path, frames)
    return error_page(HTTP_500_INTERNAL_SERVER_ERROR)


EXCEPTION_HANDLERS = {HTTPException: _http_exception, HTTP_500_INTERNAL_SERVER_ERROR: _server_error}
