"""Two-factor sign-in (NIST SP 800-63B rev. 4, AAL2): authenticator apps (TOTP, RFC 6238, with
``pyotp``), passkeys and security keys (WebAuthn, with ``webauthn``), and ten single-use
recovery codes.

Who must use one is ``service.required_for``: with ``PORTAL_MFA_REQUIRED=approvers-and-marked`` (the
default) every approver, every holder of a role the catalog marks ``mfa = true`` and every
account the help desk reset; ``all``: everyone; ``off``: nobody (and no step-up).

Sign-in: a right password for an account with a factor opens a *halfway* sign-in (a row of its
own, ten minutes, named by a cookie); the session exists only once the second step passes. A
code check is counted before it is made (as the password lockout counts), five wrong in a row
lock the second step for 15 minutes, and each wrong one also counts toward the account lockout.
A TOTP code works once: the factor keeps the last time step it accepted."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pyotp
import segno
import webauthn
from webauthn.helpers import bytes_to_base64url
from webauthn.helpers.exceptions import InvalidAuthenticationResponse, InvalidRegistrationResponse
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    CredentialDeviceType,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from portal import timefmt
from portal.accounts import service
from portal.clock import now
from portal.crypto import DataKeyError, FieldCipher
from portal.invisible import has_invisible
from portal.mail import messages
from portal.models import accounts as accounts_q
from portal.models import mfa as q
from portal.models.db import transaction
from portal.models.rows import Account, Challenge, ChallengePurpose, Factor, FactorKind, SignedIn

ISSUER = "CMS IACS"
STEP_UP_WITHIN = timedelta(hours=12)
SECOND_STEP_LIMIT = 5
SECOND_STEP_LOCK = timedelta(minutes=15)
RECOVERY_CODES = 10
NAME_MAX = 40
# Recovery codes: 16 characters from 31 that cannot be mistaken for one another (79 bits), typed
# in four groups of four; stored as SHA-256 (79 random bits need no slow hash).
_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
TOTP_NAME = "Authenticator app"
PASSKEY_NAME = "Passkey"
WRONG_CODE = "The code is not correct. Check your authenticator app and enter the newest code"


@dataclass(frozen=True)
class RelyingParty:
    """The WebAuthn relying party: its ID is the host of ``PORTAL_BASE_URL`` (``localhost`` for
    ``make run``; an IP address is not a valid RP ID) and the origin is the URL's own."""

    id: str
    origin: str
    name: str = "IACS Registration Portal"


def relying_party(base_url: str) -> RelyingParty:
    parts = urlsplit(base_url)
    return RelyingParty(id=parts.hostname or "localhost", origin=f"{parts.scheme}://{parts.netloc}")


def step_up_needed(session: SignedIn, mode: str) -> bool:
    """A decision needs a second factor used within the last 12 hours of the session."""
    if mode == "off":
        return False
    return session.mfa_at is None or now() - session.mfa_at > STEP_UP_WITHIN


def with_factor(amr: str, used: str) -> str:
    """The session's amr once ``used`` (otp, hwk, swk) is added."""
    values = amr.split()
    return " ".join([*values, used] if used not in values else values)


# ---- Authenticator apps (TOTP) ------------------------------------------------------------------


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 32 base32 characters: 160 bits, as RFC 4226 recommends


def totp_uri(secret: str, user_id: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=user_id, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The otpauth URI as a QR code in inline SVG (no image request, nothing for the CSP)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, border=4, dark="#0b0c0c", light="#ffffff")
    return svg


def grouped(secret: str) -> str:
    """The secret to type, in groups of four."""
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def _digits(code: str) -> str:
    return "".join(code.split()).replace("-", "")


def matching_step(secret: str, code: str, at: datetime) -> int | None:
    """The 30-second time step whose code ``code`` is, allowing one step of clock drift either
    way; None when it is none of them."""
    if not is_totp_code(code):
        return None
    code = _digits(code)
    totp = pyotp.TOTP(secret)
    step = totp.timecode(at)
    found = None
    for offset in (-1, 0, 1):  # every one compared, so the time says nothing about which matched
        if hmac.compare_digest(totp.generate_otp(step + offset), code):
            found = step + offset
    return found


def is_totp_code(code: str) -> bool:
    digits = _digits(code)
    return len(digits) == 6 and digits.isascii() and digits.isdigit()


