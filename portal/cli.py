"""``python -m portal``: the operator's commands."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from urllib.parse import urlsplit

from portal.settings import Settings, SettingsError, get_settings


def _settings() -> Settings:
    return get_settings()


async def _migrate(settings: Settings) -> None:
    from piccolo.apps.migrations.commands.forwards import run_forwards

    from portal.models.db import bind, current_engine
    from portal.models.engine import make_engine

    bind(make_engine(settings))
    engine = current_engine()
    if settings.is_sqlite:
        # WAL lets readers go on while one writer writes; the setting lives in the file.
        await engine.run_ddl("PRAGMA journal_mode=WAL")
    result = await run_forwards(app_name="portal")
    if not result.success:
        raise SystemExit(f"migration failed: {result.message}")


def cmd_migrate(args: argparse.Namespace) -> int:
    asyncio.run(_migrate(_settings()))
    return 0


async def _catalog_load(settings: Settings, path: str | None) -> str:
    from portal import catalog
    from portal.models import catalog as catalog_queries
    from portal.models.db import bind
    from portal.models.engine import make_engine

    parsed = catalog.read(path or settings.catalog_file or None)  # refuses before any write
    bind(make_engine(settings))
    report = await catalog_queries.load(parsed)
    return (
        f"Catalog {parsed.version} loaded: {report.applications} applications, {report.roles} roles,"
        f" {report.fields} fields; retired {report.retired_applications} applications and"
        f" {report.retired_roles} roles no longer listed."
    )


def cmd_catalog_load(args: argparse.Namespace) -> int:
    from portal.catalog import CatalogError

    try:
        print(asyncio.run(_catalog_load(_settings(), args.file)))
    except CatalogError as exc:
        print(f"Catalog not loaded: {exc}", file=sys.stderr)
        return 2
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    _settings()  # refuse to start on unsafe settings before forking workers
    uvicorn.run(
        "portal.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=False,  # the portal believes X-Forwarded-For from PORTAL_TRUSTED_PROXIES only
        server_header=False,
        log_level="info",
    )
    return 0


def cmd_mail_worker(args: argparse.Namespace) -> int:
    from portal.mail.worker import cli_main

    return cli_main()


async def _purge(settings: Settings) -> tuple[int, int, int]:
    from datetime import timedelta

    from portal.mail.outbox import purge_sent
    from portal.models.accounts import now, purge_login_throttle
    from portal.models.db import bind
    from portal.models.engine import make_engine
    from portal.models.registration import purge_idle_drafts

    bind(make_engine(settings))
    throttles = await purge_login_throttle(now() - timedelta(days=1))
    return await purge_idle_drafts(), await purge_sent(timedelta(days=7)), throttles


def cmd_purge(args: argparse.Namespace) -> int:
    drafts, mails, throttles = asyncio.run(_purge(_settings()))
    print(f"Deleted {drafts} registration draft{'s' if drafts != 1 else ''} idle for more than 24 hours,")
    print(f"{mails} delivered email{'s' if mails != 1 else ''} older than 7 days")
    print(f"and {throttles} sign-in count{'s' if throttles != 1 else ''} untouched for a day.")
    return 0


def _bind(settings: Settings) -> None:
    from portal.models.db import bind
    from portal.models.engine import make_engine

    bind(make_engine(settings))


async def _approver_add(settings: Settings, email: str, name: str, grants: list[str]) -> tuple[str, str]:
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


def cmd_approver_reset(args: argparse.Namespace) -> int:
    try:
        password = asyncio.run(_approver_reset(_settings(), args.user_id))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"Initial password: {password}")
    print("It must be changed at the next login and expires in 72 hours.")
    return 0


def cmd_approver_add(args: argparse.Namespace) -> int:
    try:
        user_id, password = asyncio.run(_approver_add(_settings(), args.email, args.name, args.grant))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    # The console is the only place these ever appear.
    print(f"User ID: {user_id}")
    print(f"Initial password: {password}")
    print("The initial password must be changed at first login and expires in 72 hours.")
    return 0


async def _remind(settings: Settings) -> int:
    from portal.approvals.service import remind
    from portal.models.accounts import now
    from portal.models.db import bind
    from portal.models.engine import make_engine

    bind(make_engine(settings))
    return await remind(now(), settings.base_url)


def cmd_remind(args: argparse.Namespace) -> int:
    count = asyncio.run(_remind(_settings()))
    print(f"Queued overdue reminders for {count} approver{'s' if count != 1 else ''} (at most one a day each).")
    return 0


async def _demo_approvers(settings: Settings) -> list[tuple[str, str, str]]:
    from portal.accounts.approvers import make_demo_approvers

    _bind(settings)
    return [(d.grant, d.user_id, d.password) for d in await make_demo_approvers()]


def cmd_dev(args: argparse.Namespace) -> int:
    """What `make run` does: migrate, load the catalog, catch mail, serve."""
    settings = _settings()
    if settings.production:
        print("`dev` is for development; use `serve` in production.", file=sys.stderr)
        return 2
    asyncio.run(_migrate(settings))
    print(asyncio.run(_catalog_load(settings, None)))
    for grant, user_id, password in asyncio.run(_demo_approvers(settings)):
        print(f"Demo approver for {grant}: User ID: {user_id}  Initial password: {password}")
    from portal.mail.catcher import start_catcher, stop_catcher

    smtp = urlsplit(settings.smtp_url)
    controller, _ = start_catcher(smtp.hostname or "127.0.0.1", smtp.port or 1025)
    print(f"Mail catcher listening on {smtp.hostname}:{smtp.port}: every email is printed here.")
    print(f"Portal: http://{args.host}:{args.port}/")
    os.environ["PORTAL_MAIL_WORKER_INLINE"] = "true"  # the served app delivers mail itself
    get_settings.cache_clear()
    print(f"Caught mail is also listed at http://{args.host}:{args.port}/dev/mailbox")
    try:
        return cmd_serve(argparse.Namespace(host=args.host, port=args.port, workers=1))
    finally:
        stop_catcher(controller)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m portal",
        description="IACS Registration Portal. Settings come from PORTAL_* environment variables.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("serve", help="serve the portal with uvicorn")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("dev", help="migrate, load the catalog, catch mail and serve (make run)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.set_defaults(func=cmd_dev)

    p = sub.add_parser("migrate", help="apply database migrations (safe to repeat)")
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser("mail-worker", help="deliver queued email over SMTP until stopped")
    p.set_defaults(func=cmd_mail_worker)

    p = sub.add_parser("remind", help="email approvers their overdue requests (once a day each)")
    p.set_defaults(func=cmd_remind)

    p = sub.add_parser("purge", help="delete drafts idle over 24 hours and delivered email over 7 days old")
    p.set_defaults(func=cmd_purge)

    p = sub.add_parser("approver", help="manage approvers")
    approver_sub = p.add_subparsers(dest="approver_command", required=True, metavar="ACTION")
    q = approver_sub.add_parser("add", help="create an approver; prints the User ID and a one-time initial password")
    q.add_argument("--email", required=True)
    q.add_argument("--name", required=True, help='first and last name, like "Maria Lopez"')
    q.add_argument(
        "--grant",
        required=True,
        action="append",
        metavar="CODE:LEVEL",
        help="an application code (or * for every application) and the level 1 or 2; repeat for more",
    )
    q.set_defaults(func=cmd_approver_add)
    q = approver_sub.add_parser("reset", help="issue a new one-time initial password (printed here only)")
    q.add_argument("--user-id", required=True)
    q.set_defaults(func=cmd_approver_reset)

    p = sub.add_parser("catalog", help="manage the catalog of CMS applications")
    catalog_sub = p.add_subparsers(dest="catalog_command", required=True, metavar="ACTION")
    q = catalog_sub.add_parser("load", help="load or reload the catalog file (safe to repeat)")
    q.add_argument("file", nargs="?", help="TOML file (default: PORTAL_CATALOG_FILE or the shipped one)")
    q.set_defaults(func=cmd_catalog_load)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
