"""The session cookie and the per-request sign-in check.

A random 256-bit session id lives in an HttpOnly, SameSite=Lax cookie: ``__Host-iacs_session``
(Secure, Path=/) in production; ``iacs_session`` in development, where the portal runs over
plain http and browsers refuse ``__Host-`` cookies. The server stores only its SHA-256."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.response import Response

from portal.accounts import service
from portal.settings import Settings
from portal.web import redirect

# Pages a signed-in person with an initial password may still see.
INITIAL_PASSWORD_ALLOWED = ("/password/change", "/logout", "/static/", "/healthz", "/session/")


class LoginRequired(HTTPException):
    status_code = 401
    detail = "Log in to continue"


class SessionCookies:
    def __init__(self, settings: Settings) -> None:
        self.name = "__Host-iacs_session" if settings.production else "iacs_session"
        self.secure = settings.production

    def token(self, request: Request) -> str | None:
        return request.cookies.get(self.name)

    def issue(self, token: str) -> Cookie:
        return Cookie(key=self.name, value=token, path="/", httponly=True, samesite="lax", secure=self.secure)

    def clear(self) -> Cookie:
        return Cookie(key=self.name, value="", path="/", max_age=0, httponly=True, samesite="lax", secure=self.secure)


async def load_session(request: Request) -> Response | None:
    """before_request: find the signed-in account (if any) once per request, and keep a person
    with an initial password on Change password."""
    cookies: SessionCookies = request.app.state.sessions
    account = request.state.account = await service.current_session(cookies.token(request))
    if account and account["password_initial"]:
        path = request.url.path
        if not path.startswith(INITIAL_PASSWORD_ALLOWED):
            return redirect(request, request.app.route_reverse("accounts:change-password"))
    return None


def signed_in(request: Request) -> dict[str, Any]:
    """The signed-in account, or LoginRequired (answered with a redirect to Log in)."""
    account = getattr(request.state, "account", None)
    if account is None:
        raise LoginRequired()
    return account


def login_required_handler(request: Request, exc: LoginRequired) -> Response:
    return redirect(request, request.app.route_reverse("accounts:login"))


def client_ip(request: Request) -> str:
    return (request.client.host if request.client else "")[:64]
