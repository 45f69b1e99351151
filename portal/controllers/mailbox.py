"""The development mailbox: every email the local SMTP catcher of `make run` received, to read
verification codes and links without a mail client. It answers 404 outside development."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.response import Template

from portal.auth import session_guard
from portal.mail.catcher import caught_messages
from portal.settings import Settings
from portal.web import AnyRequest, render

MAILBOX_LIMIT = 50


class MailboxController(Controller):
    include_in_schema = False
    guards = [session_guard]

    @get("/dev/mailbox", name="dev:mailbox")
    async def mailbox(self, request: AnyRequest, settings: NamedDependency[Settings]) -> Template:
        if settings.production:  # only in development: it shows codes and links meant for one person
            raise NotFoundException()
        messages = caught_messages(MAILBOX_LIMIT)
        return render(request, "mailbox/mailbox.html", {"messages": messages, "limit": MAILBOX_LIMIT})
