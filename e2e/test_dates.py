"""The date of birth as GOV.UK's date input in Chromium (issue 11, item 8), with JavaScript on
(keyboard only) and off: typed as day, month and year, one message for the group with the boxes
in error marked, what was typed kept, and axe clean in each state."""

from __future__ import annotations

import itertools
import re

from playwright.sync_api import Locator, Page, expect

from e2e.conftest import Keyboard, assert_accessible, assert_no_console_errors

_n = itertools.count(1)


def date_of_birth(page: Page) -> Locator:
    return page.get_by_role("group", name="Date of birth")


def expect_date_error(page: Page, message: str, marked: list[str]) -> None:
    """One message above the boxes, in the group's description; only ``marked`` boxes in error;
    the error summary lists it once, linked to the first box in error."""
    group = date_of_birth(page)
    expect(group.locator(".error-message")).to_have_count(1)
    expect(group.locator(".error-message")).to_have_text(f"Error: {message}")
    expect(group).to_have_accessible_description(re.compile(re.escape(message)))
    for label in ("Day", "Month", "Year"):
        box = group.get_by_label(label, exact=True)
        if label in marked:
            expect(box).to_have_attribute("aria-invalid", "true")
        else:
            expect(box).not_to_have_attribute("aria-invalid", "true")
    link = page.locator(".error-summary").get_by_role("link", name=message)
    expect(link).to_have_count(1)
    expect(link).to_have_attribute("href", f"#dob_{marked[0].lower()}")
    expect(page).to_have_title(re.compile("^Error: "))


def test_date_of_birth_typed_as_day_month_and_year_with_errors(page: Page, javascript: bool):
    kb = Keyboard(page)
    email = f"dob{next(_n)}.{'js' if javascript else 'nojs'}@example.gov"
    page.goto("/register/EQRS/terms")
    kb.press(page.get_by_role("button", name="Accept"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Step 1 of 6: New User Registration")
    group = date_of_birth(page)
    expect(group.get_by_text("For example, 27 3 1980")).to_be_visible()
    for label, token in (("Day", "bday-day"), ("Month", "bday-month"), ("Year", "bday-year")):
        expect(group.get_by_label(label, exact=True)).to_have_attribute("autocomplete", token)
        expect(group.get_by_label(label, exact=True)).to_have_attribute("inputmode", "numeric")

    kb.fill(page.get_by_label("First name"), "Ana")
    kb.fill(page.get_by_label("Last name"), "García-López")
    kb.fill(group.get_by_label("Day", exact=True), "27")
    kb.fill(group.get_by_label("Year", exact=True), "80")
    kb.fill(page.get_by_label("Work email address", exact=True), email)
    kb.fill(page.get_by_label("Confirm work email address"), email)
    kb.press(page.get_by_role("button", name="Next"))

    # A missing month comes first; the short year waits its turn.
    expect_date_error(page, "Date of birth must include a month", ["Month"])
    expect(date_of_birth(page).get_by_label("Day", exact=True)).to_have_value("27")
    expect(date_of_birth(page).get_by_label("Year", exact=True)).to_have_value("80")
    assert_accessible(page)

    kb.fill(date_of_birth(page).get_by_label("Month", exact=True), "March")
    kb.press(page.get_by_role("button", name="Next"))
    expect_date_error(page, "Year must include 4 numbers", ["Year"])
    expect(date_of_birth(page).get_by_label("Month", exact=True)).to_have_value("March")
    assert_accessible(page)

    kb.fill(date_of_birth(page).get_by_label("Day", exact=True), "30")
    kb.fill(date_of_birth(page).get_by_label("Month", exact=True), "2")
    kb.fill(date_of_birth(page).get_by_label("Year", exact=True), "1980")
    kb.press(page.get_by_role("button", name="Next"))
    expect_date_error(page, "Date of birth must be a real date", ["Day"])
    assert_accessible(page)

    kb.fill(date_of_birth(page).get_by_label("Day", exact=True), "27")
    kb.fill(date_of_birth(page).get_by_label("Month", exact=True), "mar")
    kb.press(page.get_by_role("button", name="Next"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Step 2 of 6: Email Verification")

    # Back on step 1 the saved date is shown in its boxes, without leading zeros or names.
    kb.press(page.get_by_role("link", name="Back"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Step 1 of 6: New User Registration")
    for label, value in (("Day", "27"), ("Month", "3"), ("Year", "1980")):
        expect(date_of_birth(page).get_by_label(label, exact=True)).to_have_value(value)
    expect(date_of_birth(page).locator(".error-message")).to_have_count(0)
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)
