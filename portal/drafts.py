"""The draft cookie: a signed (itsdangerous, own salt), HttpOnly, SameSite=Lax cookie that
names the server-side draft and nothing else."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer
from litestar import Request
from litestar.datastructures import Cookie

from portal.models.registration import DRAFT_IDLE
from portal.settings import Settings

COOKIE = "iacs_draft"
SALT = "iacs.registration-draft.v1"
PATH = "/register"


class DraftCookies:
    def __init__(self, settings: Settings) -> None:
        self._signer = URLSafeTimedSerializer(settings.secret_key, salt=SALT)
        self._secure = settings.production

    def token(self, request: Request) -> str | None:
        """The draft token from a valid cookie; None when absent, tampered or too old."""
        raw = request.cookies.get(COOKIE)
        if not raw or len(raw) > 512:
            return None
        try:
            token = self._signer.loads(raw, max_age=int(DRAFT_IDLE.total_seconds()))
        except BadSignature:  # includes SignatureExpired
            return None
        return token if isinstance(token, str) else None

    def issue(self, token: str) -> Cookie:
        return Cookie(
            key=COOKIE,
            value=self._signer.dumps(token),
            path=PATH,
            max_age=int(DRAFT_IDLE.total_seconds()),
            httponly=True,
            samesite="lax",
            secure=self._secure,
        )

    def clear(self) -> Cookie:
        return Cookie(key=COOKIE, value="", path=PATH, max_age=0, httponly=True, samesite="lax", secure=self._secure)
