"""Single sign-on (OpenID Connect provider): discovery, JWKS, authorize, token, userinfo,
revocation and RP-initiated logout. The protocol is portal.accounts.sso (authlib); these
handlers read the HTTP request, ask it, and answer.

The authorization endpoint answers the browser: a code or an error goes back to the client by
redirect, but only once the client and its redirect URI are known (exactly as registered);
before that, a page. When the person must first sign in, change an initial password or use a
second factor, the request waits in a signed cookie (portal.auth.Continuation) and the sign-in
comes back to it.

A redirect to the client that follows one of the portal's own forms (signing in, a second
factor) is answered with a short page that moves on by itself: the portal's CSP
(``form-action 'self'``) would stop a form's redirect chain from leaving the site."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from authlib.oauth2.rfc6749.errors import OAuth2Error
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.response import Redirect, Template

from portal.accounts import service, sso, sso_keys
from portal.accounts.sso import Decision, ProtocolRequest, Provider, Step
from portal.auth import Continuation, SessionCookies, client_ip, session_guard, session_of
from portal.models import mfa as mfa_q
from portal.models import oidc as q
from portal.models.oidc import Client
from portal.settings import Settings
from portal.web import AnyRequest, read_form, render

NO_CSRF = {"exclude_from_csrf": True}  # called by the applications' servers, or by their pages
# An application's request waits while the person finishes signing in (an initial password to
# change, a second factor to set up): decide() sends them there and brings them back.
WAITS = {"initial_password": True, "mfa_setup": True}
JSON_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}
PUBLIC_JSON = {"Cache-Control": "public, max-age=300"}
MAX_VALUE = 2000  # the longest parameter value read (state, nonce, hints)


def _values(pairs: list[tuple[str, str]]) -> dict[str, list[str]]:
    values: dict[str, list[str]] = {}
    for key, value in pairs[:50]:
        values.setdefault(key[:50], []).append(value[:MAX_VALUE])
    return values


async def _params(request: AnyRequest) -> dict[str, list[str]]:
    """The request's parameters: its query for a GET, its form for a POST. A query keeps its
    order (the authorization request rebuilt from it must match the one waiting for a sign-in;
    Litestar's ``multi_items`` comes in set order)."""
    if request.method == "POST":
        form = await read_form(request)
        return _values([(k, v) for k, v in form.multi_items() if isinstance(v, str)])
    return _values(parse_qsl(request.url.query, keep_blank_values=True))


def _first(values: dict[str, list[str]], name: str) -> str:
    found = values.get(name) or [""]
    return found[0]


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=body, status_code=status, media_type="application/json", headers=headers or JSON_HEADERS)


def _protocol_request(request: AnyRequest, settings: Settings, values: dict[str, list[str]]) -> ProtocolRequest:
    """The request as authlib reads it, at the address PORTAL_BASE_URL gives this route."""
    return ProtocolRequest(request.method, settings.base_url.rstrip("/") + request.url.path, request.headers, values)


def _to_client(request: AnyRequest, client: Client, location: str) -> Response[Any]:
    """Send the browser back to the client: a redirect, or after one of the portal's own pages
    (same origin) a page that moves on by itself."""
    if request.headers.get("sec-fetch-site") == "same-origin":
        context = {"location": location, "application": client.application_code}
        return render(request, "sso/continue.html", context)
    return Redirect(location, status_code=302)


