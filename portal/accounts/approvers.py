"""Approvers made by the operator: creating one, reissuing an initial password, and the two
demo approvers of ``python -m portal dev``.

Plain async functions on the bound database (the caller binds the engine); no console, no
argument parsing. A refused input raises ``ApproverError``, whose message is meant for the
operator who typed it (it names the ``approver add`` option at fault)."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from portal.accounts import service
from portal.invisible import has_invisible
from portal.models import accounts as q
from portal.models.db import transaction
from portal.models.tables import ApproverRight
from portal.text import MAX_NAME, normalise_email

# Every application is written "*" in a grant; it is stored as no application at all.
EVERY_APPLICATION = "*"

# ``dev``'s approvers: (name, email, grant).
DEMO_APPROVERS: tuple[tuple[str, str, str], ...] = (
    ("Demo Approver-One", "approver1@example.gov", "*:1"),
    ("Demo Approver-Two", "approver2@example.gov", "*:2"),
)


class ApproverError(ValueError):
    """The input was refused and nothing was written; ``str()`` is the one-line reason."""


class NewApprover(msgspec.Struct, frozen=True, kw_only=True):
    """The credentials of a new approver: shown once, to the operator, never stored in clear."""

    user_id: str
    password: str


class ReissuedPassword(msgspec.Struct, frozen=True, kw_only=True):
    """A new one-time initial password for an existing account."""

    user_id: str
    password: str


class DemoApprover(msgspec.Struct, frozen=True, kw_only=True):
    """One of ``dev``'s demo approvers: the grant it holds and its credentials."""

    grant: str
    user_id: str
    password: str


def _split_name(name: str) -> tuple[str, str]:
    """(first, last) of "First Last…": the first word, then the rest."""
    first, _, rest = name.strip().partition(" ")
    last = rest.strip()
    if not first or not last:
        raise ApproverError('--name needs a first and a last name, like --name "Maria Lopez"')
    if has_invisible(name) or len(first) > MAX_NAME or len(last) > MAX_NAME:
        raise ApproverError(f"--name: at most {MAX_NAME} characters a name, and no invisible or control characters")
    return first, last


async def _rights(grants: Sequence[str]) -> list[tuple[int | None, int]]:
    """(application id or None for every application, level) for each "CODE:LEVEL" grant."""
    codes = await q.application_ids_by_code()
    rights: list[tuple[int | None, int]] = []
    for grant in grants:
        code, _, level = grant.partition(":")
        if level not in {"1", "2"}:
            raise ApproverError(f"--grant {grant!r}: the level must be 1 or 2, like HPMS:1")
        if code != EVERY_APPLICATION and code not in codes:
            raise ApproverError(f"--grant {grant!r}: no application {code!r} in the catalog")
        rights.append((None if code == EVERY_APPLICATION else codes[code], int(level)))
    return rights


async def add_approver(*, email: str, name: str, grants: Sequence[str], actor: str = "cli") -> NewApprover:
    """An account for ``name`` at ``email`` that decides each grant ("CODE:LEVEL", CODE an
    application code or "*" for every application, LEVEL 1 or 2), with a one-time initial
    password valid 72 hours. Checks everything before writing; audited as ``approver_created``.
    Raises ``ApproverError`` on a malformed address, name or grant."""
    address = normalise_email(email)
    if address is None:
        raise ApproverError(f"not an email address: {email!r}")
    first, last = _split_name(name)
    rights = await _rights(grants)
    initial = service.new_initial_password()
    async with transaction():
        account_id, user_id = await service.create_account(
            first_name=first, last_name=last, email=address, initial=initial
        )
        for application_id, level in rights:
            await q.add_approver_right(account_id, application_id, level)
        await q.audit("approver_created", actor=actor, subject=user_id, grants=list(grants))
    return NewApprover(user_id=user_id, password=initial.password)


async def reset_initial_password(user_id: str, *, secret_key: str, actor: str = "cli") -> ReissuedPassword:
    """A new one-time initial password for the account ``user_id`` (any case, spaces around
    ignored), valid 72 hours; its sessions and recovery links end (approvers made here have
    no authentication questions, so Forgot password cannot help them). Audited as
    ``initial_password_reissued``. Raises ``ApproverError`` when no account has that User ID."""
    account = await q.account_by_user_id(user_id.strip().upper())
    if account is None:
        raise ApproverError(f"no account with User ID {user_id!r}")
    initial = service.new_initial_password()
    async with transaction():
        await service.set_password(account, initial.hashed, secret_key=secret_key, initial=True)
        await q.audit("initial_password_reissued", actor=actor, subject=account.user_id)
    return ReissuedPassword(user_id=account.user_id, password=initial.password)


async def make_demo_approvers() -> list[DemoApprover]:
    """For ``make run``: two approvers, levels 1 and 2 of every application, made only while
    no approver right exists at all (so once per database). The list of those made now."""
    if await ApproverRight.count():
        return []
    made: list[DemoApprover] = []
    for name, email, grant in DEMO_APPROVERS:
        new = await add_approver(email=email, name=name, grants=[grant])
        made.append(DemoApprover(grant=grant, user_id=new.user_id, password=new.password))
    return made