# ---- Recovery codes -----------------------------------------------------------------------------


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(16))
        codes.append("-".join(raw[i : i + 4] for i in range(0, 16, 4)))
    return codes


def recovery_hash(code: str) -> str:
    """Codes compare without case, spaces or dashes."""
    typed = "".join(ch for ch in code.casefold() if ch not in " -")
    return hashlib.sha256(f"iacs-recovery:{typed}".encode()).hexdigest()


async def _issue_codes(account_id: int) -> list[str]:
    codes = new_recovery_codes()
    await q.replace_recovery_codes(account_id, [recovery_hash(c) for c in codes])
    return codes


async def new_codes(session: SignedIn, *, ip: str) -> list[str]:
    """A new set of ten codes, shown once; the old ones stop working."""
    async with transaction():
        codes = await _issue_codes(session.account_id)
        await accounts_q.audit("mfa_recovery_codes_new", actor=session.user_id, subject=session.user_id, ip=ip)
        await messages.recovery_codes_replaced(to=session.email)
    return codes


# ---- Enrolment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Enrolled:
    """A factor was added; ``codes`` are the new recovery codes when it was the account's first."""

    amr: str
    codes: list[str]


def factor_name(typed: str, default: str) -> str | None:
    """A factor's name as typed (trimmed; the default when blank), or None when it cannot be one."""
    name = " ".join(typed.split())[:NAME_MAX] or default
    return None if has_invisible(name) or len(typed) > 200 else name


async def _enrolled(session: SignedIn, what: str, used: str, *, ip: str, kind: FactorKind, name: str) -> list[str]:
    """Inside the enrolment's transaction: the session now has a second factor; codes when first."""
    first = len(await q.factors_of(session.account_id)) == 1
    codes = await _issue_codes(session.account_id) if first else []
    await q.set_enrol_required(session.account_id, False)
    await q.mark_session(session.session_id, amr=with_factor(session.amr, used), at=now())
    await accounts_q.audit("mfa_enrolled", actor=session.user_id, subject=session.user_id, ip=ip, kind=kind, name=name)
    await messages.second_factor_changed(to=session.email, what=f"{what} ({name})", added=True)
    return codes


async def enrol_totp(
    session: SignedIn, sealed_secret: str, code: str, name: str, *, cipher: FieldCipher, ip: str
) -> Enrolled | dict[str, str]:
    """Add an authenticator app once its first code is right; the errors otherwise."""
    secret = open_setup_secret(cipher, sealed_secret)
    if secret is None:
        return {"code": "This set-up has expired. Scan the new QR code and enter the code it shows"}
    chosen = factor_name(name, TOTP_NAME)
    if chosen is None:
        return {"name": "Enter a name of letters, digits and spaces"}
    if not code.strip():
        return {"code": "Enter the 6-digit code from your authenticator app"}
    step = matching_step(secret, code, now())
    if step is None:
        return {"code": WRONG_CODE}
    async with transaction():
        await q.add_factor(
            session.account_id,
            FactorKind.TOTP,
            chosen,
            secret=cipher.encrypt(secret, "totp"),
            device="otp",
            last_step=step,  # the code just typed is used
        )
        codes = await _enrolled(session, "An authenticator app", "otp", ip=ip, kind=FactorKind.TOTP, name=chosen)
    return Enrolled(amr=with_factor(session.amr, "otp"), codes=codes)


def seal_setup_secret(cipher: FieldCipher, secret: str) -> str:
    """The secret being set up, encrypted for the form (nothing is stored until it is confirmed)."""
    return cipher.encrypt(secret, "totp-setup")


def open_setup_secret(cipher: FieldCipher, sealed: str) -> str | None:
    try:
        return cipher.decrypt(sealed, "totp-setup")
    except DataKeyError:
        return None


async def begin_passkey(session: SignedIn, rp: RelyingParty) -> tuple[str, str]:
    """Start adding a passkey: (the ceremony's token for the form, the options as JSON)."""
    factors = await q.factors_of(session.account_id)
    fresh = await service.new_challenge(session.account_id, ChallengePurpose.ENROL)
    options = webauthn.generate_registration_options(
        challenge=webauthn.base64url_to_bytes(fresh.challenge),
        rp_id=rp.id,
        rp_name=rp.name,
        user_id=hashlib.sha256(f"iacs-account:{session.account_id}".encode()).digest(),
        user_name=session.user_id,
        user_display_name=f"{session.first_name} {session.last_name}",
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED,
            user_verification=UserVerificationRequirement.PREFERRED,
        ),
        exclude_credentials=_descriptors(factors),
    )
    return fresh.token, webauthn.options_to_json(options)


