"""The production shape holds no state in a worker: a whole journey through the real stack
(deploy/stack.py: Debian's nginx round-robin to two ``python -m portal serve`` workers, the mail
worker under honcho, PostgreSQL and Redis), on ports, a database and a Redis of its own so it
does not touch a developer's ``make stack``.

An applicant registers (every step, the emailed code read from a real SMTP server), an approver
signs in with a second factor and approves, the applicant signs in with the emailed User ID and
initial password and chooses a password; then nginx's access log must show both workers answering
parts of that journey, the pages of one person split between them, and no 5xx. Sticky routing
(one client, one worker) or state kept in a worker's memory fails it."""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections import Counter

import asyncpg
import httpx
import pyotp
import pytest
from aiosmtpd.controller import Controller

from deploy import stack as stack_mod
from portal.mail.catcher import CatchingHandler
from tests.htmlcheck import h1, notice, page, tracking_number
from tests.integration.registration_flow import CONTACT, PERSONAL, QUESTIONS, ROLE_FIELDS
from tests.support import free_port, sent_back, url

DATABASE = "iacs_stack_test"
NEW_PASSWORD = "copper kettle winter orchard"


@pytest.fixture
def mailbox():
    """A real SMTP server for the stack's mail worker."""
    handler = CatchingHandler(echo=None, keep=1000)
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    yield f"smtp://127.0.0.1:{port}", handler
    controller.stop()


