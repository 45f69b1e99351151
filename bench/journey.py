"""What one applicant and one approver do through nginx, as an htmx browser does (the drivers
of ``make loadtest``, bench/loadtest.py).

An applicant opens the terms page, accepts them (a plain form: 303 to the personal-information
page), then every step is one htmx request answered with the next step's fragment (its address
in ``HX-Push-Url``): personal information, the 6-digit code (read from the real SMTP sink the
stack's mail worker delivers to), the role's own fields (fetched when the role is chosen),
contact information, questions, and the submit that answers with the acknowledgement and its
tracking number. An approver, signed in with a second factor before the run, reads the approval
table's fragment and approves (now and then rejects with a reason) one pending request, again
and again. A person pauses between steps.

One aiohttp session (``Pool``) and its keep-alive connections serve everyone: each person keeps
their own cookies in a ``Jar`` and sends them in the ``Cookie`` header. (httpx spent ~10 ms of
this process's CPU a request with hundreds queued; aiohttp a fraction of that.)"""

from __future__ import annotations

import asyncio
import email
import email.policy
import random
import re
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.parser import BytesHeaderParser
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pyotp

from tests.integration.registration_flow import CONTACT, PERSONAL, QUESTIONS, ROLE_FIELDS

# The portal's routes this file uses, by route name (tests/integration/test_loadtest.py checks
# each against the app's own route_reverse).
PATHS = {
    "registration:terms": "/register/{code}/terms",
    "registration:accept": "/register/{code}/terms",
    "registration:personal": "/register/personal",
    "registration:personal-save": "/register/personal",
    "registration:verify": "/register/verify",
    "registration:verify-check": "/register/verify",
    "registration:contact": "/register/contact",
    "registration:contact-fields": "/register/contact/fields",
    "registration:contact-save": "/register/contact",
    "registration:questions": "/register/questions",
    "registration:questions-save": "/register/questions",
    "registration:review": "/register/review",
    "registration:submit": "/register/submit",
    "registration:done": "/register/done",
    "accounts:login": "/login",
    "accounts:login-submit": "/login",
    "mfa:second-step": "/login/confirm",
    "mfa:second-step-submit": "/login/confirm",
    "approvals:table": "/approvals",
    "approvals:approve": "/approvals/{tracking}/approve",
    "approvals:reject-form": "/approvals/{tracking}/reject",
    "approvals:reject": "/approvals/{tracking}/reject",
}

APPLICATION = "PSR"
ONE_LEVEL_ROLE = "provider-user"  # approval_levels = 1 in the shipped catalog
TWO_LEVEL_ROLE = "security-official"  # approval_levels = 2
CODE = re.compile(r"verification code is: (\d{6})")
TRACKING = re.compile(r'class="tracking-number">\s*(IACS-[A-Z0-9-]+)\s*<')
TABLE_ROW = re.compile(r'<tbody id="req-(IACS-[A-Z0-9-]+)"')
APPLICANT_STEPS = (
    "terms",
    "accept",
    "personal",
    "personal-save",
    "verify-check",
    "contact-fields",
    "contact-save",
    "questions-save",
    "submit",
)
APPROVER_STEPS = ("approvals-table", "approve", "reject-form", "reject")
# The route each step requests (the workers' metrics are by route name).
STEP_ROUTES = {
    "terms": "registration:terms",
    "accept": "registration:accept",
    "personal": "registration:personal",
    "personal-save": "registration:personal-save",
    "verify-check": "registration:verify-check",
    "contact-fields": "registration:contact-fields",
    "contact-save": "registration:contact-save",
    "questions-save": "registration:questions-save",
    "submit": "registration:submit",
    "approvals-table": "approvals:table",
    "approve": "approvals:approve",
    "reject-form": "approvals:reject-form",
    "reject": "approvals:reject",
}
CONFLICT = "decisions: already decided by another (a notice)"


def path(name: str, **params: str) -> str:
    return PATHS[name].format(**params)


# ---- The SMTP sink ------------------------------------------------------------------------------


