"""Observability (portal/controllers/ops.py, portal/metrics.py, portal/logs.py): /metrics, /readyz,
the request id from the proxy to the mail worker's log line, and JSON logs of a whole journey
that never carry a secret."""

from __future__ import annotations

import json
import logging
import re
from contextlib import asynccontextmanager

import httpx
import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from portal.auth import SessionCookies
from portal.logs import JsonFormatter
from portal.models.tables import Account, OutboxMessage
from tests.htmlcheck import input_value, page, tracking_number
from tests.integration.accounts_support import csrf, log_in, make_account
from tests.integration.conftest import checked_client, client_of
from tests.integration.registration_flow import PERSONAL, QUESTIONS, ROLE_FIELDS, Applicant
from tests.support import url

HX = {"HX-Request": "true"}
LOCAL = ("127.0.0.1", 40000)


@asynccontextmanager
async def app_of(settings):
    """A fresh app made with ``settings`` (the shared binding put back afterwards)."""
    from portal.app import create_app
    from portal.models.db import bind, current_engine

    engine = current_engine()
    try:
        yield create_app(settings)
    finally:
        bind(engine)


@asynccontextmanager
async def scraper(app, client=LOCAL):
    """An HTTP client calling ``app`` from the address ``client`` (the test client's own peer,
    "testclient", is no IP address)."""
    transport = httpx.ASGITransport(app=app, client=client)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver.local") as http:
        yield http


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """(sample name, sorted labels) -> value, from the Prometheus text format."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


class Lines(logging.Handler):
    """Every log record of the portal (the test's own HTTP client, httpx, is the browser and
    not the portal: left out), formatted as the JSON line production writes."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("httpx"):
            self.lines.append(self.format(record))

    def attach(self) -> None:
        """On the root logger at INFO (as served); again after an app is made, since making
        one configures logging afresh."""
        root = logging.getLogger()
        if self not in root.handlers:
            root.addHandler(self)
        root.setLevel(logging.INFO)


@pytest.fixture
def logged():
    handler = Lines()
    # Other tests quieten loggers for good (the fuzz runner: portal.mail): back to INFO here.
    loggers = [logging.getLogger(name) for name in ("", "portal", "portal.mail", "portal.mail.worker")]
    levels = [logger.level for logger in loggers]
    for logger in loggers[1:]:
        logger.setLevel(logging.INFO)
    handler.attach()
    try:
        yield handler
    finally:
        loggers[0].removeHandler(handler)
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


# ---- /metrics ---------------------------------------------------------------------------------


