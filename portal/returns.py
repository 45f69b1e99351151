"""Post/redirect/get for forms that fail without JavaScript.

A plain form that is refused is not answered at its POST address (a refresh would offer to
send it again): it is answered 303 See Other to the page it came from, carrying what was
typed, the messages and any notice in a short-lived cookie. The cookie is encrypted (what
was typed may be personal), HttpOnly, read only by the page it names, and cleared by the
next page rendered (``portal.web.render``). A form too large for a cookie is answered in
place as before, so nothing typed is ever lost."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie
from litestar.response import Redirect

from portal.clock import now
from portal.crypto import DataKeyError, FieldCipher
from portal.web import RETURNED_COOKIE as COOKIE
from portal.web import wants_fragment

PURPOSE = "returned-form"
MAX_AGE = 300  # seconds: long enough for the redirect, short enough not to linger
MAX_VALUE = 3800  # bytes a browser keeps of one cookie, with room for its attributes


class Returned(msgspec.Struct, frozen=True):
    """What the page at ``path`` shows again: the typed ``form``, its ``errors``, a notice
    (all empty when nothing came back)."""

    path: str = ""
    at: float = 0.0
    form: dict[str, Any] = {}
    errors: dict[str, str] = {}
    notice: str = ""


NOTHING = Returned()


class Returns:
    """Made once for the app: the cipher that seals the cookie, and whether it is Secure."""

    def __init__(self, cipher: FieldCipher, *, secure: bool) -> None:
        self._cipher = cipher
        self._secure = secure

    def back(
        self,
        request: ASGIConnection[Any, Any, Any, Any],
        url: str,
        *,
        form: msgspec.Struct | dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        notice: str = "",
    ) -> Redirect | None:
        """Without JavaScript: 303 to ``url`` with what its page shows again. None for htmx
        (which swaps its answer in place) and when it would not fit a cookie: the caller then
        answers in place."""
        if wants_fragment(request):
            return None
        typed = msgspec.structs.asdict(form) if isinstance(form, msgspec.Struct) else dict(form or {})
        at = now().timestamp()
        payload = Returned(path=urlsplit(url).path, at=at, form=typed, errors=errors or {}, notice=notice)
        value = self._cipher.encrypt(msgspec.json.encode(payload).decode(), PURPOSE)
        if len(value) > MAX_VALUE:
            return None
        response = Redirect(url, status_code=303)
        response.set_cookie(
            Cookie(
                key=COOKIE,
                value=value,
                path="/",
                max_age=MAX_AGE,
                httponly=True,
                samesite="lax",
                secure=self._secure,
            )
        )
        return response

    def take(self, request: ASGIConnection[Any, Any, Any, Any]) -> Returned:
        """What this page shows again: only from a valid, fresh cookie naming this page
        (``NOTHING`` otherwise)."""
        value = request.cookies.get(COOKIE)
        if not value:
            return NOTHING
        try:
            payload = msgspec.json.decode(self._cipher.decrypt(value, PURPOSE), type=Returned)
        except (DataKeyError, msgspec.DecodeError, msgspec.ValidationError, UnicodeError):
            return NOTHING
        if payload.path != request.url.path or not 0 <= now().timestamp() - payload.at <= MAX_AGE:
            return NOTHING
        return payload

    def form_as(self, returned: Returned, kind: type[Any]) -> Any:
        """The returned form as the handler's form type (None when there is none or it does
        not fit the type: a stale cookie from an older form shape)."""
        if not returned.form:
            return None
        try:
            return msgspec.convert(returned.form, kind)
        except msgspec.ValidationError:
            return None
