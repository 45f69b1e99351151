"""Getting Ready and the catalog page in Chromium, with JavaScript on and off."""

import re

from playwright.sync_api import Page, expect

from e2e.conftest import assert_accessible, assert_no_console_errors


def test_getting_ready_page(page: Page, javascript: bool):
    response = page.goto("/")
    assert response is not None and response.status == 200
    expect(page).to_have_title("Getting ready – IACS Registration")
    expect(page.get_by_role("heading", level=1)).to_have_text("Getting ready to register for an IACS User ID")
    expect(page.get_by_role("heading", name="The 6 registration steps")).to_be_visible()
    assert_accessible(page)
    if javascript:
        # htmx loaded from our own origin under the CSP, without errors.
        assert page.evaluate("typeof htmx !== 'undefined' && htmx.version") == "2.0.11"
        assert_no_console_errors(page)


def test_skip_link_and_keyboard_navigation(page: Page):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#main$"))
    # Tabbing on from the skip target reaches the first link inside main.
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('main') !== null")
    assert focused


def test_catalog_page_from_getting_ready(page: Page):
    page.goto("/")
    page.get_by_role("link", name="which information each application and role asks for").click()
    expect(page).to_have_url(re.compile(r"/applications$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("CMS applications and what each role needs")
    expect(page.get_by_role("heading", level=2)).to_have_count(9)
    assert_accessible(page)


def test_not_found_page_is_accessible(page: Page):
    response = page.goto("/no-such-page")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    assert_accessible(page)