async def enrol_passkey(
    session: SignedIn, token: str, credential: str, name: str, *, rp: RelyingParty, ip: str
) -> Enrolled | dict[str, str]:
    chosen = factor_name(name, PASSKEY_NAME)
    if chosen is None:
        return {"name": "Enter a name of letters, digits and spaces"}
    found = await _open_challenge(token, ChallengePurpose.ENROL, session.account_id)
    if found is None:
        return {"passkey": "This set-up has expired. Try again"}
    try:
        verified = webauthn.verify_registration_response(
            credential=credential,
            expected_challenge=webauthn.base64url_to_bytes(found.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
        )
    except (InvalidRegistrationResponse, ValueError, KeyError, TypeError):
        return {"passkey": "Your passkey could not be set up. Try again, or set up an authenticator app"}
    credential_id = bytes_to_base64url(verified.credential_id)
    device = "swk" if verified.credential_device_type == CredentialDeviceType.MULTI_DEVICE else "hwk"
    async with transaction():
        if not await q.spend_challenge(service.token_hash(token), ChallengePurpose.ENROL):
            return {"passkey": "This set-up has expired. Try again"}
        if await q.credential_exists(credential_id):
            return {"passkey": "This passkey is already set up"}
        await q.add_factor(
            session.account_id,
            FactorKind.WEBAUTHN,
            chosen,
            credential_id=credential_id,
            public_key=bytes_to_base64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            device=device,
        )
        codes = await _enrolled(session, "A passkey", device, ip=ip, kind=FactorKind.WEBAUTHN, name=chosen)
    return Enrolled(amr=with_factor(session.amr, device), codes=codes)


async def remove(session: SignedIn, factor_id: int, *, mode: str, ip: str) -> str | None:
    """Remove one of the holder's factors; the reason it may not be, or None when removed. The
    last one stays while the account must use a second factor."""
    if not session.second_factor:  # a session from before the account had a factor
        return "Log out, then log in again with your second factor to remove one"
    factors = await q.factors_of(session.account_id)
    factor = next((f for f in factors if f.id == factor_id), None)
    if factor is None:
        return "This has already been removed"
    if len(factors) == 1:
        account = await accounts_q.account_by_user_id(session.user_id)
        if account and await service.required_for(account, mode):
            return "You must keep at least one way to confirm it is you. Add another before you remove this one"
    async with transaction():
        removed = await q.remove_factor(session.account_id, factor_id)
        if removed is None:
            return "This has already been removed"
        if len(factors) == 1:  # no factor left: the recovery codes go too
            await q.replace_recovery_codes(session.account_id, [])
        await q.end_other_sessions(session.account_id, session.session_id)
        await accounts_q.audit(
            "mfa_removed", actor=session.user_id, subject=session.user_id, ip=ip, kind=removed.kind, name=removed.name
        )
        what = "An authenticator app" if removed.kind is FactorKind.TOTP else "A passkey"
        await messages.second_factor_changed(to=session.email, what=f"{what} ({removed.name})", added=False)
    return None


# ---- The second step ----------------------------------------------------------------------------


async def _open_challenge(token: str, purpose: str, account_id: int | None = None) -> Challenge | None:
    if not token or len(token) > 100:
        return None
    found = await q.challenge(service.token_hash(token), purpose)
    if found is None or (account_id is not None and found.account != account_id):
        return None
    return found


def _descriptors(factors: list[Factor]) -> list[PublicKeyCredentialDescriptor]:
    return [
        PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(f.credential_id))
        for f in factors
        if f.kind is FactorKind.WEBAUTHN and f.credential_id
    ]


@dataclass(frozen=True)
class Halfway:
    """A sign-in whose password was right and whose second step is to come."""

    token: str
    account: Account
    challenge: Challenge
    factors: list[Factor]


async def halfway(token: str | None) -> Halfway | None:
    found = await _open_challenge(token or "", ChallengePurpose.LOGIN)
    if found is None:
        return None
    account = await accounts_q.account_by_id(found.account)
    if account is None:
        return None
    return Halfway(token or "", account, found, await q.factors_of(account.id))


