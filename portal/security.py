"""Security headers on every response, errors included."""

from __future__ import annotations

from litestar import Request
from litestar.datastructures import MutableScopeHeaders
from litestar.middleware.rate_limit import RateLimitConfig
from litestar.types import Message, Scope

from portal.settings import Settings

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


def security_headers_hook(settings: Settings):
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


# Unsafe requests that guess or spend something: logging in, verification codes and resends,
# recovery, status look-ups, and starting a registration (accepting the terms makes a draft).
THROTTLED_PATHS = ("/login", "/recover/", "/register/verify", "/status")


def rate_limit(settings: Settings) -> RateLimitConfig:
    """Per client address (uvicorn resolves X-Forwarded-For from trusted proxies): at most
    ``PORTAL_RATE_LIMIT`` POSTs a minute to the paths above, then 429 with Retry-After."""

    async def throttled(request: Request) -> bool:  # async: a plain function would run in a thread
        path = request.url.path
        return request.method == "POST" and (path.startswith(THROTTLED_PATHS) or path.endswith("/terms"))

    def client(request: Request) -> str:
        return request.client.host if request.client else "unknown"

    return RateLimitConfig(
        rate_limit=("minute", settings.rate_limit_per_minute),
        check_throttle_handler=throttled,
        identifier_for_request=client,
        set_rate_limit_headers=False,
    )
