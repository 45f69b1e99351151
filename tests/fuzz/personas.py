"""The four people the fuzzer sends requests as, each a browser of its own (cookie jar apart):

- ``signed-out``: only the CSRF cookie (and whatever drafts the fuzzing starts);
- ``applicant``: mid-registration, brought through the real journey (terms, step 1, the code read
  from the real SMTP server, verification, contact, questions) to Review Details, or left at
  Email Verification now and then;
- ``holder``: an account holder who has changed their initial password on the real form;
- ``approver``: made as the CLI makes one (``approver add``), initial password changed, an
  authenticator app set up.

Each is probed now and then, and after any request that may have moved it (logged it out,
spent its draft); when it lost its state it is made again, as a new person."""

from __future__ import annotations

import itertools
import re
import string
from collections import Counter
from contextlib import AsyncExitStack
from typing import Any

from litestar.testing import AsyncTestClient

from tests.fuzz.values import Pools
from tests.integration.accounts_support import GOOD_PASSWORD
from tests.integration.registration_flow import unique_email

BASE_URL = "http://testserver.local"
SESSION = "iacs_session"
DRAFT = "iacs_draft"
CSRF = "csrftoken"
OTHER_PASSWORD = "violet canyon eleven harbours"
KINDS = ("signed-out", "applicant", "holder", "approver")
# Routes after which a persona is probed before its next request (when they answered < 400).
MOVING = frozenset(
    {
        "registration:accept",
        "registration:submit",
        "registration:finish",
        "accounts:login-submit",
        "accounts:logout",
        "accounts:change-password-submit",
        "accounts:reset-submit",
        "approvals:approve",
        "approvals:bulk",
    }
)
PROBE_EVERY = 25  # a persona's requests between probes
RENEW_EVERY = 400  # a persona's requests before it is made anew regardless
_n = itertools.count(1)


class SetupError(AssertionError):
    """A persona could not be made: the journey it follows broke (a finding in itself)."""


def _letters(n: int) -> str:
    """1 -> 'Ab', 2 -> 'Ac', ...: a suffix that keeps a name within the name rule."""
    out = ""
    while True:
        n, r = divmod(n, 26)
        out = string.ascii_lowercase[r] + out
        if not n:
            return "A" + out


