"""The draft cookie: a signed (itsdangerous, own salt), HttpOnly, SameSite=Lax cookie that
names the server-side draft and nothing else."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from portal.models.registration import DRAFT_IDLE
from portal.settings import Settings
from portal.signing import signed

COOKIE = "iacs_draft"
SALT = "iacs.registration-draft.v1"
PATH = "/register"


class DraftCookies:
    def __init__(self, settings: Settings) -> None:
        self._signed = signed(settings.secret_key, SALT, int(DRAFT_IDLE.total_seconds()), max_length=512)
        self._secure = settings.production

    def token(self, request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
        """The draft token from a valid cookie; None when absent, tampered or too old."""
        token = self._signed.loads(request.cookies.get(COOKIE))
        return token if isinstance(token, str) else None

    def issue(self, token: str) -> Cookie:
        return Cookie(
            key=COOKIE,
            value=self._signed.dumps(token),
            path=PATH,
            max_age=int(DRAFT_IDLE.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def clear(self) -> Cookie:
        return Cookie(key=COOKIE, value="", path=PATH, max_age=0, httponly=True, samesite="lax", secure=self._secure)
