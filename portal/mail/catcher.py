"""A local SMTP catcher for development: receives every message over real SMTP (aiosmtpd),
prints it on the console and keeps the last ones for the development mailbox page, so a new
user can read their verification code without a mail client."""

from __future__ import annotations

import email
import email.policy
import logging
import sys
from collections import deque
from typing import TextIO

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPServer
from aiosmtpd.smtp import Envelope, Session

from portal.clock import now


class CaughtMessage:
    __slots__ = ("mail_from", "rcpt_tos", "message", "received_at")

    def __init__(self, mail_from: str, rcpt_tos: list[str], message: email.message.EmailMessage):
        self.mail_from = mail_from
        self.rcpt_tos = rcpt_tos
        self.message = message
        self.received_at = now()

    @property
    def subject(self) -> str:
        return str(self.message["Subject"] or "")

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class CatchingHandler:
    """aiosmtpd handler that keeps the last messages and optionally echoes them."""

    def __init__(self, echo: TextIO | None = None, keep: int = 200) -> None:
        self.messages: deque[CaughtMessage] = deque(maxlen=keep)
        self.echo = echo

    async def handle_DATA(self, server: SMTPServer, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        caught = CaughtMessage(envelope.mail_from or "", list(envelope.rcpt_tos), message)
        self.messages.append(caught)
        if self.echo is not None:
            bar = "-" * 72
            print(
                f"\n{bar}\nMail to {', '.join(caught.rcpt_tos)}\nSubject: {caught.subject}\n\n"
                f"{caught.text.strip()}\n{bar}",
                file=self.echo,
                flush=True,
            )
        return "250 Message accepted for delivery"


# The catcher started in this process (by `python -m portal dev`), read by the mailbox page.
_running: CatchingHandler | None = None


def start_catcher(
    host: str = "127.0.0.1", port: int = 1025, echo: TextIO | None = sys.stdout
) -> tuple[Controller, CatchingHandler]:
    """Start the catcher in a background thread; returns (controller, handler)."""
    global _running
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # it logs every address
    handler = CatchingHandler(echo=echo)
    controller = Controller(handler, hostname=host, port=port)
    controller.start()
    _running = handler
    return controller, handler


def stop_catcher(controller: Controller) -> None:
    global _running
    controller.stop()
    if _running is not None and controller.handler is _running:
        _running = None


def caught_messages(limit: int) -> list[CaughtMessage] | None:
    """The newest ``limit`` messages this process's catcher received, newest first; None when
    no catcher runs in this process."""
    if _running is None:
        return None
    return list(reversed(_running.messages))[:limit]