class Persona:
    def __init__(self, kind: str, client: AsyncTestClient, world: World) -> None:
        self.kind = kind
        self.client = client
        self.world = world
        self.ready = False
        self.dirty = False
        self.uses = 0
        self.made = 0
        self.user_id = ""
        self.email = ""
        self.password = ""
        self.app_code = ""
        self.why = ""
        self.stage = "review"  # where the applicant is left: review, or verify

    # ---- requests made to set up (checked, counted apart from the fuzzing) ---------------------

    async def call(self, method: str, url: str, expect: tuple[int, ...] = (), *, probe: bool = False, **kw: Any):
        """A set-up request; SetupError unless it answers one of ``expect``. A probe's 5xx is
        kept as a finding instead (the fuzzing may have left the persona in a state that breaks
        the page), and the persona is made again."""
        response = await self.client.request(method, url, **kw)
        self.world.setup_requests += 1
        if probe and response.status_code >= 500:
            log = self.world.server_log() if self.world.server_log else ""
            self.world.probe_errors.append((self.kind, f"{method} {url}", response.status_code, log))
            return response
        if response.status_code >= 500 or (expect and response.status_code not in expect):
            log = self.world.server_log() if self.world.server_log else ""
            raise SetupError(
                f"{self.kind}: {method} {url} answered {response.status_code}, expected {expect}:"
                f" {log or response.text[-800:]}"
            )
        return response

    def csrf(self) -> str:
        for cookie in self.client.cookies.jar:
            if cookie.name == CSRF:
                return cookie.value or ""
        return ""

    async def post_form(self, url: str, data: dict[str, str], expect: tuple[int, ...]):
        if not self.csrf():
            await self.call("GET", "/", (200,))
        return await self.call("POST", url, expect, data={**data, "_csrf_token": self.csrf()})

    def jar(self) -> list[tuple[str, str, str]]:
        """(name, value, path) of every cookie this browser holds."""
        return [(c.name, c.value or "", c.path or "/") for c in self.client.cookies.jar]

    def has_cookie(self, name: str) -> bool:
        return any(c.name == name and c.value for c in self.client.cookies.jar)

    # ---- probe, make ----------------------------------------------------------------------------

    async def ensure(self) -> None:
        """Before each fuzzed request: probe when due; make the persona again when it lost its
        state (and every RENEW_EVERY requests regardless)."""
        self.uses += 1
        if not self.ready:
            await self.make()
        elif self.uses % RENEW_EVERY == 0:
            self.world.remade[f"{self.kind}: renewed after {RENEW_EVERY} requests"] += 1
            await self.make()
        elif (self.dirty or self.uses % PROBE_EVERY == 0) and not await self.probe():
            self.world.remade[f"{self.kind}: {self.why}"] += 1
            await self.make()
        self.dirty = False

    def hints(self) -> dict[str, str]:
        """What a coherent valid form of this persona holds (its email, User ID, application)."""
        return {"email": self.email, "user_id": self.user_id, "password": self.password, "app_code": self.app_code}

    async def probe(self) -> bool:
        self.why = ""
        if self.kind == "signed-out":
            if self.has_cookie(SESSION):  # a fuzzed log-in worked: sign out again (client side)
                self.client.cookies.delete(SESSION)
            if not self.csrf():
                await self.call("GET", "/", (200,))
            return True
        if self.kind == "applicant":
            r = await self.call("GET", "/register/review", probe=True)
            location = r.headers.get("location", "")
            self.why = f"GET /register/review answered {r.status_code} {location}"
            # At Review Details; or still at Email Verification when it was left there.
            return r.status_code == 200 or (self.stage == "verify" and location == "/register/verify")
        url = "/my/applications" if self.kind == "holder" else "/approvals"
        r = await self.call("GET", url, probe=True)
        self.why = f"GET {url} answered {r.status_code} {r.headers.get('location', '')}"
        return r.status_code == 200

    async def make(self) -> None:
        self.client.cookies.clear()
        await self.call("GET", "/", (200,))
        if self.kind == "applicant":
            self.stage = "verify" if self.world.rng.random() < 0.15 else "review"
            await self.register(stop_at=self.stage)
        elif self.kind in {"holder", "approver"}:
            await self.make_account()
        self.ready = True
        self.made += 1
        await self.world.harvest()

    async def register(self, *, stop_at: str = "review", submit: bool = False, role: tuple | None = None) -> str:
        """A new registration through the real journey; the tracking number when ``submit``."""
        app_code, role_code, _ = role or self.world.rng.choice(self.world.roles)
        email = unique_email()
        self.email, self.app_code = email, app_code
        self.world.pools.add("email", email)
        await self.call("GET", f"/register/{app_code}/terms", (200,))
        await self.post_form(f"/register/{app_code}/terms", {}, (303,))
        await self.post_form("/register/personal", _personal(email), (303,))
        if stop_at == "verify":
            return ""
        code = await self.world.mailbox.code_for(email)
        await self.post_form("/register/verify", {"code": code}, (303,))
        await self.post_form("/register/contact", _contact(role_code), (303,))
        await self.post_form("/register/questions", dict(_QUESTIONS), (303,))
        await self.call("GET", "/register/review", (200,))
        if not submit:
            return ""
        await self.post_form("/register/submit", {}, (303,))
        r = await self.call("GET", "/register/done", (200,))
        found = re.search(r'<p class="tracking-number">([A-Z0-9-]+)</p>', r.text)
        if not found:
            raise SetupError(f"submit showed no tracking number: {r.text[-800:]}")
        return found.group(1)

    async def make_account(self) -> None:
        n = next(_n)
        if self.kind == "approver":
            from portal.cli import _approver_add

            email = f"fuzz.approver{n}.{self.world.run_id}@example.gov"
            user_id, initial = await _approver_add(self.world.settings, email, "Fuzz Approver", ["*:1", "*:2"])
        else:
            email = f"fuzz.holder{n}.{self.world.run_id}@example.gov"
            user_id, initial = await _holder(email, f"Lopez-{_letters(n)}")
        await self.post_form("/login", {"user_id": user_id, "password": initial}, (303,))
        change = {"current_password": initial, "new_password": GOOD_PASSWORD, "confirm_password": GOOD_PASSWORD}
        await self.post_form("/password/change", change, (303,))
        if self.kind == "approver":  # an approver sets up an authenticator app before anything else
            await self.set_up_app()
        self.user_id, self.email, self.password = user_id, email, GOOD_PASSWORD
        self.world.pools.add("user_id", user_id, user_id.lower())
        self.world.pools.add("email", email)
        self.world.mint_tickets(user_id, email)

    async def set_up_app(self) -> None:
        import pyotp

        r = await self.call("GET", "/my/two-factor/app", (200,))
        secret = re.search(r'<p class="secret" id="secret">([A-Z2-7 ]+)</p>', r.text)
        sealed = re.search(r'name="secret" value="([^"]+)"', r.text)
        if not secret or not sealed:
            raise SetupError(f"the authenticator app page showed no secret: {r.text[-800:]}")
        code = pyotp.TOTP(secret.group(1).replace(" ", "")).now()
        await self.post_form("/my/two-factor/app", {"secret": sealed.group(1), "code": code}, (303,))


