"""``python -m portal``: the operator's commands, on click.

Each command parses its options, calls the journey functions (``portal.accounts.approvers``,
``portal.models.catalog``, ...) and prints; it holds no logic of its own. A refusal prints one
line on stderr and exits with status 2, as do click's own usage errors."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Sequence
from types import FrameType
from typing import IO, TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit

import click

from portal.settings import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from portal.demo_rp import DemoRP

PROG = "python -m portal"


class CommandFailed(click.ClickException):
    """A refused command: its message alone on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(self.format_message(), file=file, err=True)


class PortalGroup(click.Group):
    """Lists its commands in the order they are defined; unsafe or malformed settings (found
    by whichever command reads them first) end the command with ``error: …``."""

    group_class = type  # subgroups (approver, catalog) are PortalGroups too

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SettingsError as exc:
            raise CommandFailed(f"error: {exc}") from exc


def _settings() -> Settings:
    return get_settings()


def _bind(settings: Settings) -> None:
    from portal.models.db import bind
    from portal.models.engine import make_engine

    bind(make_engine(settings))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


# ---- What the commands run (also used by tests/support.py and tests/fuzz/personas.py) --------


async def _migrate(settings: Settings) -> None:
    # Piccolo's migration runner finds its configuration (the migrations' app) through this.
    os.environ.setdefault("PICCOLO_CONF", "portal.piccolo_conf")
    from piccolo.apps.migrations.commands.forwards import run_forwards

    import portal.piccolo_conf  # noqa: F401 (loaded before binding, so that bind gives it the engine)
    from portal.models.db import current_engine

    _bind(settings)
    engine = current_engine()
    if settings.is_sqlite:
        # WAL lets readers go on while one writer writes; the setting lives in the file.
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    result = await run_forwards(app_name="portal")
    if not result.success:
        raise SystemExit(f"migration failed: {result.message}")


async def _catalog_load(settings: Settings, path: str | None) -> str:
    from portal import catalog
    from portal.models import catalog as catalog_queries

    # Refuses before any write; in production every client address must be https.
    parsed = catalog.read(path or settings.catalog_file or None, production=settings.production)
    _bind(settings)
    report = await catalog_queries.load(parsed)
    return (
        f"Catalog {parsed.version} loaded: {report.applications} applications, {report.roles} roles,"
        f" {report.fields} fields; retired {report.retired_applications} applications and"
        f" {report.retired_roles} roles no longer listed."
    )


async def _purge(settings: Settings) -> tuple[int, int, int]:
    from datetime import timedelta

    from portal.clock import now
    from portal.mail.outbox import purge_sent
    from portal.models.accounts import purge_login_throttle
    from portal.models.mfa import purge_challenges
    from portal.models.oidc import purge_codes_and_tokens
    from portal.models.registration import purge_idle_drafts

    _bind(settings)
    throttles = await purge_login_throttle(now() - timedelta(days=1))
    await purge_challenges(now())  # halfway sign-ins and passkey ceremonies past their ten minutes
    await purge_codes_and_tokens(now())  # single sign-on's ended codes and tokens
    return await purge_idle_drafts(), await purge_sent(timedelta(days=7)), throttles


async def _remind(settings: Settings) -> int:
    from portal.app import create_app
    from portal.approvals.service import remind
    from portal.clock import now
    from portal.web import links_for

    links = links_for(create_app(settings), settings.base_url)  # the addresses, from the routes
    return await remind(now(), links)


async def _approver_add(settings: Settings, email: str, name: str, grants: Sequence[str]) -> tuple[str, str]:
    """(User ID, initial password) of a new approver. Kept for tests/fuzz/personas.py; new code
    calls ``portal.accounts.approvers.add_approver`` on a bound engine."""
    from portal.accounts.approvers import add_approver

    _bind(settings)
    made = await add_approver(email=email, name=name, grants=grants)
    return made.user_id, made.password


async def _approver_reset(settings: Settings, user_id: str) -> str:
    from portal.accounts.approvers import reset_initial_password

    _bind(settings)
    return (await reset_initial_password(user_id, secret_key=settings.secret_key)).password


async def _mfa_reset(settings: Settings, user_id: str, reason: str) -> int:
    from portal.accounts.mfa import reset

    _bind(settings)
    return await reset(user_id, reason)


