"""The mail worker: delivers due outbox messages over SMTP with retries and backoff.

SMTP being down loses nothing (a failed row stays unsent and is retried later, backing off to
once an hour by default, for ever) and sends nothing twice (a row is claimed by one conditional
UPDATE before it is sent, and a sent row is never claimed again). The one unavoidable gap: if the process dies after
the SMTP server accepted a message and before ``sent_at`` is written, the row is sent again once
its claim lapses; it keeps its Message-ID so the copy can be recognised.

Logs and stored errors carry row ids, kinds and exception types only: never an address, a
subject or a body (they carry verification codes and links). Each line about a message carries
the id of the request that queued it (``request_id``), so it joins that request's lines.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import unquote, urlsplit

import aiosmtplib

from portal.clock import now
from portal.logs import configure_process, request_context
from portal.mail import outbox
from portal.mail.outbox import Claimed
from portal.settings import Settings

log = logging.getLogger("portal.mail.worker")

SMTP_TIMEOUT_SECONDS = 20.0


def retry_delay(failed_attempts: int, settings: Settings) -> timedelta:
    """How long to wait after the ``failed_attempts``-th failure: PORTAL_MAIL_RETRY_SECONDS,
    doubling after each failure up to PORTAL_MAIL_RETRY_MAX_SECONDS (by default 30 s, 1 min,
    2 min, 4 min … up to one hour)."""
    exponent = min(max(failed_attempts, 1) - 1, 20)
    return timedelta(seconds=min(settings.mail_retry_seconds * 2**exponent, settings.mail_retry_max_seconds))


# A batch is claimed for CLAIM_LEASE; a worker still sending it after RENEW_AFTER extends the
# claim on what is left before each further message. The lease outlasts RENEW_AFTER plus one
# message's worst case (connecting, MAIL, RCPT and DATA each timing out), so a slow batch is
# never claimed by a second worker while the first is still sending it; and the messages of a
# worker that died wait at most CLAIM_LEASE for another (not a lease sized for a whole batch of
# timeouts).
RENEW_AFTER = timedelta(seconds=60)
CLAIM_LEASE = RENEW_AFTER + timedelta(seconds=SMTP_TIMEOUT_SECONDS * 4 + 40)


def describe_error(exc: BaseException) -> str:
    """A short description of a failure without PII: the exception type, and the SMTP reply
    code when there is one (server messages and aiosmtplib's texts can quote addresses)."""
    code = getattr(exc, "code", None)
    name = type(exc).__name__
    return f"{name} (SMTP {code})" if isinstance(code, int) and code > 0 else name


class SMTPConfig:
    """Connection options read from ``smtp_url``: ``smtp://host:port`` (STARTTLS when the
    server offers it), ``smtp+starttls://`` (STARTTLS required) or ``smtps://`` (TLS from the
    start); ``user:password@`` in the URL logs in."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in {"smtp", "smtps", "smtp+starttls"}:
            raise ValueError("PORTAL_SMTP_URL must start with smtp://, smtp+starttls:// or smtps://")
        self.hostname = parts.hostname or "127.0.0.1"
        self.use_tls = parts.scheme == "smtps"
        self.start_tls: bool | None = True if parts.scheme == "smtp+starttls" else (False if self.use_tls else None)
        self.port = parts.port or (465 if self.use_tls else 25)
        self.username = unquote(parts.username) if parts.username else None
        self.password = unquote(parts.password) if parts.password else None

    def client(self) -> aiosmtplib.SMTP:
        return aiosmtplib.SMTP(
            hostname=self.hostname,
            port=self.port,
            username=self.username,
            password=self.password,
            use_tls=self.use_tls,
            start_tls=self.start_tls,
            timeout=SMTP_TIMEOUT_SECONDS,
        )


def build_message(settings: Settings, row: Claimed) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = row.to_address
    message["Subject"] = row.subject
    message["Message-ID"] = row.message_id
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message.set_content(row.body)
    return message


async def _fail(settings: Settings, row: Claimed, exc: BaseException) -> None:
    attempts = row.attempts + 1
    delay = retry_delay(attempts, settings)
    await outbox.mark_failed(row.id, attempts=attempts, retry_at=now() + delay, error=describe_error(exc))
    with request_context(row.request_id):
        log.warning(
            "outbox message %s (%s) not delivered, attempt %s: %s; next try in %s s",
            row.id,
            row.kind,
            attempts,
            describe_error(exc),
            int(delay.total_seconds()),
            extra={"outbox_id": row.id, "kind": row.kind, "attempts": attempts, "outcome": "failed"},
        )


async def _record_sent(row: Claimed) -> None:
    """Write ``sent_at``, trying a few times: a row the server accepted but that stays
    unmarked would be sent again once its claim lapses."""
    for wait in (0.2, 1.0, 0.0):
        try:
            await outbox.mark_sent(row.id)
            return
        except Exception as exc:
            if not wait:
                with request_context(row.request_id):
                    log.error(
                        "outbox message %s sent but not marked: %s",
                        row.id,
                        type(exc).__name__,
                        extra={"outbox_id": row.id, "kind": row.kind, "outcome": "unmarked"},
                    )
                raise
            await asyncio.sleep(wait)


async def deliver_due(settings: Settings, *, batch: int = 20) -> int:
    """Claim up to ``batch`` due messages, send them over one SMTP connection and record each
    outcome. Returns how many were sent."""
    config = SMTPConfig(settings.smtp_url)
    rows = await outbox.claim_due(batch=batch, lease=CLAIM_LEASE)
    if not rows:
        return 0
    claimed_at = time.monotonic()
    sent = 0
    pending = list(rows)
    try:
        async with config.client() as smtp:
            while pending:
                if time.monotonic() - claimed_at > RENEW_AFTER.total_seconds():
                    held = await outbox.renew_claims([row.id for row in pending], lease=CLAIM_LEASE)
                    pending = [row for row in pending if row.id in held]  # any other is another worker's now
                    claimed_at = time.monotonic()
                    if not pending:
                        break
                row = pending[0]
                try:
                    await smtp.send_message(build_message(settings, row))
                except (aiosmtplib.SMTPServerDisconnected, ConnectionError, TimeoutError):
                    raise  # the connection is gone: every message still pending fails below
                except Exception as exc:  # a refused recipient or a bad row: only this one fails
                    pending.pop(0)
                    await _fail(settings, row, exc)
                    continue
                pending.pop(0)
                await _record_sent(row)
                sent += 1
                with request_context(row.request_id):
                    log.info(
                        "outbox message %s (%s) sent",
                        row.id,
                        row.kind,
                        extra={"outbox_id": row.id, "kind": row.kind, "outcome": "sent"},
                    )
    except Exception as exc:  # connecting, logging in or the connection dropping
        for row in pending:
            await _fail(settings, row, exc)
    return sent


async def run_worker(settings: Settings, stop: asyncio.Event, interval: float = 1.0) -> None:
    """Deliver due messages until ``stop`` is set. A failing round (database or SMTP) is
    logged by type and retried after ``interval``; the loop itself never ends on an error."""
    log.info("mail worker started")
    batch = 20
    while not stop.is_set():
        sent = 0
        try:
            sent = await deliver_due(settings, batch=batch)
        except Exception as exc:
            log.warning("mail worker round failed: %s", type(exc).__name__)
        if sent >= batch:
            continue  # a backlog: go on at once
        try:
            await asyncio.wait_for(stop.wait(), timeout=interval)
        except TimeoutError:
            pass
    log.info("mail worker stopped")


async def _serve(settings: Settings) -> None:
    from piccolo.engine.postgres import PostgresEngine

    from portal.models.db import bind
    from portal.models.engine import make_engine

    engine = make_engine(settings)
    bind(engine)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    pooled = engine if isinstance(engine, PostgresEngine) else None
    if pooled:
        await pooled.start_connection_pool(min_size=1, max_size=2)
    try:
        await run_worker(settings, stop)
    finally:
        if pooled:
            await pooled.close_connection_pool()


def cli_main() -> int:
    """``python -m portal mail-worker``: deliver the outbox until SIGINT or SIGTERM."""
    from portal import malloc
    from portal.settings import get_settings

    malloc.tune()
    settings = get_settings()
    SMTPConfig(settings.smtp_url)  # refuse a malformed URL at start, not on the first message
    configure_process(settings.log_format)
    logging.getLogger("aiosmtplib").setLevel(logging.WARNING)
    asyncio.run(_serve(settings))
    return 0
