"""Queries for single sign-on: the applications' OpenID Connect clients and the ID-token
signing keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from portal.catalog import ClientSpec
from portal.clock import now
from portal.models.db import as_struct, as_structs
from portal.models.tables import OidcClient, SigningKey


class Client(msgspec.Struct, frozen=True, kw_only=True):
    """A client as the provider checks it."""

    id: int
    application: int
    application_code: str
    client_id: str
    public: bool
    redirect_uris: list[str]
    post_logout_redirect_uris: list[str]
    login_url: str
    offline_access: bool
    secret_hash: str
    active: bool


class Key(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    kid: str
    alg: str
    private_jwk: str  # encrypted
    public_jwk: dict[str, str]
    state: str
    created_at: datetime
    retired_at: datetime | None


async def save_client(application_id: int, spec: ClientSpec | None) -> None:
    """Inside the catalog's transaction: the application's client as the catalog declares it
    (its secret kept), or (None) none any more: an existing one is made inactive."""
    exists = await OidcClient.exists().where(OidcClient.application == application_id)
    if spec is None:
        if exists:
            await OidcClient.update({OidcClient.active: False}).where(OidcClient.application == application_id)
        return
    values: dict[Any, Any] = {
        OidcClient.client_id: spec.client_id,
        OidcClient.public: spec.type == "public",
        OidcClient.redirect_uris: list(spec.redirect_uris),
        OidcClient.post_logout_redirect_uris: list(spec.post_logout_redirect_uris),
        OidcClient.login_url: spec.login_url,
        OidcClient.offline_access: spec.offline_access,
        OidcClient.active: True,
    }
    if exists:
        await OidcClient.update(values).where(OidcClient.application == application_id)
    else:
        await OidcClient.insert(OidcClient(_data={OidcClient.application: application_id, **values}))


_CLIENT_COLUMNS = (
    OidcClient.id,
    OidcClient.application,
    OidcClient.application.code.as_alias("application_code"),
    OidcClient.client_id,
    OidcClient.public,
    OidcClient.redirect_uris,
    OidcClient.post_logout_redirect_uris,
    OidcClient.login_url,
    OidcClient.offline_access,
    OidcClient.secret_hash,
    OidcClient.active,
)


async def client(client_id: str) -> Client | None:
    """An active client of an active application."""
    row = (
        await OidcClient.select(*_CLIENT_COLUMNS)
        .where(
            (OidcClient.client_id == client_id) & OidcClient.active.eq(True) & (OidcClient.application.active == True)  # noqa: E712 (a column comparison)
        )
        .output(load_json=True)
        .first()
    )
    return as_struct(Client, row) if row else None


async def set_client_secret(client_id: str, secret_hash: str) -> bool:
    rows = (
        await OidcClient.update({OidcClient.secret_hash: secret_hash, OidcClient.secret_set_at: now()})
        .where((OidcClient.client_id == client_id) & OidcClient.public.eq(False))
        .returning(OidcClient.id)
    )
    return bool(rows)


# ---- Signing keys -------------------------------------------------------------------------------


async def keys() -> list[Key]:
    rows = await SigningKey.select().order_by(SigningKey.id).output(load_json=True)
    return as_structs(Key, rows)


async def add_key(*, kid: str, alg: str, private_jwk: str, public_jwk: dict[str, str], state: str) -> None:
    await SigningKey.insert(
        SigningKey(kid=kid, alg=alg, private_jwk=private_jwk, public_jwk=public_jwk, state=state, created_at=now())
    )


async def set_key_state(kid: str, state: str) -> None:
    changed: dict[Any, Any] = {SigningKey.state: state}
    if state == "retired":
        changed[SigningKey.retired_at] = now()
    await SigningKey.update(changed).where(SigningKey.kid == kid)


async def drop_keys_retired_before(before: datetime) -> int:
    rows = (
        await SigningKey.delete()
        .where((SigningKey.state == "retired") & (SigningKey.retired_at < before))
        .returning(SigningKey.id)
    )
    return len(rows)