async def _access_revoke(settings: Settings, user_id: str, application: str, role: str, reason: str) -> bool:
    from portal.accounts.service import revoke_grant

    _bind(settings)
    return await revoke_grant(user_id, application, role, reason=reason)


async def _oidc_secret(settings: Settings, client_id: str) -> str:
    from portal.accounts.sso_keys import new_client_secret

    _bind(settings)
    return await new_client_secret(client_id)


async def _oidc_rotate(settings: Settings) -> tuple[str, str]:
    from portal.accounts.sso_keys import rotate
    from portal.crypto import FieldCipher

    _bind(settings)
    return await rotate(FieldCipher(settings.data_key))


async def _demo_approvers(settings: Settings) -> list[tuple[str, str, str]]:
    """(grant, User ID, initial password) of each demo approver made now (none once made)."""
    from portal.accounts.approvers import make_demo_approvers

    _bind(settings)
    return [(d.grant, d.user_id, d.password) for d in await make_demo_approvers()]


async def _demo_client_secrets(settings: Settings, client_ids: Sequence[str]) -> dict[str, str]:
    from portal.accounts.sso_keys import demo_secrets
    from portal.crypto import FieldCipher

    _bind(settings)
    return await demo_secrets(FieldCipher(settings.data_key), client_ids)


def _start_demo_rp(settings: Settings, port: int, provider_url: str) -> DemoRP | None:
    """The demo applications (Apache + mod_auth_openidc) signing in through the portal, running;
    None, having said why, when they cannot run here."""
    from portal import demo_rp

    reason = demo_rp.available()
    if reason is None:
        client_secrets = asyncio.run(_demo_client_secrets(settings, list(demo_rp.DEMO_APPLICATIONS)))
        rp = demo_rp.DemoRP(None, port, provider_url, demo_rp.demo_clients(client_secrets))
        try:
            rp.start()
        except demo_rp.DemoRPError as exc:
            reason = str(exc)
        else:
            for client in rp.clients:
                click.echo(f"Demo application {client.name}: {rp.url(client)} (single sign-on through the portal)")
            click.echo(f"Demo applications' log: {rp.error_log}")
            return rp
    click.echo(f"Demo applications not started: {reason}")
    return None


def _exit_on_signal(signum: int, frame: FrameType | None) -> NoReturn:
    raise SystemExit(128 + signum)


def _serve(host: str, port: int, workers: int) -> None:
    import uvicorn
    from uvicorn.config import LOGGING_CONFIG

    from portal.logs import uvicorn_log_config
    from portal.metrics import clear_multiprocess_dir

    clear_multiprocess_dir()  # PROMETHEUS_MULTIPROC_DIR: counts start again with the processes
    log_config = uvicorn_log_config(_settings().log_format)
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,  # the portal believes X-Forwarded-For from PORTAL_TRUSTED_PROXIES only
        server_header=False,
        log_level="info",
        log_config=log_config or LOGGING_CONFIG,
    )


# ---- The commands -------------------------------------------------------------------------------


@click.group(
    "portal",
    cls=PortalGroup,
    help="IACS Registration Portal. Settings come from PORTAL_* environment variables.",
    context_settings={"help_option_names": ["-h", "--help"]},
)
def portal() -> None:
    pass


def _short(text: str) -> dict[str, str]:
    """help and short_help alike: the command list shows the whole line, never "..."."""
    return {"help": text, "short_help": text}


@portal.command("serve", **_short("serve the portal with uvicorn"))
@click.option("--host", default="127.0.0.1", metavar="HOST")
@click.option("--port", type=int, default=8000, metavar="PORT")
@click.option("--workers", type=int, default=1, metavar="WORKERS", help="worker processes (default 1)")
def serve(host: str, port: int, workers: int) -> None:
    _settings()  # refuse to start on unsafe settings before forking workers
    _serve(host, port, workers)


