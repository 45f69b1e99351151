"""Request another application in Chromium, with JavaScript on and off: another role of an
application already held, the SSN asked because it was never given, its errors, the
confirmation at its own address (a reload sends nothing again), and no sideways scrolling at
320 px."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from e2e.conftest import assert_accessible, assert_fits, assert_no_console_errors, create_account, log_in

CONTACT = {
    "Organization": "Acme Health Services",
    "Address line 1": "7500 Security Blvd",
    "City": "Baltimore",
    "ZIP code": "21244-1850",
    "Work phone": "410 786 3000",
}


def test_another_role_of_a_held_application_asks_for_the_ssn(page: Page, javascript: bool, server_env):
    account = create_account(server_env, initial=False)  # holds PSR as Provider User
    page.set_viewport_size({"width": 320, "height": 640})
    log_in(page, account)
    page.goto("/my/applications")
    page.get_by_role("link", name="Request another application").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request another application")
    expect(page.get_by_text("You have: Provider User.")).to_be_visible()
    assert_fits(page)
    page.get_by_role("link", name=re.compile(r"\(PSR\)$")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request access to PSR")
    ssn = page.get_by_label("Social Security Number (SSN)")
    expect(ssn).to_be_visible()
    expect(page.get_by_text("Privacy Act statement", exact=True)).to_be_visible()
    role = page.get_by_label("Role")
    expect(role.locator("option")).to_have_text(["Select your role", "Security Official"])
    assert_fits(page)
    assert_accessible(page)

    for label, value in CONTACT.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_label("State").select_option("MD")
    role.select_option("security-official")
    if javascript:
        expect(page.get_by_label("Tax Identification Number (TIN)")).to_be_visible()
    else:
        page.get_by_role("button", name="Show the information for this role").click()
        expect(page).to_have_url(re.compile(r"/my/request/PSR\?role=security-official$"))
        expect(page.get_by_label("Organization", exact=True)).to_have_value(CONTACT["Organization"])
    page.get_by_label("National Provider Identifier (NPI)").fill("1234567893")
    page.get_by_label("Tax Identification Number (TIN)").fill("12-3456789")
    page.get_by_label("Legal Business Name").fill("Acme Health Services, LLC")
    page.get_by_label("Social Security Number (SSN)").fill("000-12-3456")
    page.get_by_role("button", name="Submit").click()

    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Enter a valid Social Security Number, like 123-45-6789")
    expect(page).to_have_url(re.compile(r"/my/request/PSR$"))  # back at the form's own address
    expect(page).to_have_title(re.compile(r"^Error: "))
    expect(page.get_by_label("Organization", exact=True)).to_have_value(CONTACT["Organization"])
    assert_fits(page)
    assert_accessible(page)

    page.get_by_label("Social Security Number (SSN)").fill("123-45-6789")
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Request submitted")
    expect(page).to_have_url(re.compile(r"/my/request/PSR/sent/IACS-[A-Z0-9-]+$"))
    tracking = page.locator(".tracking-number").inner_text()
    assert_fits(page)
    assert_accessible(page)
    page.reload()  # a GET: nothing is sent again
    expect(page.locator(".tracking-number")).to_have_text(tracking)
    if javascript:
        assert_no_console_errors(page)

    page.goto("/my/request/")
    expect(page.get_by_text(f"Your request {tracking} is waiting for approval.")).to_be_visible()
    assert_accessible(page)