@pytest.fixture
async def running_stack(tmp_path, redis_url, mailbox, settings):
    """The stack on free ports, with a fresh database; stopped (and the database dropped) after."""
    smtp_url, _ = mailbox
    stack = stack_mod.Stack(
        runtime=tmp_path / "stack",
        port=free_port(),
        web_ports=(free_port(), free_port()),
        database=DATABASE,
        redis_url=redis_url,
        smtp_url=smtp_url,
        # The test makes its approver here with the same key the stack decrypts it with.
        extra_env={"PORTAL_DATA_KEY": settings.data_key},
    )
    stack_mod.ensure_postgres(stack)
    admin = await asyncpg.connect(f"{stack.pg_base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    finally:
        await admin.close()
    # The workers' environment is the stack's alone, not the test run's PORTAL_* settings.
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
    started = time.monotonic()
    try:
        stack_mod.up(stack, base_env)
        yield stack, time.monotonic() - started
    finally:
        stack_mod.down(stack)
        admin = await asyncpg.connect(f"{stack.pg_base}/postgres")
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        finally:
            await admin.close()


async def wait_for_mail(handler: CatchingHandler, to: str, pattern: str) -> str:
    """The first group of ``pattern`` in the newest message to ``to`` that has it (the stack's
    mail worker delivers within a second or two)."""
    import asyncio

    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for message in reversed(handler.messages):
            if to in message.rcpt_tos and (found := re.search(pattern, message.text)):
                return found.group(1)
        await asyncio.sleep(0.2)
    raise AssertionError(f"no mail to {to} matching {pattern!r}")


class Browser:
    """One person's browser against nginx: cookies of its own, redirects followed one by one
    (each one a request that may land on either worker)."""

    def __init__(self, base_url: str, app) -> None:
        self.client = httpx.AsyncClient(base_url=base_url, follow_redirects=False, timeout=30)
        self.app = app

    def url(self, name: str, **params) -> str:
        return url(self.app, name, **params)

    async def get(self, path: str) -> httpx.Response:
        r = await self.client.get(path)
        assert r.status_code == 200, (path, r.status_code, r.headers.get("location"))
        return r

    async def post(self, path: str, data: dict | None = None, *, to: str | None = None) -> httpx.Response:
        """POST a form as a browser without JavaScript: a 303 (not a refused form sent back),
        then the page it leads to (``to``: the route it must lead to)."""
        if "csrftoken" not in self.client.cookies:
            await self.get(self.url("home:getting-ready"))
        r = await self.client.post(path, data={**(data or {}), "_csrf_token": self.client.cookies["csrftoken"]})
        assert r.status_code == 303 and not sent_back(r), (
            path,
            r.status_code,
            r.headers.get("location"),
            r.text[-500:],
        )
        location = r.headers["location"]
        if to is not None:
            assert location.split("?")[0] == self.url(to), (path, location)
        return await self.get(location)

    async def aclose(self) -> None:
        await self.client.aclose()


async def make_approver(stack, app_code: str) -> dict:
    """An approver of ``app_code`` at level 1 with an authenticator app, in the stack's database
    (the tests' own binding is put back)."""
    from portal.models.db import bind, current_engine
    from portal.models.engine import make_engine
    from portal.settings import Settings
    from tests.integration.accounts_support import make_account

    engine = current_engine()
    bind(make_engine(Settings(database_url=stack.database_url, db_pool_size=0)))
    try:
        return await make_account(initial=False, grants=(), approver=((app_code, 1),), totp=True)
    finally:
        bind(engine)


def access_log(stack) -> list[dict]:
    return [json.loads(line) for line in stack.access_log.read_text().splitlines() if line.strip()]


async def test_a_whole_journey_lands_on_both_workers(running_stack, mailbox, app):
    stack, started_in = running_stack
    _, handler = mailbox
    workers = {f"127.0.0.1:{port}" for port in stack.web_ports}
    journey_started = len(access_log(stack))
    email = f"stack.{uuid.uuid4().hex[:10]}@example.gov"

    # 1. The registration, step by step, through nginx.
    applicant = Browser(stack.url, app)
    await applicant.get(applicant.url("registration:terms", code="PSR"))
    await applicant.post(applicant.url("registration:accept", code="PSR"))
    await applicant.post(
        applicant.url("registration:personal-save"), {**PERSONAL, "email": email, "email_confirm": email}
    )
    code = await wait_for_mail(handler, email, r"verification code is: (\d{6})")
    await applicant.post(applicant.url("registration:verify-check"), {"code": code})
    await applicant.post(
        applicant.url("registration:contact-save"), {**CONTACT, "role": "provider-user", **ROLE_FIELDS}
    )
    await applicant.post(applicant.url("registration:questions-save"), QUESTIONS)
    done = await applicant.post(applicant.url("registration:submit"), to="registration:done")
    tracking = tracking_number(page(done))
    assert tracking.startswith("IACS-")
    await applicant.aclose()

    # 2. An approver signs in with a second factor and approves it.
    account = await make_approver(stack, "PSR")
    approver = Browser(stack.url, app)
    await approver.get(approver.url("accounts:login"))
    await approver.post(
        approver.url("accounts:login-submit"),
        {"user_id": account["user_id"], "password": account["password"]},
        to="mfa:second-step",
    )
    await approver.post(approver.url("mfa:second-step-submit"), {"code": pyotp.TOTP(account["totp_secret"]).now()})
    table = await approver.get(approver.url("approvals:table"))
    assert page(table).select_one(f"#req-{tracking}") is not None
    back = approver.url("approvals:table")
    after = await approver.post(approver.url("approvals:approve", tracking=tracking), {"back": back})
    assert notice(page(after)).startswith(f"{tracking}: Approved.")
    await approver.aclose()

    # 3. The applicant's first login: the User ID and the initial password came in two emails.
    user_id = await wait_for_mail(handler, email, r"Your IACS User ID is: (\S+)")
    initial = await wait_for_mail(handler, email, r"Your initial password is: (.+)")
    holder = Browser(stack.url, app)
    await holder.get(holder.url("accounts:login"))
    await holder.post(
        holder.url("accounts:login-submit"),
        {"user_id": user_id, "password": initial.strip()},
        to="accounts:change-password",
    )
    mine = await holder.post(
        holder.url("accounts:change-password-submit"),
        {"current_password": initial.strip(), "new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        to="accounts:applications",
    )
    assert h1(page(mine)) == "My applications"
    await holder.aclose()

    # 4. What nginx saw: every request answered, by both workers, one person's pages split.
    lines = access_log(stack)
    journey = lines[journey_started:]
    assert not [line for line in lines if line["status"] >= 500], "a 5xx through nginx"
    for line in journey:
        # One worker per request: no request had to be retried on the other (a worker failing).
        assert line["upstream_addr"] in workers, line
        assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"]), line
    assert len({line["request_id"] for line in journey}) == len(journey)
    answered = Counter(line["upstream_addr"] for line in journey)
    posts = Counter(line["upstream_addr"] for line in journey if line["method"] == "POST")
    switches = sum(1 for a, b in zip(journey, journey[1:], strict=False) if a["upstream_addr"] != b["upstream_addr"])
    print(
        f"\nstack up in {started_in:.1f} s; {len(journey)} requests through nginx:"
        f" {', '.join(f'{w} answered {answered[w]} ({posts[w]} POSTs)' for w in sorted(workers))};"
        f" the next request went to the other worker {switches} times"
    )
    assert set(answered) == workers and set(posts) == workers, (answered, posts)
    # Round-robin without stickiness: consecutive requests of one browser alternate.
    assert switches >= len(journey) // 3, (switches, len(journey))