@portal.command("dev", **_short("migrate, load the catalog, catch mail and serve (make run)"))
@click.option("--host", default="127.0.0.1", metavar="HOST")
@click.option("--port", type=int, default=8000, metavar="PORT")
@click.option(
    "--demo-port",
    type=int,
    default=8001,
    metavar="PORT",
    help="the demo applications (Apache + mod_auth_openidc) on 127.0.0.1:PORT, the port the"
    " catalog's local client addresses name (default 8001); 0: none",
)
def dev(host: str, port: int, demo_port: int) -> None:
    """What `make run` does: migrate, load the catalog, start the demo applications, catch mail,
    serve."""
    settings = _settings()
    if settings.production:
        raise CommandFailed("`dev` is for development; use `serve` in production.")
    asyncio.run(_migrate(settings))
    click.echo(asyncio.run(_catalog_load(settings, None)))
    for grant, user_id, password in asyncio.run(_demo_approvers(settings)):
        click.echo(f"Demo approver for {grant}: User ID: {user_id}  Initial password: {password}")
    # Browse at localhost: a passkey's relying party is PORTAL_BASE_URL's host, never an address.
    base = os.environ.get("PORTAL_BASE_URL") or f"http://localhost:{port}"
    demo = _start_demo_rp(settings, demo_port, base) if demo_port else None
    from portal.mail.catcher import start_catcher, stop_catcher

    smtp = urlsplit(settings.smtp_url)
    controller, _ = start_catcher(smtp.hostname or "127.0.0.1", smtp.port or 1025)
    click.echo(f"Mail catcher listening on {smtp.hostname}:{smtp.port}: every email is printed here.")
    os.environ["PORTAL_BASE_URL"] = base
    click.echo(f"Portal: {base}/ (listening on {host}:{port})")
    os.environ["PORTAL_MAIL_WORKER_INLINE"] = "true"  # the served app delivers mail itself
    get_settings.cache_clear()
    click.echo(f"Caught mail is also listed at {base}/dev/mailbox")
    # uvicorn raises SIGTERM again once it has shut down: end by SystemExit instead, so what
    # runs beside the portal is stopped below (and the demo's directory, secrets and all, goes).
    signal.signal(signal.SIGTERM, _exit_on_signal)
    try:
        _settings()
        _serve(host, port, 1)
    finally:
        stop_catcher(controller)
        if demo is not None:
            demo.stop()


@portal.command("migrate", **_short("apply database migrations (safe to repeat)"))
def migrate() -> None:
    asyncio.run(_migrate(_settings()))


@portal.command("mail-worker", **_short("deliver queued email over SMTP until stopped"))
def mail_worker() -> None:
    from portal.mail.worker import cli_main

    code = cli_main()
    if code:
        raise click.exceptions.Exit(code)


@portal.command("remind", **_short("email approvers their overdue requests (once a day each)"))
def remind() -> None:
    count = asyncio.run(_remind(_settings()))
    click.echo(f"Queued overdue reminders for {_plural(count, 'approver')} (at most one a day each).")


@portal.command("purge", **_short("delete drafts idle over 24 hours and delivered email over 7 days old"))
def purge() -> None:
    drafts, mails, throttles = asyncio.run(_purge(_settings()))
    click.echo(f"Deleted {_plural(drafts, 'registration draft')} idle for more than 24 hours,")
    click.echo(f"{_plural(mails, 'delivered email')} older than 7 days")
    click.echo(f"and {_plural(throttles, 'sign-in count')} untouched for a day.")


@portal.group("approver", **_short("manage approvers"))
def approver() -> None:
    pass


@approver.command("add", **_short("create an approver; prints the User ID and a one-time initial password"))
@click.option("--email", required=True, metavar="EMAIL")
@click.option("--name", required=True, metavar="NAME", help='first and last name, like "Maria Lopez"')
@click.option(
    "--grant",
    "grants",
    required=True,
    multiple=True,
    metavar="CODE:LEVEL",
    help="an application code (or * for every application) and the level 1 or 2; repeat for more",
)
def approver_add(email: str, name: str, grants: tuple[str, ...]) -> None:
    from portal.accounts.approvers import ApproverError

    try:
        user_id, password = asyncio.run(_approver_add(_settings(), email, name, grants))
    except ApproverError as exc:
        raise CommandFailed(f"error: {exc}") from exc
    # The console is the only place these ever appear.
    click.echo(f"User ID: {user_id}")
    click.echo(f"Initial password: {password}")
    click.echo("The initial password must be changed at first login and expires in 72 hours.")


