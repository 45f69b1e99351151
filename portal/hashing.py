"""argon2id hashing, always off the event loop."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import unicodedata

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP Password Storage Cheat Sheet minimum for argon2id: 19 MiB, 2 iterations, 1 lane.
HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, hash_len=32, salt_len=16)


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(HASHER.hash, secret)


async def verify_secret(hashed: str, secret: str) -> bool:
    def _verify() -> bool:
        try:
            return HASHER.verify(hashed, secret)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    return await asyncio.to_thread(_verify)


def normalise_answer(answer: str) -> str:
    """Answers compare case- and space-insensitively: NFKC, casefold, single spaces."""
    return " ".join(unicodedata.normalize("NFKC", answer).casefold().split())


def code_digest(secret_key: str, draft_token: str, code: str) -> str:
    """A verification code is six digits and lives 30 minutes behind a five-try limit, so a
    keyed HMAC bound to the draft is enough to keep it out of the database in the clear."""
    return hmac.new(secret_key.encode(), f"{draft_token}:{code}".encode(), hashlib.sha256).hexdigest()
