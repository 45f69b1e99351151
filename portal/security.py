"""Security headers on every response, errors included; the rate limit and where it counts."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from litestar import Request
from litestar.config.csrf import CSRFConfig
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.exceptions import ClientException
from litestar.middleware.csrf import CSRFMiddleware
from litestar.middleware.rate_limit import RateLimitConfig, RateLimitMiddleware
from litestar.stores.base import Store
from litestar.stores.memory import MemoryStore
from litestar.stores.redis import RedisStore
from litestar.types import Message, Receive, Scope, Send
from redis.asyncio import Redis
from redis.exceptions import RedisError

from portal.settings import Settings

log = logging.getLogger("portal.security")

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
        "object-src 'none'",
    ]
)


def security_headers(settings: Settings) -> dict[str, str]:
    headers = {
        "Content-Security-Policy": CONTENT_SECURITY_POLICY,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "same-origin",
        "X-Frame-Options": "DENY",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
    }
    if settings.production:
        headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return headers


def security_headers_hook(settings: Settings) -> Callable[[Message, Scope], Awaitable[None]]:
    """A ``before_send`` hook (it sees every response, routing errors included): adds the
    headers above, and ``Cache-Control: no-store`` to any response that did not set its own
    cache policy, since pages carry personal data and CSRF tokens."""
    fixed = list(security_headers(settings).items())

    async def before_send(message: Message, scope: Scope) -> None:
        if message["type"] != "http.response.start":
            return
        headers = MutableScopeHeaders.from_message(message)
        for name, value in fixed:
            headers[name] = value
        if "cache-control" not in headers:
            headers["Cache-Control"] = "no-store"

    return before_send


def _client_address(request: Request[Any, Any, Any]) -> str:
    """Who a limit counts: the socket's peer, or from X-Forwarded-For when the peer is one of
    ``PORTAL_TRUSTED_PROXIES`` (see portal.edge)."""
    return request.client.host if request.client else "unknown"


def _limit(opt_key: str, per_minute: int, middleware_class: type[RateLimitMiddleware]) -> RateLimitConfig:
    """At most ``per_minute`` requests a minute per client address to the routes that say
    ``opt={opt_key: True}``, then 429 with Retry-After. Each limit's middleware class keeps its
    counts apart (Litestar's store key starts with the class's name); the counts live where
    ``rate_limit_stores`` says."""

    async def counted(request: Request[Any, Any, Any]) -> bool:  # async: a plain function would run in a thread
        return bool(request.route_handler.opt.get(opt_key))

    return RateLimitConfig(
        rate_limit=("minute", per_minute),
        check_throttle_handler=counted,
        identifier_for_request=_client_address,
        set_rate_limit_headers=False,
        middleware_class=middleware_class,
    )


def rate_limit(settings: Settings) -> RateLimitConfig:
    """``PORTAL_RATE_LIMIT`` to the routes that guess or spend something (``opt={"throttle":
    True}``): logging in, verification codes and resends, recovery, status look-ups, and
    accepting the terms, which makes a draft."""
    return _limit("throttle", settings.rate_limit_per_minute, RateLimitMiddleware)


class TokenRateLimit(RateLimitMiddleware):
    """The single sign-on token and revocation endpoints' own limit."""


def token_rate_limit(settings: Settings) -> RateLimitConfig:
    """``PORTAL_TOKEN_RATE_LIMIT`` to the routes that say ``opt={"token_throttle": True}``."""
    return _limit("token_throttle", settings.token_rate_limit_per_minute, TokenRateLimit)


class SharedCounts(RedisStore):
    """The rate limit's counts in Redis, shared by every worker process. While Redis cannot be
    reached the counts fall back to this process's memory (logged once), so an outage of the
    counter never locks everyone out of logging in; the per-account lockout is in the database
    and holds either way."""

    def __init__(self, url: str) -> None:
        client = Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        super().__init__(client, namespace="iacs-rate-limit", handle_client_shutdown=True)
        self._local = MemoryStore()
        self._down = False

    def _failed(self) -> None:
        if not self._down:
            log.warning("rate limit: Redis unreachable, counting in this process until it is back")
        self._down = True

    async def get(self, key: str, renew_for: int | timedelta | None = None) -> bytes | None:
        try:
            value = await super().get(key, renew_for)
        except RedisError:
            self._failed()
            return await self._local.get(key, renew_for)
        self._down = False
        return value

    async def set(self, key: str, value: str | bytes, expires_in: int | timedelta | None = None) -> None:
        try:
            await super().set(key, value, expires_in)
        except RedisError:
            self._failed()
            await self._local.set(key, value, expires_in)


def rate_limit_stores(settings: Settings) -> dict[str, Store]:
    """With ``PORTAL_REDIS_URL`` the rate limit counts in Redis, across every worker; without
    it, in each worker process's memory (Litestar's default store)."""
    return {"rate_limit": SharedCounts(settings.redis_url)} if settings.redis_url else {}


# ---- CSRF -------------------------------------------------------------------------------------

CSRF_COOKIE = "csrftoken"
_TOKEN = re.compile(r"[0-9a-f]{128}")  # Litestar's token: 64 hex characters of secret, 64 of HMAC


class CSRF(CSRFMiddleware):
    """Litestar's double-submit CSRF check, made robust to odd input: a token that is not a
    plain string of our shape (a file part, characters beyond ASCII) simply does not match; a
    cookie that is not one of ours (tampered, or signed before a key change) is ignored, so a
    new one is issued and the bad one is never printed into a page; a form body that cannot be
    decoded is a 400. Litestar's own CSRFMiddleware raised TypeError or UnicodeDecodeError
    (500) on the first and last, found by the generated-input tier (tests/fuzz)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            self._drop_foreign_cookie(scope)
        try:
            await super().__call__(scope, receive, send)
        except UnicodeDecodeError:  # only the check's own form parsing: the handler's errors are answered inside
            raise ClientException("the form could not be read") from None

    def _decode_csrf_token(self, token: str) -> str | None:
        sent: object = token  # what a crafted form sends may be a file part, not a string
        if not isinstance(sent, str) or not _TOKEN.fullmatch(sent):
            return None
        return super()._decode_csrf_token(token)

    def _drop_foreign_cookie(self, scope: Scope) -> None:
        prefix = self.config.cookie_name.encode() + b"="
        for index, (key, value) in enumerate(scope["headers"]):
            if key != b"cookie" or prefix not in value:
                continue
            parts = value.split(b";")
            kept = [
                part
                for part in parts
                if not part.strip().startswith(prefix)
                or self._decode_csrf_token(part.strip()[len(prefix) :].decode("latin-1")) is not None
            ]
            if len(kept) != len(parts):  # the headers are rebuilt only when a cookie goes
                headers = list(scope["headers"])
                headers[index] = (key, b";".join(kept))
                scope["headers"] = headers


def csrf(settings: Settings) -> CSRFConfig:
    return CSRFConfig(
        secret=settings.secret_key,
        cookie_name=CSRF_COOKIE,
        cookie_secure=settings.production,
        cookie_httponly=True,
        cookie_samesite="lax",
    )
