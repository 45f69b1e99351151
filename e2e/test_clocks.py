"""The two clocks the page keeps with JavaScript, run on Chromium's fake clock set three hours
wrong (the page counts from seconds left, so the computer's clock does not matter): the
verification code's live countdown and the session warning with Stay logged in."""

from __future__ import annotations

import itertools
import re
from datetime import datetime, timedelta

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import (
    assert_accessible,
    assert_no_console_errors,
    create_account,
    in_database,
    log_in,
    new_page,
    start_registration,
)

_n = itertools.count(1)


def _page(browser: Browser, base_url: str) -> Page:
    page = new_page(browser, base_url)
    # Three hours behind the real time, and moving only when the test moves it.
    page.clock.install(time=datetime.now() - timedelta(hours=3))
    return page


def _signed_in(browser: Browser, base_url: str, server_env) -> tuple[Page, dict]:
    """A new account's page on the fake clock, signed in at My applications."""
    account = create_account(server_env, initial=False, grants=(("EQRS", "facility-editor"),))
    page = _page(browser, base_url)
    log_in(page, account)
    expect(page.get_by_role("heading", level=1)).to_have_text("My applications")
    page.wait_for_load_state("load")  # session.js has read the page's times before the clock moves
    return page, account


def test_verification_countdown_runs_down_to_expired(browser: Browser, base_url: str, inbox):
    page = _page(browser, base_url)
    email = f"clock{next(_n)}@example.gov"
    start_registration(page, "EHRIP", email, first="Ines", last="Moreau", born="1979-02-11")

    clock = page.locator(".countdown-clock")
    expect(clock).to_have_text(re.compile(r"^(29:[0-5]\d|30:00)$"))
    page.clock.run_for(3000)  # it ticks every second
    expect(clock).to_have_text(re.compile(r"^29:[0-5]\d$"))
    page.clock.fast_forward("10:00")
    page.clock.run_for(1000)
    expect(clock).to_have_text(re.compile(r"^(19:[0-5]\d|20:00)$"))
    page.clock.fast_forward("20:00")
    page.clock.run_for(1000)
    expect(page.get_by_text("the code has expired: select Resend code")).to_be_visible()
    expect(clock).to_have_count(0)
    assert_accessible(page)
    assert_no_console_errors(page)
    page.context.close()


def test_idle_warning_two_minutes_before_with_stay_logged_in(browser: Browser, base_url: str, server_env):
    page, _ = _signed_in(browser, base_url, server_env)

    warning = page.locator("#session-warning")
    stay = page.get_by_role("button", name="Stay logged in")
    page.clock.fast_forward("27:00")
    expect(warning).to_be_hidden()

    # Two minutes before the 30 idle minutes are up: the warning, with the time and the focus.
    page.clock.fast_forward("01:30")
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(re.compile(r"you will be logged out at \d\d:\d\d because"))
    expect(stay).to_be_focused()
    assert_accessible(page)

    # Stay logged in (keyboard): one request; the warning goes and the idle clock starts again.
    with page.expect_response(re.compile(r"/session/refresh$")) as refreshed:
        page.keyboard.press("Enter")
    assert refreshed.value.status == 200
    page.clock.run_for(100)  # htmx settles a swap after 20 ms
    expect(warning).to_be_hidden()
    expect(page.locator("#main")).to_be_focused()  # not lost with the button that went
    page.clock.fast_forward("27:00")
    expect(warning).to_be_hidden()
    page.clock.fast_forward("01:30")
    expect(warning).to_be_visible()

    # Nothing done: once the time is up the page says so and offers to log in again.
    page.clock.fast_forward("02:00")
    expect(stay).to_be_hidden()
    expect(warning).to_contain_text("For your security you have been logged out.")
    again = warning.get_by_role("link", name="Log in again")
    expect(again).to_have_attribute("href", "/login")
    expect(again).to_be_focused()  # the focused button went: the focus moves to what replaced it
    assert_accessible(page)
    assert_no_console_errors(page)
    page.context.close()


def test_at_the_12_hour_limit_the_warning_cannot_offer_more_time(browser: Browser, base_url: str, server_env):
    from portal.models.accounts import now
    from portal.models.tables import UserSession

    page, account = _signed_in(browser, base_url, server_env)
    eleven_59_ago = now() - timedelta(hours=11, minutes=59)
    in_database(
        server_env,
        UserSession.update({UserSession.created_at: eleven_59_ago}).where(UserSession.account == account["id"]).run(),
    )
    page.reload()
    warning = page.locator("#session-warning")
    page.clock.run_for(100)
    expect(warning).to_be_visible()
    expect(warning).to_contain_text(re.compile(r"logged out at \d\d:\d\d: a session lasts at most 12 hours"))
    expect(page.get_by_role("button", name="Stay logged in")).to_have_count(0)  # hidden: it cannot help
    expect(warning).to_be_focused()
    assert_accessible(page)
    # Activity does not move the end, and does not pull the focus back to the warning.
    page.get_by_role("link", name="Request another application").focus()
    page.clock.fast_forward("02:00")
    expect(warning).to_contain_text("For your security you have been logged out.")
    expect(page.get_by_role("link", name="Request another application")).to_be_focused()
    assert_no_console_errors(page)
    page.context.close()
