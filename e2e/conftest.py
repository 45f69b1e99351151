"""Browser tests: the portal served by uvicorn in a subprocess, driven by Debian's Chromium."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import pyotp
import pytest
from aiosmtpd.controller import Controller
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from portal.mail.catcher import CatchingHandler, CaughtMessage
from tests.support import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("PORTAL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
T = TypeVar("T")
WCAG_AA = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]}}


class Inbox:
    """The real SMTP server (aiosmtpd) the portal under test delivers to."""

    def __init__(self, handler: CatchingHandler) -> None:
        self.handler = handler

    def wait_for(self, address: str, subject_part: str, timeout: float = 15.0) -> CaughtMessage:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.handler.messages):
                if address in message.rcpt_tos and subject_part in message.subject:
                    return message
            time.sleep(0.1)
        raise AssertionError(f"no email to {address} about {subject_part!r}")

    def code_for(self, address: str) -> str:
        message = self.wait_for(address, "verification code")
        return re.search(r"verification code is: (\d{6})", message.text).group(1)

    def clear(self) -> None:
        self.handler.messages.clear()


@pytest.fixture(scope="session")
def inbox() -> Inbox:
    handler = CatchingHandler(echo=None)
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    box = Inbox(handler)
    box.handler_port = port
    yield box
    controller.stop()


@pytest.fixture(scope="session")
def port() -> int:
    """The port the portal under test listens on (chosen once, before the server starts)."""
    return free_port()


@pytest.fixture(scope="session")
def server_env(inbox: Inbox, port: int) -> dict[str, str]:
    tmp = Path(tempfile.mkdtemp(prefix="portal-e2e-"))
    env = {
        **os.environ,
        "PORTAL_ENV": "development",
        "PORTAL_DATABASE_URL": os.environ.get("PORTAL_DATABASE_URL") or f"sqlite:///{tmp / 'e2e.db'}",
        "PORTAL_SMTP_URL": f"smtp://127.0.0.1:{inbox.handler_port}",
        "PORTAL_MAIL_WORKER_INLINE": "true",
        "PORTAL_RATE_LIMIT": "100000",  # every browser here shares one address
        # Served and browsed as localhost, not 127.0.0.1: a passkey's relying-party ID is this
        # URL's host (an IP address cannot be one), and its origin is checked against it.
        "PORTAL_BASE_URL": f"http://localhost:{port}",
    }
    return env


@pytest.fixture(scope="session")
def base_url(server_env, port: int) -> str:
    """Reset the database, then serve the portal until the session ends."""
    os.environ.update({k: server_env[k] for k in ("PORTAL_ENV", "PORTAL_DATABASE_URL", "PORTAL_SMTP_URL")})
    from portal.settings import from_env
    from tests.support import reset_database

    asyncio.run(reset_database(from_env(server_env)))
    # The server's output goes to a file, never to a pipe nobody reads while it runs: once a
    # pipe's buffer (64 KiB) is full, every log line the server writes blocks it for good.
    log = Path(server_env["PORTAL_DATABASE_URL"].removeprefix("sqlite:///")).parent / "server.log"
    if not log.parent.is_dir():  # PostgreSQL: no database file to sit beside
        log = Path(tempfile.mkdtemp(prefix="portal-e2e-")) / "server.log"
    output_file = log.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=server_env,
        stdout=output_file,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = server_env["PORTAL_BASE_URL"]
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/healthz", timeout=1) as r:  # noqa: S310 (local)
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"the portal did not start:\n{log.read_text()}") from None
            time.sleep(0.1)
    yield url
    proc.terminate()
    proc.wait(timeout=10)
    output_file.close()


@pytest.fixture(scope="session")
def browser(base_url: str) -> Browser:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=[True, False], ids=["js", "nojs"])
def javascript(request) -> bool:
    return request.param


def new_page(browser: Browser, base_url: str, javascript: bool = True) -> Page:
    """A page in a browser context of its own (cookies apart) that records console errors for
    ``assert_no_console_errors``; close it with ``page.context.close()``."""
    context = browser.new_context(base_url=base_url, java_script_enabled=javascript)
    page = context.new_page()
    page.javascript = javascript  # type: ignore[attr-defined]
    page.console_errors = []  # type: ignore[attr-defined]
    page.on("console", lambda m: m.type == "error" and page.console_errors.append(m.text))  # type: ignore[attr-defined]
    return page


@pytest.fixture
def page(browser: Browser, base_url: str, javascript: bool) -> Page:
    page = new_page(browser, base_url, javascript)
    yield page
    page.context.close()


_AXE = Axe()


def assert_accessible(page: Page) -> None:
    """axe-core (WCAG 2.1 A/AA and best practices) finds no violation on the page as it is now.

    axe is a script, so a page without JavaScript is checked by replaying its exact HTML at
    the same URL in a JavaScript-enabled page of the same browser (stylesheets load as usual)."""
    target = page
    helper = None
    if not getattr(page, "javascript", True):
        html, url = page.content(), page.url
        helper = page.context.browser.new_context(java_script_enabled=True)
        target = helper.new_page()
        target.route(url, lambda route: route.fulfill(status=200, body=html, content_type="text/html; charset=utf-8"))
        target.goto(url)
    try:
        results = _AXE.run(target, options=WCAG_AA)
    finally:
        if helper is not None:
            helper.close()
    assert results.violations_count == 0, results.generate_report()


def assert_fits(page: Page, where: str = "") -> None:
    """No horizontal scrolling (WCAG 2.1, 1.4.10 Reflow): the page is no wider than the screen."""
    widths = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert widths[0] <= widths[1], f"{where or page.url}: the page is {widths[0]} px wide on a {widths[1]} px screen"


def assert_no_console_errors(page: Page) -> None:
    """Nothing was refused by the CSP or failed in a script."""
    assert page.console_errors == [], page.console_errors  # type: ignore[attr-defined]


def in_database(server_env: dict[str, str], work: Coroutine[Any, Any, T]) -> T:
    """Run ``work`` against the database the portal under test serves."""
    from portal.models.db import bind
    from portal.models.engine import make_engine
    from portal.settings import from_env

    bind(make_engine(from_env(server_env)))
    # Playwright's sync API keeps an event loop on this thread: run the coroutine on another.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, work).result()


def create_account(server_env: dict[str, str], **options) -> dict:
    """An account made directly in the served database (``make_account``'s options)."""
    from tests.integration.accounts_support import make_account

    return in_database(server_env, make_account(**options))


class Keyboard:
    """Acts like a person: with JavaScript on, only the keyboard; with it off, the mouse."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.keyboard_only = page.javascript  # type: ignore[attr-defined]

    def tab_to(self, target: Locator) -> None:
        for _ in range(80):
            if target.evaluate("el => el === document.activeElement"):
                return
            self.page.keyboard.press("Tab")
        raise AssertionError(f"{target} cannot be reached with the Tab key")

    def fill(self, target: Locator, text: str) -> None:
        if not self.keyboard_only:
            target.fill(text)
            return
        self.tab_to(target)
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Backspace")
        self.page.keyboard.type(text)

    def choose(self, target: Locator, label: str) -> None:
        if not self.keyboard_only:
            target.select_option(label=label)
            return
        self.tab_to(target)
        options = target.locator("option").all_inner_texts()
        current = target.evaluate("el => el.selectedIndex")
        wanted = options.index(label)
        key = "ArrowDown" if wanted > current else "ArrowUp"
        for _ in range(abs(wanted - current)):
            self.page.keyboard.press(key)
        expect(target).to_have_value(re.compile(".+"))

    def press(self, target: Locator) -> None:
        if not self.keyboard_only:
            target.click()
            return
        self.tab_to(target)
        self.page.keyboard.press("Enter")


SECOND_STEP = "Confirm it is you to log in"


def totp_code(account: dict) -> str:
    """A code of the account's authenticator app that the portal has not accepted yet.

    A code works once (the portal keeps the last 30-second step it accepted, and allows one step
    of drift either way), and a test may sign the same account in more than once within 30
    seconds: the step used last is kept in ``account["totp_step"]``; this step's code, else the
    next step's, else (a third time within the step) the next step's once it has begun."""
    totp = pyotp.TOTP(account["totp_secret"])
    used = account.get("totp_step", 0)
    while True:
        at = datetime.now(UTC)
        step = totp.timecode(at)
        for candidate in (step, step + 1):
            if candidate > used:
                account["totp_step"] = candidate
                return totp.generate_otp(candidate)
        time.sleep(totp.interval - at.timestamp() % totp.interval + 0.05)


def log_in(page: Page, account: dict) -> None:
    """Sign in from the login page, submitting with the Enter key; for an account with an
    authenticator app, the second step too, with a code it has not used."""
    page.goto("/login")
    page.get_by_label("User ID").fill(account["user_id"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_label("Password").press("Enter")
    heading = page.get_by_role("heading", level=1)
    expect(heading).not_to_have_text("Log in to IACS")
    if heading.inner_text().strip() != SECOND_STEP:
        return
    assert account.get("totp_secret"), f"{account['user_id']} has a second step and no authenticator app"
    code = page.get_by_label("Code", exact=True)
    code.fill(totp_code(account))
    code.press("Enter")
    expect(heading).not_to_have_text(SECOND_STEP)


def enrol_app(page: Page, check: Callable[[str], None] | None = None, account: dict | None = None) -> str:
    """Set up an authenticator app through the pages, as a person would (from Two-factor sign-in,
    where a session that must have one is sent): read the key shown as text, enter the code it
    gives, then continue past the recovery codes. ``check`` is called on each page on the way
    (with its name: "manage", "app", "codes"). The secret (spaces removed); with ``account``,
    kept there too (with the step of the code used) for ``log_in`` and ``totp_code``."""
    heading = page.get_by_role("heading", level=1)
    if heading.inner_text().strip() != "Two-factor sign-in":
        page.goto("/my/two-factor")
        expect(heading).to_have_text("Two-factor sign-in")
    if check:
        check("manage")
    page.get_by_role("link", name="Use an authenticator app").click()
    expect(heading).to_have_text("Set up an authenticator app")
    if check:
        check("app")
    secret = "".join(page.locator("#secret").inner_text().split())
    if account is None:
        account = {}
    account |= {"totp_secret": secret, "totp_step": 0}
    page.get_by_label("Code from the app").fill(totp_code(account))
    page.get_by_role("button", name="Set up").click()
    expect(heading).to_have_text("Your recovery codes")
    expect(page.locator(".codes code")).to_have_count(10)
    if check:
        check("codes")
    page.get_by_role("link", name="I have saved my codes, continue").click()
    expect(heading).not_to_have_text("Your recovery codes")
    return secret


def fill_date_of_birth(page: Page, born: str) -> None:
    """Type an ISO date ("1985-06-15") into step 1's Day, Month and Year boxes ("15", "6", "1985")."""
    year, month, day = born.split("-")
    group = page.get_by_role("group", name="Date of birth")
    group.get_by_label("Day").fill(day.lstrip("0"))
    group.get_by_label("Month").fill(month.lstrip("0"))
    group.get_by_label("Year").fill(year)


def start_registration(
    page: Page, application: str, email: str, *, first: str = "Lee", last: str = "Okafor", born: str = "1985-06-15"
) -> None:
    """Accept ``application``'s terms and send step 1 (with the mouse): the code is on its way."""
    page.goto(f"/register/{application}/terms")
    page.get_by_role("button", name="Accept").click()
    page.get_by_label("First name").fill(first)
    page.get_by_label("Last name").fill(last)
    fill_date_of_birth(page, born)
    page.get_by_label("Work email address", exact=True).fill(email)
    page.get_by_label("Confirm work email address").fill(email)
    page.get_by_role("button", name="Next").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Step 2 of 6: Email Verification")


def fill_contact(page: Page, role: str, fields: dict[str, str]) -> None:
    """Step 3 with the mouse: a work address, ``role`` (its fields shown: by htmx, or without
    JavaScript by the fallback button) and its ``fields`` by label. Next is left to the caller."""
    page.get_by_label("Organization", exact=True).fill("Okafor Clinic")
    page.get_by_label("Address line 1").fill("12 Elm Street")
    page.get_by_label("City").fill("Richmond")
    page.get_by_label("State").select_option("VA")
    page.get_by_label("ZIP code").fill("23219")
    page.get_by_label("Work phone").fill("804 555 0199")
    page.get_by_label("Role").select_option(role)
    if not page.javascript:  # type: ignore[attr-defined]
        page.get_by_role("button", name="Show the information for this role").click()
    for label, value in fields.items():
        page.get_by_label(label).fill(value)


def fill_questions(page: Page) -> None:
    """Step 4: two questions and their answers. Next is left to the caller."""
    page.get_by_label("Question 1").select_option("first-street")
    page.get_by_label("Answer 1").fill("Maple Avenue")
    page.get_by_label("Question 2").select_option("childhood-nickname")
    page.get_by_label("Answer 2").fill("Sunny")
