"""Single sign-on: the portal as the OpenID Connect provider of the CMS applications.

authlib's server components do the protocol (the authorization request's checks, client
authentication, the code grant with PKCE, ID tokens, refresh and revocation; JOSE by joserfc);
this module gives them the portal's clients, accounts, codes and tokens. authlib is
synchronous and the database is not: each protocol call runs in a worker thread
(``in_thread``), and its hooks reach the database back on the event loop (``_wait``).

What the portal decides itself, before authlib issues anything (``decide``): who is signed in
and how recently, ``prompt``, ``max_age``, whether the account holds a role in the client's
application, and whether a second factor is needed (a role marked ``mfa``, or ``acr_values``
asking for it).

Lifetimes: a code lives 60 seconds and is used once (a second use revokes what the first got);
an access token 5 minutes; an ID token 5 minutes; a refresh token (only for a client allowed
``offline_access``) 12 hours, replaced at each use. Every token is stored as its SHA-256."""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio.from_thread
import anyio.to_thread
from authlib.oauth2.rfc6749 import AuthorizationServer, ClientMixin, OAuth2Payload, OAuth2Request
from authlib.oauth2.rfc6749 import grants as oauth_grants
from authlib.oauth2.rfc6749.errors import InvalidRequestError, OAuth2Error
from authlib.oauth2.rfc6750 import BearerTokenGenerator
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import AuthorizationCodeMixin, OpenIDCode
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from portal.accounts import sso_keys
from portal.accounts.service import throttle_key
from portal.clock import now
from portal.crypto import FieldCipher
from portal.models import accounts as accounts_q
from portal.models import oidc as q
from portal.models.oidc import Client, Code, Person, Token
from portal.models.rows import SignedIn

# The authentication context (acr): password alone, or with a second factor (NIST SP 800-63B
# AAL1 and AAL2, named as login.gov names them).
ACR_PASSWORD = "http://idmanagement.gov/ns/assurance/aal/1"
ACR_SECOND_FACTOR = "http://idmanagement.gov/ns/assurance/aal/2"
ACR_VALUES = (ACR_PASSWORD, ACR_SECOND_FACTOR)
SCOPES = ("openid", "profile", "email", "offline_access")
CLAIMS = (
    "sub",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "email",
    "email_verified",
    "auth_time",
    "amr",
    "acr",
    "roles",
)
CODE_LIFETIME = timedelta(seconds=60)
ACCESS_LIFETIME = timedelta(minutes=5)
ID_TOKEN_LIFETIME = timedelta(minutes=5)
REFRESH_LIFETIME = timedelta(hours=12)
KEY_CACHE_SECONDS = 60  # a worker re-reads the signing key this often (rotation is a CLI command)

