"""Two small behaviours of the one script (issue 11, "Smaller"): a field's error goes as soon as
the field changes (with JavaScript; without it the errors stay until the next submit), and the
verification code's countdown panel, which speaks only at 5 minutes, 1 minute and expiry."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import assert_accessible, assert_no_console_errors, new_page, start_registration

_n = itertools.count(1)


def _step_1_with_errors(page: Page) -> list[str]:
    """Step 1 sent empty: the ids the error summary links to."""
    page.goto("/register/EQRS/terms")
    page.get_by_role("button", name="Accept").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Step 1 of 6: New User Registration")
    page.get_by_role("button", name="Next").click()
    summary = page.locator(".error-summary")
    expect(summary).to_contain_text("There is a problem")
    return [
        href.removeprefix("#")
        for href in summary.locator("a").evaluate_all("els => els.map(a => a.getAttribute('href'))")
    ]


def test_a_changed_field_loses_its_error_with_javascript_only(page: Page, javascript: bool):
    ids = _step_1_with_errors(page)
    assert "first_name" in ids and len(ids) >= 3
    summary = page.locator(".error-summary")
    first = page.get_by_label("First name")
    field = page.locator(".field", has=first)
    expect(first).to_have_attribute("aria-invalid", "true")

    first.fill("Ana")
    if not javascript:  # nothing changes until the form is sent again
        expect(field.locator(".error-message")).to_contain_text("Enter your first name")
        expect(first).to_have_attribute("aria-invalid", "true")
        expect(summary.get_by_role("link", name="Enter your first name")).to_be_visible()
        return

    expect(field.locator(".error-message")).to_have_count(0)
    expect(field).not_to_have_class(re.compile(r"\bhas-error\b"))
    expect(first).not_to_have_attribute("aria-invalid", "true")
    assert "first_name-error" not in (first.get_attribute("aria-describedby") or "")
    expect(summary.get_by_role("link", name="Enter your first name")).to_have_count(0)
    expect(summary.locator("li")).to_have_count(len(ids) - 1)  # the others stay
    expect(page.get_by_label("Last name")).to_have_attribute("aria-invalid", "true")
    expect(page).to_have_title(re.compile("^Error: "))
    assert_accessible(page)

    for control_id in ids[1:]:  # change every other field: the summary goes, and "Error: " with it
        control = page.locator(f"#{control_id}")
        kind = control.get_attribute("type")
        control.fill("1980-03-27" if kind == "date" else "x")
    expect(summary).to_be_hidden()
    expect(page.locator("[aria-invalid=true]")).to_have_count(0)
    expect(page.locator(".error-message")).to_have_count(0)
    expect(page).not_to_have_title(re.compile("^Error: "))
    assert_accessible(page)
    assert_no_console_errors(page)

    page.get_by_role("button", name="Next").click()  # the server still judges what was sent
    expect(page.locator(".error-summary")).to_be_visible()
    expect(page).to_have_title(re.compile("^Error: "))


def test_the_code_expiry_without_javascript_is_the_clock_time_and_what_was_left(page: Page, javascript: bool):
    if javascript:
        page.clock.install(time=datetime.now() - timedelta(hours=3))  # a wrong clock does not matter
    start_registration(page, "EHRIP", f"panel{next(_n)}@example.gov", first="Ola", last="Berg", born="1990-01-02")
    panel = page.locator(".code-expiry")
    expect(panel.locator(".expiry")).to_have_text(re.compile(r"^The code expires at \d{1,2}:\d\d[ap]m ET"))
    if not javascript:
        expect(panel.locator(".expiry")).to_have_text(re.compile(r" \(in (29|30) minutes\)\.$"))
        expect(panel.locator(".countdown")).to_be_hidden()
    else:
        countdown = panel.locator(".countdown")
        expect(countdown).to_have_text(re.compile(r"^Your code expires in (29:[0-5]\d|30:00)$"))
        expect(countdown).to_have_attribute("aria-hidden", "true")  # it ticks: not read out every second
        expect(panel.locator(".expiry")).to_have_text(
            re.compile(r"ET\.$"), use_inner_text=True
        )  # the stale "(in 30 minutes)" goes
        expect(panel.locator("[aria-live=polite]")).to_have_text("")
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)


def test_the_countdown_speaks_at_5_minutes_1_minute_and_expiry(browser: Browser, base_url: str):
    page = new_page(browser, base_url)
    page.clock.install(time=datetime.now())
    start_registration(page, "EHRIP", f"speak{next(_n)}@example.gov", first="Ola", last="Berg", born="1990-01-02")
    news = page.locator(".code-expiry [aria-live=polite]")
    countdown = page.locator(".code-expiry .countdown")
    page.clock.run_for(1000)  # htmx settles the swap (a timer): the countdown starts
    expect(countdown).to_have_text(re.compile(r"in (29:[0-5]\d|30:00)$"))
    page.clock.fast_forward("20:00")
    page.clock.run_for(1000)
    expect(countdown).to_have_text(re.compile(r"in (09:[0-5]\d|10:00)$"))
    expect(news).to_have_text("")  # silent until 5 minutes are left
    page.clock.fast_forward("05:05")
    page.clock.run_for(1000)
    expect(news).to_have_text("5 minutes left to use your code.")
    page.clock.fast_forward("04:00")
    page.clock.run_for(1000)
    expect(news).to_have_text("1 minute left to use your code.")
    assert_accessible(page)
    page.clock.fast_forward("01:00")
    page.clock.run_for(1000)
    expect(news).to_have_text("Your code has expired. Select Resend code to get a new one.")
    expect(countdown).to_have_text("The code has expired: select Resend code to get a new one.")
    assert_accessible(page)
    assert_no_console_errors(page)
    page.context.close()
