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
MARX_REDIRECT = "https://marx.cms.gov/oidc/callback"
ISSUER = "http://localhost:8000"


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


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
        self.verifier, challenge = pkce()
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

    async def token(self, client, code: str, **extra: str):
        data = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri}
        data["code_verifier"] = self.verifier
        data.update(extra)
        data = {k: v for k, v in data.items() if v != "-"}
        return await client.post(url(client, "sso:token"), data=data, auth=(self.client_id, self.secret))


def answer(response) -> dict[str, list[str]]:
    """The query the provider sent back to the redirect URI (a 302)."""
    assert response.status_code == 302, (response.status_code, response.text[:300])
    return parse_qs(urlsplit(response.headers["location"]).query)


async def keys_and_secret(settings, client_id: str = "hpms") -> str:
    if not await q.keys():
        await sso_keys.rotate(FieldCipher(settings.data_key))
    return await sso_keys.new_client_secret(client_id)


async def verify_id_token(id_token: str) -> dict:
    keys = KeySet.import_key_set(await sso_keys.jwks())
    token = jwt.decode(id_token, keys, algorithms=["ES256"])
    return {"header": dict(token.header), **dict(token.claims)}
