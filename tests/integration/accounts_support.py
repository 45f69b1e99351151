"""Making accounts for tests through the same functions provisioning uses."""

from __future__ import annotations

import itertools

import msgspec
import pyotp

from portal.accounts import mfa, service
from portal.crypto import FieldCipher
from portal.hashing import answers_secret, hash_secret, normalise_answer
from portal.models import accounts as q
from portal.models import mfa as mfa_q
from portal.models.db import transaction
from portal.models.rows import AnswerSet, FactorKind, QuestionHash, Questions
from portal.models.tables import Application, Role, SecondFactor
from portal.settings import from_env
from tests.support import url

_n = itertools.count(1)
CIPHER = FieldCipher(from_env().data_key)
GOOD_PASSWORD = "tulip harbour seven lanterns"


# The TOTP secret of each account made with one, by User ID: log_in answers the second step.
TOTP_SECRETS: dict[str, str] = {}


async def make_account(
    *,
    grants: tuple[tuple[str, str], ...] = (("PSR", "provider-user"),),
    approver: tuple[tuple[str | None, int], ...] = (),
    initial: bool = True,
    answers: tuple[tuple[str, str], ...] = (("first-school", "Lincoln Elementary"), ("first-car", "Ford Focus")),
    totp: bool | None = None,
    per_answer_hashes: bool = False,
) -> dict:
    """An account with ``grants`` and ``approver`` rights. ``initial``: it still has its initial
    password (its first sign-in changes it, then sets up a second factor if it must). ``totp``
    (by default: an account past its first sign-in that must use a second factor) gives it an
    authenticator app with a known secret and ten recovery codes, as enrolment would.
    ``per_answer_hashes``: its answers as accounts from before 2026-12-03 keep them."""
    n = next(_n)
    questions: Questions = (
        [QuestionHash(k, await hash_secret(normalise_answer(a))) for k, a in answers]
        if per_answer_hashes
        else AnswerSet([k for k, _ in answers], await hash_secret(answers_secret(list(answers))))
    )
    initial_password = service.new_initial_password()
    password = initial_password.password
    async with transaction():
        account_id, user_id = await service.create_account(
            first_name="Maria",
            last_name=f"Lopez{n}",
            email=f"holder{n}.{id(_n) % 9999}@example.gov",
            initial=initial_password,
            questions=questions,
        )
        for app_code, role_code in grants:
            app = await Application.select(Application.id).where(Application.code == app_code).first()
            role = await Role.select(Role.id).where((Role.application == app["id"]) & (Role.code == role_code)).first()
            await q.add_grant(account_id, app["id"], role["id"], None)
        for app_code, level in approver:
            app_id = None
            if app_code:
                app_id = (await Application.select(Application.id).where(Application.code == app_code).first())["id"]
            await q.add_approver_right(account_id, app_id, level)
    if not initial:
        await q.set_password_hash(account_id, await hash_secret(GOOD_PASSWORD), initial_until=None)
        password = GOOD_PASSWORD
    row = await q.account_by_user_id(user_id)
    assert row is not None
    extra: dict = {"password": password, "totp_secret": "", "recovery_codes": []}
    if totp is None:
        totp = not initial and await service.required_for(row, "approvers-and-marked")
    if totp:
        secret = pyotp.random_base32()
        codes = mfa.new_recovery_codes()
        async with transaction():
            await mfa_q.add_factor(row.id, FactorKind.TOTP, "Test phone", secret=CIPHER.encrypt(secret, "totp"))
            await mfa_q.replace_recovery_codes(row.id, [mfa.recovery_hash(c) for c in codes])
        TOTP_SECRETS[user_id] = secret
        extra |= {"totp_secret": secret, "recovery_codes": codes}
    return {**msgspec.structs.asdict(row), **extra}


async def totp_code(user_id: str) -> str:
    """The code its app shows now, usable once more: the factor forgets the steps it accepted
    (a test signs the same account in more than once in 30 seconds)."""
    await SecondFactor.update({SecondFactor.last_step: 0}).where(
        SecondFactor.account.user_id == user_id  # type: ignore[attr-defined]
    )
    return pyotp.TOTP(TOTP_SECRETS[user_id]).now()


async def csrf(client) -> dict[str, str]:
    if "csrftoken" not in client.cookies:
        await client.get(url(client, "accounts:login"))
    return {"_csrf_token": client.cookies["csrftoken"]}


async def log_in(client, user_id: str, password: str, *, second_step: bool = True):
    """Sign in; for an account with an authenticator app made here, the second step too (unless
    ``second_step`` is False: the answer to the password is returned)."""
    r = await client.post(
        url(client, "accounts:login-submit"), data={"user_id": user_id, "password": password, **await csrf(client)}
    )
    if second_step and r.headers.get("location") == url(client, "mfa:second-step") and user_id in TOTP_SECRETS:
        r = await client.post(
            url(client, "mfa:second-step-submit"), data={"code": await totp_code(user_id), **await csrf(client)}
        )
    return r
