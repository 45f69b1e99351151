"""argon2id hashing, always off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
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


async def verify_secret(hashed: str, secret: str) -> bool:
    def _verify() -> bool:
        try:
            return HASHER.verify(hashed, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await _off_loop("verify", _verify)


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
