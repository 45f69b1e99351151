"""The registration journey in Chromium, from Getting Ready to the acknowledgement, with
JavaScript on (keyboard only) and off; the code is read from the real SMTP server."""

from __future__ import annotations

import itertools
import re

from playwright.sync_api import Locator, Page, expect

from e2e.conftest import Keyboard, assert_accessible, assert_no_console_errors, start_registration

_n = itertools.count(1)


def heading(page: Page) -> Locator:
    return page.get_by_role("heading", level=1)


def expect_error_at(page: Page, label: str, message: str) -> None:
    """The message is shown next to the field, and is part of the field's description."""
    field = page.get_by_label(label, exact=True)
    expect(page.locator(".field", has=field).locator(".error-message")).to_contain_text(message)
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_have_accessible_description(re.compile(re.escape(message)))


def test_registration_journey(page: Page, javascript: bool, inbox):
    kb = Keyboard(page)
    email = f"e2e{next(_n)}.{'js' if javascript else 'nojs'}@example.gov"

    page.goto("/")
    kb.press(page.get_by_role("link", name="New User Registration"))
    expect(heading(page)).to_have_text("New User Registration")
    assert_accessible(page)

    # Choose: filter the list (as you type with htmx, one request per pause in typing; a plain
    # GET ?q= without JavaScript).
    searches = []
    page.on("request", lambda r: "q=" in r.url and r.headers.get("hx-request") and searches.append(r.url))
    kb.fill(page.get_by_label("Search applications"), "reimburse")  # 9 keys, no delay between them
    if not javascript:
        page.get_by_role("button", name="Search").click()
        expect(page).to_have_url(re.compile(r"\?q=reimburse"))
    expect(page.locator("#application-list li")).to_have_count(1)
    if javascript:
        expect(page).to_have_url(re.compile(r"\?q=reimburse"))
        assert len(searches) == 1, searches
    kb.press(page.get_by_role("link", name="Provider Statistical and Reimbursement System (PSR)"))

    expect(heading(page)).to_have_text("CMS Computer System Security Requirements")
    assert_accessible(page)
    kb.press(page.get_by_role("button", name="Accept"))

    # Step 1, first with nothing filled in: the errors are shown and accessible.
    expect(heading(page)).to_have_text("Step 1 of 6: New User Registration")
    kb.press(page.get_by_role("button", name="Next"))
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page.get_by_text("Enter your first name").first).to_be_visible()
    expect(page).to_have_title(re.compile("^Error: "))
    assert_accessible(page)
    kb.fill(page.get_by_label("First name"), "Ana")
    kb.fill(page.get_by_label("Last name"), "García-López")
    _type_date(page, kb)
    kb.fill(page.get_by_label("Social Security Number (SSN)"), "123-45-6789")
    kb.fill(page.get_by_label("Work email address", exact=True), email)
    kb.fill(page.get_by_label("Confirm work email address"), email)
    kb.press(page.get_by_role("button", name="Next"))

    # Step 2: a wrong code, then the one from the email.
    expect(heading(page)).to_have_text("Step 2 of 6: Email Verification")
    expect(page).to_have_url(re.compile(r"/register/verify$"))
    expect(page.get_by_text(re.compile(r"The code expires at \d{1,2}:\d\d[ap]m ET"))).to_be_visible()
    if javascript:
        expect(page.locator(".countdown-clock")).to_have_text(re.compile(r"^(29|30):\d\d$"))
    assert_accessible(page)
    code = inbox.code_for(email)
    wrong = "000000" if code != "000000" else "111111"
    kb.fill(page.get_by_label("Verification code"), wrong)
    kb.press(page.get_by_role("button", name="Verify"))
    expect(page.get_by_text("That code is not correct").first).to_be_visible()
    assert_accessible(page)
    kb.fill(page.get_by_label("Verification code"), code)
    kb.press(page.get_by_role("button", name="Verify"))

    # Step 3: the role's own fields appear when the role is chosen.
    expect(heading(page)).to_have_text("Step 3 of 6: Contact Information")
    kb.fill(page.get_by_label("Organization"), "Acme Health Services")
    kb.fill(page.get_by_label("Address line 1"), "7500 Security Blvd")
    kb.fill(page.get_by_label("City"), "Baltimore")
    kb.choose(page.get_by_label("State"), "Maryland")
    kb.fill(page.get_by_label("ZIP code"), "2124")  # a digit short: refused below
    kb.fill(page.get_by_label("Work phone"), "410 786 3000")
    expect(page.get_by_label("National Provider Identifier (NPI)")).to_have_count(0)
    kb.choose(page.get_by_label("Role"), "Provider User")
    if not javascript:
        page.get_by_role("button", name="Show the information for this role").click()
    kb.fill(page.get_by_label("National Provider Identifier (NPI)"), "1234567893")
    kb.fill(page.get_by_label("Tax Identification Number (TIN)"), "98-7654321")
    expect(page.get_by_label("Contract Number")).to_have_count(0)
    assert_accessible(page)
    kb.press(page.get_by_role("button", name="Next"))
    expect(page).to_have_title(re.compile("^Error: Step 3 of 6"))
    expect_error_at(page, "ZIP code", "Enter a ZIP code of 5 digits")
    assert_accessible(page)
    kb.fill(page.get_by_label("ZIP code"), "21244")
    kb.press(page.get_by_role("button", name="Next"))

    # Step 4: two questions; the second answer is missing at first.
    expect(heading(page)).to_have_text("Step 4 of 6: Authentication Questions")
    kb.choose(page.get_by_label("Question 1"), "What was the name of your first school?")
    kb.fill(page.get_by_label("Answer 1"), "Lincoln Elementary")
    kb.choose(page.get_by_label("Question 2"), "What was the make and model of your first car?")
    assert_accessible(page)
    kb.press(page.get_by_role("button", name="Next"))
    expect(page).to_have_title(re.compile("^Error: Step 4 of 6"))
    expect_error_at(page, "Answer 2", "Enter your answer to question 2")
    assert_accessible(page)
    kb.fill(page.get_by_label("Answer 1"), "Lincoln Elementary")  # answers are never sent back
    kb.fill(page.get_by_label("Answer 2"), "Ford Focus")
    kb.press(page.get_by_role("button", name="Next"))

    # Step 5: review, SSN and TIN masked, inline edit of the contact section.
    expect(heading(page)).to_have_text("Step 5 of 6: Review Details")
    review = page.locator("#main")
    expect(review).to_contain_text("Social Security Number•••••6789")
    expect(review).to_contain_text("Tax Identification Number (TIN)•••••4321")
    expect(review).not_to_contain_text("45-6789")
    expect(review).not_to_contain_text("7654321")
    expect(page.get_by_role("link", name="Change personal information")).to_be_visible()
    assert_accessible(page)
    kb.press(page.get_by_role("link", name="Change contact information"))
    if javascript:
        expect(page).to_have_url(re.compile(r"/register/review$"))  # edited in place
        kb.fill(page.get_by_label("Organization"), "Acme Health Partners")
        kb.fill(page.get_by_label("ZIP code"), "12")
        assert_accessible(page)
        kb.press(page.get_by_role("button", name="Save"))
        expect_error_at(page, "ZIP code", "Enter a ZIP code of 5 digits")
        expect(page.locator("#review-contact").get_by_role("alert")).to_contain_text("There is a problem")
        assert_accessible(page)
        kb.fill(page.get_by_label("ZIP code"), "21244")
        kb.press(page.get_by_role("button", name="Save"))
    else:  # a page of that section only (e2e/test_check_answers.py tests it in full)
        expect(heading(page)).to_have_text("Change your contact information")
        page.get_by_label("Organization").fill("Acme Health Partners")
        page.get_by_role("button", name="Save and return to review").click()
        expect(heading(page)).to_have_text("Step 5 of 6: Review Details")
    expect(page.locator("#review-contact")).to_contain_text("Acme Health Partners")
    expect(page.get_by_role("link", name="Change contact information")).to_be_visible()
    kb.press(page.get_by_role("button", name="Submit"))

    # Step 6: the tracking number, on the page and by email.
    expect(heading(page)).to_have_text("Step 6 of 6: Acknowledgement")
    tracking = page.locator(".tracking-number").inner_text()
    assert re.fullmatch(r"IACS-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}-[2-9A-HJKMNP-TV-Z]{4}", tracking)
    expect(page.get_by_text("Record this number")).to_be_visible()
    assert_accessible(page)
    assert tracking in inbox.wait_for(email, "registration received").text
    kb.press(page.get_by_role("button", name="OK"))
    expect(heading(page)).to_have_text("Getting ready to register for an IACS User ID")

    # Status page with the number and the email.
    page.goto("/status")
    assert_accessible(page)
    kb.fill(page.get_by_label("Registration tracking number"), "IACS-2222-3333-4444")
    kb.fill(page.get_by_label("Email address"), email)
    kb.press(page.get_by_role("button", name="Check registration status"))
    expect(page.locator("#status")).to_contain_text("We could not find a registration with that tracking number")
    assert_accessible(page)
    kb.fill(page.get_by_label("Registration tracking number"), tracking)
    kb.fill(page.get_by_label("Email address"), email)
    kb.press(page.get_by_role("button", name="Check registration status"))
    expect(page.locator("#status")).to_contain_text("Pending approval at level 1 of 1")
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)


