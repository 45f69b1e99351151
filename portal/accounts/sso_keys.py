"""The keys that sign ID tokens (ES256, with ``joserfc``), and the applications' client secrets.

Keys rotate without breaking anyone: a ``next`` key is published in the JWKS before it is
used, so clients that cached the JWKS already know it when it starts signing; the ``current``
key signs; a ``retired`` key stays published for a day after it stopped signing (longer than any
token it signed lives), then goes. Private keys are stored encrypted with PORTAL_DATA_KEY.

Client secrets are 256 random bits, shown once, stored as SHA-256 (their entropy needs no slow
hash) and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from joserfc.jwk import ECKey

from portal.clock import now
from portal.crypto import FieldCipher
from portal.models import accounts as accounts_q
from portal.models import oidc as q
from portal.models.db import transaction
from portal.models.oidc import Client

ALG = "ES256"
RETIRED_KEPT = timedelta(days=1)
PURPOSE = "oidc-signing-key"


class SsoError(ValueError):
    """Refused; ``str()`` is the one-line reason for the operator."""


def _new_key() -> ECKey:
    key = ECKey.generate_key("P-256", parameters={"use": "sig", "alg": ALG}, private=True)
    key.ensure_kid()  # the RFC 7638 thumbprint
    return key


async def _store(cipher: FieldCipher, key: ECKey, state: str) -> str:
    kid = str(key.kid)
    public: dict[str, Any] = dict(key.as_dict(private=False))
    private = cipher.encrypt(json.dumps(key.as_dict(private=True)), PURPOSE)
    await q.add_key(kid=kid, alg=ALG, private_jwk=private, public_jwk=public, state=state)
    return kid


async def rotate(cipher: FieldCipher) -> tuple[str, str]:
    """The first time: a current and a next key. Then: the next key starts signing, the current
    one retires, a new next key is published; retired keys over a day old are dropped.
    (current kid, next kid)."""
    async with transaction():
        found = await q.keys()
        current = next((k for k in found if k.state == "current"), None)
        upcoming = next((k for k in found if k.state == "next"), None)
        if current is None and upcoming is None:
            current_kid = await _store(cipher, _new_key(), "current")
        else:
            if current is not None:
                await q.set_key_state(current.kid, "retired")
            if upcoming is not None:
                await q.set_key_state(upcoming.kid, "current")
                current_kid = upcoming.kid
            else:
                current_kid = await _store(cipher, _new_key(), "current")
        next_kid = await _store(cipher, _new_key(), "next")
        await q.drop_keys_retired_before(now() - RETIRED_KEPT)
        await accounts_q.audit("oidc_keys_rotated", actor="operator", subject=current_kid, next=next_kid)
    return current_kid, next_kid


async def jwks() -> dict[str, list[dict[str, Any]]]:
    """The published keys: next, current and retired (public parts only)."""
    return {"keys": [dict(k.public_jwk) for k in await q.keys()]}


async def signing_key(cipher: FieldCipher) -> ECKey | None:
    """The current key (None before the first ``oidc keys rotate``)."""
    current = next((k for k in await q.keys() if k.state == "current"), None)
    if current is None:
        return None
    return ECKey.import_key(json.loads(cipher.decrypt(current.private_jwk, PURPOSE)))


def secret_hash(secret: str) -> str:
    return hashlib.sha256(f"iacs-client-secret:{secret}".encode()).hexdigest()


async def new_client_secret(client_id: str) -> str:
    """A new secret for a confidential client, replacing the old one at once; shown once."""
    secret = secrets.token_urlsafe(32)
    async with transaction():
        if not await q.set_client_secret(client_id, secret_hash(secret)):
            raise SsoError(f"--client: no confidential client {client_id!r} in the loaded catalog")
        await accounts_q.audit("oidc_client_secret_rotated", actor="operator", subject=client_id)
    return secret


async def demo_secrets(cipher: FieldCipher, client_ids: Sequence[str]) -> dict[str, str]:
    """For the demo applications (``dev``, the browser tests, the benchmark): signing keys if
    there are none yet, and a fresh secret for each of ``client_ids`` that the loaded catalog has
    as a confidential client (the others are left out)."""
    if not await q.keys():
        await rotate(cipher)
    found: dict[str, str] = {}
    for client_id in client_ids:
        try:
            found[client_id] = await new_client_secret(client_id)
        except SsoError:
            continue
    return found


def secret_matches(client: Client, secret: str) -> bool:
    if client.public or not client.secret_hash or not secret or len(secret) > 200:
        return False
    return hmac.compare_digest(client.secret_hash, secret_hash(secret))
