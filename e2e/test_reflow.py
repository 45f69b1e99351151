"""Reflow (WCAG 2.1, 1.4.10): every page and state of the portal at 320 × 640 CSS pixels, with
JavaScript on and off, scrolls only vertically (the page is no wider than the screen).

Each test walks one journey and collects the states that scroll sideways, so one run names
all of them; the states checked are printed (``-s``) for the record."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from e2e.conftest import (
    create_account,
    enrol_app,
    fill_contact,
    fill_questions,
    in_database,
    log_in,
    start_registration,
)

PHONE = {"width": 320, "height": 640}
_n = itertools.count(1)


class Reflow:
    """The page under test and the states seen so far (name → widths when too wide)."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.checked: list[str] = []
        self.too_wide: dict[str, tuple[int, int, list[str]]] = {}

    def check(self, state: str) -> None:
        self.page.wait_for_load_state("load")
        scroll, client, culprits = self.page.evaluate(
            """() => {
                const root = document.documentElement;
                const wide = [...document.querySelectorAll('body *')]
                    .filter(el => el.getBoundingClientRect().right > root.clientWidth + 0.5)
                    .slice(0, 5)
                    .map(el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
                               (el.className && typeof el.className === 'string' ? '.' + el.className : ''));
                return [root.scrollWidth, root.clientWidth, wide];
            }"""
        )
        self.checked.append(state)
        if scroll > client:
            self.too_wide[state] = (scroll, client, culprits)

    def done(self) -> None:
        print(f"\n{len(self.checked)} states at 320 px: " + "; ".join(self.checked))
        assert self.too_wide == {}, self.too_wide


@pytest.fixture
def phone(browser: Browser, base_url: str, javascript: bool) -> Iterator[Reflow]:
    context = browser.new_context(base_url=base_url, java_script_enabled=javascript, viewport=PHONE)
    page = context.new_page()
    page.javascript = javascript  # type: ignore[attr-defined]
    yield Reflow(page)
    context.close()


def _h1(page: Page):
    return page.get_by_role("heading", level=1)


def _primary(page: Page):
    """The step's primary button (Next, Verify, Continue, Submit...)."""
    return page.locator("main form button.button:not(.secondary):not(.link)").last


def test_signed_out_pages_fit_a_phone(phone: Reflow):
    page = phone.page
    for path in (
        "/",
        "/applications",
        "/register",
        "/register?q=zzzz",
        "/register/EHRIP/terms",
        "/login",
        "/status",
        "/recover/password",
        "/recover/user-id",
        "/help",
        "/contact",
        "/accessibility",
        "/privacy",
        "/no-such-page",
        "/dev/mailbox",
    ):
        page.goto(path)
        phone.check(path)
    page.goto("/login")
    page.get_by_label("User ID").fill("AAAA")
    page.get_by_label("Password").fill("wrong password here")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".error-summary, .error-message").first).to_be_visible()
    phone.check("login refused")
    page.goto("/status")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator(".error-message").first).to_be_visible()
    phone.check("status refused")
    page.goto("/recover/password")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator(".error-message").first).to_be_visible()
    phone.check("forgot password refused")
    page.locator("main input[type=text]").first.fill("nobody@example.gov")
    page.locator("main form button[type=submit]").first.click()
    expect(page.locator("main select, main input[type=password], main input[type=text]").first).to_be_visible()
    phone.check("forgot password, the questions")
    phone.done()


