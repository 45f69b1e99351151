"""Queries for single sign-on: the applications' OpenID Connect clients, the ID-token signing
keys, authorization codes and tokens (only their hashes), and what a token says about its
account."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec

from portal.catalog import ClientSpec
from portal.clock import now
from portal.models.db import as_struct, as_structs
from portal.models.tables import AccessGrant, Account, OidcClient, OidcCode, OidcToken, SigningKey


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


async def login_urls() -> dict[str, str]:
    """Each application's own sign-in address, by application code (active clients only)."""
    rows = await OidcClient.select(OidcClient.application.code.as_alias("code"), OidcClient.login_url).where(
        OidcClient.active.eq(True) & (OidcClient.application.active == True)  # noqa: E712 (a column comparison)
    )
    return {row["code"]: row["login_url"] for row in rows}


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


# ---- Codes and tokens ---------------------------------------------------------------------------


class Code(msgspec.Struct, frozen=True, kw_only=True):
    """An authorization code as its redemption checks it."""

    id: int
    client: int
    account: int
    redirect_uri: str
    scope: str
    nonce: str
    code_challenge: str
    auth_time: datetime
    acr: str
    amr: list[str]
    expires_at: datetime


class Token(msgspec.Struct, frozen=True, kw_only=True):
    """An access (or refresh) token as the userinfo, refresh and revocation endpoints check it."""

    id: int
    client: int
    client_id: str
    application: int
    account: int
    scope: str
    auth_time: datetime
    acr: str
    amr: list[str]
    expires_at: datetime
    refresh_expires_at: datetime | None
    revoked_at: datetime | None


class Person(msgspec.Struct, frozen=True, kw_only=True):
    """What the claims say about an account, for one application."""

    account_id: int
    user_id: str
    subject: str
    first_name: str
    last_name: str
    email: str
    roles: list[str]  # role codes granted in that application only
    mfa_role: bool  # one of them needs a second factor


async def save_code(
    *,
    code_hash: str,
    client: int,
    account: int,
    redirect_uri: str,
    scope: str,
    nonce: str,
    code_challenge: str,
    auth_time: datetime,
    acr: str,
    amr: list[str],
    expires_at: datetime,
) -> None:
    await OidcCode.insert(
        OidcCode(
            code_hash=code_hash,
            client=client,
            account=account,
            redirect_uri=redirect_uri,
            scope=scope,
            nonce=nonce,
            code_challenge=code_challenge,
            auth_time=auth_time,
            acr=acr,
            amr=amr,
            expires_at=expires_at,
        )
    )


_CODE_COLUMNS = (
    OidcCode.id,
    OidcCode.client,
    OidcCode.account,
    OidcCode.redirect_uri,
    OidcCode.scope,
    OidcCode.nonce,
    OidcCode.code_challenge,
    OidcCode.auth_time,
    OidcCode.acr,
    OidcCode.amr,
    OidcCode.expires_at,
)


async def spend_code(code_hash: str, at: datetime) -> Code | int | None:
    """Mark a code used, once: the code when this is its first use and it has not expired;
    when it was used before, the id of that code (its tokens are to be revoked); else None."""
    rows = (
        await OidcCode.update({OidcCode.used_at: at})
        .where((OidcCode.code_hash == code_hash) & OidcCode.used_at.is_null())
        .returning(*_CODE_COLUMNS)
    )
    if rows:
        row = rows[0]
        if isinstance(row.get("amr"), str):
            row["amr"] = msgspec.json.decode(row["amr"])
        code = as_struct(Code, row)
        return code if code.expires_at > at else None
    used = await OidcCode.select(OidcCode.id).where(OidcCode.code_hash == code_hash).first()
    return int(used["id"]) if used else None


async def revoke_tokens_of_code(code_id: int, at: datetime) -> int:
    rows = (
        await OidcToken.update({OidcToken.revoked_at: at})
        .where((OidcToken.code == code_id) & OidcToken.revoked_at.is_null())
        .returning(OidcToken.id)
    )
    return len(rows)


