"""Faults on the production shape (issue 14, item 6), each on a stack of its own (deploy/stack.py
on free ports, as tests/integration/test_stack.py starts it): nginx round-robin to two workers,
the mail worker, PostgreSQL and Redis. Each test prints its figures (``pytest -s``) and puts them
in its assertion messages.

(a) ``kill -9`` one worker while applicants register: nginx sends the rest to the other worker,
    an applicant whose POST was cut gets an error, presses again and goes on from the draft, and
    every access request in the database is whole.
(b) PostgreSQL (a private cluster on a free port, never the machine's) restarted under load:
    requests in the gap get the portal's own 503 page, the same worker processes answer after
    it, and no access request is partial.
(c) SMTP down for a while (the retry backoff compressed to seconds): every outbox message reaches
    the SMTP server exactly once.
(d) Redis killed and started again: the rate limit counts in each worker meanwhile (logged once
    per worker), and shares one count again once Redis is back."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import pytest
from aiosmtpd.controller import Controller

from deploy import stack as stack_mod
from portal.mail.catcher import CatchingHandler
from tests.htmlcheck import page, tracking_number
from tests.integration.registration_flow import CONTACT, PERSONAL, QUESTIONS, ROLE_FIELDS
from tests.support import free_port, sent_back, start_redis, url


def _require_stack_tools() -> None:
    """nginx and redis-server (make test installs them): without them these tests fail, never skip."""
    assert shutil.which("nginx") or Path("/usr/sbin/nginx").exists(), "nginx is missing: run make nginx"
    assert shutil.which("redis-server"), "redis-server is missing: run make redis"


# ---- A stack of the test's own -----------------------------------------------------------------


@dataclass(frozen=True)
class FaultStack(stack_mod.Stack):
    """The stack, less the processes a test runs itself (its own mail worker)."""

    without: tuple[str, ...] = ()

    @property
    def processes(self) -> list[str]:
        return [name for name in super().processes if name not in self.without]


def worker_pid(port: int) -> int:
    """The process listening on ``port`` (the uvicorn worker, not honcho's shell)."""
    out = subprocess.run(["ss", "-Hltnp", f"sport = :{port}"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"pid=(\d+)", out)
    assert found, f"nothing listens on {port}: {out!r}"
    return int(found.group(1))


async def _drop(stack: stack_mod.Stack) -> None:
    admin = await asyncpg.connect(f"{stack.pg_base}/postgres")
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{stack.database}" WITH (FORCE)')
    finally:
        await admin.close()


@asynccontextmanager
async def fault_stack(
    runtime: Path,
    database: str,
    *,
    redis_url: str,
    smtp_url: str,
    pg_base: str = stack_mod.PG_BASE,
    without: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> AsyncIterator[FaultStack]:
    stack = FaultStack(
        runtime=runtime,
        port=free_port(),
        web_ports=(free_port(), free_port()),
        database=database,
        pg_base=pg_base,
        redis_url=redis_url,
        smtp_url=smtp_url,
        without=without,
        # Every applicant comes through nginx from 127.0.0.1: one address, so no limit unless asked.
        extra_env={"PORTAL_RATE_LIMIT": "100000", **(env or {})},
    )
    _require_stack_tools()
    stack_mod.ensure_postgres(stack)
    await _drop(stack)
    try:
        await asyncio.to_thread(stack_mod.up, stack, base_env())
        yield stack
    finally:
        await asyncio.to_thread(stack_mod.down, stack)
        await _drop(stack)


def base_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}


class Sink:
    """A real SMTP server on a fixed port that can be stopped and started again."""

    def __init__(self) -> None:
        self.handler = CatchingHandler(echo=None, keep=100_000)
        self.port = free_port()
        self.controller: Controller | None = None

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def sink():
    import logging

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    box = Sink()
    box.start()
    yield box
    box.stop()


# ---- An applicant who presses again --------------------------------------------------------------


@dataclass
class Failure:
    step: str
    at: float
    what: str  # HTTP status or exception type
    portal_page: bool  # the portal's own HTML error page (not nginx's, not a traceback)
    title: str = ""
    retry_after: str = ""


class Applicant:
    """One person's browser through nginx. A step that fails (a transport error, or a 5xx) is
    retried after a short wait, as a person presses the button again; every failure is kept."""

    def __init__(self, stack: stack_mod.Stack, app, sink: Sink, *, patience: float = 40.0) -> None:
        self.client = httpx.AsyncClient(base_url=stack.url, follow_redirects=False, timeout=30)
        self.app = app
        self.sink = sink
        self.email = f"fault.{uuid.uuid4().hex[:12]}@example.gov"
        self.patience = patience
        self.failures: list[Failure] = []
        self.tracking = ""
        self.done_at = 0.0

    def url(self, name: str, **params) -> str:
        return url(self.app, name, **params)

    async def _once(self, step: str, method: str, path: str, data: dict | None) -> httpx.Response | None:
        try:
            if method == "GET":
                r = await self.client.get(path)
            else:
                r = await self.client.post(path, data={**(data or {}), "_csrf_token": self.client.cookies["csrftoken"]})
        except httpx.TransportError as exc:
            self.failures.append(Failure(step, time.monotonic(), type(exc).__name__, False))
            return None
        if r.status_code >= 500:
            text = r.text
            portal = text.lower().startswith("<!doctype html>") and "nginx" not in text and "Traceback" not in text
            title = re.search(r"<h1[^>]*>(.*?)</h1>", text, flags=re.S)
            self.failures.append(
                Failure(
                    step,
                    time.monotonic(),
                    str(r.status_code),
                    portal,
                    title.group(1).strip() if title else "",
                    r.headers.get("retry-after", ""),
                )
            )
            return None
        return r

    async def _until(self, step: str, method: str, path: str, data: dict | None = None) -> httpx.Response:
        deadline = time.monotonic() + self.patience
        while True:
            r = await self._once(step, method, path, data)
            if r is not None:
                return r
            assert time.monotonic() < deadline, (self.email, step, self.failures[-5:])
            await asyncio.sleep(0.3)

    async def get(self, step: str, path: str) -> httpx.Response:
        r = await self._until(step, "GET", path)
        assert r.status_code == 200, (step, path, r.status_code, r.headers.get("location"))
        return r

    async def post(self, step: str, path: str, data: dict | None = None) -> httpx.Response:
        """The form, pressed again until it is answered; a 303 onwards, then that page."""
        if "csrftoken" not in self.client.cookies:
            await self.get(step, self.url("home:getting-ready"))
        r = await self._until(step, "POST", path, data)
        assert r.status_code == 303 and not sent_back(r), (step, r.status_code, r.headers.get("location"))
        return await self.get(step, r.headers["location"])

    async def code(self) -> str:
        """The newest verification code sent to this person."""
        deadline = time.monotonic() + self.patience
        while time.monotonic() < deadline:
            for message in reversed(list(self.sink.handler.messages)):
                if self.email in message.rcpt_tos and (
                    found := re.search(r"verification code is: (\d{6})", message.text)
                ):
                    return found.group(1)
            await asyncio.sleep(0.2)
        raise AssertionError(f"no code for {self.email}")

    async def start(self) -> None:
        await self.get("terms", self.url("registration:terms", code="PSR"))
        await self.post("accept", self.url("registration:accept", code="PSR"))
        await self.post(
            "personal",
            self.url("registration:personal-save"),
            {**PERSONAL, "email": self.email, "email_confirm": self.email},
        )

    async def finish(self, *, submit: bool = True) -> str:
        for _ in range(5):  # a replayed personal step sends a newer code: the newest one wins
            code = await self.code()
            r = await self._until("verify", "POST", self.url("registration:verify-check"), {"code": code})
            if r.status_code == 303 and not sent_back(r):
                await self.get("verify", r.headers["location"])
                break
            await asyncio.sleep(1.0)
        else:
            raise AssertionError(f"{self.email}: no code was accepted")
        await self.post(
            "contact", self.url("registration:contact-save"), {**CONTACT, "role": "provider-user", **ROLE_FIELDS}
        )
        await self.post("questions", self.url("registration:questions-save"), QUESTIONS)
        return await self.submit() if submit else ""

    async def submit(self) -> str:
        done = await self.post("submit", self.url("registration:submit"))
        assert done.url.path == self.url("registration:done"), done.url
        self.tracking = tracking_number(page(done))
        self.done_at = time.monotonic()
        return self.tracking

    async def register(self) -> str:
        await self.start()
        return await self.finish()

    async def aclose(self) -> None:
        await self.client.aclose()


async def whole_requests(database_url: str) -> dict[str, object]:
    """Every access request with what a whole one has (personal data, contact, two questions
    with one hash over their answers, its draft marked with its tracking number, its acknowledgement email); the partial
    ones and the drafts that say they were submitted without a request."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT r.tracking_number, r.email, r.first_name, r.last_name, r.personal::text AS personal,
                      r.contact::text AS contact, jsonb_array_length(r.questions -> 'keys') AS questions,
                      r.questions ->> 'answers_hash' LIKE '$argon2id$%' AS answers_hashed,
                      (SELECT count(*) FROM registration_draft d WHERE d.tracking_number = r.tracking_number) AS drafts,
                      (SELECT count(*) FROM outbox_message o WHERE o.kind = 'tracking_number' AND o.to_address = r.email) AS acks
               FROM access_request r"""
        )
        orphans = await conn.fetchval(
            """SELECT count(*) FROM registration_draft d WHERE d.tracking_number IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM access_request r WHERE r.tracking_number = d.tracking_number)"""
        )
    finally:
        await conn.close()
    partial = [
        dict(row)
        for row in rows
        if not (
            row["first_name"]
            and row["last_name"]
            and "ssn" in row["personal"]
            and "organization" in row["contact"]
            and row["questions"] == 2
            and row["answers_hashed"]
            and row["drafts"] == 1
            and row["acks"] == 1
        )
    ]
    return {
        "requests": len(rows),
        "emails": Counter(row["email"] for row in rows),
        "partial": partial,
        "orphans": orphans,
    }


# ---- (a) kill -9 one worker under load -----------------------------------------------------------


async def test_a_worker_killed_under_load(tmp_path, app, sink, redis_url):
    async with fault_stack(tmp_path / "stack", "iacs_fault_kill", redis_url=redis_url, smtp_url=sink.url) as stack:
        victim_port, survivor_port = stack.web_ports
        victim, survivor = worker_pid(victim_port), worker_pid(survivor_port)
        # Four applicants at Review, about to press Submit when the worker dies...
        waiting = [Applicant(stack, app, sink) for _ in range(4)]
        for person in waiting:
            await person.start()
            await person.finish(submit=False)
        # ...and twelve arriving one after another, registering meanwhile.
        arriving = [Applicant(stack, app, sink) for _ in range(12)]
        applicants = waiting + arriving
        log_from = len(stack.access_log.read_text().splitlines())
        started = time.monotonic()

        async def one(index: int, person: Applicant) -> str:
            await asyncio.sleep(index * 0.12)
            return await person.register()

        runs = asyncio.gather(*(one(i, p) for i, p in enumerate(arriving)))
        await asyncio.sleep(1.0)
        # The worker stops answering with requests in its hands (SIGSTOP: nginx's requests to
        # it wait, the four Submits among them), then dies with them: kill -9.
        os.kill(victim, signal.SIGSTOP)
        submits = asyncio.gather(*(person.submit() for person in waiting))
        await asyncio.sleep(0.5)
        os.kill(victim, signal.SIGKILL)
        killed_at = time.monotonic()
        trackings = [*await submits, *await runs]
        elapsed = time.monotonic() - started

        import json

        lines = [json.loads(line) for line in stack.access_log.read_text().splitlines()[log_from:] if line.strip()]
        victim_addr, survivor_addr = f"127.0.0.1:{victim_port}", f"127.0.0.1:{survivor_port}"
        passed_on = [line for line in lines if "," in line["upstream_addr"]]
        cut = [line for line in lines if line["status"] >= 500]
        failures = [(p.email, f) for p in applicants for f in p.failures]
        cut_off = {email for email, _ in failures}
        cut_at_submit = [p for p in waiting if any(f.step == "submit" for f in p.failures)]
        integrity = await whole_requests(stack.database_url)
        for person in applicants:
            await person.aclose()
        figures = (
            f"16 applicants (4 pressing Submit as it dies); worker {victim_port} killed"
            f" {killed_at - started:.1f} s in; all registered in {elapsed:.1f} s; {len(lines)} requests through nginx,"
            f" {len(passed_on)} passed on by nginx to the other worker (the killed one had not answered),"
            f" {len(cut)} answered 502 ({dict(Counter(line['method'] + ' ' + line['path'] for line in cut))});"
            f" {len(cut_off)} applicants cut off ({len(cut_at_submit)} at Submit), each pressed again with the"
            f" same cookies (the draft's) and finished on the other worker; {integrity['requests']} access requests for 16 applicants,"
            f" {len(integrity['partial'])} partial, {integrity['orphans']} drafts submitted without a request"
        )
        print("\n(a) " + figures)
        assert len(set(trackings)) == len(applicants), figures
        assert integrity["requests"] == len(applicants) and not integrity["partial"] and not integrity["orphans"], (
            figures,
            integrity,
        )
        assert set(integrity["emails"].values()) == {1}, figures  # a Submit pressed twice files once
        # Only a POST the killed worker had started fails (nginx's 502: it never resends one);
        # a GET it held, or a request it had not yet accepted, went to the other worker.
        assert cut_at_submit, f"no Submit was cut: {figures}"
        assert all(f.what == "502" for _, f in failures), (figures, failures)
        assert all(line["method"] == "POST" and victim_addr in line["upstream_addr"] for line in cut), (figures, cut)
        # The killed worker is started again (the Procfile's loop, systemd's Restart= on hosts).
        deadline = time.monotonic() + 20
        while not stack_mod._answers(f"http://127.0.0.1:{victim_port}/healthz"):
            assert time.monotonic() < deadline, f"worker {victim_port} was not started again: {figures}"
            await asyncio.sleep(0.2)
        assert worker_pid(victim_port) != victim and worker_pid(survivor_port) == survivor, figures
        assert survivor_addr in {line["upstream_addr"] for line in lines}


# ---- (b) PostgreSQL restarted under load ---------------------------------------------------------


class PrivatePostgres:
    """A PostgreSQL cluster of the test's own (initdb into a temporary directory, a free port,
    run as the postgres user when the test runs as root): restarting it touches no one else."""

    def __init__(self) -> None:
        bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
        assert bins, "no PostgreSQL server binaries in /usr/lib/postgresql (Debian's postgresql package)"
        self.bin = bins[-1].parent
        self.dir = Path(tempfile.mkdtemp(prefix="iacs-fault-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")

    @property
    def base(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [str(self.bin / args[0]), *args[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, text=True, check=check, cwd=self.dir)

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.dir / "log"), "-o", options, "-w", "start")

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", check=False)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def private_postgres():
    cluster = PrivatePostgres()
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.remove()


async def test_postgres_restarted_under_load(tmp_path, app, sink, redis_url, private_postgres):
    pg = private_postgres
    async with fault_stack(
        tmp_path / "stack", "iacs_fault_pg", redis_url=redis_url, smtp_url=sink.url, pg_base=pg.base
    ) as stack:
        pids = [worker_pid(port) for port in stack.web_ports]
        # Four applicants at Review who press Submit as PostgreSQL stops, and ten arriving.
        waiting = [Applicant(stack, app, sink) for _ in range(4)]
        for person in waiting:
            await person.start()
            await person.finish(submit=False)
        arriving = [Applicant(stack, app, sink) for _ in range(10)]
        applicants = waiting + arriving
        started = time.monotonic()

        async def one(index: int, person: Applicant) -> str:
            await asyncio.sleep(index * 0.15)
            return await person.register()

        runs = asyncio.gather(*(one(i, p) for i, p in enumerate(arriving)))
        await asyncio.sleep(1.0)
        down_at = time.monotonic()
        submits = asyncio.gather(*(person.submit() for person in waiting))
        await asyncio.to_thread(pg.stop)  # fast shutdown: open transactions are cut and rolled back
        await asyncio.sleep(3.0)  # the gap
        await asyncio.to_thread(pg.start)
        up_at = time.monotonic()
        trackings = [*await submits, *await runs]
        elapsed = time.monotonic() - started

        failures = [f for p in applicants for f in p.failures]
        integrity = await whole_requests(stack.database_url)
        for person in applicants:
            await person.aclose()
        after = [worker_pid(port) for port in stack.web_ports]
        figures = (
            f"14 applicants (4 pressing Submit as it stops); PostgreSQL down {down_at - started:.1f} s in for {up_at - down_at:.1f} s;"
            f" all done in {elapsed:.1f} s; {len(failures)} requests failed in the gap"
            f" ({Counter(f.what for f in failures)}), {sum(f.portal_page for f in failures)} of them with the"
            f" portal's own page; {len({f.step for f in failures})} steps hit ({sorted({f.step for f in failures})});"
            f" workers {pids} before, {after} after; {integrity['requests']} access requests,"
            f" {len(integrity['partial'])} partial, {integrity['orphans']} drafts submitted without a request"
        )
        print("\n(b) " + figures)
        assert failures, f"no request fell in the gap: {figures}"
        assert all(f.what == "503" and f.portal_page for f in failures), (figures, failures)
        assert {(f.title, f.retry_after) for f in failures} == {("The portal is unavailable for a moment", "5")}, (
            figures
        )
        assert after == pids, figures  # reconnected, not restarted
        assert len(set(trackings)) == len(applicants), figures
        assert integrity["requests"] == len(applicants) and not integrity["partial"] and not integrity["orphans"], (
            figures,
            integrity,
        )
        async with httpx.AsyncClient(timeout=5) as probe:  # each worker answers again
            for port in stack.web_ports:
                assert (await probe.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200, figures


# ---- (c) SMTP down for a while -------------------------------------------------------------------

# The stack's mail worker with its backoff compressed from 30 s doubling to an hour into 1 s
# doubling to 2 s.
COMPRESSED_BACKOFF = {"PORTAL_MAIL_RETRY_SECONDS": "1", "PORTAL_MAIL_RETRY_MAX_SECONDS": "2"}


def start_mail_worker(stack: stack_mod.Stack, log_path: Path) -> subprocess.Popen[bytes]:
    with log_path.open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "portal", "mail-worker"],
            cwd=stack_mod.ROOT,
            env={**stack.env(base_env()), **COMPRESSED_BACKOFF},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


async def _outbox(database_url: str, query: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(database_url)
    try:
        return list(await conn.fetch(query))
    finally:
        await conn.close()


async def test_smtp_down_for_a_while(tmp_path, app, sink, redis_url):
    async with fault_stack(
        tmp_path / "stack", "iacs_fault_smtp", redis_url=redis_url, smtp_url=sink.url, without=("mail-worker",)
    ) as stack:
        log_path = tmp_path / "mail-worker.log"
        worker = start_mail_worker(stack, log_path)
        applicants: list[Applicant] = []
        try:
            # Three register while the SMTP server answers.
            before = [Applicant(stack, app, sink) for _ in range(3)]
            applicants += before
            await asyncio.gather(*(p.register() for p in before))
            unsent = "SELECT id FROM outbox_message WHERE sent_at IS NULL"
            deadline = time.monotonic() + 20
            while await _outbox(stack.database_url, unsent):
                assert time.monotonic() < deadline, "the outbox did not drain before the outage"
                await asyncio.sleep(0.2)
            # The SMTP server goes away; six more applicants ask for their codes meanwhile.
            sink.stop()
            down_at = time.monotonic()
            during = [Applicant(stack, app, sink) for _ in range(6)]
            applicants += during
            await asyncio.gather(*(p.start() for p in during))
            await asyncio.sleep(8.0)
            waiting = await _outbox(stack.database_url, "SELECT attempts FROM outbox_message WHERE sent_at IS NULL")
            sink.start()
            up_at = time.monotonic()
            # They read their codes once it is back, and finish.
            await asyncio.gather(*(p.finish() for p in during))
            deadline = time.monotonic() + 30
            while await _outbox(stack.database_url, unsent):
                assert time.monotonic() < deadline, "the outbox did not drain after the outage"
                await asyncio.sleep(0.2)
            drained_at = time.monotonic()
            rows = await _outbox(
                stack.database_url, "SELECT message_id, to_address, kind, attempts FROM outbox_message"
            )
        finally:
            worker.terminate()
            worker.wait(timeout=20)
            for person in applicants:
                await person.aclose()

    received = list(sink.handler.messages)
    by_id = Counter(str(m.message["Message-ID"]) for m in received)
    by_person = Counter((to, m.subject) for m in received for to in m.rcpt_tos)
    retried = [row for row in rows if row["attempts"] > 0]
    failed_lines = log_path.read_text(errors="replace").count("not delivered")
    figures = (
        f"SMTP down {up_at - down_at:.1f} s; {len(waiting)} messages waited in the outbox"
        f" ({sum(r['attempts'] for r in waiting)} failed attempts by then, {failed_lines} in all);"
        f" outbox drained {drained_at - up_at:.1f} s after SMTP was back; {len(rows)} outbox messages,"
        f" {len(received)} received, {len(retried)} of them after retries; lost {len(set(r['message_id'] for r in rows) - set(by_id))},"
        f" duplicated {sum(n - 1 for n in by_id.values())}"
    )
    print("\n(c) " + figures)
    assert waiting and all(r["attempts"] >= 1 for r in waiting), figures
    assert len(received) == len(rows) and set(by_id) == {r["message_id"] for r in rows}, figures
    assert set(by_id.values()) == {1} and set(by_person.values()) == {1}, (figures, by_person)
    for person in applicants:  # one code and one acknowledgement each
        kinds = sorted(r["kind"] for r in rows if r["to_address"] == person.email)
        assert kinds == ["tracking_number", "verification_code"], (person.email, kinds)


# ---- (d) Redis down and back -----------------------------------------------------------------------

LIMIT = 6


async def test_redis_down_and_back(tmp_path, app, sink):
    port = free_port()
    redis = start_redis(port, tmp_path)
    try:
        async with fault_stack(
            tmp_path / "stack",
            "iacs_fault_redis",
            redis_url=f"redis://127.0.0.1:{port}/0",
            smtp_url=sink.url,
            env={"PORTAL_RATE_LIMIT": str(LIMIT)},
        ) as stack:
            client = httpx.AsyncClient(base_url=stack.url, follow_redirects=False, timeout=30)
            login = url(app, "accounts:login-submit")
            await client.get(url(app, "accounts:login"))
            csrf = client.cookies["csrftoken"]

            async def burst(n: int) -> tuple[Counter[str], float]:
                """``n`` sign-in attempts through nginx (one address, round-robin to both workers)."""
                outcomes: Counter[str] = Counter()
                slowest = 0.0
                for i in range(n):
                    begun = time.monotonic()
                    r = await client.post(
                        login, data={"user_id": f"NOBODY{i:04d}", "password": "not the password", "_csrf_token": csrf}
                    )
                    slowest = max(slowest, time.monotonic() - begun)
                    outcomes[
                        "refused (429)" if r.status_code == 429 else "5xx" if r.status_code >= 500 else "let through"
                    ] += 1
                return outcomes, slowest

            def warnings() -> int:
                return stack.honcho_log.read_text(errors="replace").count("Redis unreachable")

            shared, _ = await burst(10)
            redis.kill()
            redis.wait(timeout=10)
            alone, slowest = await burst(20)
            logged_down = warnings()
            more, _ = await burst(4)  # still down: nothing logged again
            redis = start_redis(port, tmp_path)
            back, _ = await burst(10)
            logged_after = warnings()
            await client.aclose()
    finally:
        redis.kill()
        redis.wait(timeout=10)
    figures = (
        f"limit {LIMIT} a minute per address; Redis up: {dict(shared)} of 10; Redis killed: {dict(alone)} of 20"
        f" (each worker counting alone, slowest answer {slowest * 1000:.0f} ms), {logged_down} warnings (one per worker),"
        f" {dict(more)} of 4 more, {logged_after - logged_down} warnings more; Redis back: {dict(back)} of 10"
    )
    print("\n(d) " + figures)
    assert shared == Counter({"let through": LIMIT, "refused (429)": 10 - LIMIT}), figures
    assert alone == Counter({"let through": 2 * LIMIT, "refused (429)": 20 - 2 * LIMIT}), figures
    assert more == Counter({"refused (429)": 4}), figures
    assert logged_down == 2 and logged_after == 2, figures
    assert back == Counter({"let through": LIMIT, "refused (429)": 10 - LIMIT}), figures


# ---- The 503 page itself, without a stack ---------------------------------------------------------


async def test_a_database_that_does_not_answer_gets_the_portals_503_page(database):
    from tests.integration.conftest import client_of

    gone = database.__class__(database_url=f"postgresql://postgres@127.0.0.1:{free_port()}/gone", db_pool_size=0)
    async with client_of(gone) as client:
        response = await client.get(url(client, "registration:terms", code="PSR"))
    assert response.status_code == 503, response.text[:300]
    assert response.headers["retry-after"] == "5"
    assert "The portal is unavailable for a moment" in response.text and "Traceback" not in response.text
