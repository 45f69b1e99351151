"""The development mailbox page (portal/controllers/mailbox.py)."""

from __future__ import annotations

import html5lib
import msgspec
import pytest
from litestar.exceptions import NoRouteMatchFoundException

from portal.controllers.mailbox import MailboxController
from portal.mail.outbox import enqueue
from portal.models.db import transaction
from portal.models.tables import OutboxMessage

NS = {"h": "http://www.w3.org/1999/xhtml"}


def texts(doc, xpath: str) -> list[str]:
    return ["".join(el.itertext()).strip() for el in doc.findall(xpath, NS)]


@pytest.fixture
async def mailbox_app(app):
    """The session app with the mailbox route (registered here until the app wires it in)."""
    try:
        app.route_reverse("dev:mailbox")
    except NoRouteMatchFoundException:
        app.register(MailboxController)
    await OutboxMessage.delete(force=True)
    yield app
    await OutboxMessage.delete(force=True)


async def test_mailbox_lists_messages_newest_first(mailbox_app, client):
    async with transaction():
        await enqueue(kind="test", to="first@example.org", subject="First <subject>", body="Code: 111111")
    async with transaction():
        await enqueue(kind="test", to="second@example.org", subject="Second subject", body="Line 1\nLine 2")

    response = await client.get(mailbox_app.route_reverse("dev:mailbox"))
    assert response.status_code == 200
    doc = html5lib.parse(response.text)
    assert texts(doc, ".//h:h1") == ["Development mailbox"]
    assert texts(doc, ".//h:table/h:caption") == ["Queued emails, newest first"]
    assert texts(doc, ".//h:tbody/h:tr/h:th[@scope='row']") == ["Second subject", "First <subject>"]
    assert texts(doc, ".//h:tbody/h:tr/h:td[1]") == ["second@example.org", "first@example.org"]
    assert texts(doc, ".//h:tbody//h:pre") == ["Line 1\nLine 2", "Code: 111111"]
    assert all(t.startswith("Pending, 0 attempts") for t in texts(doc, ".//h:tbody/h:tr/h:td[3]"))


async def test_mailbox_empty(mailbox_app, client):
    response = await client.get("/dev/mailbox")
    assert response.status_code == 200
    doc = html5lib.parse(response.text)
    assert doc.find(".//h:table", NS) is None
    assert "No emails have been queued yet." in texts(doc, ".//h:main/h:p")


async def test_mailbox_is_not_found_in_production(mailbox_app, client):
    async with transaction():
        await enqueue(kind="test", to="hidden@example.org", subject="Hidden", body="Code: 222222")
    development = mailbox_app.state.settings
    mailbox_app.state.settings = msgspec.structs.replace(
        development, env="production", secret_key="x" * 40, data_key="y" * 44, base_url="https://x"
    )
    try:
        response = await client.get("/dev/mailbox")
    finally:
        mailbox_app.state.settings = development
    assert response.status_code == 404
    assert "Hidden" not in response.text and "222222" not in response.text