class SsoController(Controller):
    include_in_schema = False
    guards = [session_guard]

    @get("/.well-known/openid-configuration", name="sso:discovery")
    async def discovery(self, request: AnyRequest, provider: NamedDependency[Provider]) -> Response[Any]:
        def absolute(name: str) -> str:
            return provider.issuer + request.app.route_reverse(name)

        names = {"authorize": "sso:authorize", "token": "sso:token", "userinfo": "sso:userinfo"}
        names |= {"jwks": "sso:jwks", "logout": "sso:logout", "revoke": "sso:revoke"}
        return _json(provider.metadata({k: absolute(v) for k, v in names.items()}), headers=PUBLIC_JSON)

    @get("/oidc/jwks", name="sso:jwks")
    async def jwks(self) -> Response[Any]:
        return _json(await sso_keys.jwks(), headers=PUBLIC_JSON)

    # ---- Authorize --------------------------------------------------------------------------------

    @get("/oidc/authorize", name="sso:authorize", opt=WAITS)
    async def authorize(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        provider: NamedDependency[Provider],
        continuation: NamedDependency[Continuation],
    ) -> Response[Any]:
        return await _authorize(request, settings, provider, continuation)

    @post("/oidc/authorize", name="sso:authorize-post", opt={**NO_CSRF, **WAITS}, status_code=200)
    async def authorize_post(
        self,
        request: AnyRequest,
        settings: NamedDependency[Settings],
        provider: NamedDependency[Provider],
        continuation: NamedDependency[Continuation],
    ) -> Response[Any]:
        """The same request sent as a form (OpenID Connect Core 3.1.2.1)."""
        return await _authorize(request, settings, provider, continuation)

    # ---- Token, userinfo, revocation --------------------------------------------------------------

    # ---- Token, userinfo, revocation --------------------------------------------------------------

    @post("/oidc/token", name="sso:token", opt={**NO_CSRF, "token_throttle": True}, status_code=200)
    async def token(
        self, request: AnyRequest, settings: NamedDependency[Settings], provider: NamedDependency[Provider]
    ) -> Response[Any]:
        if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _json({"error": "invalid_request", "error_description": "Send a form"}, 400)
        protocol = _protocol_request(request, settings, await _params(request))
        status, body, headers = await sso.in_thread(lambda: provider.create_token_response(protocol))
        return _json(body, status, {**JSON_HEADERS, **dict(headers)})

    @get("/oidc/userinfo", name="sso:userinfo")
    async def userinfo(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Response[Any]:
        return await _userinfo(request, settings)

    @post("/oidc/userinfo", name="sso:userinfo-post", opt=NO_CSRF, status_code=200)
    async def userinfo_post(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Response[Any]:
        return await _userinfo(request, settings)

    @post("/oidc/revoke", name="sso:revoke", opt={**NO_CSRF, "token_throttle": True}, status_code=200)
    async def revoke(
        self, request: AnyRequest, settings: NamedDependency[Settings], provider: NamedDependency[Provider]
    ) -> Response[Any]:
        protocol = _protocol_request(request, settings, await _params(request))
        status, body, headers = await sso.in_thread(lambda: provider.create_endpoint_response("revocation", protocol))
        return _json(body, status, {**JSON_HEADERS, **dict(headers)})

    # ---- RP-initiated logout ----------------------------------------------------------------------

    @get("/oidc/logout", name="sso:logout", opt=WAITS)
    async def logout(
        self, request: AnyRequest, provider: NamedDependency[Provider], sessions: NamedDependency[SessionCookies]
    ) -> Response[Any]:
        return await _rp_logout(request, provider, sessions)

    @post("/oidc/logout", name="sso:logout-post", opt={**NO_CSRF, **WAITS}, status_code=200)
    async def logout_post(
        self, request: AnyRequest, provider: NamedDependency[Provider], sessions: NamedDependency[SessionCookies]
    ) -> Response[Any]:
        return await _rp_logout(request, provider, sessions)

    @post("/oidc/logout/confirm", name="sso:logout-confirm", opt=WAITS, status_code=200)
    async def logout_confirm(self, request: AnyRequest, sessions: NamedDependency[SessionCookies]) -> Response[Any]:
        values = await _params(request)
        client_id = _first(values, "client_id")
        client = await q.client(client_id) if 0 < len(client_id) <= 40 else None
        back = _first(values, "post_logout_redirect_uri")
        if back and (client is None or back not in client.post_logout_redirect_uris):
            back = ""
        return await _log_out(request, sessions, client, back, _first(values, "state"))


async def _authorize(
    request: AnyRequest, settings: Settings, provider: Provider, continuation: Continuation
) -> Response[Any]:
    values = await _params(request)
    client_id, redirect_uri = _first(values, "client_id"), _first(values, "redirect_uri")
    client = await q.client(client_id) if 0 < len(client_id) <= 40 else None
    if client is None or len(values.get("client_id", [])) > 1:
        return _refused(request, "This sign-in link names an application the portal does not know.")
    if redirect_uri not in client.redirect_uris or len(values.get("redirect_uri", [])) > 1:
        return _refused(
            request, f"This sign-in link would return you to an address {client.application_code} did not register."
        )
    state = _first(values, "state")

    def to_client_error(error: str, description: str) -> Response[Any]:
        location = sso.error_redirect(redirect_uri, error, description, state, provider.issuer)
        response = _to_client(request, client, location)
        response.set_cookie(continuation.clear())
        return response

    if "openid" not in _first(values, "scope").split():
        return to_client_error("invalid_scope", "The scope must include openid")
    protocol = _protocol_request(request, settings, values)
    try:  # the protocol's own checks (response type, PKCE, nonce, prompt), before anyone is asked
        grant = await sso.in_thread(lambda: provider.get_consent_grant(protocol, end_user=True))
    except OAuth2Error as error:
        return to_client_error(*sso.oauth_error(error))
    # The place to come back to after signing in: this request as a GET.
    pairs = [(k, v) for k, vs in values.items() for v in vs]
    query = request.url.query if request.method == "GET" else urlencode(pairs)  # a GET: as the client sent it
    here = request.app.route_reverse("sso:authorize") + "?" + query
    pending = continuation.read(request)
    after = pending.since if pending and pending.url == here else None
    session = await session_of(request)
    decision = await sso.decide(
        session, client, protocol.payload.data, signed_in_after=after, has_factor=mfa_q.has_factor
    )
    if decision.error:
        return to_client_error(decision.error, _ERRORS[decision.error])
    return await _act(request, decision, client, here, protocol, grant, provider, continuation, state)


async def _userinfo(request: AnyRequest, settings: Settings) -> Response[Any]:
    """The claims for a bearer access token (RFC 6750: in the Authorization header, or in a
    posted form's ``access_token``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" and request.method == "POST":
        token = _first(await _params(request), "access_token")
    elif scheme.lower() != "bearer":
        token = ""
    claims = await sso.userinfo(token.strip(), settings.secret_key)
    if claims is None:
        challenge = 'Bearer error="invalid_token"' if token else 'Bearer realm="iacs"'
        return _json({"error": "invalid_token"}, 401, {**JSON_HEADERS, "WWW-Authenticate": challenge})
    return _json(claims)


async def _rp_logout(request: AnyRequest, provider: Provider, sessions: SessionCookies) -> Response[Any]:
    """RP-initiated logout (OpenID Connect RP-Initiated Logout 1.0): with an ID token hint about
    the person signed in here, at once; without one, after they confirm."""
    values = await _params(request)
    hint = await sso.id_token_hint(_first(values, "id_token_hint"))
    if _first(values, "id_token_hint") and (hint is None or hint.get("iss") != provider.issuer):
        return _refused(request, "This logout link is not valid.", title="You have not been logged out")
    client_id = str(hint.get("aud", "")) if hint else _first(values, "client_id")
    client = await q.client(client_id) if 0 < len(client_id) <= 40 else None
    back = _first(values, "post_logout_redirect_uri")
    if back and (client is None or back not in client.post_logout_redirect_uris):
        return _refused(
            request,
            "This logout link would send you to an address the application did not register.",
            title="You have not been logged out",
        )
    state = _first(values, "state")
    session = await session_of(request)
    if session is not None and not (hint and await _same_person(hint, session.account_id, client)):
        # No proof the application asking is the one this person is signed in to: ask.
        context = {
            "client_id": client.client_id if client else "",
            "back": back,
            "state": state,
            "application": client.application_code if client else "",
        }
        return render(request, "sso/logout.html", context)
    return await _log_out(request, sessions, client, back, state)


_ERRORS = {
    "login_required": "The person is not signed in to the portal",
    "interaction_required": "The person must confirm it is them (second factor) or finish signing in",
    "access_denied": "The account has no role in this application",
}


def _refused(request: AnyRequest, advice: str, *, title: str = "You cannot sign in with this link") -> Template:
    context = {"title": title, "advice": advice}
    return render(request, "sso/refused.html", context, status_code=400)


async def _act(
    request: AnyRequest,
    decision: Decision,
    client: Client,
    here: str,
    protocol: ProtocolRequest,
    grant: Any,
    provider: Provider,
    continuation: Continuation,
    state: str,
) -> Response[Any]:
    """Carry out what the authorization request needs (it was not a silent one)."""
    app = request.app
    session = await session_of(request)
    if decision.step is Step.LOG_IN:
        response: Response[Any] = Redirect(app.route_reverse("accounts:login"), status_code=303)
        if session is not None and session.password_initial:
            response = Redirect(app.route_reverse("accounts:change-password"), status_code=303)
        elif session is not None and session.mfa_required and not session.second_factor:
            response = Redirect(app.route_reverse("mfa:manage"), status_code=303)
        elif session is not None:  # prompt=login or max_age: this session is not fresh enough
            sessions: SessionCookies = app.state.sessions
            await service.logout(sessions.token(request), session, ip=client_ip(request))
            response.set_cookie(sessions.clear())
        hint = protocol.payload.data.get("login_hint", "")
        response.set_cookie(continuation.issue(here, client.application_code, hint))
        return response
    if decision.step is Step.STEP_UP:
        return Redirect(app.route_reverse("mfa:step-up") + "?" + urlencode({"next": here}), status_code=303)
    if decision.step is Step.NO_ACCESS:
        location = sso.error_redirect(
            protocol.payload.redirect_uri, "access_denied", _ERRORS["access_denied"], state, provider.issuer
        )
        context = {"application": client.application_code, "back": location}
        page = render(request, "sso/no_access.html", context, status_code=403)
        page.set_cookie(continuation.clear())
        return page
    authorized = decision.authorized

    def issue() -> tuple[int, Any, list[tuple[str, str]]]:  # the grant validated above
        result: tuple[int, Any, list[tuple[str, str]]] = provider.create_authorization_response(
            protocol, grant_user=authorized, grant=grant
        )
        return result

    # authlib answers a refusal found now (a nonce used meanwhile, say) as the client's error.
    status, _, headers = await sso.in_thread(issue)
    location = dict(headers).get("Location", "")
    if status != 302 or not location:  # an error that cannot go back to the client
        return _refused(request, "The application's sign-in request could not be completed.")
    response = _to_client(request, client, sso.with_params(location, {"iss": provider.issuer}))
    response.set_cookie(continuation.clear())
    return response


async def _same_person(hint: dict[str, Any], account_id: int, client: Client | None) -> bool:
    """Whether the ID token hint is about the account signed in here."""
    if client is None:
        return False
    person = await q.person(account_id, client.application)
    return person is not None and hint.get("sub") == person.subject


async def _log_out(
    request: AnyRequest, sessions: SessionCookies, client: Client | None, back: str, state: str
) -> Response[Any]:
    session = await session_of(request)
    await service.logout(sessions.token(request), session, ip=client_ip(request))
    request.state["signed_in"] = None  # the page below shows the person signed out
    if client is not None and back:
        response = _to_client(request, client, sso.with_params(back, {"state": state}))
    else:
        response = render(request, "sso/logged_out.html", {})
    response.set_cookie(sessions.clear())
    return response