def has_kind(factors: list[Factor], kind: FactorKind) -> bool:
    return any(f.kind is kind for f in factors)


async def step_up_challenge(session: SignedIn) -> service.NewChallenge:
    """A passkey challenge for confirming it is still you (its token goes in the form)."""
    return await service.new_challenge(session.account_id, ChallengePurpose.STEP_UP)


def passkey_options(rp: RelyingParty, challenge: str, factors: list[Factor]) -> str:
    """The options for ``navigator.credentials.get`` answering ``challenge`` (base64url), as
    JSON for the page."""
    options = webauthn.generate_authentication_options(
        rp_id=rp.id,
        challenge=webauthn.base64url_to_bytes(challenge),
        allow_credentials=_descriptors(factors),
        user_verification=UserVerificationRequirement.PREFERRED,
    )
    return webauthn.options_to_json(options)


@dataclass(frozen=True)
class Passed:
    """The second step passed with ``used`` (otp, hwk, swk); ``recovery`` when by a recovery code."""

    used: str
    recovery: bool = False


class Refused(str):
    """Why the second step did not pass (the message to show)."""


async def check(
    account: Account,
    factors: list[Factor],
    *,
    code: str = "",
    credential: str = "",
    challenge: Challenge | None = None,
    rp: RelyingParty | None = None,
    cipher: FieldCipher,
    secret_key: str,
    ip: str,
) -> Passed | Refused:
    """One try at the second step: a TOTP code, a recovery code, or (``credential``) a passkey's
    answer to ``challenge``. Counted before it is checked; five wrong in a row lock it."""
    if not code.strip() and not credential:
        return Refused("Enter the 6-digit code from your authenticator app, or a recovery code")
    at = now()
    key = service.throttle_key(account.user_id, secret_key)
    lock = await accounts_q.lock_state(key)
    if (lock and lock.locked_until and lock.locked_until > at) or not await q.reserve_second_step(
        account.id, limit=SECOND_STEP_LIMIT, at=at
    ):
        fresh = await accounts_q.account_by_id(account.id)
        until = max(
            [t for t in ((fresh.mfa_locked_until if fresh else None), lock.locked_until if lock else None) if t],
            default=at + SECOND_STEP_LOCK,
        )
        await accounts_q.audit("mfa_refused_locked", actor=account.user_id, subject=account.user_id, ip=ip)
        return Refused(f"Too many wrong tries. Try again after {timefmt.clock(until)}")
    passed: Passed | None
    if credential:
        passed = await _check_passkey(factors, credential, challenge, rp)
    elif is_totp_code(code):
        passed = await _check_totp(factors, code, cipher, at)
    else:
        passed = await _check_recovery(account, code, ip=ip)
    if passed is not None:
        await q.settle_second_step(account.id)
        return passed
    locked = await q.lock_second_step_at_limit(account.id, limit=SECOND_STEP_LIMIT, at=at, lock_for=SECOND_STEP_LOCK)
    # A wrong code also counts toward the account's lockout, as a wrong password does.
    if await accounts_q.reserve_login(key, limit=service.LOCK_AFTER, at=at):
        await accounts_q.lock_if_at_limit(key, limit=service.LOCK_AFTER, at=at, lock_for=service.LOCK_FOR)
    kind = "passkey" if credential else ("totp" if is_totp_code(code) else "recovery_code")
    await accounts_q.audit(
        "mfa_locked" if locked else "mfa_failed", actor=account.user_id, subject=account.user_id, ip=ip, kind=kind
    )
    if locked:
        return Refused(f"Too many wrong tries. Try again after {timefmt.clock(at + SECOND_STEP_LOCK)}")
    if credential:
        return Refused("That passkey is not set up for this account. Try another, or enter a code")
    if is_totp_code(code):
        return Refused(WRONG_CODE)
    return Refused("This recovery code is not correct, or it was already used")


async def _check_totp(factors: list[Factor], code: str, cipher: FieldCipher, at: datetime) -> Passed | None:
    for factor in factors:
        if factor.kind is not FactorKind.TOTP:
            continue
        try:
            secret = cipher.decrypt(factor.secret, "totp")
        except DataKeyError:
            continue
        step = matching_step(secret, code, at)
        if step is not None and await q.use_totp_step(factor.id, step):  # a replayed code fails here
            return Passed("otp")
    return None