T = TypeVar("T")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _wait(work: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
    """From an authlib hook (a worker thread): run ``work`` on the event loop and wait."""
    return anyio.from_thread.run(work, *args)


async def in_thread(call: Callable[[], T]) -> T:
    return await anyio.to_thread.run_sync(call)


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


# ---- What authlib sees --------------------------------------------------------------------------


class _Payload(OAuth2Payload):  # type: ignore[misc]
    def __init__(self, values: Mapping[str, list[str]]) -> None:
        self._datalist = {k: list(v) for k, v in values.items()}
        self._data = {k: v[0] for k, v in values.items() if v}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> dict[str, list[str]]:
        return self._datalist


class _Headers(dict[str, str]):
    """Headers by any case of their name (authlib asks for ``Authorization``)."""

    def __init__(self, headers: Mapping[str, str]) -> None:
        super().__init__((k.lower(), v) for k, v in headers.items())

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and super().__contains__(key.lower())

    def get(self, key: str, default: Any = None) -> Any:
        return super().get(key.lower(), default)


class ProtocolRequest(OAuth2Request):  # type: ignore[misc]
    """An HTTP request as authlib reads it: ``values`` are the query (a GET) or the form (a POST)."""

    def __init__(self, method: str, uri: str, headers: Mapping[str, str], values: Mapping[str, list[str]]) -> None:
        super().__init__(method, uri, headers=_Headers(headers))
        self.payload = _Payload(values)

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data


class ClientModel(ClientMixin):  # type: ignore[misc]
    def __init__(self, client: Client) -> None:
        self.client = client
        self.client_id = client.client_id
        self.client_metadata: dict[str, Any] = {}

    def get_client_id(self) -> str:
        return self.client.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # every request names its redirect URI (OpenID Connect requires it)

    def get_allowed_scope(self, scope: str) -> str:
        allowed = [s for s in SCOPES if s != "offline_access" or self.client.offline_access]
        return " ".join(s for s in dict.fromkeys(str(scope or "").split()) if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.client.redirect_uris  # exactly: no prefix, no pattern

    def check_client_secret(self, client_secret: str) -> bool:
        return sso_keys.secret_matches(self.client, client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if self.client.public:
            return method == "none"
        return method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type == "authorization_code" or (grant_type == "refresh_token" and self.client.offline_access)


class CodeModel(AuthorizationCodeMixin):  # type: ignore[misc]
    def __init__(self, code: Code) -> None:
        self.code = code
        self.code_challenge = code.code_challenge
        self.code_challenge_method = "S256"

    def get_redirect_uri(self) -> str:
        return self.code.redirect_uri

    def get_scope(self) -> str:
        return self.code.scope

    def get_nonce(self) -> str | None:
        return self.code.nonce or None

    def get_auth_time(self) -> int:
        return _epoch(self.code.auth_time)

    def get_acr(self) -> str:
        return self.code.acr

    def get_amr(self) -> list[str]:
        return list(self.code.amr)


class TokenModel:
    """A stored token as the refresh grant and the revocation endpoint check it."""

    def __init__(self, token: Token) -> None:
        self.token = token

    def check_client(self, client: ClientModel) -> bool:
        return self.token.client == client.client.id

    def get_scope(self) -> str:  # a refresh keeps the scope granted
        return self.token.scope


@dataclass(frozen=True)
class Authorized:
    """Who an authorization code is for, and how they signed in."""

    account_id: int
    auth_time: datetime
    acr: str
    amr: list[str]


def claims_for(person: Person, scope: str) -> dict[str, Any]:
    """The claims about ``person`` that ``scope`` lets the client see (``roles`` always: they
    are what the application decides access on)."""
    scopes = scope.split()
    claims: dict[str, Any] = {"sub": person.subject, "roles": list(person.roles)}
    if "profile" in scopes:
        claims |= {
            "name": f"{person.first_name} {person.last_name}",
            "given_name": person.first_name,
            "family_name": person.last_name,
            "preferred_username": person.user_id,
        }
    if "email" in scopes:
        claims |= {"email": person.email, "email_verified": True}  # proved by the emailed code
    return claims


# ---- The grants ---------------------------------------------------------------------------------


class S256Only(CodeChallenge):  # type: ignore[misc]
    """PKCE for every client, confidential too, and only S256."""

    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send code_challenge with code_challenge_method=S256")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("code_challenge_method must be S256")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'")
        super().validate_code_verifier(grant, result)


class CodeGrant(oauth_grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    server: Provider

    def save_authorization_code(self, code: str, request: ProtocolRequest) -> None:
        user: Authorized = request.user
        client: ClientModel = request.client
        _wait(
            _save_code,
            code,
            client.client.id,
            user,
            request.payload.redirect_uri,
            request.scope,
            request.payload.data.get("nonce", ""),
            request.payload.data.get("code_challenge", ""),
        )

    def query_authorization_code(self, code: str, client: ClientModel) -> CodeModel | None:
        found = _wait(_spend_code, code, client.client)
        return CodeModel(found) if found else None

    def delete_authorization_code(self, authorization_code: CodeModel) -> None:
        pass  # spent when it was read: a second redemption is refused and revokes the first's tokens

    def authenticate_user(self, authorization_code: CodeModel) -> Person | None:
        client: ClientModel = self.request.client
        return _wait(self.server.still_allowed, authorization_code.code.account, client.client)


class RefreshGrant(oauth_grants.RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]
    INCLUDE_NEW_REFRESH_TOKEN = True  # each refresh token is used once
    server: Provider

    def authenticate_refresh_token(self, refresh_token: str) -> TokenModel | None:
        token = _wait(_token_by_hash, token_hash(refresh_token), True)
        at = now()
        if token is None or token.revoked_at or not token.refresh_expires_at or token.refresh_expires_at <= at:
            return None
        return TokenModel(token)

    def authenticate_user(self, refresh_token: TokenModel) -> Person | None:
        client: ClientModel = self.request.client
        if refresh_token.token.client != client.client.id:
            return None
        return _wait(self.server.still_allowed, refresh_token.token.account, client.client)

    def revoke_old_credential(self, refresh_token: TokenModel) -> None:
        _wait(q.revoke_token, refresh_token.token.id, now())


class IdToken(OpenIDCode):  # type: ignore[misc]
    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider

    def exists_nonce(self, nonce: str, request: ProtocolRequest) -> bool:
        client: ClientModel = request.client
        return _wait(q.nonce_used, client.client.id, nonce)

    def resolve_client_private_key(self, client: ClientModel) -> Any:
        return self.provider.signing_key()[1]

    def get_client_algorithm(self, client: ClientModel) -> str:
        return sso_keys.ALG

    def get_encode_header(self, client: ClientModel) -> dict[str, str]:
        return {"alg": sso_keys.ALG, "kid": self.provider.signing_key()[0], "typ": "JWT"}

    def get_client_claims(self, client: ClientModel) -> dict[str, Any]:
        issued = int(time.time())
        return {
            "iss": self.provider.issuer,
            "aud": client.client.client_id,
            "iat": issued,
            "exp": issued + int(ID_TOKEN_LIFETIME.total_seconds()),
        }

    def generate_user_info(self, user: Person, scope: str) -> dict[str, Any]:
        return claims_for(user, scope)


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "none"]

    def query_token(self, token_string: str, token_type_hint: str | None) -> TokenModel | None:
        if not token_string or len(token_string) > 200:
            return None
        hashed = token_hash(token_string)
        order = [True, False] if token_type_hint == "refresh_token" else [False, True]
        for refresh in order:
            token = _wait(_token_by_hash, hashed, refresh)
            if token:
                return TokenModel(token)
        return None

    def revoke_token(self, token: TokenModel, request: ProtocolRequest) -> None:
        _wait(q.revoke_token, token.token.id, now())


# ---- The provider -------------------------------------------------------------------------------


class Provider(AuthorizationServer):  # type: ignore[misc]
    """authlib's authorization server over the portal's tables (see the module's docstring)."""

    def __init__(self, issuer: str, cipher: FieldCipher, secret_key: str) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.issuer = issuer.rstrip("/")
        self.cipher = cipher
        self.secret_key = secret_key
        self._key: tuple[float, str, Any] | None = None
        generator = BearerTokenGenerator(
            access_token_generator=lambda **_: secrets.token_urlsafe(32),
            refresh_token_generator=lambda **_: secrets.token_urlsafe(32),
            expires_generator=lambda client, grant_type: int(ACCESS_LIFETIME.total_seconds()),
        )
        self.register_token_generator("default", generator)
        self.register_grant(CodeGrant, [S256Only(required=True), IdToken(self)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation(server=self))

    # authlib's integration points
    def query_client(self, client_id: str) -> ClientModel | None:
        if not isinstance(client_id, str) or not 0 < len(client_id) <= 40:
            return None
        client = _wait(q.client, client_id)
        return ClientModel(client) if client else None

    def save_token(self, token: dict[str, Any], request: ProtocolRequest) -> None:
        _wait(_save_token, token, request)

    def validate_requested_scope(self, scope: str) -> None:
        """Scope values the portal does not offer are ignored, not refused (OpenID Connect Core
        3.1.2.1): ``ClientModel.get_allowed_scope`` keeps those this client may have."""

    def create_oauth2_request(self, request: ProtocolRequest) -> ProtocolRequest:
        return request

    def handle_response(self, status: int, body: Any, headers: Any) -> tuple[int, Any, list[tuple[str, str]]]:
        return status, body, list(headers)

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        pass

    # the portal's own
    def signing_key(self) -> tuple[str, Any]:
        """(kid, private key) of the current key, re-read each minute (from a worker thread)."""
        cached = self._key
        if cached is None or cached[0] < time.monotonic() - KEY_CACHE_SECONDS:
            key = _wait(sso_keys.signing_key, self.cipher)
            if key is None:
                raise RuntimeError("no signing key: run `python -m portal oidc keys rotate`")
            cached = self._key = (time.monotonic(), str(key.kid), key)
        return cached[1], cached[2]

    async def still_allowed(self, account_id: int, client: Client) -> Person | None:
        return await still_allowed(account_id, client, self.secret_key)

    def metadata(self, endpoints: Mapping[str, str]) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0); ``endpoints`` are absolute."""
        auth_methods = ["client_secret_basic", "client_secret_post", "none"]
        return {
            "issuer": self.issuer,
            "authorization_endpoint": endpoints["authorize"],
            "token_endpoint": endpoints["token"],
            "userinfo_endpoint": endpoints["userinfo"],
            "jwks_uri": endpoints["jwks"],
            "end_session_endpoint": endpoints["logout"],
            "revocation_endpoint": endpoints["revoke"],
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [sso_keys.ALG],
            "token_endpoint_auth_methods_supported": auth_methods,
            "revocation_endpoint_auth_methods_supported": auth_methods,
            "code_challenge_methods_supported": ["S256"],
            "claims_supported": list(CLAIMS),
            "acr_values_supported": list(ACR_VALUES),
            "prompt_values_supported": ["none", "login"],
            "claims_parameter_supported": False,
            "request_parameter_supported": False,
            "request_uri_parameter_supported": False,
            "authorization_response_iss_parameter_supported": True,
        }


async def still_allowed(account_id: int, client: Client, secret_key: str) -> Person | None:
    """The account, when it may still be issued tokens for ``client``: it holds a role in the
    application and is not locked out. Refusals are audited."""
    person = await q.person(account_id, client.application)
    reason = ""
    if person is None:
        reason = "account gone"
    elif not person.roles:
        reason = "no role in the application"
    else:
        lock = await accounts_q.lock_state(throttle_key(person.user_id, secret_key))
        if lock and lock.locked_until and lock.locked_until > now():
            reason = "account locked"
    if reason:
        who = person.user_id if person else str(account_id)
        await accounts_q.audit("sso_refused", actor=who, subject=client.client_id, reason=reason)
        return None
    return person


async def _token_by_hash(hashed: str, refresh: bool) -> Token | None:
    return await q.token_by_hash(hashed, refresh=refresh)  # ``_wait`` passes no keywords


async def _save_code(
    code: str,
    client_pk: int,
    user: Authorized,
    redirect_uri: str,
    scope: str,
    nonce: str,
    challenge: str,
) -> None:
    await q.save_code(
        code_hash=token_hash(code),
        client=client_pk,
        account=user.account_id,
        redirect_uri=redirect_uri,
        scope=scope,
        nonce=nonce[:255],
        code_challenge=challenge,
        auth_time=user.auth_time,
        acr=user.acr,
        amr=user.amr,
        expires_at=now() + CODE_LIFETIME,
    )


async def _spend_code(code: str, client: Client) -> Code | None:
    """The code, spent now, when it is this client's, unexpired and unused. A code used before
    revokes every token its first use got (RFC 6749 section 4.1.2)."""
    if not code or len(code) > 200:
        return None
    spent = await q.spend_code(token_hash(code), now())
    if isinstance(spent, int):
        revoked = await q.revoke_tokens_of_code(spent, now())
        await accounts_q.audit("sso_code_reused", actor="client", subject=client.client_id, revoked=revoked)
        return None
    if spent is None or spent.client != client.id:
        return None
    return spent


async def _save_token(token: dict[str, Any], request: ProtocolRequest) -> None:
    client: ClientModel = request.client
    person: Person = request.user
    at = now()
    source: CodeModel | TokenModel | None = request.authorization_code or request.refresh_token
    if isinstance(source, CodeModel):
        code_id: int | None = source.code.id
        auth_time, acr, amr = source.code.auth_time, source.code.acr, source.code.amr
    elif isinstance(source, TokenModel):
        code_id = None
        auth_time, acr, amr = source.token.auth_time, source.token.acr, source.token.amr
    else:  # pragma: no cover - only the two grants above issue tokens
        raise RuntimeError("a token without a code or a refresh token")
    refresh = token.get("refresh_token")
    await q.save_token(
        access_hash=token_hash(token["access_token"]),
        refresh_hash=token_hash(refresh) if refresh else None,
        client=client.client.id,
        account=person.account_id,
        code=code_id,
        scope=str(token.get("scope", "")),
        auth_time=auth_time,
        acr=acr,
        amr=amr,
        expires_at=at + ACCESS_LIFETIME,
        refresh_expires_at=at + REFRESH_LIFETIME if refresh else None,
    )
    if isinstance(source, CodeModel):
        await accounts_q.audit("sso_token", actor=person.user_id, subject=client.client_id, acr=acr)


# ---- The authorization request: what the portal decides -----------------------------------------


class Step(Enum):
    ISSUE = "issue"  # give the client a code
    LOG_IN = "log in"  # sign in (again) first, then come back
    STEP_UP = "step up"  # use a second factor first, then come back
    NO_ACCESS = "no access"  # the account holds no role in the application


@dataclass(frozen=True)
class Decision:
    step: Step
    error: str = ""  # prompt=none: the error to send the client instead of asking the person
    authorized: Authorized | None = None


def acr_of(session: SignedIn) -> str:
    return ACR_SECOND_FACTOR if session.second_factor else ACR_PASSWORD


async def decide(
    session: SignedIn | None,
    client: Client,
    values: Mapping[str, str],
    *,
    signed_in_after: datetime | None,
    has_factor: Callable[[int], Awaitable[bool]],
) -> Decision:
    """What an authorization request needs, given the browser's session: ``prompt`` (none,
    login), ``max_age``, the grant, and the second factor (a role marked ``mfa`` in this
    application, or ``acr_values`` asking for AAL2 from an account that has a factor).
    ``signed_in_after``: the person was sent to sign in for this request at that time (a
    ``prompt=login`` or ``max_age`` already answered)."""
    prompts = set(values.get("prompt", "").split())
    silent = "none" in prompts
    at = now()
    must_log_in = session is None or session.password_initial or (session.mfa_required and not session.second_factor)
    if session is not None and not must_log_in:
        fresh_enough = signed_in_after is not None and session.created_at >= signed_in_after
        if "login" in prompts and not fresh_enough:
            must_log_in = True
        max_age = values.get("max_age", "")
        if max_age.isdigit() and session.created_at < at - timedelta(seconds=int(max_age[:9])) and not fresh_enough:
            must_log_in = True
    if must_log_in or session is None:
        return Decision(Step.LOG_IN, "login_required" if silent else "")
    person = await q.person(session.account_id, client.application)
    if person is None or not person.roles:
        await accounts_q.audit(
            "sso_refused", actor=session.user_id, subject=client.client_id, reason="no role in the application"
        )
        return Decision(Step.NO_ACCESS, "access_denied" if silent else "")
    wants_aal2 = ACR_SECOND_FACTOR in values.get("acr_values", "").split()
    if not session.second_factor and (person.mfa_role or wants_aal2) and await has_factor(session.account_id):
        return Decision(Step.STEP_UP, "interaction_required" if silent else "")
    amr = session.amr.split() or ["pwd"]
    authorized = Authorized(session.account_id, session.created_at, acr_of(session), amr)
    return Decision(Step.ISSUE, authorized=authorized)


# ---- Redirects back to the client ---------------------------------------------------------------


def with_params(uri: str, params: Mapping[str, str]) -> str:
    """``uri`` with ``params`` added to its query (kept as it was registered otherwise)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items() if v]
    return urlunsplit(parts._replace(query=urlencode(query)))


