"""Making accounts for tests through the same functions provisioning uses."""

from __future__ import annotations

import itertools

import msgspec

from portal.accounts import service
from portal.hashing import hash_secret, normalise_answer
from portal.models import accounts as q
from portal.models.db import transaction
from portal.models.rows import QuestionHash
from portal.models.tables import Application, Role
from tests.support import url

_n = itertools.count(1)
GOOD_PASSWORD = "tulip harbour seven lanterns"


async def make_account(
    *,
    grants: tuple[tuple[str, str], ...] = (("PSR", "provider-user"),),
    approver: tuple[tuple[str | None, int], ...] = (),
    initial: bool = True,
    answers: tuple[tuple[str, str], ...] = (("first-school", "Lincoln Elementary"), ("first-car", "Ford Focus")),
) -> dict:
    n = next(_n)
    questions = [QuestionHash(k, await hash_secret(normalise_answer(a))) for k, a in answers]
    initial_password = await service.new_initial_password()
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
    return {**msgspec.structs.asdict(row), "password": password}


async def csrf(client) -> dict[str, str]:
    if "csrftoken" not in client.cookies:
        await client.get(url(client, "accounts:login"))
    return {"_csrf_token": client.cookies["csrftoken"]}


async def log_in(client, user_id: str, password: str):
    return await client.post(
        url(client, "accounts:login-submit"), data={"user_id": user_id, "password": password, **await csrf(client)}
    )
