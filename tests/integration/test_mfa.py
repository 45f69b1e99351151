"""Two-factor sign-in through the real app and database (issue 12): who must enrol, the
authenticator app (TOTP) and passkeys (a software authenticator making real WebAuthn answers),
recovery codes, the second step before any session, step-up before a decision, the help-desk
reset, and what the audit log and the emails say."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import msgspec
import pyotp

from portal.accounts import mfa, service
from portal.clock import now
from portal.models import accounts as accounts_q
from portal.models import mfa as mfa_q
from portal.models.rows import FactorKind
from portal.models.tables import AccessRequest, AuditEvent, OutboxMessage, SecondFactor, UserSession
from tests.htmlcheck import element, page, text, texts
from tests.integration.accounts_support import TOTP_SECRETS, csrf, log_in, make_account, totp_code
from tests.integration.conftest import client_of
from tests.integration.test_approvals import quick_request
from tests.support import url
from tests.webauthn_soft import SoftPasskey


async def sessions_of(account: dict) -> list[dict]:
    return await UserSession.select().where(UserSession.account == account["id"])


async def mails(to: str, kind: str) -> list[dict]:
    return await OutboxMessage.select().where((OutboxMessage.to_address == to) & (OutboxMessage.kind == kind))


async def audit(user_id: str) -> list[dict]:
    return await AuditEvent.select().where(AuditEvent.subject == user_id).output(load_json=True)


def actions(events: list[dict]) -> list[str]:
    return [e["action"] for e in events]


async def post(client, name: str, data: dict | None = None, **path):
    return await client.post(url(client, name, **path), data={**(data or {}), **await csrf(client)})


async def set_up_app(client) -> tuple[str, object]:
    """Through the pages: the secret shown as text, then its first code; the answer to the code."""
    doc = page(await client.get(url(client, "mfa:app")))
    assert element(doc, ".qr svg")  # the QR code, inline
    secret = text(doc, "#secret").replace(" ", "")
    sealed = element(doc, "input[name=secret]")["value"]
    assert secret not in sealed  # the form carries it encrypted
    r = await post(client, "mfa:app-submit", {"secret": sealed, "code": pyotp.TOTP(secret).now(), "name": "My phone"})
    return secret, r


def options_of(doc) -> dict:
    return json.loads(element(doc, "form[data-passkey]")["data-options"])


async def password_only(client, account: dict):
    return await log_in(client, account["user_id"], account["password"], second_step=False)


# ---- Who must use it ------------------------------------------------------------------------------


async def test_an_approvers_first_login_changes_the_password_then_sets_up_an_app_then_reaches_the_queue(client):
    approver = await make_account(initial=True, grants=(), approver=(("PSR", 1),))
    r = await log_in(client, approver["user_id"], approver["password"])
    assert r.headers["location"] == url(client, "accounts:change-password")
    new = "violet canyon orchestra nineteen"
    r = await post(
        client,
        "accounts:change-password-submit",
        {"current_password": approver["password"], "new_password": new, "confirm_password": new},
    )
    assert r.status_code == 303
    # Nothing else until a second factor is set up: the queue sends them to Two-factor sign-in.
    r = await client.get(url(client, "approvals:table"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "mfa:manage")
    doc = page(await client.get(url(client, "mfa:manage")))
    assert "must use a second factor" in text(doc, ".notice")
    secret, r = await set_up_app(client)
    assert r.status_code == 303 and r.headers["location"] == url(client, "mfa:codes")
    doc = page(await client.get(r.headers["location"]))
    codes = texts(doc, ".codes code")
    assert len(codes) == 10 and len(set(codes)) == 10
    assert element(doc, ".actions a")["href"] == url(client, "approvals:table")
    again = page(await client.get(url(client, "mfa:codes")))  # shown once
    assert texts(again, ".codes code") == []
    assert (await client.get(url(client, "approvals:table"))).status_code == 200
    [session] = await sessions_of(approver)
    assert session["amr"] == "pwd otp" and session["mfa_at"] is not None
    [factor] = await mfa_q.factors_of(approver["id"])
    assert factor.kind is FactorKind.TOTP and factor.name == "My phone"
    assert secret not in factor.secret  # encrypted at rest with PORTAL_DATA_KEY
    assert mfa.grouped(secret).replace(" ", "") == secret
    assert "mfa_enrolled" in actions(await audit(approver["user_id"]))
    assert await mails(approver["email"], "second_factor_changed")


async def test_a_password_only_session_that_must_enrol_reaches_no_route_but_enrolment(client, app):
    """Walks the route table: every route but setting up a factor and logging out answers 303
    to Two-factor sign-in for an approver signed in with a password alone."""
    approver = await make_account(initial=False, grants=(), approver=((None, 1),), totp=False)
    r = await password_only(client, approver)
    assert r.headers["location"] == url(client, "approvals:table")
    manage = url(client, "mfa:manage")
    allowed = {"static", "ops:health", "ops:ready", "ops:metrics"}
    token = await csrf(client)
    checked = 0
    for route in app.routes:
        for handler in getattr(route, "route_handlers", ()):
            if not handler.name or handler.name in allowed or handler.opt.get("mfa_setup"):
                continue
            values = {p.name: "1" if p.type is int else "PSR" for p in route.path_parameters.values()}
            path = route.path_format.format(**values)
            for method in handler.http_methods - {"OPTIONS", "HEAD"}:
                r = await client.request(method, path, data=token if method == "POST" else None)
                assert r.status_code == 303 and r.headers["location"] == manage, (method, path, r.status_code)
                checked += 1
    assert checked >= 60  # every page and form the portal has but these
    assert (await client.get(manage)).status_code == 200


async def test_holders_of_marked_roles_must_enrol_and_others_are_offered_it(client):
    marked = await make_account(initial=False, grants=(("MARX", "mco-submitter"),), totp=False)
    r = await password_only(client, marked)
    assert (await client.get(url(client, "accounts:applications"))).headers["location"] == url(client, "mfa:manage")
    await post(client, "accounts:logout")
    plain = await make_account(initial=False)  # PSR provider-user: not marked
    await password_only(client, plain)
    r = await client.get(url(client, "accounts:applications"))
    assert r.status_code == 200
    assert element(page(r), f"a[href='{url(client, 'mfa:manage')}']")  # offered on My applications


async def test_the_setting_makes_it_required_for_all_or_nobody(settings):
    plain = await make_account(initial=False)
    async with client_of(msgspec.structs.replace(settings, mfa_required="all")) as client:
        await password_only(client, plain)
        r = await client.get(url(client, "accounts:applications"))
        assert r.headers["location"] == url(client, "mfa:manage")
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),), totp=False)
    async with client_of(msgspec.structs.replace(settings, mfa_required="off")) as client:
        await password_only(client, approver)
        assert (await client.get(url(client, "approvals:table"))).status_code == 200
        tracking = await quick_request("PSR", "provider-user")
        r = await post(client, "approvals:approve", tracking=tracking)  # no step-up either
        assert r.status_code == 303 and "step-up" not in r.headers["location"]
        assert (
            await AccessRequest.select(AccessRequest.status).where(AccessRequest.tracking_number == tracking).first()
        )["status"] == "approved"


# ---- The second step -------------------------------------------------------------------------------


async def test_no_session_exists_until_the_second_step_passes(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    r = await password_only(client, approver)
    assert r.status_code == 303 and r.headers["location"] == url(client, "mfa:second-step")
    assert "iacs_login" in client.cookies and "iacs_session" not in client.cookies
    assert await sessions_of(approver) == []
    for name in ("approvals:table", "accounts:applications", "mfa:manage"):
        assert (await client.get(url(client, name))).headers["location"] == url(client, "accounts:login"), name
    doc = page(await client.get(url(client, "mfa:second-step")))
    assert element(doc, "input[name=code]")["autocomplete"] == "one-time-code"
    r = await post(client, "mfa:second-step-submit", {"code": "000000"})
    assert r.status_code == 303 and r.headers["location"] == url(client, "mfa:second-step")
    assert "not correct" in text(page(await client.get(r.headers["location"])), "#code-error")
    assert await sessions_of(approver) == []
    r = await post(client, "mfa:second-step-submit", {"code": await totp_code(approver["user_id"])})
    assert r.status_code == 303 and r.headers["location"] == url(client, "approvals:table")
    [session] = await sessions_of(approver)
    assert session["amr"] == "pwd otp"
    assert (await client.get(url(client, "approvals:table"))).status_code == 200
    # The halfway sign-in is spent: its cookie cannot start a second session.
    assert await mfa_q.challenge(service.token_hash("x"), "login") is None
    assert "login_password_ok" in actions(await audit(approver["user_id"]))


async def test_with_htmx_each_step_is_one_request(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    hx = {"HX-Request": "true", "x-csrftoken": (await csrf(client))["_csrf_token"]}
    r = await client.post(
        url(client, "accounts:login-submit"),
        data={"user_id": approver["user_id"], "password": approver["password"]},
        headers=hx,
    )
    assert r.headers["hx-redirect"] == url(client, "mfa:second-step")
    r = await client.post(url(client, "mfa:second-step-submit"), data={"code": "123"}, headers=hx)
    assert r.status_code == 200 and element(page(r), "#second-step #code-error")  # the form, swapped in place
    assert len(r.content) < 2048
    r = await client.post(
        url(client, "mfa:second-step-submit"), data={"code": await totp_code(approver["user_id"])}, headers=hx
    )
    assert r.headers["hx-redirect"] == url(client, "approvals:table")


async def test_a_totp_code_works_once_and_one_step_of_drift_is_allowed(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    totp = pyotp.TOTP(approver["totp_secret"])
    await password_only(client, approver)
    if time.time() % 30 > 25:  # no step boundary between choosing the codes and checking them
        await asyncio.sleep(30 - time.time() % 30 + 0.1)
    at = time.time()
    r = await post(client, "mfa:second-step-submit", {"code": totp.at(at - 30)})  # one step behind
    assert r.headers["location"] == url(client, "approvals:table")
    await post(client, "accounts:logout")
    await password_only(client, approver)
    r = await post(client, "mfa:second-step-submit", {"code": totp.at(at - 30)})  # the same code again
    assert r.headers["location"] == url(client, "mfa:second-step")
    r = await post(client, "mfa:second-step-submit", {"code": totp.at(at - 95)})  # three steps behind
    assert r.headers["location"] == url(client, "mfa:second-step")
    r = await post(client, "mfa:second-step-submit", {"code": totp.at(at + 30)})  # one step ahead
    assert r.headers["location"] == url(client, "approvals:table")


async def test_five_wrong_codes_lock_the_second_step_and_count_toward_the_lockout(client, settings):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    await password_only(client, approver)
    for _ in range(5):
        r = await post(client, "mfa:second-step-submit", {"code": "000001"})
    r = await post(client, "mfa:second-step-submit", {"code": await totp_code(approver["user_id"])})
    message = text(page(await client.get(r.headers["location"])), "#code-error")
    assert "Too many wrong tries" in message
    assert await sessions_of(approver) == []
    account = await accounts_q.account_by_user_id(approver["user_id"])
    assert account.mfa_locked_until and account.mfa_locked_until > now() + timedelta(minutes=14)
    lock = await accounts_q.lock_state(service.throttle_key(approver["user_id"], settings.secret_key))
    assert lock.failures >= 5  # wrong codes count toward the account's lockout
    assert "mfa_locked" in actions(await audit(approver["user_id"]))


async def test_a_recovery_code_works_once_instead_of_the_app(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    code = approver["recovery_codes"][0]
    await password_only(client, approver)
    r = await post(client, "mfa:second-step-submit", {"code": code.upper().replace("-", " ")})
    assert r.headers["location"] == url(client, "approvals:table")
    assert await mfa_q.recovery_codes_left(approver["id"]) == 9
    [mail] = await mails(approver["email"], "recovery_code_used")
    assert "9 left" in mail["body"] and code not in mail["body"]
    await post(client, "accounts:logout")
    await password_only(client, approver)
    r = await post(client, "mfa:second-step-submit", {"code": code})
    assert r.headers["location"] == url(client, "mfa:second-step")
    assert "already used" in text(page(await client.get(r.headers["location"])), "#code-error")
    events = await audit(approver["user_id"])
    assert "mfa_recovery_used" in actions(events)
    assert all(code not in json.dumps(e["detail"]) for e in events)


async def test_new_recovery_codes_replace_the_old_set(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    await log_in(client, approver["user_id"], approver["password"])
    r = await post(client, "mfa:codes-new")
    codes = texts(page(await client.get(r.headers["location"])), ".codes code")
    assert len(codes) == 10 and not set(codes) & set(approver["recovery_codes"])
    await post(client, "accounts:logout")
    await password_only(client, approver)
    r = await post(client, "mfa:second-step-submit", {"code": approver["recovery_codes"][1]})
    assert r.headers["location"] == url(client, "mfa:second-step")  # the old set no longer works
    r = await post(client, "mfa:second-step-submit", {"code": codes[0]})
    assert r.headers["location"] == url(client, "approvals:table")
    assert await mails(approver["email"], "recovery_codes_replaced")


# ---- Passkeys -----------------------------------------------------------------------------------------


async def test_a_passkey_is_set_up_signs_in_and_its_counter_must_go_up(client, settings):
    rp = mfa.relying_party(settings.base_url)
    key = SoftPasskey(rp.id, rp.origin)
    holder = await make_account(initial=False)
    await password_only(client, holder)
    doc = page(await client.get(url(client, "mfa:passkey")))
    options = options_of(doc)
    assert options["rp"]["id"] == rp.id
    assert options["authenticatorSelection"]["residentKey"] == "preferred"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    token = element(doc, "input[name=token]")["value"]
    r = await post(
        client, "mfa:passkey-submit", {"token": token, "name": "Blue key", "credential": key.create(options)}
    )
    assert r.headers["location"] == url(client, "mfa:codes")
    [factor] = await mfa_q.factors_of(holder["id"])
    assert factor.kind is FactorKind.WEBAUTHN and factor.name == "Blue key" and factor.device == "hwk"
    [session] = await sessions_of(holder)
    assert session["amr"] == "pwd hwk"
    # The same ceremony cannot be used twice.
    r = await post(client, "mfa:passkey-submit", {"token": token, "credential": key.create(options)})
    assert r.headers["location"] == url(client, "mfa:passkey")
    await post(client, "accounts:logout")

    await password_only(client, holder)
    doc = page(await client.get(url(client, "mfa:second-step")))
    options = options_of(doc)
    assert [c["id"] for c in options["allowCredentials"]] == [factor.credential_id]
    r = await post(client, "mfa:second-step-submit", {"credential": key.get(options)})
    assert r.headers["location"] == url(client, "accounts:applications")
    [session] = await sessions_of(holder)
    assert session["amr"] == "pwd hwk"
    await post(client, "accounts:logout")

    await password_only(client, holder)  # a cloned key: its counter does not go up
    options = options_of(page(await client.get(url(client, "mfa:second-step"))))
    r = await post(client, "mfa:second-step-submit", {"credential": key.get(options, count=1)})
    assert r.headers["location"] == url(client, "mfa:second-step")
    assert await sessions_of(holder) == []


async def test_a_wrong_or_removed_passkey_is_refused(client, settings):
    rp = mfa.relying_party(settings.base_url)
    holder = await make_account(initial=False)
    await password_only(client, holder)
    keys = [SoftPasskey(rp.id, rp.origin), SoftPasskey(rp.id, rp.origin)]
    for n, key in enumerate(keys):
        doc = page(await client.get(url(client, "mfa:passkey")))
        token = element(doc, "input[name=token]")["value"]
        await post(
            client,
            "mfa:passkey-submit",
            {"token": token, "name": f"Key {n}", "credential": key.create(options_of(doc))},
        )
    first, second = await mfa_q.factors_of(holder["id"])
    r = await post(client, "mfa:remove", factor_id=second.id)
    assert r.headers["location"] == url(client, "mfa:manage") + "?done=removed"
    assert await mails(holder["email"], "second_factor_changed")
    await post(client, "accounts:logout")
    await password_only(client, holder)
    options = options_of(page(await client.get(url(client, "mfa:second-step"))))
    r = await post(client, "mfa:second-step-submit", {"credential": keys[1].get(options)})  # removed
    assert r.headers["location"] == url(client, "mfa:second-step")
    wrong = SoftPasskey(rp.id, rp.origin)
    wrong.credential_id = keys[0].credential_id  # the right id, signed with another key
    r = await post(client, "mfa:second-step-submit", {"credential": wrong.get(options)})
    assert r.headers["location"] == url(client, "mfa:second-step")
    assert "not set up" in text(page(await client.get(r.headers["location"])), "#code-error")
    r = await post(client, "mfa:second-step-submit", {"credential": keys[0].get(options)})
    assert r.headers["location"] == url(client, "accounts:applications")


# ---- Removing, step-up, reset ------------------------------------------------------------------------


async def test_the_last_factor_of_an_account_that_must_use_one_cannot_be_removed(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    await log_in(client, approver["user_id"], approver["password"])
    [factor] = await mfa_q.factors_of(approver["id"])
    r = await post(client, "mfa:remove", factor_id=factor.id)
    doc = page(await client.get(r.headers["location"]))
    assert "at least one" in text(doc, ".error-summary")
    assert await mfa_q.has_factor(approver["id"])
    other = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    r = await post(client, "mfa:remove", factor_id=(await mfa_q.factors_of(other["id"]))[0].id)
    assert await mfa_q.has_factor(other["id"])  # never another account's


async def test_a_decision_needs_a_second_factor_within_12_hours(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    await log_in(client, approver["user_id"], approver["password"])
    tracking = await quick_request("PSR", "provider-user")
    await UserSession.update({UserSession.mfa_at: now() - timedelta(hours=13)}).where(
        UserSession.account == approver["id"]
    )
    r = await post(client, "approvals:approve", tracking=tracking)
    details = url(client, "approvals:details", tracking=tracking)
    assert r.status_code == 303 and r.headers["location"] == url(client, "mfa:step-up", query={"next": details})
    status = await AccessRequest.select(AccessRequest.status).where(AccessRequest.tracking_number == tracking).first()
    assert status["status"] == "pending"  # nothing was decided
    doc = page(await client.get(r.headers["location"]))
    assert text(doc, "h1") == "Confirm it is you"
    r = await post(client, "mfa:step-up-submit", {"code": "999999", "next": details})
    assert r.headers["location"].startswith(url(client, "mfa:step-up"))
    r = await post(client, "mfa:step-up-submit", {"code": await totp_code(approver["user_id"]), "next": details})
    assert r.headers["location"] == details  # back to the same request
    r = await post(client, "approvals:approve", tracking=tracking)
    assert "step-up" not in r.headers["location"]
    status = await AccessRequest.select(AccessRequest.status).where(AccessRequest.tracking_number == tracking).first()
    assert status["status"] == "approved"
    assert "mfa_step_up" in actions(await audit(approver["user_id"]))
    r = await post(client, "mfa:step-up-submit", {"code": "1", "next": "https://evil.example/"})
    assert "evil" not in r.headers["location"]


async def test_the_help_desk_reset_removes_the_factors_and_forces_a_new_one(client, settings):
    holder = await make_account(initial=False, grants=(("MARX", "mco-submitter"),))
    await log_in(client, holder["user_id"], holder["password"])
    assert await sessions_of(holder)
    removed = await mfa.reset(holder["user_id"], "Lost phone, identity checked by phone call")
    assert removed == 1
    assert not await mfa_q.has_factor(holder["id"]) and await mfa_q.recovery_codes_left(holder["id"]) == 0
    assert await sessions_of(holder) == []  # signed out everywhere
    [event] = [e for e in await audit(holder["user_id"]) if e["action"] == "mfa_reset"]
    assert event["detail"]["reason"] == "Lost phone, identity checked by phone call"
    assert await mails(holder["email"], "second_factors_reset")
    r = await password_only(client, holder)  # the password alone, then enrolment before anything
    assert r.headers["location"] == url(client, "accounts:applications")
    r = await client.get(r.headers["location"])
    assert r.headers["location"] == url(client, "mfa:manage")
    TOTP_SECRETS.pop(holder["user_id"], None)
    _, r = await set_up_app(client)
    assert r.headers["location"] == url(client, "mfa:codes")
    assert not (await accounts_q.account_by_user_id(holder["user_id"])).mfa_enrol_required


async def test_forgot_password_never_removes_a_second_factor(client, settings):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    link = "reset-link-id-for-the-test"
    await accounts_q.create_reset(service.token_hash(link), approver["id"], timedelta(minutes=30), "password")
    new = "marble lighthouse quietly singing"
    errors = await service.reset_password(
        service.token_hash(link), new, new, secret_key=settings.secret_key, ip="127.0.0.1"
    )
    assert errors == {}
    assert await mfa_q.has_factor(approver["id"]) and await mfa_q.recovery_codes_left(approver["id"]) == 10
    r = await log_in(client, approver["user_id"], new, second_step=False)
    assert r.headers["location"] == url(client, "mfa:second-step")


async def test_the_audit_log_never_holds_a_secret_or_a_code(client):
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    code = await totp_code(approver["user_id"])
    await password_only(client, approver)
    await post(client, "mfa:second-step-submit", {"code": code})
    await post(client, "mfa:second-step-submit", {"code": approver["recovery_codes"][3]})
    secrets_typed = [approver["totp_secret"], code, approver["recovery_codes"][3], approver["password"]]
    stored = json.dumps([e["detail"] for e in await AuditEvent.select().output(load_json=True)])
    for secret in secrets_typed:
        assert secret not in stored
    rows = json.dumps(await SecondFactor.select(SecondFactor.secret).where(SecondFactor.account == approver["id"]))
    assert approver["totp_secret"] not in rows


async def test_a_session_from_before_the_first_factor_cannot_remove_it(client, app):
    from tests.integration.conftest import checked_client

    holder = await make_account(initial=False)
    await password_only(client, holder)  # an older browser, signed in with the password alone
    async with checked_client(app) as other:
        await password_only(other, holder)
        _, r = await set_up_app(other)
        assert r.headers["location"] == url(other, "mfa:codes")
    [factor] = await mfa_q.factors_of(holder["id"])
    r = await post(client, "mfa:remove", factor_id=factor.id)
    assert "log in again" in text(page(await client.get(r.headers["location"])), ".error-summary")
    assert await mfa_q.has_factor(holder["id"])