def error_redirect(redirect_uri: str, error: str, description: str, state: str, issuer: str) -> str:
    """An error for the client (RFC 6749 section 4.1.2.1), with ``iss`` (RFC 9207)."""
    return with_params(redirect_uri, {"error": error, "error_description": description, "state": state, "iss": issuer})


def oauth_error(error: OAuth2Error) -> tuple[str, str]:
    return str(error.error), str(error.description or "")


# ---- RP-initiated logout ------------------------------------------------------------------------


async def id_token_hint(hint: str) -> dict[str, Any] | None:
    """The claims of an ID token this portal signed (expired ones too: a logout may come long
    after the token was issued), or None."""
    if not hint or len(hint) > 4000:
        return None
    keys = (await sso_keys.jwks())["keys"]
    try:
        token = jwt.decode(hint, KeySet.import_key_set({"keys": keys}), algorithms=[sso_keys.ALG])
    except (JoseError, ValueError, TypeError):
        return None
    return dict(token.claims)


async def userinfo(access_token: str, secret_key: str) -> dict[str, Any] | None:
    """The claims an access token may see, or None when it is unknown, expired or revoked, or
    its account may no longer use the application."""
    if not access_token or len(access_token) > 200:
        return None
    token = await q.token_by_hash(token_hash(access_token))
    if token is None or token.revoked_at or token.expires_at <= now() or "openid" not in token.scope.split():
        return None
    client = await q.client(token.client_id)
    if client is None:
        return None
    person = await still_allowed(token.account, client, secret_key)
    return claims_for(person, token.scope) if person else None
