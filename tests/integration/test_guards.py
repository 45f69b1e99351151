"""Access rules live on the routes: guards on the controllers, and route ``opt`` for what an
initial-password session may reach and what the rate limit counts. The session is looked up
only behind the guard, never for static files, /healthz, /readyz or /metrics."""

from __future__ import annotations

from datetime import timedelta

from portal.auth import approver_guard, session_guard
from portal.clock import now
from portal.models.tables import UserSession
from tests.integration.accounts_support import log_in, make_account

INITIAL_PASSWORD_ROUTES = {
    "accounts:change-password",
    "accounts:change-password-submit",
    "accounts:logout",
    "accounts:session-refresh",
    # Single sign-on: an application's request waits while the person finishes signing in, and
    # logging out always works.
    "sso:authorize",
    "sso:authorize-post",
    "sso:logout",
    "sso:logout-post",
    "sso:logout-confirm",
}
TOKEN_THROTTLED_ROUTES = {"sso:token", "sso:revoke"}  # PORTAL_TOKEN_RATE_LIMIT
THROTTLED_ROUTES = {
    "accounts:login-submit",
    "accounts:recover-identify",
    "accounts:recover-answers",
    "accounts:reset-submit",
    "accounts:user-id-reveal",
    "registration:accept",
    "registration:verify-check",
    "registration:resend",
    "status:check",
    "mfa:second-step-submit",
    "mfa:app-submit",
    "mfa:step-up-submit",
}


def handlers(app):
    """Every named handler (Litestar adds unnamed OPTIONS handlers of its own)."""
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if handler.name:
                yield handler


def test_the_route_options_name_exactly_the_routes_they_should(app):
    opted = {h.name for h in handlers(app) if h.opt.get("initial_password")}
    throttled = {h.name for h in handlers(app) if h.opt.get("throttle")}
    token_throttled = {h.name for h in handlers(app) if h.opt.get("token_throttle")}
    assert opted == INITIAL_PASSWORD_ROUTES
    assert throttled == THROTTLED_ROUTES
    assert token_throttled == TOKEN_THROTTLED_ROUTES


def test_pages_are_guarded_and_static_files_and_health_are_not(app):
    for handler in handlers(app):
        guards = set(handler.resolve_guards())
        if handler.name in {"static", "ops:health", "ops:ready", "ops:metrics"}:
            assert session_guard not in guards, handler.name
        else:
            assert session_guard in guards, handler.name
        assert (approver_guard in guards) == handler.name.startswith("approvals:"), handler.name


async def test_static_files_and_health_never_look_the_session_up(client, app):
    """An idle session is deleted by the first lookup: static files and /healthz leave it be."""
    account = await make_account(initial=False)
    await log_in(client, account["user_id"], account["password"])
    await UserSession.update({UserSession.last_seen_at: now() - timedelta(minutes=31)}).where(
        UserSession.account == account["id"]
    )
    assert (await client.get(app.state.assets.url("portal.css"))).status_code == 200
    assert (await client.get(app.route_reverse("ops:health"))).status_code == 200
    assert (await client.get(app.route_reverse("ops:ready"))).status_code == 200
    assert (await client.get(app.route_reverse("ops:metrics"))).status_code == 404  # not an allowed address
    assert await UserSession.count().where(UserSession.account == account["id"]) == 1
    await client.get(app.route_reverse("home:getting-ready"))  # a page: the lookup ends the idle session
    assert await UserSession.count().where(UserSession.account == account["id"]) == 0


async def test_an_initial_password_reaches_only_its_routes(client, app):
    account = await make_account(initial=True)
    await log_in(client, account["user_id"], account["password"])
    change = app.route_reverse("accounts:change-password")
    for name in ("home:getting-ready", "accounts:applications", "status:form", "registration:start"):
        r = await client.get(app.route_reverse(name))
        assert r.status_code == 303 and r.headers["location"] == change, name
    assert (await client.get(change)).status_code == 200
