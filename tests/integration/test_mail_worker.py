"""The outbox and the mail worker (portal/mail/outbox.py, portal/mail/worker.py) against the
test database and a real SMTP server (aiosmtpd) on a free port."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import msgspec
import pytest
from aiosmtpd.controller import Controller

from portal.clock import now as utcnow
from portal.mail.catcher import CatchingHandler
from portal.mail.outbox import OutboxError, enqueue
from portal.mail.worker import deliver_due, run_worker
from portal.models.db import transaction
from portal.models.tables import OutboxMessage
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]


class SMTPServer:
    """A real SMTP server in a background thread; ``messages`` are what it received."""

    def __init__(self) -> None:
        self.port = free_port()
        self.handler = CatchingHandler(echo=None)
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    @property
    def messages(self):
        return list(self.handler.messages)


@pytest.fixture
def smtp():
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    server = SMTPServer()
    server.controller.start()
    try:
        yield server
    finally:
        server.controller.stop()


@pytest.fixture
async def outbox(database):
    """The test database with an empty outbox (the database is shared by the whole run)."""
    await OutboxMessage.delete(force=True)
    yield database
    await OutboxMessage.delete(force=True)


def with_smtp(settings, url: str):
    return msgspec.structs.replace(settings, smtp_url=url)


async def queue(n: int = 1, *, kind: str = "test", to: str = "pat@example.org") -> None:
    async with transaction():
        for i in range(n):
            await enqueue(kind=kind, to=to, subject=f"Message {i}", body=f"Body of message {i}\n")


async def rows() -> list[dict]:
    return await OutboxMessage.select().order_by(OutboxMessage.id)


async def test_delivers_once_over_real_smtp(outbox, smtp):
    settings = with_smtp(outbox, smtp.url)
    async with transaction():
        await enqueue(kind="verification", to="pat@example.org", subject="Your code", body="Code: 123456\n")

    assert await deliver_due(settings) == 1
    [caught] = smtp.messages
    assert caught.rcpt_tos == ["pat@example.org"]
    assert caught.subject == "Your code"
    assert caught.text.replace("\r\n", "\n") == "Code: 123456\n"
    assert caught.message["From"] == settings.mail_from
    [row] = await rows()
    assert caught.message["Message-ID"] == row["message_id"]
    assert row["message_id"].startswith("<") and row["message_id"].endswith("@iacs.portal>")
    assert row["sent_at"] is not None and row["claimed_until"] is None and row["attempts"] == 0

    assert await deliver_due(settings) == 0
    assert len(smtp.messages) == 1


async def test_smtp_down_loses_nothing_and_later_sends_once(outbox, smtp, caplog):
    down = with_smtp(outbox, f"smtp://127.0.0.1:{free_port()}")
    await queue(2, to="secret.person@example.org")
    before = utcnow()

    with caplog.at_level(logging.INFO, logger="portal.mail.worker"):
        assert await deliver_due(down) == 0
    first = await rows()
    assert len(first) == 2
    for row in first:
        assert row["sent_at"] is None
        assert row["claimed_until"] is None  # released for the next try
        assert row["attempts"] == 1
        assert row["next_attempt_at"] >= before + timedelta(seconds=29)
        assert row["last_error"] and "@" not in row["last_error"] and "Message" not in row["last_error"]
    assert "secret.person" not in caplog.text and "Body of" not in caplog.text and "Message 0" not in caplog.text
    assert "not delivered" in caplog.text

    # Not due yet: nothing is tried, nothing changes.
    assert await deliver_due(down) == 0
    assert [r["attempts"] for r in await rows()] == [1, 1]

    # Due again, still down: the wait grows.
    await OutboxMessage.update({OutboxMessage.next_attempt_at: utcnow() - timedelta(seconds=1)}, force=True)
    retried = utcnow()
    assert await deliver_due(down) == 0
    second = await rows()
    assert [r["attempts"] for r in second] == [2, 2]
    assert all(r["next_attempt_at"] >= retried + timedelta(seconds=59) for r in second)

    # SMTP is back and the rows are due: each is sent once.
    up = with_smtp(outbox, smtp.url)
    assert await deliver_due(up) == 0  # not due yet
    await OutboxMessage.update({OutboxMessage.next_attempt_at: utcnow() - timedelta(seconds=1)}, force=True)
    assert await deliver_due(up) == 2
    assert sorted(m.subject for m in smtp.messages) == ["Message 0", "Message 1"]
    assert all(r["sent_at"] is not None and r["last_error"] == "" for r in await rows())

    # A sent row is never sent again, even if it looks due.
    await OutboxMessage.update({OutboxMessage.next_attempt_at: utcnow() - timedelta(seconds=1)}, force=True)
    assert await deliver_due(up) == 0
    assert len(smtp.messages) == 2


async def test_rolled_back_transaction_leaves_no_message(outbox):
    class Abandoned(Exception):
        pass

    with pytest.raises(Abandoned):
        async with transaction():
            await enqueue(kind="test", to="pat@example.org", subject="Never", body="Never sent")
            assert await OutboxMessage.count() == 1  # visible inside the transaction
            raise Abandoned
    assert await OutboxMessage.count() == 0


async def test_enqueue_refuses_to_run_outside_a_transaction(outbox):
    with pytest.raises(OutboxError, match="inside transaction"):
        await enqueue(kind="test", to="pat@example.org", subject="Alone", body="x")
    assert await OutboxMessage.count() == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("to", "pat@example.org\nBcc: other@example.org"),
        ("subject", "Hi\r\nBcc: x@example.org"),
        ("subject", ""),
        ("subject", "x" * 201),
        ("to", "x" * 255),
    ],
)
async def test_enqueue_refuses_header_injection_and_overlong_fields(outbox, field, value):
    fields = {"kind": "test", "to": "pat@example.org", "subject": "Fine", "body": "x"}
    fields[field] = value
    with pytest.raises(OutboxError):
        async with transaction():
            await enqueue(**fields)
    assert await OutboxMessage.count() == 0


async def test_concurrent_workers_send_each_message_once(outbox, smtp):
    settings = with_smtp(outbox, smtp.url)
    await queue(12)
    results = await asyncio.gather(*(deliver_due(settings, batch=5) for _ in range(4)))
    total = sum(results)
    while sent := await deliver_due(settings, batch=5):  # whatever the batch limits left over
        total += sent
    assert total == 12
    ids = [m.message["Message-ID"] for m in smtp.messages]
    assert len(ids) == 12 and len(set(ids)) == 12
    assert all(r["sent_at"] is not None for r in await rows())


async def test_a_claimed_row_is_left_to_its_worker(outbox, smtp):
    settings = with_smtp(outbox, smtp.url)
    await queue(1)
    await OutboxMessage.update({OutboxMessage.claimed_until: utcnow() + timedelta(minutes=5)}, force=True)
    assert await deliver_due(settings) == 0
    await OutboxMessage.update({OutboxMessage.claimed_until: utcnow() - timedelta(seconds=1)}, force=True)
    assert await deliver_due(settings) == 1  # a lapsed claim (a worker that died) is taken over
    assert len(smtp.messages) == 1


async def test_run_worker_delivers_and_survives_errors_until_stopped(outbox, smtp, caplog):
    stop = asyncio.Event()
    broken = msgspec.structs.replace(outbox, smtp_url="http://not-smtp")  # every round raises
    with caplog.at_level(logging.WARNING, logger="portal.mail.worker"):
        task = asyncio.create_task(run_worker(broken, stop, interval=0.01))
        await asyncio.sleep(0.1)
        assert not task.done()
        stop.set()
        await asyncio.wait_for(task, 5)
    assert "mail worker round failed: ValueError" in caplog.text

    stop = asyncio.Event()
    task = asyncio.create_task(run_worker(with_smtp(outbox, smtp.url), stop, interval=0.02))
    try:
        await queue(2)
        for _ in range(250):
            if len(smtp.messages) == 2:
                break
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
    assert sorted(m.subject for m in smtp.messages) == ["Message 0", "Message 1"]


async def test_mail_worker_process_delivers_and_stops_on_sigterm(outbox, smtp):
    """cli_main as its own process, as `python -m portal mail-worker` runs it."""
    await queue(1, to="process@example.org")
    env = {**os.environ, "PORTAL_SMTP_URL": smtp.url}
    code = "from portal.mail.worker import cli_main; raise SystemExit(cli_main())"
    proc = subprocess.Popen(  # noqa: ASYNC220
        [sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            if smtp.messages:
                break
            await asyncio.sleep(0.05)
        assert [m.rcpt_tos for m in smtp.messages] == [["process@example.org"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = await asyncio.to_thread(proc.communicate, timeout=20)
    assert proc.returncode == 0, output
    assert "mail worker stopped" in output
    assert "process@example.org" not in output
    [row] = await rows()
    assert row["sent_at"] is not None


async def test_concurrent_claims_are_disjoint(outbox):
    from portal.mail.outbox import claim_due

    await queue(10)
    claims = await asyncio.gather(*(claim_due(batch=10, lease=timedelta(minutes=1)) for _ in range(3)))
    ids = [row.id for claim in claims for row in claim]
    assert len(ids) == 10 and len(set(ids)) == 10


class KillingHandler(CatchingHandler):
    """An SMTP server that kills the worker sending to it, once: ``at="data"`` after taking
    the message and before answering 250 (the server has it, the worker never learns: SMTP's
    own window), ``at="rcpt"`` before the message was ever sent."""

    def __init__(self, at: str) -> None:
        super().__init__(echo=None)
        self.at = at
        self.victim: subprocess.Popen[str] | None = None

    def _kill(self, at: str) -> None:
        if self.victim is not None and self.at == at:
            self.victim.kill()  # SIGKILL: no handler, no cleanup, nothing written after this
            self.victim.wait()
            self.victim = None

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self._kill("rcpt")
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        answer = await super().handle_DATA(server, session, envelope)
        self._kill("data")
        return answer


def _worker_process(smtp_url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PORTAL_SMTP_URL": smtp_url}
    return subprocess.Popen(
        [sys.executable, "-m", "portal", "mail-worker"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.mark.parametrize(
    ("at", "copies"),
    [("rcpt", 1), ("data", 2)],
    ids=["killed before the server took it", "killed after the server took it, before sent_at"],
)
async def test_a_mail_worker_killed_mid_send_loses_nothing_and_at_worst_sends_one_copy_again(outbox, at, copies):
    """kill -9 of the mail worker in the middle of a message: the row stays claimed, unsent; once
    its claim lapses (forced here, rather than waiting out the lease) the next worker sends it.
    Killed before the server took the message: delivered once. Killed in SMTP's own window
    (the server has answered nothing yet but holds the message; or has answered and sent_at is
    not yet written): delivered twice, both with the same Message-ID, which is what remains."""
    handler = KillingHandler(at)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        await queue(1, to="window@example.org")
        handler.victim = worker = _worker_process(f"smtp://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while worker.poll() is None:
            assert time.monotonic() < deadline, "the worker never reached the SMTP server"
            await asyncio.sleep(0.05)
        assert worker.returncode == -signal.SIGKILL
        [row] = await rows()
        assert row["sent_at"] is None and row["claimed_until"] > utcnow()  # claimed, not marked
        assert len(handler.messages) == copies - 1
        await OutboxMessage.update({OutboxMessage.claimed_until: utcnow() - timedelta(seconds=1)}, force=True)
        again = _worker_process(f"smtp://127.0.0.1:{port}")
        try:
            while len(handler.messages) < copies or (await rows())[0]["sent_at"] is None:
                assert time.monotonic() < deadline + 30, "the message was not sent again"
                await asyncio.sleep(0.05)
        finally:
            again.terminate()
            await asyncio.to_thread(again.wait, 20)
        ids = {m.message["Message-ID"] for m in handler.messages}
        assert len(handler.messages) == copies and ids == {row["message_id"]}
    finally:
        controller.stop()


async def test_a_slow_batch_renews_its_claim_on_what_it_still_holds(outbox, smtp, monkeypatch):
    import portal.mail.worker as worker
    from portal.mail.outbox import claim_due, renew_claims

    await queue(3)
    claimed = await claim_due(batch=3, lease=timedelta(minutes=1))
    first, second, third = (row.id for row in claimed)
    await OutboxMessage.update({OutboxMessage.sent_at: utcnow()}).where(OutboxMessage.id == first)
    await OutboxMessage.update({OutboxMessage.claimed_until: utcnow() - timedelta(seconds=1)}).where(
        OutboxMessage.id == second
    )  # lapsed: another worker may have it now
    assert await renew_claims([first, second, third], lease=timedelta(minutes=3)) == {third}
    [row] = await OutboxMessage.select().where(OutboxMessage.id == third)
    assert row["claimed_until"] > utcnow() + timedelta(minutes=2)

    # A worker past RENEW_AFTER before every message (zero here) renews, then sends each once.
    await OutboxMessage.delete(force=True)
    await queue(4)
    monkeypatch.setattr(worker, "RENEW_AFTER", timedelta(0))
    settings = with_smtp(outbox, smtp.url)
    assert await deliver_due(settings, batch=4) == 4
    assert sorted(m.subject for m in smtp.messages) == [f"Message {i}" for i in range(4)]


async def test_emails_someone_waits_for_are_claimed_before_older_notices(outbox):
    """A verification code queued behind a backlog of approvers' notices goes out first."""
    from portal.mail.outbox import claim_due

    await queue(25, kind="approval_needed")
    await queue(1, kind="verification_code", to="waiting@example.org")
    await queue(1, kind="password_reset", to="waiting@example.org")
    claimed = await claim_due(batch=5, lease=timedelta(minutes=1))
    assert [row.kind for row in claimed] == ["verification_code", "password_reset"] + ["approval_needed"] * 3
    later = await claim_due(batch=30, lease=timedelta(minutes=1))
    assert [row.kind for row in later] == ["approval_needed"] * 22  # the rest, oldest first
    assert [row.subject for row in later][:2] == ["Message 3", "Message 4"]
