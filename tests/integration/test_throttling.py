"""The per-client-address rate limit (portal/security.py) on every unsafe request that guesses
or spends something, not only logging in: verification codes, code resends and recovery.

Each test builds its own app with a small ``PORTAL_RATE_LIMIT`` (the shared ``app`` has a huge
one), so its budget starts empty; its client HTML-checks every response like ``client`` does."""

from __future__ import annotations

import socket
from datetime import datetime, timedelta

import msgspec
from itsdangerous import URLSafeTimedSerializer

from portal.drafts import COOKIE, SALT
from portal.models.tables import Account, OutboxMessage, PasswordReset, RegistrationDraft
from tests.htmlcheck import attrs, field_error, h1, input_value, page
from tests.integration.accounts_support import log_in, make_account
from tests.integration.conftest import client_of
from tests.integration.registration_flow import Applicant
from tests.support import url

LIMIT = 4  # POSTs a minute per client address, for these tests


def limited_client(database, limit: int = LIMIT, redis_url: str = ""):
    """A client of a fresh app whose rate limit is ``limit`` (its budget starts empty)."""
    return client_of(msgspec.structs.replace(database, rate_limit_per_minute=limit, redis_url=redis_url))


REFUSED = 303  # a refused sign-in answers 303 back to the login page (post/redirect/get)


def assert_throttled(r) -> None:
    assert r.status_code == 429, (r.status_code, r.headers.get("location"), r.text[-500:])
    assert h1(page(r)) == "Too many attempts"  # the portal's own accessible error page
    assert r.headers["cache-control"] == "no-store" and "content-security-policy" in r.headers


def draft_token(client) -> str:
    settings = client.app.state.settings
    return URLSafeTimedSerializer(settings.secret_key, salt=SALT).loads(client.cookies[COOKIE])


async def draft_row(token: str) -> dict:
    row = await RegistrationDraft.select().where(RegistrationDraft.token == token).output(load_json=True).first()
    assert row is not None
    return row


async def at_verify(client, smtp) -> tuple[Applicant, str, str]:
    """A draft waiting for its code (accepting the terms is one throttled POST)."""
    a = Applicant(client, smtp)
    assert (await a.accept_terms()).status_code == 303
    assert (await a.personal()).status_code == 303
    return a, draft_token(client), await smtp.code_for(a.email)


async def _shift_sends(token: str, *, minutes: int) -> None:
    """Pretend every code was sent ``minutes`` earlier (a resend waits a minute)."""
    row = await draft_row(token)
    sends = [
        {**s, "at": (datetime.fromisoformat(s["at"]) - timedelta(minutes=minutes)).isoformat()}
        for s in row["code_sends"]
    ]
    await RegistrationDraft.update({RegistrationDraft.code_sends: sends}).where(RegistrationDraft.token == token)


async def _reset_mails(address: str) -> int:
    return await OutboxMessage.count().where(
        (OutboxMessage.to_address == address) & (OutboxMessage.kind == "password_reset")
    )


# ---- Login -------------------------------------------------------------------------------------


async def test_login_is_rate_limited_per_address(database):
    async with limited_client(database, limit=3) as c:
        statuses = [(await log_in(c, "ZZZZ999", "whatever whatever")).status_code for _ in range(5)]
    assert statuses[:3] == [REFUSED, REFUSED, REFUSED] and statuses[3:] == [429, 429]


async def test_with_redis_the_workers_share_one_budget(database, redis_url):
    """Two app instances stand for two worker processes: with PORTAL_REDIS_URL an address
    spends one budget across both; each on its own memory would allow twice as much."""
    async with limited_client(database, limit=4, redis_url=redis_url) as one:
        async with limited_client(database, limit=4, redis_url=redis_url) as two:
            statuses = [(await log_in(c, "ZZZZ998", "whatever whatever")).status_code for c in (one, two) * 3]
    assert statuses == [REFUSED, REFUSED, REFUSED, REFUSED, 429, 429]