class Sink:
    """An aiosmtpd handler (it runs on the SMTP controller's own thread and event loop) that
    counts every message and hands the text of those sent to a watched address to the load's
    event loop, where ``wait`` awaits them by recipient: nothing polls."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.watched: set[str] = set()
        self.inbox: dict[str, list[str]] = defaultdict(list)
        self.waiters: dict[str, list[asyncio.Future[None]]] = defaultdict(list)
        self.subjects: Counter[str] = Counter()
        self.codes_read: set[str] = set()  # the addresses whose code an applicant read here
        self.lock = threading.Lock()  # received and subjects are written on the SMTP thread

    @property
    def received(self) -> int:
        with self.lock:
            return sum(self.subjects.values())

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        to = [r for r in envelope.rcpt_tos if r in self.watched]
        if to:
            message = email.message_from_bytes(raw, policy=email.policy.default)
            body = message.get_body(preferencelist=("plain",))
            text = body.get_content() if body is not None else ""
            subject = str(message["Subject"] or "")
            for address in to:
                self.loop.call_soon_threadsafe(self._deliver, address, text)
        else:
            subject = str(BytesHeaderParser(policy=email.policy.default).parsebytes(raw)["Subject"] or "")
        with self.lock:
            self.subjects[re.sub(r"IACS-[A-Z0-9-]+|\d+", "#", subject)] += 1
        return "250 Message accepted"

    def _deliver(self, address: str, text: str) -> None:
        if address not in self.watched:
            return
        self.inbox[address].append(text)
        for waiter in self.waiters.pop(address, []):
            if not waiter.done():
                waiter.set_result(None)

    def watch(self, address: str) -> None:
        self.watched.add(address)

    def forget(self, address: str) -> None:
        self.watched.discard(address)
        self.inbox.pop(address, None)
        self.waiters.pop(address, None)

    async def wait(self, address: str, pattern: re.Pattern[str], seconds: float) -> str:
        """The first group of ``pattern`` in a message to ``address``, waiting for it to arrive
        (TimeoutError after ``seconds``)."""
        async with asyncio.timeout(seconds):
            while True:
                for text in self.inbox.get(address, ()):
                    if found := pattern.search(text):
                        self.codes_read.add(address)
                        return found.group(1)
                waiter = self.loop.create_future()
                self.waiters[address].append(waiter)
                await waiter


# ---- Per person: cookies, timings, errors -------------------------------------------------------


class Response:
    """An answer: status, headers, every Set-Cookie line, and the body (decompressed by aiohttp)."""

    __slots__ = ("status_code", "headers", "cookies", "body")

    def __init__(self, status_code: int, headers: Mapping[str, str], cookies: list[str], body: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.cookies = cookies
        self.body = body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


class HTTPError(Exception):
    """The connection failed, timed out or answered something that is not HTTP."""


class Pool:
    """One aiohttp session and its keep-alive connections to one host, shared by everyone; each
    person keeps their own cookies (``Jar``), so the session keeps none and follows no redirect."""

    def __init__(self, base_url: str, size: int, timeout: float = 30.0) -> None:
        self.base_url = base_url
        self.size = size
        self.timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:  # made inside the running loop
            connector = aiohttp.TCPConnector(limit=self.size, keepalive_timeout=10)
            self._session = aiohttp.ClientSession(
                self.base_url, connector=connector, cookie_jar=aiohttp.DummyCookieJar(), timeout=self.timeout
            )
        return self._session

    async def request(self, method: str, target: str, headers: dict[str, str], body: bytes = b"") -> Response:
        if body or method == "POST":
            headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        try:
            async with self.session.request(method, target, headers=headers, data=body, allow_redirects=False) as r:
                return Response(r.status, r.headers, r.headers.getall("Set-Cookie", []), await r.read())
        except TimeoutError as exc:
            raise HTTPError(f"no answer in {self.timeout.total:.0f} s") from exc
        except aiohttp.ClientError as exc:
            raise HTTPError(f"{type(exc).__name__}: {exc}") from None

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


class Jar:
    """One browser's cookies (one host, one path: the portal's), read with the standard library."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    def header(self) -> str:
        return "; ".join(f"{k}={v}" for k, v in self.values.items())

    def take(self, response: Response) -> None:
        for line in response.cookies:
            for name, morsel in SimpleCookie(line).items():
                if morsel.value in ("", '""') or morsel["max-age"] in ("0", 0):
                    self.values.pop(name, None)
                else:
                    self.values[name] = morsel.coded_value

    @property
    def csrf(self) -> str:
        return self.values.get("csrftoken", "")


