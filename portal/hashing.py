"""argon2id hashing, always off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from portal import metrics

# OWASP Password Storage Cheat Sheet minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
T = TypeVar("T")
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)
# Hashes run one at a time per worker process, on their own thread: the event loop keeps a core
# (a worker per core) and a burst of logins costs 19 MiB, not 19 MiB for each login at once.
_HASHING = ThreadPoolExecutor(max_workers=1, thread_name_prefix="argon2")


class _Queued:
    """A job's place in the hashing queue (portal_hashing_queue_length): left when the thread
    starts it, or when its caller gives up before that (a cancelled request)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = True
        self.since = time.perf_counter()
        metrics.HASHING_QUEUE.inc()

    def leave(self) -> bool:
        with self._lock:
            if not self._waiting:
                return False
            self._waiting = False
        metrics.HASHING_QUEUE.dec()
        return True


async def _off_loop(operation: str, work: Callable[[], T]) -> T:
    queued = _Queued()

    def timed() -> T:
        started = time.perf_counter()
        if queued.leave():
            metrics.HASHING_WAIT.observe(started - queued.since)
        try:
            return work()
        finally:
            metrics.HASHING_TIME.labels(operation=operation).observe(time.perf_counter() - started)

    try:
        return await asyncio.get_running_loop().run_in_executor(_HASHING, timed)
    finally:
        queued.leave()


async def hash_secret(secret: str) -> str:
    return await _off_loop("hash", lambda: HASHER.hash(secret))


# A real argon2id hash of a random secret: what a check is made against when there is nothing
# to check (an unknown User ID, a stand-in question), so that it costs the same as a real one.
DUMMY_HASH = HASHER.hash(secrets.token_urlsafe(16))

# A secret the portal makes itself with at least 112 bits of entropy (an initial password: 114)
# needs no slow hash: NIST SP 800-63B (5.1.2.2, look-up secrets) allows one iteration of an
# approved hash function, salted, since no guessing gets through 2^112. So making one spends no
# argon2id (an approval that creates an account used to). Stored as $sha256$<salt>$<digest>.
RANDOM_SECRET = "$sha256$"


def hash_random_secret(secret: str) -> str:
    """The stored form of a secret of at least 112 random bits the portal made (not a person)."""
    salt = secrets.token_hex(16)
    return f"{RANDOM_SECRET}{salt}${_salted_sha256(salt, secret)}"


def _salted_sha256(salt: str, secret: str) -> str:
    return hashlib.sha256(f"{salt}:{secret}".encode()).hexdigest()


async def verify_secret(hashed: str, secret: str) -> bool:
    """Whether ``secret`` matches ``hashed`` (argon2id, or a random secret's salted SHA-256).
    Always one argon2id check, off the loop: a random secret's is made against DUMMY_HASH, so
    that signing in with an initial password takes as long as with any other, or an unknown ID."""
    random_digest = None
    if hashed.startswith(RANDOM_SECRET):
        salt, _, digest = hashed.removeprefix(RANDOM_SECRET).partition("$")
        random_digest = hmac.compare_digest(digest, _salted_sha256(salt, secret))
        hashed = DUMMY_HASH

    def _verify() -> bool:
        try:
            return HASHER.verify(hashed, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    matched = await _off_loop("verify", _verify)
    return random_digest if random_digest is not None else matched


def normalise_answer(answer: str) -> str:
    """Answers compare case- and space-insensitively: NFKC, casefold, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", answer).casefold().split())


def answers_secret(pairs: list[tuple[str, str]]) -> str:
    """What one argon2id hash covers for a set of authentication questions: each question's key
    with its normalised answer, in the order chosen, as JSON (unambiguous whatever the answers
    hold). One hash per registration instead of one per answer; recovery asks them all."""
    return json.dumps([[key, normalise_answer(answer)] for key, answer in pairs], ensure_ascii=False)


def code_digest(secret_key: str, draft_token: str, code: str) -> str:
    """A verification code is six digits and lives 30 minutes behind a five-try limit, so a
    keyed HMAC bound to the draft is enough to keep it out of the database in the clear."""
    return hmac.new(secret_key.encode(), f"{draft_token}:{code}".encode(), hashlib.sha256).hexdigest()
