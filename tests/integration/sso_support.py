"""A relying party for the single sign-on tests: PKCE, the authorization request, the code's
redemption, and checks of what comes back (no shortcuts into the provider's internals)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

from joserfc import jwt
from joserfc.jwk import KeySet

from portal.accounts import sso_keys
from portal.crypto import FieldCipher
from portal.models import oidc as q
from tests.support import url

HPMS_REDIRECT = "https://hpms.cms.gov/oidc/callback"
HPMS_LOCAL_REDIRECT = "http://hpms.localhost:8001/redirect_uri"  # the catalog's client.local
HPMS_LOGGED_OUT = "https://hpms.cms.gov/"
MARX_REDIRECT = "https://marx.cms.gov/oidc/callback"
ISSUER = "http://localhost:8000"
AAL1 = "http://idmanagement.gov/ns/assurance/aal/1"
AAL2 = "http://idmanagement.gov/ns/assurance/aal/2"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, s256(verifier)


def s256(value: str) -> str:
    """base64url(SHA-256(value)) without padding: a PKCE challenge (RFC 7636)."""
    return base64.urlsafe_b64encode(hashlib.sha256(value.encode()).digest()).decode().rstrip("=")


def left_hash(value: str) -> str:
    """``at_hash`` of an ES256 ID token: the left half of SHA-256, base64url (OIDC Core 3.1.3.6)."""
    digest = hashlib.sha256(value.encode()).digest()
    return base64.urlsafe_b64encode(digest[:16]).decode().rstrip("=")


@dataclass
class Rp:
    """One application's side of a sign-in."""

    client_id: str = "hpms"
    redirect_uri: str = HPMS_REDIRECT
    secret: str = ""
    verifier: str = ""
    state: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    nonce: str = field(default_factory=lambda: secrets.token_urlsafe(12))

    def params(self, **extra: str) -> dict[str, str]:
        """A fresh authorization request (a new PKCE pair and nonce, as a real client makes for
        each: the provider refuses a nonce used before); ``name="-"`` leaves a parameter out."""
        self.verifier, challenge = pkce()
        self.nonce = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile email",
            "state": self.state,
            "nonce": self.nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        params.update(extra)
        return {k: v for k, v in params.items() if v is not None and v != "-"}

    def authorize_url(self, client, **extra: str) -> str:
        return url(client, "sso:authorize") + "?" + urlencode(self.params(**extra))

    async def token(self, client, code: str, *, auth: str = "basic", **extra: str):
        """Redeem ``code``, the client authenticating with ``auth``: basic (client_secret_basic),
        post (client_secret_post) or none."""
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        data["code_verifier"] = self.verifier
        data.update(extra)
        return await self._token_call(client, data, auth)

    async def refresh(self, client, refresh_token: str, *, auth: str = "basic", **extra: str):
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}
        return await self._token_call(client, data, auth)

    async def revoke(self, client, token: str, **extra: str):
        data = {"token": token, **extra}
        return await client.post(url(client, "sso:revoke"), data=data, auth=(self.client_id, self.secret))

    async def _token_call(self, client, data: dict[str, str], auth: str):
        data = {k: v for k, v in data.items() if v != "-"}
        if auth == "basic":
            return await client.post(url(client, "sso:token"), data=data, auth=(self.client_id, self.secret))
        if auth == "post":
            data |= {"client_id": self.client_id, "client_secret": self.secret}
        return await client.post(url(client, "sso:token"), data=data)


def answer(response) -> dict[str, list[str]]:
    """The query the provider sent back to the redirect URI (a 302)."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return parse_qs(urlsplit(response.headers["location"]).query)


def sent_to(response, redirect_uri: str) -> dict[str, list[str]]:
    """The query of a 302 to ``redirect_uri`` exactly (scheme, host and path)."""
    params = answer(response)
    parts = urlsplit(response.headers["location"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == redirect_uri, response.headers["location"]
    return params


async def keys_and_secret(settings, client_id: str = "hpms") -> str:
    if not await q.keys():
        await sso_keys.rotate(FieldCipher(settings.data_key))
    return await sso_keys.new_client_secret(client_id)


async def verify_id_token(id_token: str) -> dict:
    keys = KeySet.import_key_set(await sso_keys.jwks())
    token = jwt.decode(id_token, keys, algorithms=["ES256"])
    return {"header": dict(token.header), **dict(token.claims)}