async def test_without_redis_each_worker_counts_alone(database):
    async with limited_client(database, limit=2) as one:
        async with limited_client(database, limit=2) as two:
            statuses = [(await log_in(c, "ZZZZ997", "whatever whatever")).status_code for c in (one, two) * 3]
    assert statuses == [REFUSED, REFUSED, REFUSED, REFUSED, 429, 429]  # 2 each: what the README warns of


async def test_an_unreachable_redis_falls_back_to_counting_in_the_worker(database):
    import logging

    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logging.getLogger("portal.security").addHandler(handler)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]  # nothing listens here once the socket is closed
    async with limited_client(database, limit=3, redis_url=f"redis://127.0.0.1:{closed}/0") as c:
        statuses = [(await log_in(c, "ZZZZ996", "whatever whatever")).status_code for _ in range(5)]
    logging.getLogger("portal.security").removeHandler(handler)
    assert statuses == [REFUSED, REFUSED, REFUSED, 429, 429]  # never a 500, and still limited
    assert len([w for w in warnings if "Redis unreachable" in w]) == 1  # said once, not per request


# ---- Code entry -------------------------------------------------------------------------------


async def test_code_entry_is_rate_limited_and_a_throttled_try_changes_nothing(database, smtp):
    async with limited_client(database) as client:
        a, token, code = await at_verify(client, smtp)  # 1 of 4 (the terms)
        wrong = "000000" if code != "000000" else "111111"
        for left in (4, 3, 2):  # 2, 3 and 4 of 4
            r = await a.verify(wrong)
            assert r.status_code == 200
            assert f"That code is not correct. Check the email and try again ({left} tr" in field_error(page(r), "code")
        before = await draft_row(token)
        assert len(before["code_wrong_tries"]) == 3 and before["code_failures"] == 3

        assert_throttled(await a.verify(wrong))
        assert_throttled(await a.verify(code))  # even the right code is not looked at
        after = await draft_row(token)
        assert after["code_wrong_tries"] == before["code_wrong_tries"] and after["code_failures"] == 3
        assert after["email_verified_at"] is None and after["code_voided"] is False

        r = await client.get(url(client, "registration:verify"))  # reading the page is never limited
        assert r.status_code == 200 and page(r).select_one("input[name=code]")


# ---- Code resend ------------------------------------------------------------------------------


async def test_code_resend_is_rate_limited_and_a_throttled_resend_sends_nothing(database, smtp):
    async with limited_client(database) as client:
        a, token, first = await at_verify(client, smtp)  # 1 of 4 (the terms)
        for _ in range(3):  # 2, 3 and 4 of 4: within the minute, each refused by the resend rules
            r = await a.post(url(client, "registration:resend"))
            assert r.status_code == 200
            assert "You can ask for a new code once a minute" in field_error(page(r), "code")
        await _shift_sends(token, minutes=2)  # a resend would now be allowed...
        before = await draft_row(token)
        mails = len([m for m in await smtp.deliver() if a.email in m.rcpt_tos])

        assert_throttled(await a.post(url(client, "registration:resend")))  # ...but the limit comes first
        after = await draft_row(token)
        assert after["code_sends"] == before["code_sends"] and after["code_hash"] == before["code_hash"]
        assert len([m for m in await smtp.deliver() if a.email in m.rcpt_tos]) == mails
        assert await smtp.code_for(a.email) == first

        r = await client.get(url(client, "registration:verify"))
        assert r.status_code == 200 and url(client, "registration:resend") in attrs(page(r), "form", "action")


# ---- Recovery ---------------------------------------------------------------------------------


