"""Help and law in Chromium, with JavaScript on and off: the footer's pages, "Get help with
this page", reflow at 320 px, and the Privacy Act statement where the SSN or TIN is asked."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import assert_accessible, assert_fits, assert_no_console_errors, start_registration

PAGES = [
    ("Help", "/help", "Help with IACS Registration"),
    ("Contact", "/contact", "Contact the IACS help desk"),
    ("Accessibility statement", "/accessibility", "Accessibility statement for IACS Registration"),
    ("Privacy policy", "/privacy", "Privacy policy"),
]


@pytest.mark.parametrize(("link", "path", "heading"), PAGES, ids=[p[1].strip("/") for p in PAGES])
def test_footer_link_opens_its_page(page: Page, javascript: bool, link: str, path: str, heading: str):
    page.goto("/login")
    page.get_by_role("contentinfo").get_by_role("link", name=link, exact=True).click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)


def test_the_new_pages_reflow_at_320_px(page: Page, javascript: bool):
    page.set_viewport_size({"width": 320, "height": 640})
    for _, path, heading in PAGES:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
        assert_fits(page, path)
        # The footer's four links wrap rather than run off the screen.
        footer = page.get_by_role("contentinfo")
        for link, _, _ in PAGES:
            box = footer.get_by_role("link", name=link, exact=True).bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 320, (path, link)


def test_get_help_with_this_page_goes_to_its_section(page: Page, javascript: bool):
    page.goto("/login")
    page.get_by_role("link", name="Get help with this page").click()
    expect(page).to_have_url(re.compile(r"/help#log-in$"))
    expect(page.locator("#log-in")).to_have_text("Logging in for the first time")
    expect(page.locator("#log-in")).to_be_in_viewport()
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)


def test_privacy_act_statement_where_the_ssn_and_tin_are_asked(page: Page, javascript: bool, inbox):
    email = f"privacy.act.{'js' if javascript else 'nojs'}@example.gov"
    # Step 1 of an application that asks for the SSN: the statement is beside it.
    page.goto("/register/PSR/terms")
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_label("Social Security Number (SSN)")).to_be_visible()
    statement = page.locator("details.privacy-act")
    expect(statement).to_have_count(1)
    statement.locator("summary").click()
    expect(statement.get_by_text(re.compile("Disclosure is voluntary"))).to_be_visible()
    assert_accessible(page)

    # Step 3 of an application without the SSN: only a role that needs the TIN shows it.
    page.context.clear_cookies()
    start_registration(page, "HPMS", email)
    page.get_by_label("Verification code").fill(inbox.code_for(email))
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Step 3 of 6: Contact Information")
    if javascript:  # the step was swapped in: its help link followed it
        expect(page.get_by_role("link", name="Get help with this page")).to_have_attribute(
            "href", re.compile(r"#step-contact$")
        )
    for role, shown in (("Plan User", 0), ("Plan Security Officer", 1)):
        page.get_by_label("Role").select_option(label=role)
        if not javascript:
            page.get_by_role("button", name="Show the information for this role").click()
        expect(page.get_by_label("Contract Number")).to_be_visible()
        expect(page.locator("details.privacy-act")).to_have_count(shown)
    page.locator("details.privacy-act summary").click()
    full = page.get_by_role("link", name="Full Privacy Act statement")
    expect(full).to_be_visible()
    assert_accessible(page)
    full.click()
    expect(page).to_have_url(re.compile(r"/privacy#privacy-act$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Privacy policy")
    if javascript:
        assert_no_console_errors(page)
