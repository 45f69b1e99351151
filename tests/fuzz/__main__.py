"""``python -m tests.fuzz --requests 12000 --seed 1``: the fuzz run on a database and SMTP server
of its own (a temporary SQLite file, or a fresh PostgreSQL database ``portal_fuzz`` next to
``PORTAL_DATABASE_URL`` when that is a postgresql:// URL). Prints the count by status, every
distinct finding with a reproduction, and the stored-row check; exits 1 on any 5xx, echoed
markup, off-site redirect, HTML problem or refused stored row."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
from pathlib import Path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=10_000, help="fuzzed requests to send (default 10000)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the generator (default 1)")
    parser.add_argument(
        "--html-sample", type=float, default=1.0, help="share of HTML responses HTML-checked (default all)"
    )
    parser.add_argument("--database-url", default=os.environ.get("PORTAL_DATABASE_URL", ""))
    parser.add_argument("--max-findings", type=int, default=20, help="distinct findings printed in full")
    parser.add_argument("--verbose", action="store_true", help="also print how each unsafe route answered")
    parser.add_argument("--trace", help="write one line per request (persona, method, URL, notes, status) to this file")
    return parser.parse_args(argv)


async def main(args: argparse.Namespace) -> int:
    base = args.database_url
    if base.startswith(("postgresql://", "postgres://")):
        from tests.support import fresh_postgres_database

        url = await fresh_postgres_database(base, "portal_fuzz")
    else:
        url = f"sqlite:///{Path(tempfile.mkdtemp(prefix='portal-fuzz-')) / 'portal.db'}"
    # Before the portal is imported: its engine module reads the environment once.
    os.environ.update(
        {
            "PORTAL_ENV": "development",
            "PORTAL_DATABASE_URL": url,
            "PORTAL_DB_POOL_SIZE": "0",  # the test client runs the app on a loop of its own
            "PORTAL_RATE_LIMIT": "1000000000",  # one client address sends everything
            "PORTAL_REDIS_URL": "",
            "PORTAL_MAIL_WORKER_INLINE": "false",
        }
    )
    from portal.settings import from_env
    from tests.fuzz.runner import run
    from tests.support import Mailbox, reset_database

    settings = from_env()
    print(f"fuzz: database {url.split('@')[-1]}, {args.requests} requests, seed {args.seed}", flush=True)
    await reset_database(settings)
    mailbox = Mailbox(settings, keep=1_000_000)
    trace_file = open(args.trace, "w", encoding="utf-8") if args.trace else None  # noqa: ASYNC230, SIM115
    try:
        from portal.app import create_app

        app = create_app(mailbox.settings)
        report = await run(
            app,
            mailbox,
            requests=args.requests,
            seed=args.seed,
            html_sample=args.html_sample,
            progress=lambda line: print(line, flush=True),
            trace=(lambda line: print(line, file=trace_file)) if trace_file else None,
        )
    finally:
        mailbox.stop()
        if trace_file:
            trace_file.close()
    if args.verbose:
        print("outcomes of unsafe routes (route, persona, status, redirect):\n" + report.outcome_table())
    print(report.summary(max_findings=args.max_findings), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
