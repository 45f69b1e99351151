"""Values the browser carries for one purpose (a draft, a recovery step, a link, a notice):
signed with itsdangerous under the purpose's own salt, and refused once too old."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer


class Signed:
    def __init__(self, secret: str, salt: str, max_age: int, max_length: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret, salt=salt)
        self.max_age = max_age
        self.max_length = max_length

    def dumps(self, value: Any) -> str:
        return self._serializer.dumps(value)

    def loads(self, token: str | None, kind: type = str) -> Any:
        """The value, when ``token`` is one of ours, of this purpose, not too old and a ``kind``;
        None otherwise (absent, overlong, tampered, expired, or of another purpose)."""
        if not token or len(token) > self.max_length:
            return None
        try:
            value = self._serializer.loads(token, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        return value if isinstance(value, kind) else None


@lru_cache(maxsize=32)
def signed(secret: str, salt: str, max_age: int, max_length: int = 300) -> Signed:
    """The signer for one purpose (made once per secret)."""
    return Signed(secret, salt, max_age, max_length)
