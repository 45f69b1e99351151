"""The development mailbox page (portal/controllers/mailbox.py): what the local catcher of
`make run` received, codes included; a notice without a catcher; absent in production."""

from __future__ import annotations

import socket
from email.message import EmailMessage

import aiosmtplib
import html5lib
import msgspec
import pytest

from portal.mail.catcher import start_catcher, stop_catcher

NS = {"h": "http://www.w3.org/1999/xhtml"}


def texts(doc, xpath: str) -> list[str]:
    return ["".join(el.itertext()).strip() for el in doc.findall(xpath, NS)]


@pytest.fixture
def catcher():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    controller, handler = start_catcher("127.0.0.1", port, echo=None)
    yield port
    stop_catcher(controller)


async def send(port: int, to: str, subject: str, body: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "portal@example.org", to, subject
    message.set_content(body)
    await aiosmtplib.send(message, hostname="127.0.0.1", port=port)


async def test_mailbox_lists_caught_messages_newest_first_with_their_codes(catcher, client):
    await send(catcher, "first@example.org", "First <subject>", "Your verification code is: 111111")
    await send(catcher, "second@example.org", "Second subject", "Line 1\nLine 2")
    response = await client.get("/dev/mailbox")
    assert response.status_code == 200
    doc = html5lib.parse(response.text)
    assert texts(doc, ".//h:h1") == ["Development mailbox"]
    assert texts(doc, ".//h:table/h:caption") == ["Caught emails, newest first"]
    assert texts(doc, ".//h:tbody/h:tr/h:th[@scope='row']") == ["Second subject", "First <subject>"]
    assert texts(doc, ".//h:tbody/h:tr/h:td[1]") == ["second@example.org", "first@example.org"]
    assert texts(doc, ".//h:tbody//h:pre") == ["Line 1\nLine 2", "Your verification code is: 111111"]
    assert "First &lt;subject&gt;" in response.text  # escaped, never markup


async def test_mailbox_before_any_mail(catcher, client):
    doc = html5lib.parse((await client.get("/dev/mailbox")).text)
    assert doc.find(".//h:table", NS) is None
    assert "No emails have been caught yet." in texts(doc, ".//h:main/h:p")


async def test_mailbox_without_a_catcher_says_how_to_get_one(client):
    response = await client.get("/dev/mailbox")
    assert response.status_code == 200
    assert "No mail catcher runs in this process" in response.text and "make run" in response.text


async def test_mailbox_is_not_found_in_production(catcher, app, client):
    await send(catcher, "hidden@example.org", "Hidden", "Your verification code is: 222222")
    development = app.state.settings
    app.state.settings = msgspec.structs.replace(
        development, env="production", secret_key="x" * 40, data_key="y" * 44, base_url="https://x"
    )
    try:
        response = await client.get("/dev/mailbox")
    finally:
        app.state.settings = development
    assert response.status_code == 404
    assert "Hidden" not in response.text and "222222" not in response.text