async def nonce_used(client: int, nonce: str) -> bool:
    return await OidcCode.exists().where((OidcCode.client == client) & (OidcCode.nonce == nonce))


async def save_token(
    *,
    access_hash: str,
    refresh_hash: str | None,
    client: int,
    account: int,
    code: int | None,
    scope: str,
    auth_time: datetime,
    acr: str,
    amr: list[str],
    expires_at: datetime,
    refresh_expires_at: datetime | None,
) -> None:
    await OidcToken.insert(
        OidcToken(
            access_hash=access_hash,
            refresh_hash=refresh_hash,
            client=client,
            account=account,
            code=code,
            scope=scope,
            auth_time=auth_time,
            acr=acr,
            amr=amr,
            issued_at=now(),
            expires_at=expires_at,
            refresh_expires_at=refresh_expires_at,
        )
    )


_TOKEN_COLUMNS = (
    OidcToken.id,
    OidcToken.client,
    OidcToken.client.client_id.as_alias("client_id"),
    OidcToken.client.application.as_alias("application"),
    OidcToken.account,
    OidcToken.scope,
    OidcToken.auth_time,
    OidcToken.acr,
    OidcToken.amr,
    OidcToken.expires_at,
    OidcToken.refresh_expires_at,
    OidcToken.revoked_at,
)


async def token_by_hash(token_hash: str, *, refresh: bool = False) -> Token | None:
    column = OidcToken.refresh_hash if refresh else OidcToken.access_hash
    row = await OidcToken.select(*_TOKEN_COLUMNS).where(column == token_hash).output(load_json=True).first()
    return as_struct(Token, row) if row else None


async def revoke_token(token_id: int, at: datetime) -> None:
    await OidcToken.update({OidcToken.revoked_at: at}).where(
        (OidcToken.id == token_id) & OidcToken.revoked_at.is_null()
    )


async def purge_codes_and_tokens(before: datetime) -> int:
    """Tokens that ended before ``before``, and codes that expired a day before it (by then
    every token a code got has ended too, and deleting a code deletes its tokens)."""
    tokens = (
        await OidcToken.delete()
        .where(
            (OidcToken.expires_at < before)
            & (OidcToken.refresh_expires_at.is_null() | (OidcToken.refresh_expires_at < before))
        )
        .returning(OidcToken.id)
    )
    codes = await OidcCode.delete().where(OidcCode.expires_at < before - timedelta(days=1)).returning(OidcCode.id)
    return len(tokens) + len(codes)


# ---- Who the claims are about -------------------------------------------------------------------


async def person(account_id: int, application_id: int) -> Person | None:
    """The account and its roles in one application (two queries), with a ``sub`` given the
    first time it is asked for; None once the account is gone."""
    account = (
        await Account.select(
            Account.id, Account.user_id, Account.subject, Account.first_name, Account.last_name, Account.email
        )
        .where(Account.id == account_id)
        .first()
    )
    if account is None:
        return None
    subject = account["subject"]
    if not subject:
        await Account.update({Account.subject: str(uuid.uuid4())}).where(
            (Account.id == account_id) & Account.subject.is_null()
        )
        row = await Account.select(Account.subject).where(Account.id == account_id).first()
        subject = row["subject"] if row else ""
    roles = (
        await AccessGrant.select(AccessGrant.role.code.as_alias("code"), AccessGrant.role.mfa.as_alias("mfa"))
        .where((AccessGrant.account == account_id) & (AccessGrant.application == application_id))
        .order_by(AccessGrant.role.position)
    )
    return Person(
        account_id=account_id,
        user_id=account["user_id"],
        subject=subject,
        first_name=account["first_name"],
        last_name=account["last_name"],
        email=account["email"],
        roles=[r["code"] for r in roles],
        mfa_role=any(r["mfa"] for r in roles),
    )
