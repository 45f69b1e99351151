"""Accounts and sign-in (portal/controllers/accounts.py, portal/accounts/*)."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta

import msgspec
import pytest

from portal.accounts.questions import QUESTIONS
from portal.clock import now
from portal.models import accounts as q
from portal.models.tables import Account, AuditEvent, LoginThrottle, OutboxMessage, PasswordReset, UserSession
from tests.htmlcheck import (
    attrs,
    definitions,
    element,
    field_error,
    field_errors,
    h1,
    input_ids,
    input_value,
    link_href,
    norm,
    notice,
    page,
    text,
    texts,
    tracking_number,
)
from tests.integration.accounts_support import GOOD_PASSWORD, csrf, log_in, make_account
from tests.integration.conftest import checked_client
from tests.integration.registration_flow import CONTACT, ROLE_FIELDS
from tests.support import follow_back, sent_back, url

SESSION = "iacs_session"
LINK_SPENT = "This link has expired or has already been used. Links work once, for 30 minutes."
WRONG_LOGIN = {"password": "The User ID or password is not correct."}


async def followed(client, r):
    """What a browser shows after a form answered 303: the page it leads to (``.redirect``
    keeps the 303); any other answer as it came."""
    if r.status_code != 303:
        return r
    shown = await client.get(r.headers["location"])
    shown.redirect = r
    return shown


async def refused_login(client, user_id: str, password: str):
    """A sign-in that is refused: 303 back to the login page (never at the POST address), and
    the page it leads to, with the message."""
    r = await log_in(client, user_id, password)
    assert sent_back(r) and r.headers["location"] == url(client, "accounts:login"), r.status_code
    assert password not in r.headers.get("set-cookie", "") or not password
    return await followed(client, r)


def link_spent(r) -> bool:
    """The page says the link is spent (and nothing more: no form)."""
    soup = page(r)
    return text(soup, "main p") == LINK_SPENT and soup.select_one("main form") is None


async def events(subject: str, action: str) -> list[dict]:
    return await q.audit_events(subject=subject, action=action)


def key_of(client, user_id: str) -> str:
    """The lockout's key for a User ID, as the app computes it (the shared app's settings)."""
    from portal.accounts.service import throttle_key
    from portal.settings import get_settings

    app = getattr(client, "app", None)
    return throttle_key(user_id, app.state.settings.secret_key if app else get_settings().secret_key)


async def lock(client, user_id: str) -> dict:
    state = await q.lock_state(key_of(client, user_id))
    return msgspec.structs.asdict(state) if state else {"failures": 0, "locked_until": None}


# ---- 1. Accounts ------------------------------------------------------------------------------


async def test_passwords_are_argon2id_with_owasp_parameters_and_initial_ones_salted_sha256(database):
    """A password someone chose is argon2id; an initial password, 114 random bits the portal
    made, a salted SHA-256 (NIST SP 800-63B's rule for secrets of 112 bits or more)."""
    chosen = await make_account(initial=False)
    assert chosen["password_hash"].startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    account = await make_account()
    assert re.fullmatch(r"\$sha256\$[0-9a-f]{32}\$[0-9a-f]{64}", account["password_hash"])
    assert account["password"] not in account["password_hash"]
    assert account["password_initial"] is True
    lifetime = account["password_expires_at"] - account["created_at"]
    assert timedelta(hours=71, minutes=59) < lifetime <= timedelta(hours=72, seconds=5)
    assert account["password"] not in str(await Account.select().where(Account.id == account["id"]))


# ---- 2. Log in / Log out ----------------------------------------------------------------------


async def test_login_issues_a_new_random_session_and_never_keeps_a_planted_one(client):
    account = await make_account(initial=False)
    client.cookies.set(SESSION, "planted-by-an-attacker-0123456789abcdef", path="/")
    r = await log_in(client, account["user_id"], account["password"])
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:applications")
    cookie = r.headers["set-cookie"]
    token = re.search(rf"{SESSION}=([^;]+)", cookie).group(1)
    assert token != "planted-by-an-attacker-0123456789abcdef" and len(token) >= 43  # 256 bits
    assert "HttpOnly" in cookie and re.search("SameSite=(lax|Lax|strict|Strict)", cookie) and "Path=/" in cookie
    assert await UserSession.count().where(UserSession.account == account["id"]) == 1
    r = await client.get(url(client, "accounts:applications"))
    assert r.status_code == 200 and h1(page(r)) == "My applications"


async def test_logout_ends_the_session_on_the_server(client):
    account = await make_account(initial=False)
    await log_in(client, account["user_id"], account["password"])
    token = client.cookies[SESSION]
    r = await client.post(url(client, "accounts:logout"), data=await csrf(client))
    assert r.status_code == 303
    assert await UserSession.count().where(UserSession.account == account["id"]) == 0
    client.cookies.set(SESSION, token, path="/")  # replaying the old cookie gets nothing
    r = await client.get(url(client, "accounts:applications"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:login")


async def test_idle_timeout_and_absolute_limit(client):
    account = await make_account(initial=False)
    await log_in(client, account["user_id"], account["password"])
    r = await client.get(url(client, "accounts:applications"))
    warning = element(page(r), "#session-warning")  # the idle warning, shown by session.js two minutes before
    assert 29 * 60 <= int(warning["data-expires-in"]) <= 30 * 60  # seconds left, idle
    assert 12 * 3600 - 60 <= int(warning["data-ends-in"]) <= 12 * 3600  # seconds left, absolute
    at = now()
    await UserSession.update({UserSession.last_seen_at: at - timedelta(minutes=31)}).where(
        UserSession.account == account["id"]
    )
    r = await client.get(url(client, "accounts:applications"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:login")

    await log_in(client, account["user_id"], account["password"])
    await UserSession.update({UserSession.created_at: at - timedelta(hours=12, minutes=1)}).where(
        UserSession.account == account["id"]
    )
    r = await client.get(url(client, "accounts:applications"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:login")


async def test_staying_signed_in_moves_the_idle_clock(client):
    account = await make_account(initial=False)
    await log_in(client, account["user_id"], account["password"])
    before = now() - timedelta(minutes=29)
    await UserSession.update({UserSession.last_seen_at: before}).where(UserSession.account == account["id"])
    r = await client.post(
        url(client, "accounts:session-refresh"), data=await csrf(client), headers={"HX-Request": "true"}
    )
    assert r.status_code == 200 and page(r).select_one("#session-warning") is not None
    row = await UserSession.select(UserSession.last_seen_at).where(UserSession.account == account["id"]).first()
    assert row["last_seen_at"] > before + timedelta(minutes=28)
    # Without JavaScript the same form post is a page, not a bare fragment.
    r = await client.post(url(client, "accounts:session-refresh"), data=await csrf(client))
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:applications")


# ---- 3. Initial password ----------------------------------------------------------------------


async def test_initial_password_leads_every_page_to_change_password(client):
    account = await make_account()
    r = await log_in(client, account["user_id"], account["password"])
    assert r.headers["location"] == url(client, "accounts:change-password")
    for name, params in (
        ("home:getting-ready", {}),
        ("accounts:applications", {}),
        ("registration:start", {}),
        ("status:form", {}),
    ):
        path = url(client, name, **params)
        r = await client.get(path)
        assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:change-password"), path
    r = await client.get(url(client, "accounts:change-password"))
    assert h1(page(r)) == "Change password"
    assert notice(page(r)).startswith(
        "You are logged in with an initial password. Choose your own password to continue"
    )
    r = await client.post(url(client, "accounts:logout"), data=await csrf(client))
    assert r.status_code == 303 and r.headers["location"].startswith(url(client, "accounts:login"))


async def test_initial_password_lapses_after_72_hours(client):
    account = await make_account()
    await Account.update({Account.password_expires_at: now() - timedelta(minutes=1)}).where(Account.id == account["id"])
    r = await refused_login(client, account["user_id"], account["password"])
    assert r.status_code == 200
    assert field_error(page(r), "password").startswith("Your initial password has expired")
    assert await UserSession.count().where(UserSession.account == account["id"]) == 0


async def test_change_password_rules_rotation_and_other_sessions_ended(client, app):
    account = await make_account()
    async with checked_client(app) as other:
        await log_in(other, account["user_id"], account["password"])
        await log_in(client, account["user_id"], account["password"])
        assert await UserSession.count().where(UserSession.account == account["id"]) == 2
        old_token = client.cookies[SESSION]

        async def change(current, new, confirm):
            return await follow_back(
                client,
                await client.post(
                    url(client, "accounts:change-password-submit"),
                    data={
                        "current_password": current,
                        "new_password": new,
                        "confirm_password": confirm,
                        **await csrf(client),
                    },
                ),
            )

        r = await change("wrong password entirely", GOOD_PASSWORD, GOOD_PASSWORD)
        assert field_error(page(r), "current_password") == "Your current password is not correct"
        r = await change(account["password"], "short", "short")
        assert field_error(page(r), "new_password") == "Your password must be at least 15 characters long"
        r = await change(account["password"], GOOD_PASSWORD, GOOD_PASSWORD + "x")
        assert field_error(page(r), "confirm_password") == "The passwords do not match"
        r = await change(account["password"], account["password"], account["password"])
        assert field_error(page(r), "new_password") == "Your new password must be different from your current password"
        r = await change(account["password"], GOOD_PASSWORD, GOOD_PASSWORD)
        assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:applications", query="changed=1")
        assert client.cookies[SESSION] != old_token
        assert await UserSession.count().where(UserSession.account == account["id"]) == 1
        r = await other.get(url(other, "accounts:applications"))
        assert r.status_code == 303 and r.headers["location"] == url(other, "accounts:login")  # the other session ended
    r = await client.get(url(client, "accounts:applications"))
    assert r.status_code == 200
    row = await Account.select().where(Account.id == account["id"]).first()
    assert row["password_initial"] is False and row["password_expires_at"] is None
    assert await events(account["user_id"], "password_changed")


# ---- 5. Throttling ----------------------------------------------------------------------------


async def test_wrong_password_and_unknown_user_id_look_the_same(client):
    account = await make_account(initial=False)
    wrong = await refused_login(client, account["user_id"], "not the right password at all")
    unknown = await refused_login(client, "ZZZZ999", "not the right password at all")
    assert wrong.status_code == unknown.status_code == 200
    assert field_errors(page(wrong)) == field_errors(page(unknown)) == WRONG_LOGIN

    def without_values(text: str) -> str:
        return re.sub(r'value="[^"]*"', "", text)

    assert without_values(wrong.text) == without_values(unknown.text)  # the whole page, byte for byte


@pytest.mark.parametrize("user_id", ["ABCD\u202e234", "\x00ABCD234", "AB\u200bCD234"])
async def test_a_user_id_with_invisible_characters_is_refused_before_any_check(client, user_id):
    before = await AuditEvent.count()
    r = await refused_login(client, user_id, "whatever whatever whatever")
    assert r.status_code == 200
    assert field_error(page(r), "user_id") == "User ID must not contain invisible or control characters: type it again"
    assert await AuditEvent.count() == before  # no password was checked


async def test_ten_failures_lock_the_account_for_15_minutes(client):
    account = await make_account(initial=False)
    for _ in range(10):
        await log_in(client, account["user_id"], "wrong wrong wrong wrong")
    row = await lock(client, account["user_id"])
    assert row["locked_until"] is not None
    assert timedelta(minutes=14) < row["locked_until"] - now() <= timedelta(minutes=15)
    r = await refused_login(client, account["user_id"], account["password"])  # right password, still refused
    assert field_errors(page(r)) == WRONG_LOGIN
    assert await events(account["user_id"], "account_locked")
    assert await events(account["user_id"], "login_refused_locked")
    await LoginThrottle.update({LoginThrottle.locked_until: now() - timedelta(seconds=1)}).where(
        LoginThrottle.key == key_of(client, account["user_id"])
    )
    r = await log_in(client, account["user_id"], account["password"])
    assert r.status_code == 303
    assert await events(account["user_id"], "account_unlocked")


async def test_a_burst_of_wrong_passwords_gets_ten_checks_and_locks_before_the_right_one(
    concurrent_client, monkeypatch
):
    """25 wrong passwords and the right one sent at once: each check is reserved in the
    database before its hash, so at most 10 are checked, the account locks, and the right
    password (sent last) is refused like any other."""
    import portal.hashing

    client = concurrent_client
    account = await make_account(initial=False)
    checked: list[str] = []

    class CountingHasher(type(portal.hashing.HASHER)):
        def verify(self, hash, password):  # noqa: A002 (argon2's own parameter name)
            if hash == account["password_hash"]:
                checked.append(password)
                if password == account["password"]:
                    time.sleep(0.3)  # whatever the order, the burst arrives while the right one is checked
            return super().verify(hash, password)

    monkeypatch.setattr(portal.hashing, "HASHER", CountingHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1))
    await csrf(client)
    tries = [f"wrong guess number {i:02d}" for i in range(25)] + [account["password"]]
    answers = await asyncio.gather(*(log_in(client, account["user_id"], p) for p in tries))
    # Nobody signed in: every answer goes back to the login page, none to My applications.
    assert all(sent_back(r) and r.headers["location"] == url(client, "accounts:login") for r in answers)
    assert field_errors(page(await followed(client, answers[-1]))) == WRONG_LOGIN
    assert SESSION not in client.cookies
    assert len(checked) <= 10
    row = await lock(client, account["user_id"])
    assert row["locked_until"] is not None and row["locked_until"] > now()
    assert len(await events(account["user_id"], "account_locked")) == 1
    assert await events(account["user_id"], "login_refused_locked")
    assert await UserSession.count().where(UserSession.account == account["id"]) == 0


async def test_a_right_password_whose_check_overlapped_a_lock_is_refused(client):
    """The success path checks again: an account locked while its check ran stays locked."""
    account = await make_account(initial=False)
    at, key = now(), key_of(client, account["user_id"])
    reserved = await q.reserve_login(key, limit=10, at=at)
    assert reserved is not None  # the right password's check is under way...
    for _ in range(9):  # ...while nine more arrive...
        assert await q.reserve_login(key, limit=10, at=at) is not None
    assert await q.reserve_login(key, limit=10, at=at) is None  # ...and an eleventh is refused...
    assert await q.lock_if_at_limit(key, limit=10, at=at, lock_for=timedelta(minutes=15))  # ...and locks
    assert await q.settle_login(key, at=now()) is False
    assert sent_back(await log_in(client, account["user_id"], account["password"]))  # refused


async def test_wrong_current_passwords_count_toward_the_lockout(client):
    account = await make_account(initial=False)
    await log_in(client, account["user_id"], account["password"])
    for _ in range(10):
        r = await client.post(
            url(client, "accounts:change-password-submit"),
            data={"current_password": "not it at all, sorry", "new_password": "", **await csrf(client)},
        )
        r = await follow_back(client, r)
        assert field_error(page(r), "current_password") == "Your current password is not correct"
    row = await lock(client, account["user_id"])
    assert row["locked_until"] is not None
    assert await events(account["user_id"], "account_locked")


async def test_a_success_resets_the_consecutive_count(client):
    account = await make_account(initial=False)
    for _ in range(9):
        await log_in(client, account["user_id"], "wrong wrong wrong wrong")
    assert (await log_in(client, account["user_id"], account["password"])).status_code == 303
    row = await lock(client, account["user_id"])
    assert row["failures"] == 0 and row["locked_until"] is None


async def test_unknown_user_ids_are_counted_and_locked_alike_and_never_stored_as_typed(client):
    """The same write for any User ID: an unknown one has its count (and lock) too, kept under a
    keyed hash, never as typed."""
    for _ in range(10):
        await log_in(client, "QQQQ777", "wrong wrong wrong wrong")
    row = await lock(client, "QQQQ777")
    assert row["locked_until"] is not None and row["locked_until"] > now()
    assert not await LoginThrottle.exists().where(LoginThrottle.key.like("%QQQQ777%"))


async def test_a_new_password_from_recovery_ends_the_lockout(client):
    account = await make_account(initial=False)
    for _ in range(10):
        await log_in(client, account["user_id"], "wrong wrong wrong wrong")
    assert (await lock(client, account["user_id"]))["locked_until"] is not None
    await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    token = (await _emailed_link(account, "password_reset")).split("token=")[1]
    new = "seven quiet mountains drifting"
    form = {"token": token, "new_password": new, "confirm_password": new, **await csrf(client)}
    assert (await client.post(url(client, "accounts:reset-submit"), data=form)).status_code == 303
    assert (await lock(client, account["user_id"]))["locked_until"] is None
    assert (await log_in(client, account["user_id"], new)).status_code == 303


async def test_audit_log_records_logins_failures_and_changes_never_the_password(client):
    account = await make_account(initial=False)
    await log_in(client, account["user_id"], "wrong wrong wrong wrong")
    await log_in(client, account["user_id"], account["password"])
    actions = {e.action for e in await q.audit_events(subject=account["user_id"])}
    assert {"login_failed", "login"} <= actions
    everything = str(await AuditEvent.select())
    assert account["password"] not in everything and "wrong wrong wrong wrong" not in everything


async def test_audit_log_is_append_only(database):
    import pytest

    await q.audit("test_event", actor="test", subject="append-only")
    with pytest.raises(Exception, match="append-only"):
        await AuditEvent.update({AuditEvent.action: "changed"}).where(AuditEvent.subject == "append-only")
    with pytest.raises(Exception, match="append-only"):
        await AuditEvent.delete().where(AuditEvent.subject == "append-only")
    assert await events("append-only", "test_event")


# ---- 6. My applications -----------------------------------------------------------------------


async def test_my_applications_log_in_goes_to_each_application_that_signs_in_through_iacs(client):
    account = await make_account(initial=False, grants=(("PSR", "provider-user"), ("HPMS", "plan-user")))
    await log_in(client, account["user_id"], account["password"])
    r = await client.get(url(client, "accounts:applications"))
    soup = page(r)
    links = [(a["href"], norm(a.get_text())) for a in soup.select(".app-list a.button")]
    # HPMS declares an OpenID Connect client: its own login URL (outside production, the local one).
    assert links == [("http://hpms.localhost:8001/", "Log in to HPMS")]
    items = texts(soup, ".app-list li")
    assert [i for i in items if i.startswith("PSR")] == [
        "PSR (does not sign in through IACS yet) Provider Statistical and Reimbursement System: Provider User"
    ]
    assert [role.rsplit(": ", 1)[1] for role in texts(soup, ".app-list .muted")] == ["Plan User", "Provider User"]
    r = await client.get("/apps/PSR")  # the placeholder page is gone
    assert r.status_code == 404


# ---- 7. Recovery ------------------------------------------------------------------------------


async def _recover(client, what: str, who: dict | str, answers: tuple[str, ...]):
    """Forgot password or User ID for ``who``: an account (its User ID and email), or an email
    address of no account (with a User ID of no account); questions past ``answers`` get an
    answer of their own."""
    ids = (
        {"user_id": who["user_id"], "email": who["email"]}
        if isinstance(who, dict)
        else {"user_id": "ZZZZ999", "email": who}
    )
    r = await client.post(url(client, "accounts:recover-identify", what=what), data={**ids, **await csrf(client)})
    r = await followed(client, r)  # the questions page, its ticket in the URL
    ticket = input_value(page(r), "ticket")
    labels = texts(page(r), "label[for^=answer_]")
    answers += ("An answer",) * (len(labels) - len(answers))  # an unknown address may get three stand-ins
    done = await client.post(
        url(client, "accounts:recover-answers", what=what),
        data={"ticket": ticket, **{f"answer_{i}": a for i, a in enumerate(answers, 1)}, **await csrf(client)},
    )
    assert done.status_code == 303 and done.headers["location"] == url(client, "accounts:recover-sent", what=what)
    return labels, await followed(client, done)


async def _mails(to: str, kind: str) -> list[dict]:
    return await OutboxMessage.select().where((OutboxMessage.to_address == to) & (OutboxMessage.kind == kind))


async def _emailed_link(account: dict, kind: str) -> str:
    """The recovery link (path and token) in the account's first email of ``kind``."""
    body = (await _mails(account["email"], kind))[0]["body"]
    return re.search(r"(/recover/\S+\?token=\S+)", body).group(1)


async def test_forgot_password_emails_a_single_use_link(client):
    account = await make_account(initial=False)
    labels, r = await _recover(
        client,
        "password",
        {"user_id": account["user_id"].lower(), "email": account["email"].upper()},
        ("lincoln  ELEMENTARY", "ford focus"),
    )
    assert labels == ["What was the name of your first school?", "What was the make and model of your first car?"]
    assert h1(page(r)) == "Check your email"
    mails = await _mails(account["email"], "password_reset")
    assert len(mails) == 1
    link = re.search(r"(/recover/reset\?token=\S+)", mails[0]["body"]).group(1)
    r = await client.get(link)
    assert h1(page(r)) == "Set a new password" and page(r).select_one("input[name=new_password]")
    token = link.split("token=")[1]
    new = "seven quiet mountains drifting"
    r = await client.post(
        url(client, "accounts:reset-submit"),
        data={"token": token, "new_password": new, "confirm_password": new, **await csrf(client)},
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:login", query="reset=1")
    assert (await log_in(client, account["user_id"], new)).status_code == 303
    r = await client.get(link)  # used once: gone
    assert link_spent(r)
    again = await client.post(
        url(client, "accounts:reset-submit"),
        data={"token": token, "new_password": new + "x", "confirm_password": new + "x", **await csrf(client)},
    )
    assert again.status_code == 303  # back to the link's page, which says it is spent
    assert link_spent(await followed(client, again))
    assert await events(account["user_id"], "password_reset")


async def test_recovery_link_expires_after_30_minutes(client):
    account = await make_account(initial=False)
    await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    link = await _emailed_link(account, "password_reset")
    await PasswordReset.update({PasswordReset.expires_at: now() - timedelta(seconds=1)}).where(
        PasswordReset.account == account["id"]
    )
    r = await client.get(link)
    assert link_spent(r)


async def test_wrong_answers_and_unknown_accounts_get_the_same_answer_and_no_email(client):
    account = await make_account(initial=False)
    _, wrong = await _recover(client, "password", account, ("Lincoln Elementary", "Honda Civic"))
    labels_a, unknown = await _recover(client, "password", "nobody@example.gov", ("a", "b"))
    labels_b, _ = await _recover(client, "password", "nobody@example.gov", ("c", "d"))
    assert h1(page(wrong)) == h1(page(unknown)) == "Check your email"
    assert re.sub(r'value="[^"]*"', "", wrong.text) == re.sub(r'value="[^"]*"', "", unknown.text)
    assert len(labels_a) in (2, 3) and labels_a == labels_b  # the same questions every time for the same input
    assert await _mails(account["email"], "password_reset") == []
    assert await PasswordReset.count().where(PasswordReset.account == account["id"]) == 0


@pytest.mark.parametrize("per_answer_hashes", [False, True], ids=["one hash", "hashes from before 2026-12-03"])
@pytest.mark.parametrize("what", ["password", "user-id"])
async def test_unknown_accounts_cost_the_same_argon2_checks_as_wrong_answers(
    client, monkeypatch, what, per_answer_hashes
):
    """Timing parity without timing: each path verifies exactly two argon2id hashes, for an
    account whose answers share one hash, one that keeps a hash per answer, and no account."""
    import portal.hashing

    verified: list[str] = []

    class CountingHasher(type(portal.hashing.HASHER)):
        def verify(self, hash, password):  # noqa: A002 (argon2's own parameter name)
            verified.append(hash)
            return super().verify(hash, password)

    account = await make_account(initial=False, per_answer_hashes=per_answer_hashes)
    monkeypatch.setattr(portal.hashing, "HASHER", CountingHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1))
    await _recover(client, what, account, ("Lincoln Elementary", "Honda Civic"))
    wrong = len(verified)
    await _recover(client, what, "nobody.at.all@example.gov", ("Lincoln Elementary", "Honda Civic"))
    unknown = len(verified) - wrong
    assert wrong == unknown == 2


async def test_recovery_asks_every_question_of_an_account_with_three(client):
    """One hash covers all the answers, so all are asked, and all must be right."""
    three = (("first-school", "Lincoln Elementary"), ("first-car", "Ford Focus"), ("first-employer", "Acme Mills"))
    account = await make_account(initial=False, answers=three)
    labels, _ = await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus", "Acme Works"))
    assert labels == [QUESTIONS[k] for k, _ in three]
    assert await _mails(account["email"], "password_reset") == []
    _, ticket = await _questions(client, "password", account["user_id"], account["email"])
    two = {"ticket": ticket, "answer_1": "Lincoln Elementary", "answer_2": "Ford Focus"}
    r = await client.post(url(client, "accounts:recover-answers", what="password"), data={**two, **await csrf(client)})
    assert field_errors(page(await followed(client, r))) == {"answer_3": "Enter your answer to question 3"}
    await _recover(client, "password", account, (" lincoln elementary", "FORD focus", "acme  mills"))
    assert len(await _mails(account["email"], "password_reset")) == 1


async def test_an_account_from_before_one_hash_recovers_with_its_first_two_answers(client):
    account = await make_account(initial=False, per_answer_hashes=True)
    await _recover(client, "password", account, ("Lincoln Elementary", "Honda Civic"))
    assert await _mails(account["email"], "password_reset") == []
    labels, _ = await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    assert labels == [QUESTIONS["first-school"], QUESTIONS["first-car"]]
    assert len(await _mails(account["email"], "password_reset")) == 1


async def test_stand_in_questions_are_two_or_three_as_real_accounts_have(client):
    """An address with no account gets two or three stand-ins, the same each time, so the
    number of questions tells nothing either."""
    counts = set()
    for n in range(12):
        first, _ = await _questions(client, "user-id", "", f"nobody{n}@example.gov")
        again, _ = await _questions(client, "user-id", "", f"nobody{n}@example.gov")
        assert first == again and len(set(first)) == len(first)
        counts.add(len(first))
    assert counts == {2, 3}


async def _questions(client, what: str, user_id: str, email: str) -> tuple[list[str], str]:
    """The questions page for what was typed: its question labels and its ticket."""
    data = {"user_id": user_id, "email": email} if what == "password" else {"email": email}
    r = await followed(
        client,
        await client.post(url(client, "accounts:recover-identify", what=what), data={**data, **await csrf(client)}),
    )
    return texts(page(r), "label[for^=answer_]"), input_value(page(r), "ticket")


async def test_forgot_password_never_confirms_that_a_user_id_and_an_email_belong_together(client):
    """The questions depend on the email address alone: an account's own User ID, another
    User ID and Forgot User ID all show the same two; so do any two User IDs beside an email
    address that has no account."""
    account = await make_account(initial=False, answers=(("childhood-nickname", "Rex"), ("first-concert", "Queen")))
    own, _ = await _questions(client, "password", account["user_id"], account["email"])
    other, _ = await _questions(client, "password", "ZZZZ999", account["email"])
    by_email, _ = await _questions(client, "user-id", "", account["email"])
    assert own == other == by_email == ["What was your childhood nickname?", "What was the first concert you attended?"]
    nobody_a, _ = await _questions(client, "password", "ABCD234", "nobody.here@example.gov")
    nobody_b, _ = await _questions(client, "password", "ZZZZ999", "nobody.here@example.gov")
    assert len(nobody_a) in (2, 3) and nobody_a == nobody_b
    # A User ID that is not the email address's gets no link, even with the right answers.
    await _recover(client, "password", {"user_id": "ZZZZ999", "email": account["email"]}, ("Rex", "Queen"))
    assert await _mails(account["email"], "password_reset") == []


async def test_the_recovery_ticket_does_not_carry_what_was_typed_in_clear(client):
    import base64
    import binascii

    account = await make_account(initial=False)
    _, ticket = await _questions(client, "password", account["user_id"], account["email"])
    readable = [ticket]
    for part in ticket.split("."):
        try:
            readable.append(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)).decode("latin-1"))
        except (binascii.Error, ValueError):
            pass
    for part in readable:
        assert account["user_id"] not in part and account["email"] not in part
        assert account["email"].split("@")[0] not in part
    # Tampered: back to the start, nothing sent.
    r = await client.post(
        url(client, "accounts:recover-answers", what="password"),
        data={
            "ticket": ticket[:-3] + "abc",
            "answer_1": "Lincoln Elementary",
            "answer_2": "Ford Focus",
            **await csrf(client),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:recover", what="password")
    assert await _mails(account["email"], "password_reset") == []


async def test_recovery_emails_to_one_address_are_capped_at_five_an_hour(client):
    """However many tries, one address gets at most five recovery emails an hour (the two
    journeys count together); past that the page is the same and nothing is sent."""
    account = await make_account(initial=False)
    right = ("Lincoln Elementary", "Ford Focus")
    for _ in range(5):
        await _recover(client, "password", account, right)
    _, r = await _recover(client, "user-id", account, right)
    assert h1(page(r)) == "Check your email"
    assert len(await _mails(account["email"], "password_reset")) == 5
    assert await _mails(account["email"], "user_id_link") == []
    assert await events(account["user_id"], "recovery_user-id_capped")


async def test_questions_alone_never_reset_anything(client):
    account = await make_account(initial=False)
    await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    row = await Account.select(Account.password_hash).where(Account.id == account["id"]).first()
    assert row["password_hash"] == account["password_hash"]  # only a link was sent
    assert (await log_in(client, account["user_id"], account["password"])).status_code == 303


async def test_forgot_user_id_emails_a_single_use_link_that_shows_it(client):
    account = await make_account(initial=False)
    _, r = await _recover(client, "user-id", account, ("Lincoln Elementary", "Ford Focus"))
    assert h1(page(r)) == "Check your email" and "with a link to see your User ID." in text(page(r), "main p")
    (mail,) = await _mails(account["email"], "user_id_link")
    assert account["user_id"] not in mail["body"]  # only a link travels by email
    link = re.search(r"(/recover/user-id/show\?token=\S+)", mail["body"]).group(1)
    r = await client.get(link)  # opening the link (a mail scanner too) spends nothing
    assert text(page(r), "main button[type=submit]") == "Show my User ID" and account["user_id"] not in r.text
    r = await client.get(link)
    token = input_value(page(r), "token")
    shown = await client.post(url(client, "accounts:user-id-reveal"), data={"token": token, **await csrf(client)})
    assert shown.status_code == 303 and shown.headers["location"] == url(client, "accounts:user-id-link")
    shown = await followed(client, shown)
    assert shown.status_code == 200 and tracking_number(page(shown)) == account["user_id"]
    refreshed = await client.get(url(client, "accounts:user-id-link"))  # shown once: a refresh says the link is spent
    assert account["user_id"] not in refreshed.text and link_spent(refreshed)
    again = await client.post(url(client, "accounts:user-id-reveal"), data={"token": token, **await csrf(client)})
    again = await followed(client, again)
    assert account["user_id"] not in again.text and link_spent(again)
    assert link_spent(await client.get(link))
    actions = {e.action for e in await q.audit_events(subject=account["user_id"])}
    assert {"recovery_user-id_sent", "user_id_shown"} <= actions


async def test_a_user_id_link_expires_after_30_minutes(client):
    account = await make_account(initial=False)
    await _recover(client, "user-id", account, ("Lincoln Elementary", "Ford Focus"))
    token = (await _emailed_link(account, "user_id_link")).split("token=")[1]
    await PasswordReset.update({PasswordReset.expires_at: now() - timedelta(seconds=1)}).where(
        PasswordReset.account == account["id"]
    )
    assert link_spent(await client.get(url(client, "accounts:user-id-link", query={"token": token})))
    r = await client.post(url(client, "accounts:user-id-reveal"), data={"token": token, **await csrf(client)})
    r = await followed(client, r)
    assert account["user_id"] not in r.text and link_spent(r)


async def test_a_recovery_link_works_only_for_its_own_purpose(client):
    account = await make_account(initial=False)
    await _recover(client, "user-id", account, ("Lincoln Elementary", "Ford Focus"))
    await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    user_id_token = (await _emailed_link(account, "user_id_link")).split("token=")[1]
    reset_token = (await _emailed_link(account, "password_reset")).split("token=")[1]
    # Each link is signed for its own page: swapped, neither works, and neither is spent.
    r = await client.post(url(client, "accounts:user-id-reveal"), data={"token": reset_token, **await csrf(client)})
    r = await followed(client, r)
    assert account["user_id"] not in r.text and link_spent(r)
    r = await client.get(url(client, "accounts:reset", query={"token": user_id_token}))
    assert link_spent(r)
    new = "quiet harbour lamps at dusk"
    form = {"new_password": new, "confirm_password": new, **await csrf(client)}
    r = await client.post(url(client, "accounts:reset-submit"), data={"token": user_id_token, **form})
    assert link_spent(await followed(client, r))
    assert (await log_in(client, account["user_id"], account["password"])).status_code == 303
    r = await client.post(url(client, "accounts:user-id-reveal"), data={"token": user_id_token, **await csrf(client)})
    assert tracking_number(page(await followed(client, r))) == account["user_id"]
    r = await client.get(url(client, "accounts:reset", query={"token": reset_token}))
    assert h1(page(r)) == "Set a new password" and page(r).select_one("input[name=new_password]")


# ---- 8. Argon2 off the event loop -------------------------------------------------------------


async def test_other_requests_are_not_stalled_while_logins_hash(concurrent_client):
    """Hashing runs on its own thread: a health check sent while six logins are verifying
    their passwords finishes before all of them (it would queue behind them on the loop)."""
    client = concurrent_client
    account = await make_account(initial=False)
    await csrf(client)
    finished: list[str] = []

    async def login():
        await log_in(client, account["user_id"], account["password"])
        finished.append("login")

    async def health():
        await asyncio.sleep(0.005)
        r = await client.get("/healthz")
        assert r.status_code == 200
        finished.append("health")

    await asyncio.gather(*(login() for _ in range(6)), health())
    assert finished.index("health") < len(finished) - 1


async def test_request_another_application_goes_to_approval_without_registering_again(client, smtp):
    from portal.models.tables import AccessRequest

    account = await make_account(initial=False)
    await log_in(client, account["user_id"], account["password"])
    r = await client.get(url(client, "accounts:applications"))
    assert link_href(page(r), "Request another application") == url(client, "accounts:request-start")
    r = await client.get(url(client, "accounts:request-start"))
    offered = attrs(page(r), "main a", "href")
    assert url(client, "accounts:request-form", code="HPMS") in offered
    fields = url(client, "accounts:request-fields", code="HPMS")
    r = await client.get(fields, params={"role": "plan-user"}, headers={"HX-Request": "true"})
    assert input_ids(page(r)) == {"contract_number", "legal_business_name"}
    r = await client.get(fields, params={"role": "plan-user"})  # no JavaScript: the page
    assert r.status_code == 303
    assert r.headers["location"] == url(client, "accounts:request-form", code="HPMS", query="role=plan-user")
    form = {**CONTACT, **ROLE_FIELDS, "role": "plan-user"}
    submit = url(client, "accounts:request-submit", code="HPMS")
    r = await client.post(submit, data={**form, "contract_number": "X1", **await csrf(client)})
    assert sent_back(r) and r.headers["location"] == url(client, "accounts:request-form", code="HPMS")
    shown = await followed(client, r)
    assert field_error(page(shown), "contract_number").startswith("Enter a valid Contract Number")
    assert input_value(page(shown), "organization") == CONTACT["organization"]  # what was typed, kept
    refreshed = await client.get(r.headers["location"])  # the messages are shown once
    assert field_errors(page(refreshed)) == {}
    r = await client.post(submit, data={**form, **await csrf(client)})
    assert r.status_code == 303 and r.headers["location"].startswith(url(client, "accounts:request-start"))
    shown = await followed(client, r)
    assert h1(page(shown)) == "Request submitted"
    tracking = tracking_number(page(shown))
    assert r.headers["location"] == url(client, "accounts:request-sent", code="HPMS", tracking=tracking)
    assert h1(page(await client.get(r.headers["location"]))) == "Request submitted"  # a refresh resends nothing
    row = await AccessRequest.select().where(AccessRequest.tracking_number == tracking).first()
    assert row["account_user_id"] == account["user_id"] and row["email"] == account["email"]
    assert row["status"] == "pending" and row["levels"] == 1
    assert await AccessRequest.count().where(AccessRequest.email == account["email"]) == 1
    again = await followed(client, await client.post(submit, data={**form, **await csrf(client)}))
    assert h1(page(again)) == "You already have a pending request" and text(page(again), "main p > strong") == tracking
    # The list says so, and the form of that application leads to the waiting request.
    r = await client.get(url(client, "accounts:request-start"))
    assert url(client, "accounts:request-form", code="HPMS") not in attrs(page(r), "main a", "href")
    r = await client.get(url(client, "accounts:request-form", code="HPMS"))
    assert r.status_code == 303 and tracking in r.headers["location"]
    # Somebody else's tracking number is nobody's confirmation page.
    other = await make_account(initial=False)
    async with checked_client(client.app) as c:
        await log_in(c, other["user_id"], other["password"])
        assert (await c.get(url(c, "accounts:request-sent", code="HPMS", tracking=tracking))).status_code == 404


async def test_a_holder_can_ask_for_another_role_of_an_application_they_hold(client, app):
    from portal.crypto import mask
    from portal.models.tables import AccessRequest

    account = await make_account(initial=False)  # holds PSR as Provider User
    await log_in(client, account["user_id"], account["password"])
    r = await client.get(url(client, "accounts:request-start"))
    assert url(client, "accounts:request-form", code="PSR") in attrs(page(r), "main a", "href")
    r = await client.get(url(client, "accounts:request-form", code="PSR"))
    roles = [o["value"] for o in page(r).select("select#role option") if o["value"]]
    assert roles == ["security-official"]  # the role held is not offered again
    # PSR needs an SSN the holder never gave: the form asks for it, beside the Privacy Act statement.
    assert page(r).select_one("input#ssn") is not None
    assert page(r).select_one("#request-form .privacy-act") is not None
    form = {**CONTACT, **ROLE_FIELDS, "role": "security-official"}
    submit = url(client, "accounts:request-submit", code="PSR")
    for typed, message in (
        ("", "Enter your Social Security Number"),
        ("000-12-3456", "Enter a valid Social Security Number, like 123-45-6789"),
        ("<b>123</b>", "Enter a valid Social Security Number, like 123-45-6789"),
        ("123-45-6789" + "9" * 5000, "Enter a valid Social Security Number, like 123-45-6789"),
    ):
        r = await follow_back(client, await client.post(submit, data={**form, "ssn": typed, **await csrf(client)}))
        assert r.status_code == 200 and field_error(page(r), "ssn") == message, typed[:20]
    r = await client.post(submit, data={**form, "ssn": "123-45-6789", "tin": "bad", **await csrf(client)})
    r = await followed(client, r)
    assert field_error(page(r), "tin").startswith("Enter a valid")
    r = await client.post(submit, data={**form, "ssn": "123456789", **await csrf(client)})
    tracking = tracking_number(page(await followed(client, r)))
    row = await (
        AccessRequest.select(AccessRequest.personal, AccessRequest.contact)
        .where(AccessRequest.tracking_number == tracking)
        .output(load_json=True)
        .first()
    )
    assert "123-45-6789" not in str(row) and "3456789" not in str(row["contact"]["fields"]["tin"])  # encrypted
    assert row["personal"]["ssn"].startswith("v1.") and row["contact"]["fields"]["tin"].startswith("v1.")
    # The approver sees them masked, as for a registration.
    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    async with checked_client(app) as b:
        await log_in(b, approver["user_id"], approver["password"])
        r = await b.get(url(b, "approvals:details", tracking=tracking), headers={"HX-Request": "true"})
    shown = definitions(page(r))
    assert shown["Social Security Number"] == mask("123-45-6789")
    assert shown["Tax Identification Number (TIN)"] == mask("123456789")
    assert "123-45-6789" not in r.text and "12-3456789" not in r.text


async def test_an_ssn_given_before_is_not_asked_again(client, app):
    from portal.models.tables import AccessRequest

    account = await make_account(initial=False, grants=(("HPMS", "plan-user"),))
    await log_in(client, account["user_id"], account["password"])
    form = {**CONTACT, **ROLE_FIELDS, "role": "provider-user", "ssn": "123-45-6789"}
    r = await client.post(url(client, "accounts:request-submit", code="PSR"), data={**form, **await csrf(client)})
    first = tracking_number(page(await followed(client, r)))
    await AccessRequest.update({AccessRequest.status: "rejected"}).where(AccessRequest.tracking_number == first)
    r = await client.get(url(client, "accounts:request-form", code="MARX"))
    assert r.status_code == 200 and page(r).select_one("input#ssn") is None  # given on the PSR request
    rows = (
        await AccessRequest.select(AccessRequest.personal)
        .where(AccessRequest.tracking_number == first)
        .output(load_json=True)
    )
    assert rows[0]["personal"]["ssn"]


async def test_a_password_change_closes_open_recovery_links(client):
    account = await make_account(initial=False)
    await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    link = await _emailed_link(account, "password_reset")
    await log_in(client, account["user_id"], account["password"])
    new = "seven quiet mountains drifting"
    r = await client.post(
        url(client, "accounts:change-password-submit"),
        data={
            "current_password": account["password"],
            "new_password": new,
            "confirm_password": new,
            **await csrf(client),
        },
    )
    assert r.status_code == 303
    assert link_spent(await client.get(link))


async def test_a_recovery_ticket_works_only_for_its_own_journey(client):
    account = await make_account(initial=False)
    r = await client.post(
        url(client, "accounts:recover-identify", what="user-id"), data={"email": account["email"], **await csrf(client)}
    )
    ticket = input_value(page(await followed(client, r)), "ticket")
    r = await client.post(
        url(client, "accounts:recover-answers", what="password"),
        data={"ticket": ticket, "answer_1": "Lincoln Elementary", "answer_2": "Ford Focus", **await csrf(client)},
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:recover", what="password")
    assert await _mails(account["email"], "password_reset") == []


# ---- 9. A lapsed initial password, and long passwords -----------------------------------------


async def test_a_lapsed_initial_password_is_refused_and_forgot_password_still_works(client, smtp):
    account = await make_account()  # an initial password, as provisioning makes it
    await Account.update({Account.password_expires_at: now() - timedelta(minutes=1)}).where(Account.id == account["id"])
    r = await refused_login(client, account["user_id"], account["password"])
    assert r.status_code == 200 and SESSION not in r.redirect.headers.get("set-cookie", "")
    message = field_error(page(r), "password")
    assert message.startswith("Your initial password has expired") and "Forgot password" in message
    assert link_href(page(r), "Forgot password") == url(client, "accounts:recover", what="password")  # the way out
    assert await UserSession.count().where(UserSession.account == account["id"]) == 0

    # Forgot password: the authentication questions, then the emailed single-use link.
    labels, r = await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    assert labels == ["What was the name of your first school?", "What was the make and model of your first car?"]
    assert h1(page(r)) == "Check your email"
    mail = await smtp.last_to(account["email"])
    assert mail.subject == "Reset your IACS password"
    link = re.search(r"(/recover/reset\?token=\S+)", mail.text).group(1)
    r = await client.get(link)
    assert h1(page(r)) == "Set a new password" and page(r).select_one("input[name=new_password]")
    new = "copper kites above winter meadows"
    token = link.split("token=", 1)[1]
    r = await client.post(
        url(client, "accounts:reset-submit"),
        data={"token": token, "new_password": new, "confirm_password": new, **await csrf(client)},
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:login", query="reset=1")
    assert link_spent(await client.get(link))  # single use

    row = await Account.select().where(Account.id == account["id"]).first()
    assert row["password_initial"] is False and row["password_expires_at"] is None
    r = await refused_login(client, account["user_id"], account["password"])  # the lapsed one: still refused
    assert r.status_code == 200 and field_errors(page(r)) == WRONG_LOGIN
    r = await log_in(client, account["user_id"], new)
    assert r.status_code == 303 and r.headers["location"] == url(
        client, "accounts:applications"
    )  # no forced change any more
    r = await client.get(url(client, "accounts:applications"))
    assert r.status_code == 200 and h1(page(r)) == "My applications"
    r = await client.get(
        url(client, "accounts:change-password")
    )  # still reachable by choice, no longer as "initial password"
    assert r.status_code == 200 and not page(r).select("[role=status]")
    assert "initial password" not in text(page(r), "main")
    assert await events(account["user_id"], "login_refused_initial_expired")
    assert await events(account["user_id"], "password_reset")


async def test_long_passwords_are_never_truncated(client):
    account = await make_account(initial=False)
    long_password = "quiet copper rivers wander past old orchards while violet herons drift home slow"
    assert len(long_password) == 80
    await log_in(client, account["user_id"], account["password"])
    r = await client.post(
        url(client, "accounts:change-password-submit"),
        data={
            "current_password": account["password"],
            "new_password": long_password,
            "confirm_password": long_password,
            **await csrf(client),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:applications", query="changed=1"), (
        field_errors(page(r))
    )
    await client.post(url(client, "accounts:logout"), data=await csrf(client))
    for prefix in (64, 72, 79):
        r = await refused_login(client, account["user_id"], long_password[:prefix])
        assert r.status_code == 200, prefix
        assert field_errors(page(r)) == WRONG_LOGIN, prefix
    assert await UserSession.count().where(UserSession.account == account["id"]) == 0
    r = await log_in(client, account["user_id"], long_password)
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:applications")
    assert (await client.get(url(client, "accounts:applications"))).status_code == 200