def _type_date(page: Page, kb: Keyboard) -> None:
    """The date of birth in its Day, Month and Year boxes (the keyboard only with JavaScript on);
    the month by name, as people may type it."""
    group = page.get_by_role("group", name="Date of birth")
    kb.fill(group.get_by_label("Day"), "27")
    kb.fill(group.get_by_label("Month"), "March")
    kb.fill(group.get_by_label("Year"), "1980")


def test_back_and_reload_keep_the_values(page: Page, javascript: bool, inbox):
    email = f"back{next(_n)}.{'js' if javascript else 'nojs'}@example.gov"
    start_registration(page, "EQRS", email, first="Kim", last="O'Neil", born="1975-12-01")
    page.reload()
    expect(heading(page)).to_have_text("Step 2 of 6: Email Verification")
    page.go_back()
    expect(heading(page)).to_have_text("Step 1 of 6: New User Registration")
    page.reload()
    expect(page.get_by_label("Last name")).to_have_value("O'Neil")
    page.go_forward()
    expect(heading(page)).to_have_text("Step 2 of 6: Email Verification")
    page.get_by_role("link", name="Back").click()
    expect(heading(page)).to_have_text("Step 1 of 6: New User Registration")
    expect(page.get_by_label("First name")).to_have_value("Kim")
    # Skipping ahead is refused: the server sends the browser to the first unfinished step.
    page.goto("/register/review")
    expect(heading(page)).to_have_text("Step 2 of 6: Email Verification")