class StepFailed(Exception):
    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"{step}: {detail}")
        self.step = step
        self.detail = detail


@dataclass
class Recorder:
    """Latencies (seconds) by step, errors by step, and a few examples of each error."""

    times: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)  # other events: decisions, conflicts

    def error(self, step: str, detail: str) -> None:
        self.errors[step] += 1
        if len(self.examples[step]) < 3:
            self.examples[step].append(detail[:300])

    @contextmanager
    def timing(self, step: str) -> Iterator[None]:
        start = time.perf_counter()
        yield
        self.times[step].append(time.perf_counter() - start)


class Person:
    """A browser: its cookies, the shared client, and the recorder its requests report to."""

    def __init__(self, http: Pool, recorder: Recorder) -> None:
        self.http = http
        self.recorder = recorder
        self.jar = Jar()
        self.at = "/"  # the address the browser shows (htmx sends it as HX-Current-URL)

    async def request(
        self,
        step: str,
        method: str,
        url: str,
        *,
        expect: int = 200,
        htmx: str = "",
        data: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
    ) -> Response:
        """One request, timed as ``step``; any other status than ``expect`` fails the step.
        ``htmx``: the request is htmx's, swapping into that target (HX-Request and friends)."""
        headers = {"Cookie": self.jar.header()} if self.jar.values else {}
        body = b""
        if method == "POST":
            body = urlencode({**(data or {}), "_csrf_token": self.jar.csrf}).encode()
            headers["X-CSRFToken"] = self.jar.csrf
        if htmx:
            headers |= {"HX-Request": "true", "HX-Target": htmx.lstrip("#"), "HX-Current-URL": self.at}
        target = f"{url}?{urlencode(params)}" if params else url
        with self.recorder.timing(step):
            response = await self.http.request(method, target, headers, body)
        self.jar.take(response)
        if response.status_code != expect:
            where = response.headers.get("location") or response.headers.get("hx-redirect") or ""
            raise StepFailed(step, f"{method} {url}: {response.status_code} (expected {expect}) {where}")
        if pushed := response.headers.get("hx-push-url"):
            self.at = pushed
        elif not htmx and method == "GET":
            self.at = url
        return response


# ---- The applicant ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Journey:
    """How applicants behave: the pause between steps, the share choosing the role approved at
    two levels, and how long they wait for their code's email."""

    pause: float = 1.5
    two_level_share: float = 0.25
    email_timeout: float = 60.0


@dataclass
class Registered:
    email: str
    tracking_number: str
    role: str
    code_from_sink: bool


