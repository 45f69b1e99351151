"""Single sign-on groundwork (issue 13): the applications' OpenID Connect clients come from the
catalog, a confidential client's secret is made by the operator and stored hashed, and the
ID-token signing keys rotate with the next key published before it signs."""

from __future__ import annotations

import json

import msgspec
from joserfc import jwt
from joserfc.jwk import KeySet

from portal.accounts import sso_keys
from portal.catalog import read
from portal.crypto import FieldCipher
from portal.models import oidc as q
from portal.models.catalog import load
from portal.models.tables import AuditEvent, OidcClient, SigningKey
from tests.integration.test_cli import empty_db, run  # noqa: F401 (a fixture)


async def test_clients_are_loaded_from_the_catalog_and_keep_their_secret(database):
    client = await q.client("hpms")
    assert client is not None and client.application_code == "HPMS" and not client.public
    # Outside production the catalog's [applications.client.local] addresses (make run's demo
    # application) come after the client's own.
    assert client.redirect_uris == ["https://hpms.cms.gov/oidc/callback", "http://hpms.localhost:8001/redirect_uri"]
    assert client.post_logout_redirect_uris == ["https://hpms.cms.gov/", "http://hpms.localhost:8001/loggedout"]
    assert client.login_url == "http://hpms.localhost:8001/"
    secret = await sso_keys.new_client_secret("hpms")
    stored = await OidcClient.select(OidcClient.secret_hash).where(OidcClient.client_id == "hpms").first()
    assert secret not in json.dumps(stored) and len(secret) >= 43
    client = await q.client("hpms")
    assert sso_keys.secret_matches(client, secret)
    assert not sso_keys.secret_matches(client, secret[:-1] + "x") and not sso_keys.secret_matches(client, "")
    await load(read())  # reloading the catalog keeps the secret
    assert sso_keys.secret_matches(await q.client("hpms"), secret)
    # A client the catalog no longer lists stops working; listed again, it comes back.
    shipped = read()
    apps = [msgspec.structs.replace(a, client=None) if a.code == "MARX" else a for a in shipped.applications]
    without = msgspec.structs.replace(shipped, applications=apps)
    await load(without)
    assert await q.client("marx") is None
    await load(shipped)
    assert await q.client("marx") is not None


async def test_keys_rotate_with_the_next_key_published_before_it_signs(database, settings):
    cipher = FieldCipher(settings.data_key)
    await SigningKey.delete(force=True)
    current, upcoming = await sso_keys.rotate(cipher)
    published = await sso_keys.jwks()
    assert {k["kid"] for k in published["keys"]} == {current, upcoming}
    assert all("d" not in k and k["alg"] == "ES256" and k["use"] == "sig" for k in published["keys"])
    rows = await SigningKey.select(SigningKey.private_jwk)
    assert all('"d"' not in r["private_jwk"] for r in rows)  # the private keys are encrypted
    key = await sso_keys.signing_key(cipher)
    assert key is not None and key.kid == current
    token = jwt.encode({"alg": "ES256", "kid": key.kid}, {"sub": "x"}, key)
    # A client that fetched the keys before the rotation verifies what the next key signs after it.
    cached = KeySet.import_key_set(published)
    second_current, second_next = await sso_keys.rotate(cipher)
    assert second_current == upcoming
    new_key = await sso_keys.signing_key(cipher)
    after = jwt.encode({"alg": "ES256", "kid": new_key.kid}, {"sub": "y"}, new_key)
    assert jwt.decode(after, cached).claims["sub"] == "y"
    # The retired key stays published, so tokens it signed still verify.
    now_published = KeySet.import_key_set(await sso_keys.jwks())
    assert {k.kid for k in now_published.keys} == {current, upcoming, second_next}
    assert jwt.decode(token, now_published).claims["sub"] == "x"
    assert await AuditEvent.count().where(AuditEvent.action == "oidc_keys_rotated") >= 2


def test_the_operator_commands(empty_db):  # noqa: F811
    env = {"PORTAL_DATABASE_URL": empty_db}
    assert run("migrate", env=env).returncode == 0
    assert run("catalog", "load", env=env).returncode == 0
    rotated = run("oidc", "keys", "rotate", env=env)
    assert rotated.returncode == 0 and rotated.stdout.startswith("Signing with ")
    made = run("oidc", "secret", "--client", "hpms", env=env)
    assert made.returncode == 0 and made.stdout.startswith("Client secret for hpms: ")
    refused = run("oidc", "secret", "--client", "nope", env=env)
    assert refused.returncode == 2 and "no confidential client 'nope'" in refused.stderr