async def test_metrics_answers_only_allowed_addresses(app):
    async with scraper(app) as http:
        r = await http.get(url(app, "ops:metrics"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert "portal_http_requests_total" in r.text
    async with scraper(app, client=("203.0.113.9", 40000)) as http:
        assert (await http.get(url(app, "ops:metrics"))).status_code == 404
    async with checked_client(app) as browser:  # the test client's peer is no address at all
        assert (await browser.get(url(app, "ops:metrics"))).status_code == 404


async def test_metrics_allow_takes_networks(settings, database):
    async with app_of(msgspec.structs.replace(database, metrics_allow="10.0.0.0/8")) as app:
        async with scraper(app, client=("10.1.2.3", 1)) as http:
            assert (await http.get(url(app, "ops:metrics"))).status_code == 200
        async with scraper(app) as http:  # 127.0.0.1 is no longer allowed
            assert (await http.get(url(app, "ops:metrics"))).status_code == 404


async def test_requests_are_counted_by_route_name_and_status_never_by_path(app, client):
    async with scraper(app) as http:
        before = samples((await http.get(url(app, "ops:metrics"))).text)
        await client.get(url(client, "home:getting-ready"))
        head = await client.head(url(client, "home:getting-ready"))  # answered as GET: the same route
        assert head.status_code == 200 and head.headers["x-request-id"]
        await client.get(url(client, "registration:terms", code="PSR"))
        await client.get("/no-such-page/with-a-token-abc123")
        after_text = (await http.get(url(app, "ops:metrics"))).text
    after = samples(after_text)
    total = "portal_http_requests_total"
    assert value(after, total, route="home:getting-ready", status="200") == (
        value(before, total, route="home:getting-ready", status="200") + 2
    )
    assert value(after, total, route="registration:terms", status="200") >= 1
    assert value(after, total, route="unmatched", status="404") >= 1
    bucket = "portal_http_request_duration_seconds_count"
    assert value(after, bucket, route="home:getting-ready", status="200") >= 1
    # Labels are route names: never a path (paths carry tokens), and /metrics does not count itself.
    routes = {dict(labels).get("route") for (_, labels) in after}
    assert not any(r and r.startswith("/") for r in routes)
    assert "ops:metrics" not in routes
    assert "with-a-token-abc123" not in after_text and "/register" not in after_text


async def test_the_outbox_gauges_are_read_from_the_database_at_scrape_time(app, smtp):
    await smtp.deliver()  # nothing left over from other tests
    async with scraper(app) as http:
        assert value(samples((await http.get(url(app, "ops:metrics"))).text), "portal_outbox_depth") == 0
        async with checked_client(app) as browser:
            a = Applicant(browser, smtp)
            await a.accept_terms()
            await a.personal()  # queues the code email
        found = samples((await http.get(url(app, "ops:metrics"))).text)
    unsent = await OutboxMessage.count().where(OutboxMessage.sent_at.is_null())
    assert unsent >= 1
    assert value(found, "portal_outbox_depth") == unsent
    assert value(found, "portal_outbox_oldest_unsent_age_seconds") >= 0
    await smtp.deliver()


async def test_registration_steps_decisions_and_hashing_are_counted(app, client, smtp):
    async with scraper(app) as http:
        before = samples((await http.get(url(app, "ops:metrics"))).text)
        a = Applicant(client, smtp)
        await a.through_questions()
        tracking = tracking_number(page(await a.submit()))
        async with checked_client(app) as approver:
            account = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
            await log_in(approver, account["user_id"], account["password"])
            r = await approver.post(
                url(approver, "approvals:approve", tracking=tracking), data=await csrf(approver), headers=HX
            )
            assert r.status_code == 200
        after = samples((await http.get(url(app, "ops:metrics"))).text)
    steps = "portal_registration_steps_total"
    for step in ("terms", "personal", "verify", "contact", "questions", "submitted"):
        assert value(after, steps, step=step) == value(before, steps, step=step) + 1, step
    decisions = "portal_decisions_total"
    assert value(after, decisions, outcome="approved") == value(before, decisions, outcome="approved") + 1
    hashed = "portal_hashing_seconds_count"
    # The questions (one hash each), the approver's password, the new account's initial password.
    assert value(after, hashed, operation="hash") >= value(before, hashed, operation="hash") + 3
    assert value(after, hashed, operation="verify") >= value(before, hashed, operation="verify") + 1
    assert value(after, "portal_hashing_queue_length") == 0
    assert value(after, "portal_hashing_wait_seconds_count") > value(before, "portal_hashing_wait_seconds_count")


# ---- /readyz ----------------------------------------------------------------------------------


async def test_readyz_is_ready_when_the_database_answers_and_is_migrated(client):
    r = await client.get(url(client, "ops:ready"))
    assert r.status_code == 200 and r.json() == {"status": "ready"}
    assert r.headers["cache-control"] == "no-store"


async def test_readyz_names_the_database_when_it_does_not_answer(database, tmp_root):
    broken = database.__class__(database_url=f"sqlite:///{tmp_root}/missing-dir/none.db")
    async with client_of(broken) as client:
        r = await client.get(url(client, "ops:ready"))
    assert r.status_code == 503 and r.json() == {"status": "not ready", "failed": ["database"]}


async def test_readyz_names_the_migrations_when_one_has_not_run(client, monkeypatch):
    from portal.models import health

    assert await health.unapplied_migrations() == []
    shipped = health.shipped_migrations()
    monkeypatch.setattr(health, "shipped_migrations", lambda: shipped | {"2099-01-01T00:00:00:000000"})
    assert await health.unapplied_migrations() == ["2099-01-01T00:00:00:000000"]
    r = await client.get(url(client, "ops:ready"))
    assert r.status_code == 503 and r.json()["failed"] == ["migrations"]


async def test_readyz_checks_redis_when_it_is_configured(database, redis_url):
    async with client_of(msgspec.structs.replace(database, redis_url=redis_url)) as client:
        assert (await client.get(url(client, "ops:ready"))).status_code == 200
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    down = f"redis://:secret-password@127.0.0.1:{port}/0"
    async with client_of(msgspec.structs.replace(database, redis_url=down)) as client:
        r = await client.get(url(client, "ops:ready"))
    assert r.status_code == 503 and r.json() == {"status": "not ready", "failed": ["redis"]}
    assert "secret-password" not in r.text and str(port) not in r.text


# ---- The request id ---------------------------------------------------------------------------


async def test_a_safe_request_id_is_kept_and_echoed_and_anything_else_replaced(client):
    r = await client.get(url(client, "home:getting-ready"), headers={"X-Request-ID": "nginx-5f2a9c01"})
    assert r.headers["x-request-id"] == "nginx-5f2a9c01"
    for unsafe in ("short", "has space in it", "x" * 65, "tab\there-12345", "semi;colon-1234"):
        r = await client.get(url(client, "home:getting-ready"), headers={"X-Request-ID": unsafe})
        assert re.fullmatch(r"[0-9a-f]{32}", r.headers["x-request-id"]), unsafe
    first = (await client.get(url(client, "ops:health"))).headers["x-request-id"]
    second = (await client.get(url(client, "ops:health"))).headers["x-request-id"]
    assert first != second


async def test_the_request_id_follows_the_request_into_the_outbox_and_the_mail_workers_log(client, smtp, logged):
    a = Applicant(client, smtp)
    await a.accept_terms()
    rid = "req-0123456789abcdef"
    data = {**PERSONAL, "email": a.email, "email_confirm": a.email, **a.csrf}
    r = await client.post(url(client, "registration:personal-save"), data=data, headers={"X-Request-ID": rid})
    assert r.headers["x-request-id"] == rid
    (row,) = await OutboxMessage.select().where(OutboxMessage.to_address == a.email)
    assert row["request_id"] == rid and row["kind"] == "verification_code"
    await smtp.deliver()
    sent = [json.loads(line) for line in logged.lines if f'"outbox_id": {row["id"]}' in line]
    assert sent, logged.lines
    assert sent[-1]["request_id"] == rid and sent[-1]["outcome"] == "sent" and sent[-1]["kind"] == "verification_code"
    assert sent[-1]["logger"] == "portal.mail.worker"


# ---- No secret in a log line or a metric --------------------------------------------------------


async def test_a_whole_journey_logs_as_json_and_never_a_secret(database, smtp, logged):
    """Registration through acknowledgement, an approval, the new account's first login and
    password change, and a recovery, on an app logging JSON; then every log line and /metrics
    are searched for each secret of the journey."""
    settings = msgspec.structs.replace(smtp.settings, log_format="json")
    secrets: dict[str, str] = {}
    async with app_of(settings) as app, checked_client(app) as browser:
        logged.attach()
        cookie = SessionCookies(settings).name
        # Registration, through the acknowledgement.
        a = Applicant(browser, smtp)
        await a.accept_terms()
        await a.personal()
        secrets["email code"] = await smtp.code_for(a.email)
        await a.verify(secrets["email code"])
        assert (await a.contact()).status_code == 303
        assert (await a.questions()).status_code == 303
        tracking = tracking_number(page(await a.submit()))
        secrets["csrf token"] = browser.cookies["csrftoken"]

        # An approval.
        async with checked_client(app) as approver_browser:
            approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
            await log_in(approver_browser, approver["user_id"], approver["password"])
            secrets["approver password"] = approver["password"]
            secrets["approver session"] = approver_browser.cookies[cookie]
            r = await approver_browser.post(
                url(app, "approvals:approve", tracking=tracking), data=await csrf(approver_browser), headers=HX
            )
            assert r.status_code == 200
        await smtp.deliver()
        mail = await smtp.last_to(a.email)
        secrets["initial password"] = re.search(r"initial password is: (\S+)", mail.text).group(1)
        user_id = (await Account.select(Account.user_id).where(Account.email == a.email).first())["user_id"]

        # The new account logs in with its initial password and changes it.
        async with checked_client(app) as holder:
            r = await log_in(holder, user_id, secrets["initial password"])
            assert r.headers["location"] == url(app, "accounts:change-password")
            secrets["session token"] = holder.cookies[cookie]
            secrets["password"] = "amber kettles sing at dawn"
            r = await holder.post(
                url(app, "accounts:change-password-submit"),
                data={
                    "current_password": secrets["initial password"],
                    "new_password": secrets["password"],
                    "confirm_password": secrets["password"],
                    **await csrf(holder),
                },
            )
            assert r.status_code == 303

        # Forgot password: the questions, the emailed link, a new password.
        async with checked_client(app) as recovering:
            r = await recovering.post(
                url(app, "accounts:recover-identify", what="password"),
                data={"user_id": user_id, "email": a.email, **await csrf(recovering)},
            )
            questions = await recovering.get(r.headers["location"])
            secrets["recovery ticket"] = input_value(page(questions), "ticket")
            r = await recovering.post(
                url(app, "accounts:recover-answers", what="password"),
                data={
                    "ticket": secrets["recovery ticket"],
                    "answer_1": QUESTIONS["answer_1"],
                    "answer_2": QUESTIONS["answer_2"],
                    **await csrf(recovering),
                },
            )
            assert r.headers["location"] == url(app, "accounts:recover-sent", what="password")
            await smtp.deliver()
            link = re.search(r"(/recover/reset\?token=\S+)", (await smtp.last_to(a.email)).text).group(1)
            secrets["recovery link token"] = link.split("token=")[1]
            assert (await recovering.get(link)).status_code == 200
            secrets["new password"] = "violet harbours hum quietly"
            r = await recovering.post(
                url(app, "accounts:reset-submit"),
                data={
                    "token": secrets["recovery link token"],
                    "new_password": secrets["new password"],
                    "confirm_password": secrets["new password"],
                    **await csrf(recovering),
                },
            )
            assert r.status_code == 303 and r.headers["location"] == url(app, "accounts:login", query="reset=1")
            assert (await log_in(recovering, user_id, secrets["new password"])).status_code == 303
        async with scraper(app) as http:
            exposition = (await http.get(url(app, "ops:metrics"))).text

    secrets |= {
        "answer 1": QUESTIONS["answer_1"],
        "answer 1, normalised": "lincoln elementary",
        "answer 2": QUESTIONS["answer_2"],
        "SSN": PERSONAL["ssn"],
        "SSN digits": PERSONAL["ssn"].replace("-", ""),
        "TIN": ROLE_FIELDS["tin"],
        "TIN digits": ROLE_FIELDS["tin"].replace("-", ""),
        "email address": a.email,
    }
    log_lines = logged.lines
    assert len(log_lines) > 5
    records = [json.loads(line) for line in log_lines]  # every line is one JSON object
    assert all({"time", "level", "logger", "message", "request_id"} <= set(r) for r in records)
    assert any(r["logger"] == "portal.mail.worker" and r["request_id"] for r in records)
    logs = "\n".join(log_lines)
    for what, secret in secrets.items():
        assert secret, what
        assert secret.casefold() not in logs.casefold(), f"the {what} is in the logs"
        assert secret.casefold() not in exposition.casefold(), f"the {what} is in /metrics"


# ---- Served by uvicorn: its access log as JSON, and counts added up across worker processes -------


def test_served_with_two_workers_access_lines_are_json_and_metrics_add_up(database, tmp_path):
    """``serve --workers 2`` with PORTAL_LOG_FORMAT=json and PROMETHEUS_MULTIPROC_DIR: each access
    line is a JSON object with the request id and the path without its query string, and a scrape
    (answered by either worker) counts the requests both answered."""
    import os
    import subprocess
    import sys
    import time

    from tests.integration.test_cli import ROOT, free_port

    port = free_port()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    (multiproc / "counter_1.db").write_bytes(b"left by an earlier run")  # serve empties the directory
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database.database_url,
        "PORTAL_LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
    }
    command = [sys.executable, "-m", "portal", "serve", "--port", str(port), "--workers", "2"]
    out = tmp_path / "stdout"
    with out.open("w") as stdout:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.STDOUT, text=True)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if web.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
                    time.sleep(0.2)
            rid = "nginx-0f1e2d3c4b5a"
            r = web.get("/status", params={"token": "query-secret-123456"}, headers={"X-Request-ID": rid})
            assert r.headers["x-request-id"] == rid
            for _ in range(20):
                assert web.get("/accessibility").status_code == 200
            found = samples(web.get("/metrics").text)
            assert web.get("/readyz").json() == {"status": "ready"}
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert value(found, "portal_http_requests_total", route="help:accessibility", status="200") == 20
    lines = [json.loads(line) for line in out.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    (status,) = [line for line in access if line["request_id"] == rid]
    assert status["path"] == "/status" and status["method"] == "GET" and status["status"] == 200
    assert status["message"] == "GET /status 200"
    assert "query-secret-123456" not in out.read_text()
    assert {line["logger"] for line in lines} >= {"uvicorn.access", "uvicorn.error"}
    assert not list(multiproc.glob("counter_1.db"))