def test_registration_fits_a_phone(phone: Reflow, inbox):
    page = phone.page
    email = f"reflow{next(_n)}.{'js' if page.javascript else 'nojs'}@example.gov"  # type: ignore[attr-defined]
    page.goto("/register/EHRIP/terms")
    page.get_by_role("button", name="Accept").click()
    expect(_h1(page)).to_contain_text("Step 1 of 6")
    phone.check("step 1")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".error-summary")).to_be_visible()
    phone.check("step 1 with errors")

    start_registration(page, "EHRIP", email)
    phone.check("step 2")
    page.get_by_label("Verification code").fill("000000")
    page.get_by_role("button", name="Verify").click()
    expect(page.locator(".error-message").first).to_be_visible()
    phone.check("step 2 with an error")
    page.get_by_label("Verification code").fill(inbox.code_for(email))
    page.get_by_role("button", name="Verify").click()
    expect(_h1(page)).to_contain_text("Step 3 of 6")
    phone.check("step 3")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".error-summary")).to_be_visible()
    phone.check("step 3 with errors")
    fill_contact(page, "eligible-clinician", {"National Provider Identifier (NPI)": "1245319599"})
    phone.check("step 3 with the role's fields")
    page.get_by_role("button", name="Next").click()
    expect(_h1(page)).to_contain_text("Step 4 of 6")
    phone.check("step 4")
    page.get_by_role("button", name="Next").click()
    expect(page.locator(".error-summary")).to_be_visible()
    phone.check("step 4 with errors")
    fill_questions(page)
    page.get_by_role("button", name="Next").click()
    expect(_h1(page)).to_contain_text("Step 5 of 6")
    phone.check("review")
    page.get_by_role("link", name=re.compile("Change contact information")).click()
    expect(page.get_by_label("City")).to_be_visible()
    phone.check("review, changing contact information")
    page.get_by_label("City").fill("")
    page.get_by_role("button", name=re.compile("^Save")).click()
    expect(page.locator(".error-message").first).to_be_visible()
    phone.check("review, contact information refused")
    page.get_by_label("City").fill("Norfolk")
    page.get_by_role("button", name=re.compile("^Save")).click()
    expect(page.get_by_text("Norfolk")).to_be_visible()
    page.get_by_role("button", name="Submit").click()
    expect(_h1(page)).to_contain_text("Acknowledgement")
    phone.check("acknowledgement")
    page.get_by_role("link", name=re.compile("Print")).click()
    phone.check("acknowledgement, print view")
    phone.done()


def test_account_pages_fit_a_phone(phone: Reflow, server_env):
    page = phone.page
    account = create_account(server_env, grants=(("EQRS", "facility-editor"),))
    log_in(page, account)
    expect(_h1(page)).to_have_text("Change password")
    phone.check("change password (first login)")
    page.get_by_label("Current password").fill(account["password"])
    page.get_by_label("New password", exact=True).fill("short")
    page.get_by_label("Confirm new password").fill("other")
    page.get_by_role("button", name="Change password").click()
    expect(page.locator(".error-message").first).to_be_visible()
    phone.check("change password refused")
    new = "seven quiet lanterns over the bay"
    page.get_by_label("Current password").fill(account["password"])
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("Confirm new password").fill(new)
    page.get_by_role("button", name="Change password").click()
    expect(_h1(page)).to_have_text("Two-factor sign-in")  # Facility Editor: a second factor next
    enrol_app(page, lambda name: phone.check(f"two-factor sign-in set-up: {name}"))
    expect(_h1(page)).to_have_text("My applications")
    phone.check("my applications")
    page.get_by_role("link", name="Request another application").click()
    phone.check("request another application")
    page.get_by_role("link", name=re.compile(r"\(PSR\)$")).click()
    phone.check("request another application, its form")
    page.locator("main form button[type=submit]").last.click()
    expect(page.locator(".error-message").first).to_be_visible()
    phone.check("request another application, refused")
    phone.done()


def _quick_requests(server_env, count: int, last_name: str) -> list[str]:
    from tests.integration.test_approvals import quick_request

    async def make():
        return [await quick_request("COBR", "account-designee", days_ago=i, last_name=last_name) for i in range(count)]

    return in_database(server_env, make())


def test_approval_table_fits_a_phone(phone: Reflow, server_env):
    page = phone.page
    approver = create_account(server_env, initial=False, grants=(), approver=(("COBR", 1),))
    name = f"Reflow{next(_n)}{'js' if page.javascript else 'nojs'}"  # type: ignore[attr-defined]
    _quick_requests(server_env, 26, name)
    log_in(page, approver)
    page.goto(f"/approvals?application=COBR&q={name}")
    expect(page.locator("#queue-table tbody.request")).to_have_count(25)
    phone.check("approval table, 25 rows")
    page.get_by_role("link", name=re.compile("^Details")).first.click()
    expect(page.get_by_role("link", name=re.compile("^Hide details")).first).to_be_visible()
    phone.check("approval table, a row's details")
    page.goto(f"/approvals?application=COBR&q={name}")
    page.get_by_role("link", name=re.compile("^Reject")).first.click()
    expect(page.get_by_label(re.compile("Reason"))).to_be_visible()
    phone.check("approval table, the reject form")
    page.goto(f"/approvals?application=COBR&q={name}")
    boxes = page.locator("#queue-table tbody.request input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.get_by_role("button", name=re.compile("^Approve selected")).click()
    expect(page.get_by_role("button", name=re.compile("^Confirm"))).to_be_visible()
    phone.check("approval table, bulk confirmation")
    page.get_by_role("button", name=re.compile("^Confirm")).click()
    expect(page.locator("#queue-status .notice")).to_be_visible()
    phone.check("approval table, the bulk result")
    page.goto("/approvals?application=NOPE")
    phone.check("approval table, nothing matches")
    phone.done()