async def _check_recovery(account: Account, code: str, *, ip: str) -> Passed | None:
    """A recovery code, spent, audited and emailed about in one transaction."""
    if len(code) > 100:
        return None
    async with transaction():
        if not await q.use_recovery_code(account.id, recovery_hash(code)):
            return None
        left = await q.recovery_codes_left(account.id)
        who = account.user_id
        await accounts_q.audit("mfa_recovery_used", actor=who, subject=who, ip=ip, left=left)
        await messages.recovery_code_used(to=account.email, left=left)
    return Passed("otp", recovery=True)


async def _check_passkey(
    factors: list[Factor], credential: str, challenge: Challenge | None, rp: RelyingParty | None
) -> Passed | None:
    if challenge is None or rp is None or len(credential) > 20_000:
        return None
    try:
        answer = json.loads(credential)
        raw_id = answer.get("rawId") or answer.get("id")
    except (ValueError, AttributeError):
        return None
    factor = next((f for f in factors if f.kind is FactorKind.WEBAUTHN and f.credential_id == raw_id), None)
    if factor is None:  # not one of this account's keys (or removed)
        return None
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential,
            expected_challenge=webauthn.base64url_to_bytes(challenge.challenge),
            expected_rp_id=rp.id,
            expected_origin=rp.origin,
            credential_public_key=webauthn.base64url_to_bytes(factor.public_key),
            credential_current_sign_count=factor.sign_count,
        )
    except (InvalidAuthenticationResponse, ValueError, KeyError, TypeError):
        return None
    # The counter must not go back (a cloned key); one that never counts stays at 0.
    if not await q.use_passkey(factor.id, factor.sign_count, verified.new_sign_count):
        return None
    return Passed(factor.device or "hwk")


async def finish_sign_in(step: Halfway, passed: Passed, *, mode: str, ip: str) -> str | None:
    """The second step passed: the halfway sign-in is spent and the session begins. Its token,
    or None when the halfway sign-in was already used by another request."""
    account = step.account
    async with transaction():
        if not await q.spend_challenge(service.token_hash(step.token), ChallengePurpose.LOGIN):
            return None
        token = await service.open_session(account, amr=with_factor("pwd", passed.used), mfa_at=now(), mode=mode)
        await accounts_q.audit("login", actor=account.user_id, subject=account.user_id, ip=ip, amr=passed.used)
    return token


async def stepped_up(session: SignedIn, passed: Passed, *, ip: str) -> None:
    await q.mark_session(session.session_id, amr=with_factor(session.amr, passed.used), at=now())
    await accounts_q.audit("mfa_step_up", actor=session.user_id, subject=session.user_id, ip=ip, amr=passed.used)


async def spend_step_up(token: str) -> bool:
    return await q.spend_challenge(service.token_hash(token), ChallengePurpose.STEP_UP)


async def step_up_passkey_challenge(token: str, session: SignedIn) -> Challenge | None:
    return await _open_challenge(token, ChallengePurpose.STEP_UP, session.account_id)


# ---- Help desk ----------------------------------------------------------------------------------


class ResetError(ValueError):
    """The reset was refused; ``str()`` is the one-line reason for the operator."""


async def reset(user_id: str, reason: str, *, by: str = "help desk") -> int:
    """Remove every factor and recovery code of an account and make it enrol again at its next
    sign-in; its sessions end. Audited with the reason; the holder is emailed. How many factors."""
    user_id = user_id.strip().upper()
    reason = " ".join(reason.split())
    if len(reason) < 5 or has_invisible(reason) or len(reason) > 500:
        raise ResetError("--reason: say why in a few words (5 to 500 characters)")
    account = await accounts_q.account_by_user_id(user_id)
    if account is None:
        raise ResetError(f"--user-id: no account has the User ID {user_id}")
    async with transaction():
        removed = await q.remove_factors_of(account.id)
        await q.set_enrol_required(account.id, True)
        await q.settle_second_step(account.id)
        await accounts_q.delete_sessions_of(account.id)
        await accounts_q.audit("mfa_reset", actor=by, subject=account.user_id, reason=reason, factors=removed)
        await messages.second_factors_reset(to=account.email)
    return removed