async def test_recovery_is_rate_limited_and_a_throttled_answer_sends_no_link(database):
    account = await make_account(initial=False)
    async with limited_client(database) as client:
        await client.get(url(client, "accounts:recover", what="password"))
        csrf = {"_csrf_token": client.cookies["csrftoken"]}
        r = await client.post(
            url(client, "accounts:recover-identify", what="password"),
            data={"user_id": account["user_id"], "email": account["email"], **csrf},
        )  # 1 of 4
        assert r.status_code == 303  # to the questions page (pages are never limited)
        ticket = input_value(page(await client.get(r.headers["location"])), "ticket")
        for _ in range(2):  # 2 and 3 of 4: wrong answers
            r = await client.post(
                url(client, "accounts:recover-answers", what="password"),
                data={"ticket": ticket, "answer_1": "Nowhere", "answer_2": "Nothing", **csrf},
            )
            assert r.status_code == 303 and h1(page(await client.get(r.headers["location"]))) == "Check your email"
        r = await client.post(
            url(client, "accounts:recover-identify", what="password"),
            data={"user_id": account["user_id"], "email": account["email"], **csrf},
        )  # 4 of 4
        assert r.status_code == 303 and page(await client.get(r.headers["location"])).select_one("input[name=ticket]")

        assert_throttled(
            await client.post(
                url(client, "accounts:recover-identify", what="password"),
                data={"user_id": account["user_id"], "email": account["email"], **csrf},
            )
        )
        right = {"ticket": ticket, "answer_1": "Lincoln Elementary", "answer_2": "Ford Focus", **csrf}
        assert_throttled(await client.post(url(client, "accounts:recover-answers", what="password"), data=right))
        assert_throttled(
            await client.post(
                url(client, "accounts:recover-identify", what="user-id"),
                data={"user_id": account["user_id"], "email": account["email"], **csrf},
            )
        )
        assert await _reset_mails(account["email"]) == 0  # the right answers were never checked
        assert await PasswordReset.count().where(PasswordReset.account == account["id"]) == 0

        pages = (
            url(client, "accounts:recover", what="password"),
            url(client, "accounts:recover", what="user-id"),
            url(client, "accounts:login"),
        )
        for path in pages:  # pages are never limited
            r = await client.get(path)
            assert r.status_code == 200, path
        row = await Account.select(Account.password_hash).where(Account.id == account["id"]).first()
        assert row["password_hash"] == account["password_hash"]


async def test_the_budget_is_per_address_across_all_throttled_paths(database, smtp):
    """One budget for the address, not one per path: spending it on code entry also stops
    recovery and logging in, so switching forms gains nothing."""
    async with limited_client(database, limit=2) as client:
        a, token, code = await at_verify(client, smtp)  # 1 of 2
        wrong = "000000" if code != "000000" else "111111"
        assert (await a.verify(wrong)).status_code == 200  # 2 of 2
        csrf = {"_csrf_token": client.cookies["csrftoken"]}
        assert_throttled(
            await client.post(
                url(client, "accounts:recover-identify", what="password"),
                data={"user_id": "ZZZZ999", "email": "nobody@example.gov", **csrf},
            )
        )
        assert_throttled(
            await client.post(
                url(client, "accounts:login-submit"),
                data={"user_id": "ZZZZ999", "password": "whatever whatever", **csrf},
            )
        )
        assert_throttled(await a.post(url(client, "registration:resend")))
        # Steps that guess nothing stay open: the limit is not a blanket on every POST.
        r = await a.post(url(client, "registration:personal-save"), {"first_name": "Ana"})
        assert r.status_code in (200, 303)
        assert len((await draft_row(token))["code_wrong_tries"]) == 1


# ---- Retry-After --------------------------------------------------------------------------------