async def register(
    person: Person, sink: Sink, journey: Journey, email_address: str, role: str, *, on_step: list[str]
) -> Registered:
    """The whole registration of one applicant; ``on_step[0]`` names the step under way (so an
    applicant cut off by the time limit is counted at the right step)."""

    async def pause() -> None:
        await asyncio.sleep(journey.pause)

    def step(name: str) -> str:
        on_step[0] = name
        return name

    def pushed(response: Response, step_name: str, route: str) -> None:
        if response.headers.get("hx-push-url") != path(route):
            raise StepFailed(step_name, f"refused or out of step (HX-Push-Url {response.headers.get('hx-push-url')!r})")

    terms = path("registration:terms", code=APPLICATION)
    await person.request(step("terms"), "GET", terms)
    await pause()
    accepted = await person.request(step("accept"), "POST", terms, expect=303)
    if accepted.headers.get("location") != path("registration:personal"):
        raise StepFailed("accept", f"303 to {accepted.headers.get('location')!r}")
    await person.request(step("personal"), "GET", path("registration:personal"))
    await pause()
    sink.watch(email_address)
    personal = {**PERSONAL, "email": email_address, "email_confirm": email_address}
    r = await person.request(
        step("personal-save"), "POST", path("registration:personal-save"), htmx="#wizard", data=personal
    )
    pushed(r, "personal-save", "registration:verify")
    # A person reads the email while they pause; the pause is at least ``journey.pause``.
    started = time.perf_counter()
    try:
        code = await sink.wait(email_address, CODE, journey.email_timeout)
    except TimeoutError:
        raise StepFailed(step("code-email"), f"no code in {journey.email_timeout:.0f} s") from None
    waited = time.perf_counter() - started
    person.recorder.times["(code email arrives)"].append(waited)
    await asyncio.sleep(max(0.0, journey.pause - waited))
    r = await person.request(
        step("verify-check"), "POST", path("registration:verify-check"), htmx="#wizard", data={"code": code}
    )
    pushed(r, "verify-check", "registration:contact")
    await pause()
    await person.request(
        step("contact-fields"), "GET", path("registration:contact-fields"), htmx="#role-fields", params={"role": role}
    )
    await pause()
    contact = {**CONTACT, "role": role, **ROLE_FIELDS}
    r = await person.request(
        step("contact-save"), "POST", path("registration:contact-save"), htmx="#wizard", data=contact
    )
    pushed(r, "contact-save", "registration:questions")
    await pause()
    r = await person.request(
        step("questions-save"), "POST", path("registration:questions-save"), htmx="#wizard", data=QUESTIONS
    )
    pushed(r, "questions-save", "registration:review")
    await pause()
    r = await person.request(step("submit"), "POST", path("registration:submit"), htmx="#wizard")
    pushed(r, "submit", "registration:done")
    found = TRACKING.search(r.text)
    if found is None:
        raise StepFailed("submit", "no tracking number on the acknowledgement")
    sink.forget(email_address)
    return Registered(email_address, found.group(1), role, code_from_sink=email_address in sink.codes_read)


# ---- The approver -------------------------------------------------------------------------------


async def sign_in(person: Person, user_id: str, password: str, totp_secret: str) -> None:
    """Log in with the password, then the authenticator app's code (the second factor that
    decisions need within 12 hours)."""
    await person.request("login", "GET", path("accounts:login"))
    r = await person.request(
        "login", "POST", path("accounts:login-submit"), expect=303, data={"user_id": user_id, "password": password}
    )
    if r.headers.get("location") != path("mfa:second-step"):
        raise StepFailed("login", f"303 to {r.headers.get('location')!r}, not the second step")
    code = pyotp.TOTP(totp_secret).now()
    await person.request("login", "POST", path("mfa:second-step-submit"), expect=303, data={"code": code})


async def decide(
    person: Person, stop: asyncio.Event, pause: float, rng: random.Random, reject_share: float = 0.1
) -> None:
    """Until ``stop``: read the table's fragment, approve (or reject with a reason) one of its
    pending requests at random, pause. A request another approver decided first is answered with
    a notice (counted as a conflict, not an error)."""
    table = path("approvals:table")
    rec = person.recorder
    while not stop.is_set():
        r = await person.request("approvals-table", "GET", table, htmx="#queue-table", params={"sort": "due"})
        rows = TABLE_ROW.findall(r.text)
        if rows:
            tracking = rng.choice(rows)
            back = {"back": table}
            if rng.random() < reject_share:
                await person.request(
                    "reject-form", "GET", path("approvals:reject-form", tracking=tracking), htmx=f"#req-{tracking}"
                )
                await asyncio.sleep(pause / 2)
                data = {**back, "reason": "Load test: the organization could not be confirmed."}
                r = await person.request(
                    "reject", "POST", path("approvals:reject", tracking=tracking), htmx=f"#req-{tracking}", data=data
                )
                kind, done = "reject", "rejected"
            else:
                r = await person.request(
                    "approve", "POST", path("approvals:approve", tracking=tracking), htmx=f"#req-{tracking}", data=back
                )
                kind, done = "approve", "approved"
            if 'class="notice warn"' in r.text:
                rec.counts[CONFLICT] += 1
            elif 'class="notice"' in r.text:
                rec.counts[f"decisions: {done}"] += 1
            else:
                raise StepFailed(kind, "no notice in the answered row")
        try:
            await asyncio.wait_for(stop.wait(), pause)
        except TimeoutError:
            pass
