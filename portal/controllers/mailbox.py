"""The development mailbox: every email the local SMTP catcher of `make run` received, to read
verification codes and links without a mail client. It answers 404 outside development."""

from __future__ import annotations

from litestar import Controller, Request, get
from litestar.exceptions import NotFoundException
from litestar.response import Template

from portal.mail.catcher import caught_messages
from portal.web import render

MAILBOX_LIMIT = 50


def mailbox_enabled(request: Request) -> bool:
    """Only in development: the mailbox shows codes and links meant for one person."""
    settings = getattr(request.app.state, "settings", None)
    return settings is not None and not settings.production


class MailboxController(Controller):
    include_in_schema = False

    @get("/dev/mailbox", name="dev:mailbox")
    async def mailbox(self, request: Request) -> Template:
        if not mailbox_enabled(request):
            raise NotFoundException()
        messages = caught_messages(MAILBOX_LIMIT)
        return render(request, "mailbox/mailbox.html", {"messages": messages, "limit": MAILBOX_LIMIT})
