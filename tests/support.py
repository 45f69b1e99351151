"""Helpers shared by the test tiers: database reset and an HTML-checking test client."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from portal.settings import Settings


async def reset_database(settings: Settings) -> None:
    """Empty the configured database, then migrate it and load the shipped catalog."""
    from portal.cli import _catalog_load, _migrate

    if settings.is_sqlite:
        from portal.models.engine import sqlite_path

        path = Path(sqlite_path(settings.database_url))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    else:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await conn.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        finally:
            await conn.close()
    await _migrate(settings)
    await _catalog_load(settings, None)


async def fresh_postgres_database(base_url: str, name: str) -> str:
    """Create (or recreate) an empty PostgreSQL database next to ``base_url``; return its URL."""
    conn = await asyncpg.connect(base_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(base_url)
    return parts._replace(path=f"/{name}").geturl()


def using_postgres() -> bool:
    return os.environ.get("PORTAL_DATABASE_URL", "").startswith("postgres")


def url(client_or_app, name: str, /, query: str | dict | None = None, **path_params) -> str:
    """The path of the route called ``name`` (``"approvals:approve"``...) with its path
    parameters, from the app itself (a test client's app, or the app), so tests say which page
    they mean rather than where it lives today; a query string may follow."""
    from urllib.parse import urlencode

    app = getattr(client_or_app, "app", None) or getattr(getattr(client_or_app, "_transport", None), "app", None)
    app = app or client_or_app
    path = app.route_reverse(name, **path_params)
    if query:
        path += "?" + (query if isinstance(query, str) else urlencode(query))
    return path


def sent_back(response) -> bool:
    """A refused plain form: 303 to its own page with the form in the returned-form cookie."""
    from portal.returns import COOKIE

    return response.status_code == 303 and any(
        h.startswith(f"{COOKIE}=") and not h.startswith(f"{COOKIE}=;") and not h.startswith(f'{COOKIE}="";')
        for h in response.headers.get_list("set-cookie")
    )


async def follow_back(client, response):
    """What a browser shows after a refused plain form: the page it was sent back to (with
    ``.sent_back`` set to the 303 that sent it); any other answer as it came."""
    if not sent_back(response):
        return response
    page = await client.get(response.headers["location"])
    page.sent_back = response
    return page


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    """A Redis server of the test's own on ``port`` (Debian's redis-server: make test installs
    it), keeping nothing on disk; returned once it answers PING."""
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: `make test` installs Debian's redis-server"
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(directory),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    from deploy.stack import redis_answers

    while not redis_answers("127.0.0.1", port):
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    return proc


async def demo_clients_on(port: int) -> dict[str, str]:
    """The shipped catalog with its demo applications' local addresses on ``port`` (the
    catalog's are on 8001), signing keys, and a fresh secret for each demo client."""
    from portal.accounts.sso_keys import demo_secrets
    from portal.catalog import DEFAULT_CATALOG, parse
    from portal.crypto import FieldCipher
    from portal.demo_rp import DEMO_APPLICATIONS
    from portal.models.catalog import load
    from portal.settings import get_settings

    await load(parse(DEFAULT_CATALOG.read_text().replace(".localhost:8001/", f".localhost:{port}/")))
    return await demo_secrets(FieldCipher(get_settings().data_key), list(DEMO_APPLICATIONS))


class Mailbox:
    """A real SMTP server (aiosmtpd) on a free port, and ``settings`` that deliver to it: the
    integration tests' ``smtp`` fixture and make fuzz's. ``deliver`` runs the mail worker once."""

    def __init__(self, settings: Settings, keep: int = 100_000) -> None:
        import logging

        import msgspec
        from aiosmtpd.controller import Controller

        from portal.mail.catcher import CatchingHandler

        self.handler = CatchingHandler(echo=None, keep=keep)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # the receiving server's own log
        port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=port)
        self.controller.start()
        self.settings = msgspec.structs.replace(settings, smtp_url=f"smtp://127.0.0.1:{port}")

    def stop(self) -> None:
        self.controller.stop()

    async def deliver(self) -> list:
        """Run the mail worker until the outbox is empty; every message received so far."""
        from portal.mail.worker import deliver_due

        while await deliver_due(self.settings, batch=200):
            pass
        return list(self.handler.messages)

    async def last_to(self, address: str):
        messages = [m for m in await self.deliver() if address in m.rcpt_tos]
        assert messages, f"no mail to {address}"
        return messages[-1]

    async def code_for(self, address: str) -> str:
        """The code in the last code email to ``address`` (emails someone waits for leave the
        outbox first, so another email queued earlier may arrive after it)."""
        codes = [
            found.group(1)
            for m in await self.deliver()
            if address in m.rcpt_tos and (found := re.search(r"verification code is: (\d{6})", m.text))
        ]
        assert codes, f"no code emailed to {address}"
        return codes[-1]
