"""``python -m portal`` commands against a real, empty database (portal/cli.py)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from portal.catalog import DEFAULT_CATALOG
from tests.support import free_port, fresh_postgres_database, using_postgres

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "portal", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
async def empty_db(tmp_path) -> str:
    """The URL of an empty database of the kind this run tests."""
    if using_postgres():
        return await fresh_postgres_database(os.environ["PORTAL_DATABASE_URL"], "portal_cli_test")
    return f"sqlite:///{tmp_path / 'cli.db'}"


def start_portal(command: str, port: int, env: dict[str, str], **popen) -> subprocess.Popen:
    """``python -m portal COMMAND --port PORT``, once /healthz answers 200 (60 s at most)."""
    import time
    import urllib.request

    proc = subprocess.Popen([sys.executable, "-m", "portal", command, "--port", str(port)], cwd=ROOT, env=env, **popen)
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as r:
                if r.status == 200:
                    return proc
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise AssertionError(f"`portal {command}` did not start") from None
            time.sleep(0.2)


def test_help_lists_the_commands():
    result = run("--help")
    assert result.returncode == 0
    assert result.stdout.startswith("Usage: python -m portal [OPTIONS] COMMAND [ARGS]...")
    commands = result.stdout.split("Commands:", 1)[1]
    for command in (
        "serve",
        "dev",
        "migrate",
        "mail-worker",
        "remind",
        "purge",
        "approver",
        "mfa",
        "access",
        "oidc",
        "catalog",
    ):
        assert re.search(rf"^  {command}  ", commands, re.M), command
    for group, actions in (
        ("approver", ("add", "reset")),
        ("mfa", ("reset",)),
        ("access", ("revoke",)),
        ("oidc", ("secret", "keys")),
        ("catalog", ("load",)),
    ):
        listed = run(group, "--help")
        assert listed.returncode == 0, listed.stderr
        for action in actions:
            assert re.search(rf"^  {action}  ", listed.stdout, re.M), (group, action)


def test_migrate_applies_to_an_empty_database_and_is_idempotent(empty_db):
    env = {"PORTAL_DATABASE_URL": empty_db}
    first = run("migrate", env=env)
    assert first.returncode == 0, first.stderr
    shipped = len(list((ROOT / "portal" / "models" / "piccolo_migrations").glob("portal_*.py")))
    assert f"Running {shipped} migrations" in first.stdout and shipped >= 8
    second = run("migrate", env=env)
    assert second.returncode == 0, second.stderr
    assert "No migrations need to be run" in second.stdout


async def _catalog_rows(url: str) -> tuple[list[tuple], list[tuple]]:
    from portal.models.db import bind, current_engine
    from portal.models.engine import make_engine
    from portal.models.tables import Application, Role
    from portal.settings import Settings

    good = current_engine()
    bind(make_engine(Settings(database_url=url)))
    try:
        apps = await Application.select(Application.id, Application.code, Application.active).order_by(Application.id)
        roles = await Role.select(Role.id, Role.code, Role.active, Role.review_days).order_by(Role.id)
    finally:
        bind(good)
    return [tuple(r.values()) for r in apps], [tuple(r.values()) for r in roles]


async def test_catalog_load_is_idempotent(empty_db):
    env = {"PORTAL_DATABASE_URL": empty_db}
    assert run("migrate", env=env).returncode == 0
    first = run("catalog", "load", env=env)
    assert first.returncode == 0, first.stderr
    assert "9 applications, 21 roles" in first.stdout
    before = await _catalog_rows(empty_db)
    second = run("catalog", "load", env=env)
    assert second.returncode == 0
    assert await _catalog_rows(empty_db) == before
    assert len(before[0]) == 9 and len(before[1]) == 21


async def test_malformed_catalog_is_refused_and_changes_nothing(empty_db, tmp_path):
    env = {"PORTAL_DATABASE_URL": empty_db}
    assert run("migrate", env=env).returncode == 0
    assert run("catalog", "load", env=env).returncode == 0
    before = await _catalog_rows(empty_db)

    text = DEFAULT_CATALOG.read_text()
    # Change a good review target into one outside 12-60 days, in the third application's first role.
    bad = tmp_path / "bad.toml"
    marker = 'code = "provider-user"'
    head, tail = text.split(marker, 1)
    bad.write_text(head + marker + tail.replace("review_days = 14", "review_days = 90", 1))
    result = run("catalog", "load", str(bad), env=env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "Catalog not loaded: application PSR, role provider-user, field review_days: Expected `int` <= 60"
    )
    assert await _catalog_rows(empty_db) == before


async def test_reload_retires_what_is_no_longer_listed_without_deleting(empty_db, tmp_path):
    env = {"PORTAL_DATABASE_URL": empty_db}
    assert run("migrate", env=env).returncode == 0
    assert run("catalog", "load", env=env).returncode == 0
    apps_before, roles_before = await _catalog_rows(empty_db)

    text = DEFAULT_CATALOG.read_text()
    start = text.index('  [[applications.roles]]\n  code = "cms-analyst"')
    end = text.index("[[applications]]", start)
    smaller = tmp_path / "smaller.toml"
    smaller.write_text(text[:start] + text[end:])
    result = run("catalog", "load", str(smaller), env=env)
    assert result.returncode == 0, result.stderr
    assert "retired 0 applications and 1 roles" in result.stdout
    apps_after, roles_after = await _catalog_rows(empty_db)
    assert apps_after == apps_before
    assert [r[:2] for r in roles_after] == [r[:2] for r in roles_before]  # same ids, nothing deleted
    retired = [r for r in roles_after if not r[2]]
    assert [r[1] for r in retired] == ["cms-analyst"]


def test_production_refuses_to_start_with_default_secret(empty_db):
    result = run("migrate", env={"PORTAL_ENV": "production", "PORTAL_DATABASE_URL": empty_db, "PORTAL_SECRET_KEY": ""})
    assert result.returncode == 2
    assert result.stderr.strip() == "error: PORTAL_SECRET_KEY must be set to a secret value in production"


def test_dev_is_what_make_run_starts(tmp_path):
    """`python -m portal dev`: migrates, loads the catalog, makes the demo approvers, catches
    mail on its own SMTP port and serves; a code sent by the portal shows on its console."""
    import time

    http, smtp = free_port(), free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{smtp}",
    }
    proc = start_portal("dev", http, env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        # A registration sends a code: the catcher prints it and the mailbox page lists it.
        from tests.integration.registration_flow import PERSONAL

        email = "dev.user@example.gov"
        with httpx.Client(base_url=f"http://127.0.0.1:{http}", follow_redirects=True, timeout=10) as web:
            web.get("/register/PSR/terms")
            token = web.cookies["csrftoken"]
            assert web.post("/register/PSR/terms", data={"_csrf_token": token}).status_code == 200
            data = {**PERSONAL, "email": email, "email_confirm": email, "_csrf_token": token}
            assert "Step 2 of 6" in web.post("/register/personal", data=data).text
            for _ in range(100):
                mailbox = web.get("/dev/mailbox").text
                if email in mailbox:
                    break
                time.sleep(0.1)
        code = re.search(r"verification code is: (\d{6})", mailbox)
        assert code, mailbox
    finally:
        proc.terminate()
        output = proc.communicate(timeout=20)[0]
    assert "Catalog 2026.11 loaded: 9 applications, 21 roles" in output
    assert re.search(r"Demo approver for \*:1: User ID: [A-Z]{4}[2-9]{3}  Initial password: \S{15,}", output)
    assert re.search(r"Demo approver for \*:2: User ID: [A-Z]{4}[2-9]{3}", output)
    assert f"Mail catcher listening on 127.0.0.1:{smtp}" in output
    assert f"Mail to {email}" in output and f"verification code is: {code[1]}" in output


@pytest.mark.parametrize("trusted", ["", "127.0.0.1"])
def test_serve_believes_forwarded_for_only_from_trusted_proxies(database, trusted):
    """uvicorn's own proxy handling (which trusts 127.0.0.1 by default) is off: from the
    loopback a spoofed X-Forwarded-For escapes the rate limit only when the operator listed
    the loopback in PORTAL_TRUSTED_PROXIES."""
    port = free_port()
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": database.database_url,
        "PORTAL_RATE_LIMIT": "2",
        "PORTAL_TRUSTED_PROXIES": trusted,
        "FORWARDED_ALLOW_IPS": "*",  # uvicorn's setting: must not matter
    }
    proc = start_portal("serve", port, env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as web:
            web.get("/login")
            data = {"user_id": "ZZZZ995", "password": "whatever whatever", "_csrf_token": web.cookies["csrftoken"]}
            statuses = [
                web.post("/login", data=data, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(4)
            ]
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    assert statuses == ([303] * 4 if trusted else [303, 303, 429, 429])  # 303: a refused login, sent back


async def test_approver_add_and_reset_print_credentials_only_on_the_console(empty_db):
    env = {"PORTAL_DATABASE_URL": empty_db}
    assert run("migrate", env=env).returncode == 0
    assert run("catalog", "load", env=env).returncode == 0
    added = run(
        "approver",
        "add",
        "--email",
        "Ann.Lee@Example.gov",
        "--name",
        "Ann Lee",
        "--grant",
        "PSR:1",
        "--grant",
        "*:2",
        env=env,
    )
    assert added.returncode == 0, added.stderr
    user_id = re.search(r"^User ID: ([A-Z]{4}[2-9]{3})$", added.stdout, re.M).group(1)
    first = re.search(r"^Initial password: (\S+)$", added.stdout, re.M).group(1)
    reset = run("approver", "reset", "--user-id", user_id.lower(), env=env)
    assert reset.returncode == 0, reset.stderr
    second = re.search(r"^Initial password: (\S+)$", reset.stdout, re.M).group(1)
    assert second != first and len(second) >= 15
    bad = run("approver", "add", "--email", "x@example.gov", "--name", "X Y", "--grant", "NOPE:1", env=env)
    assert bad.returncode == 2 and "no application 'NOPE'" in bad.stderr
    spoofed = run(
        "approver", "add", "--email", "x@example.gov", "--name", "Eve \u202eNosliw", "--grant", "*:1", env=env
    )
    assert spoofed.returncode == 2 and "no invisible or control characters" in spoofed.stderr
    assert run("approver", "reset", "--user-id", "ZZZZ999", env=env).returncode == 2
    # The help desk's reset of the second factors: a typed reason, refused without a real one.
    mfa_reset = run("mfa", "reset", "--user-id", user_id, "--reason", "Lost phone; identity checked by call", env=env)
    assert mfa_reset.returncode == 0, mfa_reset.stderr
    assert f"Removed 0 second factors and the recovery codes of {user_id}." in mfa_reset.stdout
    assert "--reason" in run("mfa", "reset", "--user-id", user_id, "--reason", "x", env=env).stderr
    assert "no account" in run("mfa", "reset", "--user-id", "ZZZZ999", "--reason", "Lost phone", env=env).stderr


async def test_access_revoke_takes_one_role_away_with_a_reason_in_the_audit_log(database, settings):
    from portal.models import accounts as aq
    from tests.integration.accounts_support import make_account

    account = await make_account(initial=False, grants=(("HPMS", "plan-user"), ("PSR", "provider-user")))
    env = {"PORTAL_DATABASE_URL": settings.database_url}
    args = ("access", "revoke", "--user-id", account["user_id"].lower(), "--application", "hpms", "--role", "plan-user")
    revoked = run(*args, "--reason", "Left the plan's staff", env=env)
    assert revoked.returncode == 0, revoked.stderr
    assert revoked.stdout.strip() == f"Revoked plan-user in HPMS from {account['user_id']}."
    assert [g.application_code for g in await aq.grants_of(account["id"])] == ["PSR"]
    events = await aq.audit_events(subject=account["user_id"], action="grant_revoked")
    assert len(events) == 1 and events[0].detail["reason"] == "Left the plan's staff"
    again = run(*args, "--reason", "twice", env=env)
    assert again.returncode == 2 and "does not hold plan-user in HPMS" in again.stderr


async def test_purge_deletes_idle_drafts_and_keeps_fresh_ones(database, client, smtp):
    from datetime import timedelta

    from portal.models.registration import now
    from portal.models.tables import RegistrationDraft
    from tests.integration.registration_flow import Applicant

    tokens = []
    for _ in range(2):
        client.cookies.clear()
        await Applicant(client, smtp).accept_terms()
        tokens.append(
            (
                await RegistrationDraft.select(RegistrationDraft.token)
                .order_by(RegistrationDraft.id, ascending=False)
                .first()
            )["token"]
        )
    stale, fresh = tokens
    await RegistrationDraft.update({RegistrationDraft.updated_at: now() - timedelta(hours=25)}).where(
        RegistrationDraft.token == stale
    )
    from portal.models.tables import LoginThrottle

    old_count, locked, recent = (LoginThrottle(key=f"purge-test-{i}", failures=3) for i in range(3))
    old_count.updated_at = locked.updated_at = now() - timedelta(days=2)
    locked.locked_until = now() + timedelta(minutes=10)
    await LoginThrottle.insert(old_count, locked, recent)
    result = run("purge", env={"PORTAL_DATABASE_URL": database.database_url})
    assert result.returncode == 0, result.stderr
    assert re.match(r"Deleted [1-9]\d* registration drafts? idle for more than 24 hours,\n", result.stdout)
    assert re.search(r"and [1-9]\d* sign-in counts? untouched for a day\.", result.stdout)
    assert not await RegistrationDraft.exists().where(RegistrationDraft.token == stale)
    assert await RegistrationDraft.exists().where(RegistrationDraft.token == fresh)
    kept = {
        r["key"] for r in await LoginThrottle.select(LoginThrottle.key).where(LoginThrottle.key.like("purge-test-%"))
    }
    assert kept == {"purge-test-1", "purge-test-2"}  # a lock in force, and a recent count, stay


async def test_remind_command_emails_overdue_requests_once_a_day(database):
    from portal.models.tables import OutboxMessage
    from tests.integration.accounts_support import make_account
    from tests.integration.test_approvals import quick_request

    approver = await make_account(initial=False, grants=(), approver=(("EQRS", 1),))
    await quick_request("EQRS", "facility-viewer", days_ago=90)  # long past its review days
    env = {"PORTAL_DATABASE_URL": database.database_url}
    first = run("remind", env=env)
    assert first.returncode == 0, first.stderr
    assert re.match(r"Queued overdue reminders for [1-9]\d* approvers?", first.stdout)
    again = run("remind", env=env)
    assert again.returncode == 0, again.stderr
    sent = await OutboxMessage.select(OutboxMessage.body).where(
        (OutboxMessage.to_address == approver["email"]) & (OutboxMessage.kind == "overdue_reminder")
    )
    assert len(sent) == 1 and "overdue" in sent[0]["body"].lower()
