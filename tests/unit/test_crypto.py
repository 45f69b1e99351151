"""portal/crypto.py: AES-GCM for SSN and TIN, with key ids so keys can rotate."""

import base64
import os

import pytest

from portal.crypto import DataKeyError, FieldCipher, mask


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_sealed_values_name_their_key_and_never_hold_the_plaintext():
    cipher = FieldCipher(new_key())
    token = cipher.encrypt("123-45-6789", "ssn")
    assert token.startswith(f"v1.{cipher.key_id}.") and "6789" not in token
    assert cipher.encrypt("123-45-6789", "ssn") != token  # a fresh nonce every time
    assert cipher.decrypt(token, "ssn") == "123-45-6789"


def test_rotation_the_first_key_encrypts_and_every_listed_key_decrypts():
    old, new = new_key(), new_key()
    before = FieldCipher(old)
    sealed_before = before.encrypt("12-3456789", "tin")
    rotated = FieldCipher(f"{new},{old}")
    assert rotated.key_id != before.key_id
    assert rotated.decrypt(sealed_before, "tin") == "12-3456789"  # old values still read
    sealed_after = rotated.encrypt("12-3456789", "tin")
    assert sealed_after.split(".")[1] == FieldCipher(new).key_id  # new values use the new key
    with pytest.raises(DataKeyError):
        before.decrypt(sealed_after, "tin")  # the old key alone cannot read them
    with pytest.raises(DataKeyError):
        FieldCipher(new).decrypt(sealed_before, "tin")  # dropping the old key too early fails loudly


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),  # ciphertext changed
        lambda t: t.replace("v1.", "v2.", 1),  # unknown version
        lambda t: "v1.deadbeef." + t.split(".", 2)[2],  # unknown key id
        lambda t: "garbage",
    ],
)
def test_tampered_values_are_refused(tamper):
    cipher = FieldCipher(new_key())
    with pytest.raises(DataKeyError):
        cipher.decrypt(tamper(cipher.encrypt("123-45-6789", "ssn")), "ssn")


def test_a_value_sealed_for_one_field_does_not_open_as_another():
    cipher = FieldCipher(new_key())
    with pytest.raises(DataKeyError):
        cipher.decrypt(cipher.encrypt("123-45-6789", "ssn"), "tin")


def test_mask_keeps_the_last_four():
    assert mask("123-45-6789") == "•••••6789"
    assert mask("12-3456789") == "•••••6789"