@approver.command("reset", **_short("issue a new one-time initial password (printed here only)"))
@click.option("--user-id", required=True, metavar="USER_ID")
def approver_reset(user_id: str) -> None:
    from portal.accounts.approvers import ApproverError

    try:
        password = asyncio.run(_approver_reset(_settings(), user_id))
    except ApproverError as exc:
        raise CommandFailed(f"error: {exc}") from exc
    click.echo(f"Initial password: {password}")
    click.echo("It must be changed at the next login and expires in 72 hours.")


@portal.group("mfa", **_short("help desk: two-factor sign-in"))
def mfa() -> None:
    pass


@mfa.command(
    "reset",
    **_short("remove an account's second factors and recovery codes; it sets up new ones at its next login"),
)
@click.option("--user-id", required=True, metavar="USER_ID")
@click.option("--reason", prompt="Reason (kept in the audit log)", metavar="TEXT", help="why, in a few words")
def mfa_reset(user_id: str, reason: str) -> None:
    from portal.accounts.mfa import ResetError

    try:
        removed = asyncio.run(_mfa_reset(_settings(), user_id, reason))
    except ResetError as exc:
        raise CommandFailed(f"error: {exc}") from exc
    click.echo(f"Removed {_plural(removed, 'second factor')} and the recovery codes of {user_id.strip().upper()}.")
    click.echo("They are logged out everywhere, emailed, and set up a new second factor at their next login.")


@portal.group("access", **_short("help desk: the roles accounts hold"))
def access() -> None:
    pass


@access.command("revoke", **_short("take a role away from an account; single sign-on stops at its next token"))
@click.option("--user-id", required=True, metavar="USER_ID")
@click.option("--application", required=True, metavar="CODE", help="the application's code, e.g. HPMS")
@click.option("--role", required=True, metavar="ROLE", help="the role's code, e.g. plan-user")
@click.option("--reason", prompt="Reason (kept in the audit log)", metavar="TEXT", help="why, in a few words")
def access_revoke(user_id: str, application: str, role: str, reason: str) -> None:
    if not asyncio.run(_access_revoke(_settings(), user_id, application, role, reason)):
        raise CommandFailed(f"error: {user_id.strip().upper()} does not hold {role} in {application.upper()}")
    click.echo(f"Revoked {role} in {application.upper()} from {user_id.strip().upper()}.")


@portal.group("oidc", **_short("single sign-on: client secrets and signing keys"))
def oidc() -> None:
    pass


@oidc.command("secret", **_short("make a new secret for a confidential client; prints it once"))
@click.option("--client", "client_id", required=True, metavar="CLIENT_ID")
def oidc_secret(client_id: str) -> None:
    from portal.accounts.sso_keys import SsoError

    try:
        secret = asyncio.run(_oidc_secret(_settings(), client_id))
    except SsoError as exc:
        raise CommandFailed(f"error: {exc}") from exc
    click.echo(f"Client secret for {client_id}: {secret}")
    click.echo("It is shown only here; the old secret no longer works.")


@oidc.group("keys", **_short("the keys that sign ID tokens"))
def oidc_keys() -> None:
    pass


@oidc_keys.command("rotate", **_short("publish a new next key; the next key starts signing (the first run makes both)"))
def oidc_keys_rotate() -> None:
    current, upcoming = asyncio.run(_oidc_rotate(_settings()))
    click.echo(f"Signing with {current}; published next: {upcoming}.")


@portal.group("catalog", **_short("manage the catalog of CMS applications"))
def catalog() -> None:
    pass


@catalog.command(
    "load",
    short_help="load or reload the catalog file (safe to repeat)",
    help="load or reload the catalog file (safe to repeat)\n\n"
    "FILE: TOML file (default: PORTAL_CATALOG_FILE or the shipped one)",
)
@click.argument("file", required=False, metavar="[FILE]")
def catalog_load(file: str | None) -> None:
    from portal.catalog import CatalogError

    try:
        click.echo(asyncio.run(_catalog_load(_settings(), file)))
    except CatalogError as exc:
        raise CommandFailed(f"Catalog not loaded: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    """Run one command (``argv``, or the process's arguments) and return its exit status:
    0, 2 for a usage error or a refusal (its message on stderr), or the command's own."""
    try:
        result = portal.main(args=argv, prog_name=PROG, standalone_mode=False)
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("Aborted!", err=True)
        return 130
    return result if isinstance(result, int) else 0
