"""Field encryption for SSN and TIN at rest (AES-256-GCM, cryptography library).

``PORTAL_DATA_KEY`` holds one or more base64 keys of 32 bytes separated by commas; the first
encrypts, all decrypt, so keys can rotate. Each ciphertext names the id of its key:
``v1.<key id>.<base64url(nonce || ciphertext)>``. The purpose ("ssn", "tin") is bound as
associated data, so a value cannot be moved from one field to another.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class DataKeyError(ValueError):
    pass


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"iacs-data-key-id" + key).hexdigest()[:8]


class FieldCipher:
    def __init__(self, data_key: str) -> None:
        keys: list[bytes] = []
        for part in data_key.split(","):
            try:
                key = base64.b64decode(part.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise DataKeyError("PORTAL_DATA_KEY must be base64 of 32 bytes") from None
            if len(key) != 32:
                raise DataKeyError("PORTAL_DATA_KEY must be base64 of 32 bytes")
            keys.append(key)
        self._current = _key_id(keys[0])
        self._keys = {_key_id(k): AESGCM(k) for k in keys}

    @property
    def key_id(self) -> str:
        return self._current

    def encrypt(self, plaintext: str, purpose: str) -> str:
        nonce = os.urandom(12)
        sealed = self._keys[self._current].encrypt(nonce, plaintext.encode(), purpose.encode())
        return f"v1.{self._current}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt(self, token: str, purpose: str) -> str:
        try:
            version, key_id, payload = token.split(".", 2)
            raw = base64.urlsafe_b64decode(payload)
            if version != "v1" or key_id not in self._keys:
                raise ValueError
            return self._keys[key_id].decrypt(raw[:12], raw[12:], purpose.encode()).decode()
        except (ValueError, InvalidTag, binascii.Error):
            raise DataKeyError("cannot decrypt this value with the configured keys") from None


def mask(value: str, keep: int = 4) -> str:
    """Show only the last four characters of an identifier: ``•••••1234``."""
    digits = value.replace("-", "")
    return "•" * max(len(digits) - keep, 0) + digits[-keep:]
