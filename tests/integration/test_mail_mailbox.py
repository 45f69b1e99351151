"""The development mailbox page (portal/controllers/mailbox.py): what the local catcher of
`make run` received, codes included; a notice without a catcher; absent in production."""

from __future__ import annotations

import socket
from email.message import EmailMessage

import aiosmtplib
import msgspec
import pytest

from portal.mail.catcher import start_catcher, stop_catcher
from tests.htmlcheck import h1, page, text, texts
from tests.support import url


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
    response = await client.get(url(client, "dev:mailbox"))
    assert response.status_code == 200
    soup = page(response)
    assert h1(soup) == "Development mailbox"
    assert texts(soup, "table > caption") == ["Caught emails, newest first"]
    assert texts(soup, "tbody > tr > th[scope=row]") == ["Second subject", "First <subject>"]
    assert texts(soup, "tbody > tr > td:nth-of-type(1)") == ["second@example.org", "first@example.org"]
    # A <pre>'s inner line breaks are its content: kept, not normalised.
    assert [pre.get_text().strip() for pre in soup.select("tbody pre")] == [
        "Line 1\nLine 2",
        "Your verification code is: 111111",
    ]
    assert soup.find("subject") is None  # escaped, never markup:
    assert "First &lt;subject&gt;" in response.text  # the raw page carries it escaped


async def test_mailbox_before_any_mail(catcher, client):
    soup = page(await client.get(url(client, "dev:mailbox")))
    assert soup.select_one("table") is None
    assert "No emails have been caught yet." in texts(soup, "main > p")


async def test_mailbox_without_a_catcher_says_how_to_get_one(client):
    response = await client.get(url(client, "dev:mailbox"))
    assert response.status_code == 200
    lead = text(page(response), "main p.lead")
    assert lead.startswith("No mail catcher runs in this process.")
    assert "make run" in texts(page(response), "main p.lead code")


async def test_mailbox_is_not_found_in_production(catcher, app, client):
    await send(catcher, "hidden@example.org", "Hidden", "Your verification code is: 222222")
    development = app.state.settings
    app.state.settings = msgspec.structs.replace(
        development, env="production", secret_key="x" * 40, data_key="y" * 44, base_url="https://x"
    )
    try:
        response = await client.get(url(client, "dev:mailbox"))
    finally:
        app.state.settings = development
    assert response.status_code == 404
    assert "Hidden" not in response.text and "222222" not in response.text  # nowhere on the page