_QUESTIONS = {
    "question_1": "first-school",
    "answer_1": "Lincoln  Elementary",
    "question_2": "first-car",
    "answer_2": "Ford Focus",
}


def _personal(email: str) -> dict[str, str]:
    from tests.integration.registration_flow import PERSONAL

    return {**PERSONAL, "email": email, "email_confirm": email}


def _contact(role: str) -> dict[str, str]:
    from tests.integration.registration_flow import CONTACT, ROLE_FIELDS

    return {**CONTACT, "role": role, **ROLE_FIELDS}


async def _holder(email: str, last_name: str) -> tuple[str, str]:
    """An account as provisioning makes one (service.create_account, a grant, the answers of
    the registration hashed), with a name the forms accept; its User ID and initial password."""
    from portal.accounts import service
    from portal.hashing import answers_secret, hash_secret
    from portal.models import accounts as q
    from portal.models.db import transaction
    from portal.models.rows import AnswerSet
    from portal.models.tables import Application, Role

    answers = (("first-school", "Lincoln Elementary"), ("first-car", "Ford Focus"))
    questions = AnswerSet([k for k, _ in answers], await hash_secret(answers_secret(list(answers))))
    initial = service.new_initial_password()
    app = await Application.select(Application.id).where(Application.code == "PSR").first()
    role = await Role.select(Role.id).where((Role.application == app["id"]) & (Role.code == "provider-user")).first()
    async with transaction():
        account_id, user_id = await service.create_account(
            first_name="Maria", last_name=last_name, email=email, initial=initial, questions=questions
        )
        await q.add_grant(account_id, app["id"], role["id"], None)
    return user_id, initial.password


