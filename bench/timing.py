"""Equal work for real and unknown identifiers on every refusal path (issue 9, ``make bench``).

For each journey a real and an unknown identifier are tried in pairs, the order within each pair
drawn from a seeded RNG, one request at a time from one client; each request's wall-clock time is
taken with ``time.perf_counter`` around the HTTP call. Printed for each: both medians, the median
of the per-pair difference, and P(real slower), the fraction of pairs in which the real try took
longer than the unknown one (ties count half). 0.5 means the time tells nothing; it must lie in
[0.45, 0.55] (with n pairs its standard error is about 0.5/sqrt(n): 0.016 for 1000).

Journeys: Log in with a wrong password (a real User ID, its failures kept under the lockout's 10
by an untimed reset after each round of accounts, against an unknown one), Log in to a locked
account against an unknown User ID, and for Forgot password (User ID and email) and Forgot User
ID (email) the identify POST and the answers POST with wrong answers. Unknown identifiers are
fresh for every try and have the shape of real ones (same length).

``python -m bench.timing`` runs this section alone (its own database and server);
``python -m bench.load`` runs it as part of the whole bench."""

from __future__ import annotations

import asyncio
import math
import os
import random
import secrets
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import httpx

PAIRS = int(os.environ.get("BENCH_TIMING_PAIRS", "1000"))
LOCKED_PAIRS = int(os.environ.get("BENCH_TIMING_LOCKED_PAIRS", str(max(200, PAIRS // 2))))
SEED = int(os.environ.get("BENCH_TIMING_SEED", "9"))
WARM_UP = 20
BAND = (0.45, 0.55)
ACCOUNTS = 100  # real accounts for wrong passwords: one failure each per round, reset after each round
LOCKED_ACCOUNTS = 20


@dataclass(frozen=True)
class Holder:
    user_id: str
    email: str


@dataclass
class Comparison:
    """Paired times, in seconds, of one refusal path for a real and an unknown identifier."""

    label: str
    real_label: str
    unknown_label: str
    real: list[float] = field(default_factory=list)
    unknown: list[float] = field(default_factory=list)

    def add(self, real: float, unknown: float) -> None:
        self.real.append(real)
        self.unknown.append(unknown)

    @property
    def p_real_slower(self) -> float:
        wins = sum(1.0 if r > u else 0.5 if r == u else 0.0 for r, u in zip(self.real, self.unknown, strict=True))
        return wins / len(self.real)

    @property
    def standard_error(self) -> float:
        p = self.p_real_slower
        return math.sqrt(max(p * (1 - p), 1e-12) / len(self.real))

    @property
    def passed(self) -> bool:
        return BAND[0] <= self.p_real_slower <= BAND[1]

    def line(self) -> str:
        real = statistics.median(self.real) * 1000
        unknown = statistics.median(self.unknown) * 1000
        diff = statistics.median(r - u for r, u in zip(self.real, self.unknown, strict=True)) * 1000
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{self.label:<34} {self.real_label} {real:6.1f} ms, {self.unknown_label} {unknown:6.1f} ms,"
            f" median difference {diff:+.2f} ms; P(real slower) {self.p_real_slower:.3f}"
            f" ± {self.standard_error:.3f} (n={len(self.real)})  {verdict}"
        )


class Strangers:
    """Identifiers no account has, each used once, shaped like the real ones."""

    def __init__(self, rng: random.Random, taken: set[str]) -> None:
        self._rng = rng
        self._used = set(taken)

    def _fresh(self, make: Callable[[], str]) -> str:
        while (value := make()) in self._used:
            pass
        self._used.add(value)
        return value

    def user_id(self) -> str:
        from portal.accounts.userids import DIGITS, LETTERS

        rng = self._rng
        return self._fresh(lambda: "".join(rng.choices(LETTERS, k=4)) + "".join(rng.choices(DIGITS, k=3)))

    def email(self) -> str:
        return self._fresh(lambda: _email(self._rng))


def _email(rng: random.Random) -> str:
    return f"timing{rng.randrange(10**6):06d}@example.gov"


async def make_accounts(count: int, *, seed: int = SEED) -> list[Holder]:
    """``count`` accounts with a password and two authentication questions (drawn at random,
    as people choose them), emails ``timingNNNNNN@example.gov``. The Piccolo engine must be
    bound. The hashes are made once and shared: a check costs the same whichever hash it is."""
    from portal.accounts import service
    from portal.accounts.questions import QUESTIONS
    from portal.hashing import answers_secret, hash_secret
    from portal.models import accounts as q
    from portal.models.db import transaction
    from portal.models.rows import AnswerSet

    rng = random.Random(seed)
    password = service.new_initial_password()
    chosen = await hash_secret("a password the holder chose")  # argon2id, as a changed password is
    answers = await hash_secret(answers_secret([("first-school", "Lincoln Elementary"), ("first-car", "Ford")]))
    emails: set[str] = set()
    while len(emails) < count:
        emails.add(_email(rng))
    holders = []
    for email in sorted(emails):
        keys = rng.sample(sorted(QUESTIONS), 2)
        async with transaction():
            account_id, user_id = await service.create_account(
                first_name="Timing",
                last_name="Holder",
                email=email,
                initial=password,
                questions=AnswerSet(keys, answers),
            )
            await q.set_password_hash(account_id, chosen, initial_until=None)
        holders.append(Holder(user_id, email))
    return holders


async def _timed(client: httpx.AsyncClient, path: str, data: dict[str, str]) -> tuple[float, httpx.Response]:
    start = time.perf_counter()
    response = await client.post(path, data=data)
    return time.perf_counter() - start, response


async def _pair(rng: random.Random, real: Callable[[], Awaitable[float]], unknown: Callable[[], Awaitable[float]]):
    """Both tries, in an order drawn from ``rng``: (real time, unknown time)."""
    if rng.random() < 0.5:
        r = await real()
        return r, await unknown()
    u = await unknown()
    return await real(), u


class Journeys:
    def __init__(self, client: httpx.AsyncClient, rng: random.Random, strangers: Strangers) -> None:
        self.client = client
        self.rng = rng
        self.strangers = strangers

    @property
    def token(self) -> str:
        return self.client.cookies["csrftoken"]

    def _wrong_password(self) -> str:
        return "wrong password " + secrets.token_hex(8)

    async def login(self, user_id: str) -> float:
        data = {"user_id": user_id, "password": self._wrong_password(), "_csrf_token": self.token}
        elapsed, r = await _timed(self.client, "/login", data)
        # Refused: 303 back to the login page, the message in the returned-form cookie.
        assert r.status_code == 303 and r.headers["location"] == "/login", (r.status_code, r.headers)
        assert "iacs_form=" in r.headers.get("set-cookie", ""), r.headers
        return elapsed

    async def identify(self, what: str, user_id: str, email: str) -> tuple[float, str]:
        data = {"email": email, "_csrf_token": self.token}
        if what == "password":
            data["user_id"] = user_id
        elapsed, r = await _timed(self.client, f"/recover/{what}", data)
        # 303 to the questions page, the encrypted ticket in its URL (for real and unknown alike).
        tickets = parse_qs(urlsplit(r.headers.get("location", "")).query).get("ticket", [])
        assert r.status_code == 303 and tickets, (r.status_code, r.headers)
        return elapsed, tickets[0]

    async def answers(self, what: str, ticket: str) -> float:
        data = {
            "ticket": ticket,
            "answer_1": "wrong " + secrets.token_hex(6),
            "answer_2": "wrong " + secrets.token_hex(6),
            "answer_3": "wrong " + secrets.token_hex(6),  # read only when three questions are asked
            "_csrf_token": self.token,
        }
        elapsed, r = await _timed(self.client, f"/recover/{what}/answers", data)
        # 303 to "Check your email", for right and wrong answers, real and unknown alike.
        assert r.status_code == 303 and r.headers["location"] == f"/recover/{what}/sent", (r.status_code, r.headers)
        return elapsed

    async def recovery_pair(self, what: str, real: Holder, identify: Comparison, answers: Comparison) -> None:
        """Identify a real and an unknown person (random order), then answer wrongly for each
        (an order drawn afresh)."""
        stranger = Holder(self.strangers.user_id(), self.strangers.email())
        tickets: dict[Holder, str] = {}

        def identify_one(holder: Holder) -> Callable[[], Awaitable[float]]:
            async def run() -> float:
                elapsed, tickets[holder] = await self.identify(what, holder.user_id, holder.email)
                return elapsed

            return run

        identify.add(*await _pair(self.rng, identify_one(real), identify_one(stranger)))
        answers.add(
            *await _pair(
                self.rng, lambda: self.answers(what, tickets[real]), lambda: self.answers(what, tickets[stranger])
            )
        )


async def measure(
    client: httpx.AsyncClient,
    database_url: str,
    holders: list[Holder],
    *,
    pairs: int = PAIRS,
    locked_pairs: int = LOCKED_PAIRS,
    seed: int = SEED,
) -> list[Comparison]:
    """Every comparison, against the portal ``client`` talks to (its rate limit out of the way).
    ``holders`` are accounts from ``make_accounts``: the last ``LOCKED_ACCOUNTS`` of them are
    locked for the locked path, the others take the wrong passwords."""
    import asyncpg

    rng = random.Random(seed)
    strangers = Strangers(rng, {h.user_id for h in holders} | {h.email for h in holders})
    journeys = Journeys(client, rng, strangers)
    wrong_pool, locked_pool = holders[:-LOCKED_ACCOUNTS], holders[-LOCKED_ACCOUNTS:]
    if "csrftoken" not in client.cookies:
        await client.get("/login")
    conn = await asyncpg.connect(database_url)
    try:
        # The lockout's counts live in login_throttle under a keyed hash of the User ID, with
        # the secret the served app was started with (the environment's, as here).
        from portal.accounts.service import throttle_key
        from portal.settings import from_env

        secret = from_env().secret_key
        locked_keys = [throttle_key(h.user_id, secret) for h in locked_pool]

        async def unlock_all() -> None:  # untimed: no account reaches the lockout's 10 failures
            await conn.execute(
                "UPDATE login_throttle SET failures = 0 WHERE failures > 0 AND key <> ALL($1::text[])", locked_keys
            )

        await unlock_all()
        await conn.execute(
            "INSERT INTO login_throttle (key, failures, locked_until, updated_at)"
            " SELECT k, 0, now() + interval '1 day', now() FROM unnest($1::text[]) AS k"
            " ON CONFLICT (key) DO UPDATE SET locked_until = excluded.locked_until, failures = 0",
            locked_keys,
        )

        login = Comparison("Log in, wrong password", "real User ID", "unknown")
        for i in range(WARM_UP + pairs):
            if i % len(wrong_pool) == 0:
                await unlock_all()
            real = wrong_pool[i % len(wrong_pool)].user_id
            times = await _pair(rng, lambda r=real: journeys.login(r), lambda: journeys.login(strangers.user_id()))
            if i >= WARM_UP:
                login.add(*times)
        await unlock_all()

        locked = Comparison("Log in, locked account", "real User ID", "unknown")
        for i in range(WARM_UP + locked_pairs):
            real = locked_pool[i % len(locked_pool)].user_id
            times = await _pair(rng, lambda r=real: journeys.login(r), lambda: journeys.login(strangers.user_id()))
            if i >= WARM_UP:
                locked.add(*times)

        results = [login, locked]
        for what, title, real_label in (
            ("password", "Forgot password", "real ID+email"),
            ("user-id", "Forgot User ID", "real email"),
        ):
            identify = Comparison(f"{title}, identify", real_label, "unknown")
            answers = Comparison(f"{title}, wrong answers", real_label, "unknown")
            scratch = (Comparison("", "", ""), Comparison("", "", ""))
            for i in range(WARM_UP + pairs):
                target = (identify, answers) if i >= WARM_UP else scratch
                await journeys.recovery_pair(what, holders[i % len(holders)], *target)
            results += [identify, answers]
        return results
    finally:
        await conn.close()


def report(results: list[Comparison], seconds: float, *, seed: int = SEED) -> list[str]:
    lines = [
        f"timing of refusals: real and unknown tried in pairs (order random, seed {seed}), one request at a time;"
        f" P(real slower) must lie in [{BAND[0]}, {BAND[1]}]"
    ]
    lines += [r.line() for r in results]
    verdict = "PASS" if all(r.passed for r in results) else "FAIL"
    lines.append(f"timing of refusals: {verdict}, {seconds:.0f} s")
    return lines


async def main() -> None:
    """This section alone: a fresh ``portal_bench`` database, the accounts, the server."""
    from bench.server import BASE_PG, URL, prepare, serve
    from portal.models.db import bind
    from portal.models.engine import make_engine
    from portal.settings import Settings
    from tests.support import fresh_postgres_database

    url = await fresh_postgres_database(BASE_PG, "portal_bench")
    await prepare(url)
    bind(make_engine(Settings(database_url=url)))
    holders = await make_accounts(ACCOUNTS + LOCKED_ACCOUNTS)
    proc = serve(url)
    try:
        async with httpx.AsyncClient(base_url=URL, timeout=30) as client:
            start = time.perf_counter()
            results = await measure(client, url, holders)
            seconds = time.perf_counter() - start
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print("\n".join(report(results, seconds)))


if __name__ == "__main__":
    asyncio.run(main())
