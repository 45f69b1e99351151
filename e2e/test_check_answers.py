"""Check answers, the back link and the acknowledgement in Chromium (issue 11, items 3, 5, 12):
Change opens only that section's form (its own page without JavaScript, in place with it),
refused saves come back with their messages once, Back sits above the heading with the primary
button alone below, and the acknowledgement fits and prints at 320 px."""

from __future__ import annotations

import itertools
import re

from playwright.sync_api import Page, expect

from e2e.conftest import (
    assert_accessible,
    assert_fits,
    assert_no_console_errors,
    fill_contact,
    fill_questions,
    start_registration,
)

_n = itertools.count(1)
PHONE = {"width": 320, "height": 640}


def heading(page: Page):
    return page.get_by_role("heading", level=1)


def to_review(page: Page, inbox, tag: str) -> str:
    email = f"check{next(_n)}.{tag}@example.gov"
    start_registration(page, "EQRS", email)
    page.get_by_label("Verification code").fill(inbox.code_for(email))
    page.get_by_role("button", name="Verify").click()
    fill_contact(
        page, "facility-editor", {"National Provider Identifier (NPI)": "1245319599", "Organization Number": "0012345"}
    )
    page.get_by_role("button", name="Next").click()
    expect(heading(page)).to_have_text("Step 4 of 6: Authentication Questions")
    fill_questions(page)
    page.get_by_role("button", name="Next").click()
    expect(heading(page)).to_have_text("Step 5 of 6: Review Details")
    return email


def test_change_a_section_and_return_to_the_review(page: Page, javascript: bool, inbox):
    to_review(page, inbox, "js" if javascript else "nojs")
    page.set_viewport_size(PHONE)
    section = page.locator("#review-contact")
    page.get_by_role("link", name="Change contact information").click()
    if javascript:  # in place: Save and Cancel inside the section, the review around it
        expect(page).to_have_url(re.compile(r"/register/review$"))
        expect(section.get_by_label("Organization", exact=True)).to_have_value("Okafor Clinic")
    else:  # a page of that section only, no wizard
        expect(page).to_have_url(re.compile(r"/register/review/contact/edit$"))
        expect(heading(page)).to_have_text("Change your contact information")
        expect(page.get_by_text("Step 3 of 6")).to_have_count(0)
        expect(page.get_by_label("Work email address")).to_have_count(0)
    assert_fits(page)
    assert_accessible(page)

    page.get_by_label("ZIP code").fill("12")
    save = "Save" if javascript else "Save and return to review"
    page.get_by_role("button", name=save, exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("There is a problem")
    expect(page.get_by_label("ZIP code")).to_have_attribute("aria-invalid", "true")
    if not javascript:  # post/redirect/get: the messages at the page's own address, once
        expect(page).to_have_url(re.compile(r"/register/review/contact/edit$"))
        expect(page).to_have_title(re.compile("^Error: Change your contact information"))
    assert_fits(page)
    assert_accessible(page)
    if not javascript:
        page.reload()  # a refresh: no resubmission, no stale messages
        expect(page.get_by_role("alert")).to_have_count(0)
        expect(page.get_by_label("ZIP code")).to_have_value("23219")

    page.get_by_role("link", name="Cancel").click()
    expect(heading(page)).to_have_text("Step 5 of 6: Review Details")
    expect(section).to_contain_text("23219")
    page.get_by_role("link", name="Change contact information").click()
    page.get_by_label("Organization", exact=True).fill("Okafor Family Clinic")
    page.get_by_role("button", name=save, exact=True).click()
    expect(heading(page)).to_have_text("Step 5 of 6: Review Details")
    expect(page).to_have_url(re.compile(r"/register/review$"))
    expect(section).to_contain_text("Okafor Family Clinic")
    expect(page.get_by_role("link", name="Change contact information")).to_be_visible()
    if javascript:
        assert_no_console_errors(page)


def test_back_is_above_the_heading_and_the_primary_button_stands_alone(page: Page, javascript: bool, inbox):
    to_review(page, inbox, "back-js" if javascript else "back-nojs")
    main = page.locator("#main")
    back = main.get_by_role("link", name="Back", exact=True)
    box_back, box_h1 = back.bounding_box(), heading(page).bounding_box()
    assert box_back and box_h1 and box_back["y"] < box_h1["y"]  # top left, above the heading
    expect(main.locator(".actions").last.locator("button, a")).to_have_count(1)  # Submit alone
    # Keyboard order follows the page: Back first, the Change links, then Submit.
    order = main.locator("a, button, input, select").evaluate_all("els => els.map(e => e.textContent.trim())")
    assert order[0] == "Back" and order.index("Submit") > order.index("Change authentication questions"), order
    back.click()
    expect(heading(page)).to_have_text("Step 4 of 6: Authentication Questions")  # Back from the review: step 4
    expect(main.locator(".actions button")).to_have_text(["Next"])
    assert_accessible(page)


def test_the_acknowledgement_fits_a_phone_and_prints(page: Page, javascript: bool, inbox):
    to_review(page, inbox, "ack-js" if javascript else "ack-nojs")
    page.get_by_role("button", name="Submit").click()
    expect(heading(page)).to_have_text("Step 6 of 6: Acknowledgement")
    page.set_viewport_size(PHONE)
    number = page.locator(".tracking-number")
    assert re.fullmatch(r"IACS(-[2-9A-HJKMNP-TV-Z]{4}){3}", number.inner_text())
    one_line = number.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length }"
    )
    assert one_line == 1, "the tracking number breaks across lines"
    assert number.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert_fits(page)
    expect(page.locator(".decision-date")).to_have_text(
        re.compile(r"^We expect a decision by \d{1,2} [A-Z][a-z]+ \d{4}\.$")
    )
    expect(page.get_by_role("heading", name="What happens next")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Print this page").click()
    expect(page).to_have_url(re.compile(r"/register/done\?print=1$"))
    expect(page.locator(".site-footer")).to_be_hidden()
    expect(page.get_by_role("button")).to_have_count(0)
    expect(page.locator(".tracking-number")).to_have_text(number.inner_text())
    assert_fits(page)
    assert_accessible(page)
    page.emulate_media(media="print")  # what the printer gets
    for shown in (".tracking-number", "dl.acknowledgement", ".decision-date"):
        expect(page.locator(shown)).to_be_visible()
    for hidden in (".site-footer", ".page-help", "text=Back to the acknowledgement"):
        expect(page.locator(hidden)).to_be_hidden()
    page.emulate_media(media="screen")
    page.get_by_role("link", name="Back to the acknowledgement").click()
    expect(page.get_by_role("button", name="OK")).to_be_visible()
    if javascript:
        assert_no_console_errors(page)
