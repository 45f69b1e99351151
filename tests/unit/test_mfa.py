"""The pure parts of two-factor sign-in: TOTP steps and drift, recovery codes, the relying
party, names, amr and the step-up window."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyotp
import pytest

from portal.accounts import mfa
from portal.models.rows import SignedIn

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
AT = datetime(2026, 12, 1, 15, 0, 10, tzinfo=UTC)


def test_a_code_matches_its_step_with_one_step_of_drift_either_way():
    totp = pyotp.TOTP(SECRET)
    step = totp.timecode(AT)
    for offset in (-1, 0, 1):
        code = totp.at(AT + timedelta(seconds=30 * offset))
        assert mfa.matching_step(SECRET, code, AT) == step + offset
        assert mfa.matching_step(SECRET, f"{code[:3]} {code[3:]}", AT) == step + offset  # as apps show it
    for offset in (-3, -2, 2, 3):
        assert mfa.matching_step(SECRET, totp.at(AT + timedelta(seconds=30 * offset)), AT) is None


@pytest.mark.parametrize("typed", ["", "12345", "1234567", "abcdef", "١٢٣٤٥٦", "12345\u202e6", "9" * 10_000])
def test_what_is_not_six_digits_never_matches(typed):
    assert mfa.matching_step(SECRET, typed, AT) is None


def test_the_qr_code_is_inline_svg_of_the_otpauth_uri_and_the_secret_is_grouped():
    uri = mfa.totp_uri(SECRET, "ABCD234")
    assert uri.startswith("otpauth://totp/CMS%20IACS:ABCD234?secret=" + SECRET)
    svg = mfa.qr_svg(uri)
    assert svg.startswith("<svg") and "<script" not in svg and "style=" not in svg  # nothing for the CSP
    assert mfa.grouped(SECRET) == "JBSW Y3DP EHPK 3PXP JBSW Y3DP EHPK 3PXP"
    assert len(mfa.new_totp_secret()) == 32


def test_recovery_codes_are_ten_distinct_and_compare_without_case_spaces_or_dashes():
    codes = mfa.new_recovery_codes()
    assert len(set(codes)) == 10
    assert all(re.fullmatch(r"([a-z2-9]{4}-){3}[a-z2-9]{4}", c) for c in codes)
    assert not any(ch in "".join(codes) for ch in "ilo01")  # none that can be mistaken
    code = codes[0]
    assert mfa.recovery_hash(code) == mfa.recovery_hash(code.upper().replace("-", " "))
    assert mfa.recovery_hash(code) != mfa.recovery_hash(codes[1])
    assert code not in mfa.recovery_hash(code)


def test_the_relying_party_is_the_base_urls_host_and_origin():
    assert mfa.relying_party("http://localhost:8000") == mfa.RelyingParty("localhost", "http://localhost:8000")
    assert mfa.relying_party("https://iacs.cms.gov/") == mfa.RelyingParty("iacs.cms.gov", "https://iacs.cms.gov")


def test_factor_names_default_and_refuse_invisible_characters():
    assert mfa.factor_name("  My   phone ", "Authenticator app") == "My phone"
    assert mfa.factor_name("", "Passkey") == "Passkey"
    assert mfa.factor_name("Eve\u202eenohp", "Passkey") is None
    assert len(mfa.factor_name("x" * 100, "Passkey") or "") == mfa.NAME_MAX
    assert mfa.factor_name("x" * 1000, "Passkey") is None


def _session(mfa_at: datetime | None, amr: str = "pwd") -> SignedIn:
    now = datetime.now(UTC)
    return SignedIn(
        session_id=1,
        created_at=now,
        last_seen_at=now,
        account_id=1,
        user_id="ABCD234",
        first_name="A",
        last_name="B",
        email="a@example.gov",
        password_initial=False,
        password_expires_at=None,
        ends_at=now,
        expires_at=now,
        amr=amr,
        mfa_at=mfa_at,
    )


def test_a_decision_needs_a_second_factor_used_within_12_hours_unless_it_is_off():
    now = datetime.now(UTC)
    assert mfa.step_up_needed(_session(None), "approvers-and-marked")
    assert mfa.step_up_needed(_session(now - timedelta(hours=12, minutes=1)), "all")
    assert not mfa.step_up_needed(_session(now - timedelta(hours=11, minutes=59)), "approvers-and-marked")
    assert not mfa.step_up_needed(_session(None), "off")


def test_amr_lists_each_method_once():
    assert mfa.with_factor("pwd", "otp") == "pwd otp"
    assert mfa.with_factor("pwd otp", "otp") == "pwd otp"
    assert mfa.with_factor("pwd otp", "hwk") == "pwd otp hwk"
    assert _session(None).second_factor is False and _session(datetime.now(UTC)).second_factor