class World:
    """What the personas share: the app's settings, the mailbox, the value pools, the catalog's
    roles, and the mail read so far (emailed links, User IDs and passwords go into the pools)."""

    def __init__(self, app, mailbox, pools: Pools, rng) -> None:
        self.app = app
        self.settings = app.state.settings
        self.mailbox = mailbox
        self.pools = pools
        self.rng = rng
        self.roles: list[tuple[str, str, int]] = []
        self.setup_requests = 0
        self.remade: Counter = Counter()  # why personas were made again
        self.server_log = None  # a callable: what the portal logged since it was last called
        self.probe_errors: list[tuple[str, str, int, str]] = []  # (persona, request, status, log)
        self.seen_mail = 0
        self.run_id = f"{rng.randrange(10**6):06d}"
        self._stack = AsyncExitStack()
        self.personas: dict[str, Persona] = {}

    async def start(self) -> None:
        from portal.models.tables import Application, Role

        rows = await Role.select(Role.application.code, Role.code, Role.approval_levels).where(
            Role.active.eq(True) & Role.application.active.eq(True)
        )
        self.roles = sorted((r["application.code"], r["code"], r["approval_levels"]) for r in rows)
        codes = [a["code"] for a in await Application.select(Application.code)]
        self.pools.add("app_code", *codes, *(c.lower() for c in codes))
        self.pools.add("role", *sorted({r[1] for r in self.roles}))
        self.seen_mail = len(await self.mailbox.deliver())  # mail of earlier runs or tests is not read
        for kind in KINDS:
            client = AsyncTestClient(app=self.app, base_url=BASE_URL, raise_server_exceptions=False)
            client = await self._stack.enter_async_context(client)
            client.follow_redirects = False
            self.personas[kind] = Persona(kind, client, self)

    async def close(self) -> None:
        await self._stack.aclose()

    async def seed_requests(self, count: int) -> None:
        """Submitted registrations (one- and two-level roles), so the approver has a queue."""
        applicant = self.personas["applicant"]
        by_levels = {lv: [r for r in self.roles if r[2] == lv] for lv in (1, 2)}
        for i in range(count):
            pool = by_levels[1 + i % 2] or self.roles
            applicant.client.cookies.clear()
            tracking = await applicant.register(submit=True, role=self.rng.choice(pool))
            self.pools.add("tracking", tracking)
        applicant.ready = False
        await self.refresh()

    async def refresh(self) -> None:
        """Tracking numbers now in the database go into the pools."""
        from portal.models.tables import AccessRequest

        rows = await (
            AccessRequest.select(AccessRequest.tracking_number).order_by(AccessRequest.id, ascending=False).limit(40)
        )
        numbers = [r["tracking_number"] for r in rows]
        self.pools.add("tracking", *numbers, *(t.lower() for t in numbers[:5]))

    async def harvest(self) -> None:
        """Deliver the outbox to the SMTP server and read what came: links, User IDs, passwords."""
        messages = await self.mailbox.deliver()
        for message in messages[self.seen_mail :]:
            text = message.text
            self.pools.add("token", *re.findall(r"[?&]token=([\w.\-]+)", text))
            self.pools.add("user_id", *re.findall(r"User ID is: (\w+)", text))
            self.pools.add("password", *re.findall(r"initial password is: (\S+)", text))
            self.pools.add("code", *re.findall(r"verification code is: (\d{6})", text))
        self.seen_mail = len(messages)

    def mint_tickets(self, user_id: str, email: str) -> None:
        """Recovery tickets and links signed as the portal signs them (the test knows the secret),
        so that the answers step and the link pages get past their signature checks. (Sealed
        tickets cannot be made here: real ones are harvested from the pages that carry them.)"""
        from portal.accounts.recovery import LINK_SALTS, TICKET_SALT
        from portal.signing import signed

        secret = self.settings.secret_key
        recovery = signed(secret, TICKET_SALT, 900)
        for what in ("password", "user-id"):
            for ident in (user_id, email):
                self.pools.add("ticket", recovery.dumps({"i": ident, "w": what}))
        self.pools.add("ticket", recovery.dumps({"i": user_id, "w": "elsewhere"}), recovery.dumps(["x"]))
        self.pools.add("ticket", recovery.dumps({"user_id": user_id, "email": email, "w": "password"}))
        for salt in LINK_SALTS.values():
            link = signed(secret, salt, 1800)
            self.pools.add("token", link.dumps(f"unknown-{self.rng.randrange(10**9)}"), link.dumps({"x": 1}))