async def test_a_throttled_response_says_when_to_retry(database, smtp):
    """429 carries Retry-After (RFC 6585 / RFC 9110 §10.2.3), as portal/security.py promises."""
    async with limited_client(database, limit=1) as client:
        await client.get(url(client, "accounts:login"))
        csrf = {"_csrf_token": client.cookies["csrftoken"]}
        recover = url(client, "accounts:recover-identify", what="password")
        assert (
            await client.post(recover, data={"user_id": "ZZZZ999", "email": "x@example.gov", **csrf})
        ).status_code == 303  # to the questions
        for path, data in (
            (recover, {"user_id": "ZZZZ999", "email": "x@example.gov"}),
            (url(client, "registration:verify-check"), {"code": "123456"}),
            (url(client, "registration:resend"), {}),
            (url(client, "accounts:login-submit"), {"user_id": "ZZZZ999", "password": "whatever whatever"}),
        ):
            r = await client.post(path, data={**data, **csrf})
            assert r.status_code == 429, path
            assert "retry-after" in r.headers, f"no Retry-After on the 429 for {path}"
            assert 0 < int(r.headers["retry-after"]) <= 60, path


# ---- Whose address is counted: X-Forwarded-For only from PORTAL_TRUSTED_PROXIES -----------------


async def _peer_client(database, peer: str, trusted: str, limit: int):
    """An httpx client whose requests reach a fresh app from the socket address ``peer``."""
    import httpx

    from portal.app import create_app
    from portal.models.db import bind, current_engine

    engine = current_engine()
    app = create_app(msgspec.structs.replace(database, rate_limit_per_minute=limit, trusted_proxies=trusted))
    bind(engine)
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver.local")


async def _login_as(client, forwarded_for: str):
    if "csrftoken" not in client.cookies:
        await client.get(url(client, "accounts:login"))
    return await client.post(
        url(client, "accounts:login-submit"),
        data={"user_id": "ZZZZ996", "password": "whatever whatever", "_csrf_token": client.cookies["csrftoken"]},
        headers={"X-Forwarded-For": forwarded_for},
    )


async def _ips_of_failed_logins_since(last_id: int) -> list[str]:
    from portal.models.tables import AuditEvent

    rows = (
        await AuditEvent.select(AuditEvent.ip)
        .where((AuditEvent.id > last_id) & (AuditEvent.action == "login_failed"))
        .order_by(AuditEvent.id)
    )
    return [r["ip"] for r in rows]


async def _last_audit_id() -> int:
    from portal.models.tables import AuditEvent

    row = await AuditEvent.select(AuditEvent.id).order_by(AuditEvent.id, ascending=False).first()
    return row["id"] if row else 0


async def test_a_spoofed_forwarded_for_from_an_untrusted_peer_changes_nothing(database):
    """The default trusts nobody, the loopback included: each try claims another address, yet
    the peer's one budget is spent and the audit log records the peer."""
    for trusted in ("", "10.0.0.1"):
        since = await _last_audit_id()
        async with await _peer_client(database, "127.0.0.1", trusted, limit=3) as c:
            statuses = [(await _login_as(c, f"198.51.100.{i}")).status_code for i in range(5)]
        assert statuses == [REFUSED, REFUSED, REFUSED, 429, 429]
        assert set(await _ips_of_failed_logins_since(since)) == {"127.0.0.1"}


async def test_a_trusted_proxys_forwarded_for_names_the_client(database):
    since = await _last_audit_id()
    async with await _peer_client(database, "10.0.0.7", "10.0.0.0/24, 127.0.0.1", limit=3) as c:
        # Each client address has its own budget...
        statuses = [(await _login_as(c, f"203.0.113.{i}")).status_code for i in range(5)]
        assert statuses == [REFUSED] * 5
        # ...and what a client wrote in the header before our proxy appended its peer is not
        # believed: the right-most untrusted hop is the client.
        spoofed = [(await _login_as(c, f"192.0.2.{i}, 203.0.113.50")).status_code for i in range(5)]
        assert spoofed == [REFUSED, REFUSED, REFUSED, 429, 429]
    ips = await _ips_of_failed_logins_since(since)
    assert ips == [f"203.0.113.{i}" for i in range(5)] + ["203.0.113.50"] * 3
