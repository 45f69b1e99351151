"""The approval table for real work, in Chromium with JavaScript on and off: stacked cards on
phones with nothing wider than the screen, select all, bulk approve and bulk reject behind a
confirmation step, the result naming each request, the empty queue and the header's count."""

from __future__ import annotations

import itertools
import re

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import assert_accessible, assert_fits, assert_no_console_errors, create_account, in_database, log_in

_n = itertools.count(1)
PHONES = [(320, 640), (360, 740)]


def requests_named(server_env, count: int, last_name: str, role: str = "mco-representative") -> list[str]:
    from tests.integration.test_approvals import quick_request

    async def make():
        return [await quick_request("MARX", role, days_ago=i % 40, last_name=last_name) for i in range(count)]

    return in_database(server_env, make())


def assert_on_screen(page: Page, locator) -> None:
    """Visible and wholly inside the screen's width (not clipped, not off to the right)."""
    expect(locator).to_be_visible()
    box = locator.bounding_box()
    width = page.evaluate("() => document.documentElement.clientWidth")
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, box


def unique(kind: str, javascript: bool) -> str:
    return f"{kind}{next(_n)}{'js' if javascript else 'nojs'}"


@pytest.mark.parametrize("size", PHONES, ids=[f"{w}x{h}" for w, h in PHONES])
def test_the_table_is_cards_on_a_phone_with_every_action_on_screen(page: Page, javascript: bool, server_env, size):
    width, height = size
    page.set_viewport_size({"width": width, "height": height})
    approver = create_account(server_env, initial=False, grants=(), approver=(("MARX", 1),))
    name = unique("Phone", javascript)
    trackings = requests_named(server_env, 26, name)
    log_in(page, approver)
    assert_fits(page, "after login")
    page.goto(f"/approvals?q={name}")
    cards = page.locator("#queue-table tbody.request")
    expect(cards).to_have_count(25)
    assert_fits(page, "the table, 25 rows")
    first = cards.first
    tracking = first.get_attribute("id").removeprefix("req-")
    assert tracking in trackings
    # One card per request, stacked: the second starts below the first, at the same left edge.
    one, two = first.bounding_box(), cards.nth(1).bounding_box()
    assert two["y"] >= one["y"] + one["height"] and two["x"] == one["x"]
    for control in (
        page.get_by_role("button", name=f"Approve request {tracking}"),
        page.get_by_role("link", name=f"Reject request {tracking}"),
        page.get_by_role("link", name=f"Details of request {tracking}"),
        page.get_by_label(f"Select {tracking}"),
        page.get_by_label("Overdue only"),
        page.get_by_label("Application"),
        page.get_by_role("button", name="Apply"),
    ):
        assert_on_screen(page, control)
    assert_accessible(page)

    # An expanded row: in place with JavaScript, on its own page without.
    page.get_by_role("link", name=f"Details of request {tracking}").click()
    expect(page.get_by_text("Work phone")).to_be_visible()
    assert_fits(page, "an expanded row")
    assert_on_screen(page, page.get_by_role("link", name=f"Hide details of request {tracking}"))
    assert_accessible(page)
    page.goto(f"/approvals?q={name}")

    # The reject form open: a reason box as wide as the card, several lines high.
    page.get_by_role("link", name=f"Reject request {tracking}").click()
    reason = page.get_by_label(f"Reason for rejecting {tracking} (emailed to the applicant)")
    expect(reason).to_be_visible()
    assert_fits(page, "the reject form")
    assert_on_screen(page, reason)
    box = reason.bounding_box()
    assert box["width"] >= width - 80 and box["height"] >= 100, box
    assert_accessible(page)
    if javascript:
        reason.fill("\n".join(f"line {i}" for i in range(12)))  # it grows with what is typed
        assert reason.bounding_box()["height"] > box["height"]
        assert_no_console_errors(page)


def test_my_applications_fits_a_320_px_phone(page: Page, javascript: bool, server_env):
    page.set_viewport_size({"width": 320, "height": 640})
    approver = create_account(server_env, initial=False, grants=(("PSR", "provider-user"),), approver=(("MARX", 1),))
    log_in(page, approver)
    page.goto("/my/applications")
    expect(page.get_by_role("heading", level=1)).to_have_text("My applications")
    assert_fits(page, "My applications")
    assert_on_screen(page, page.get_by_role("link", name=re.compile(r"^Requests to approve \(\d+\)$")))
    assert_on_screen(page, page.get_by_role("button", name="Log out"))


@pytest.mark.parametrize("size", [(1280, 900), (320, 640)], ids=["desktop", "phone"])
def test_select_all_then_confirm_each_bulk_decision(page: Page, javascript: bool, server_env, inbox, size):
    page.set_viewport_size({"width": size[0], "height": size[1]})
    approver = create_account(server_env, initial=False, grants=(), approver=(("MARX", 1),))
    name = unique("Select", javascript)
    single = requests_named(server_env, 2, name)
    double = requests_named(server_env, 1, name, role="mco-submitter")
    log_in(page, approver)
    expect(page.get_by_role("link", name=re.compile(r"^Requests to approve \(\d+\)$"))).to_be_visible()
    page.goto(f"/approvals?q={name}")
    boxes = page.locator("input[name=selected]")
    expect(boxes).to_have_count(3)
    if javascript:  # a checkbox in the header, the link gone
        expect(page.get_by_role("link", name="Select all on this page")).to_be_hidden()
        page.get_by_label("Select all requests on this page").check()
        page.get_by_label(f"Select {single[0]}").uncheck()
        expect(page.get_by_label("Select all requests on this page")).not_to_be_checked()
        page.get_by_label(f"Select {single[0]}").check()
        expect(page.get_by_label("Select all requests on this page")).to_be_checked()
    else:  # a link that reloads the page with every row ticked
        page.get_by_role("link", name="Select all on this page").click()
    for i in range(3):
        expect(boxes.nth(i)).to_be_checked()
    assert_accessible(page)

    # Approve selected: first what will happen to each, then Cancel changes nothing.
    page.get_by_role("button", name="Approve selected").click()
    step = page.locator(".confirm-table")
    expect(page.get_by_role("heading", name="Approve 3 requests?")).to_be_visible()
    expect(step.locator("tbody tr")).to_have_count(3)
    expect(step.locator(f"tr:has(th:text-is('{double[0]}')) td.will")).to_have_text("approved, waits for level 2")
    expect(step.locator(f"tr:has(th:text-is('{single[0]}')) td.will")).to_have_text("approved, account created")
    expect(step.locator(f"tr:has(th:text-is('{single[0]}'))")).to_contain_text(f"Pat {name}")
    assert_fits(page, "the confirmation")
    assert_accessible(page)
    if javascript:
        expect(page).to_have_url(re.compile(r"/approvals/confirm\?action=approve&"))
        expect(page.get_by_role("heading", name="Approve 3 requests?")).to_be_focused()
    page.get_by_role("link", name="Cancel").click()
    expect(page.locator("#queue-table tbody.request")).to_have_count(3)
    expect(page).to_have_url(re.compile(rf"/approvals\?q={name}"))

    # Approve two, confirmed: the result names each and what became of it.
    page.get_by_label(f"Select {single[0]}").check()
    page.get_by_label(f"Select {double[0]}").check()
    page.get_by_role("button", name="Approve selected").click()
    page.get_by_role("button", name="Confirm and approve 2 requests").click()
    expect(page.locator("#queue-status .notice p")).to_have_text("Approved 2 requests.")
    results = page.locator("#queue-status .notice li")
    expect(results).to_have_count(2)
    assert sorted(results.all_inner_texts()) == sorted(
        [f"{single[0]}: approved, account created", f"{double[0]}: approved, waits for level 2"]
    )
    if not javascript:  # post/redirect/get: the result page is a GET, a reload decides nothing
        expect(page).to_have_url(re.compile(rf"/approvals\?q={name}.*&done="))
        page.reload()
        expect(page.locator("#queue-status .notice p")).to_have_text("Approved 2 requests.")
    assert_fits(page, "the result")
    assert_accessible(page)

    # Reject the last one with a reason: the reason is asked on the confirmation step.
    expect(page.locator("#queue-table tbody.request")).to_have_count(1)
    page.get_by_label(f"Select {single[1]}").check()
    page.get_by_role("button", name="Reject selected").click()
    expect(page.get_by_role("heading", name="Reject 1 request?")).to_be_visible()
    expect(page.locator(".confirm-table td.will")).to_have_text("rejected, the applicant is emailed the reason")
    page.get_by_role("button", name="Confirm and reject 1 request").click()
    expect(page.locator("#bulk-reason-error")).to_have_text("Error: Enter the reason for rejecting this request")
    assert_accessible(page)
    page.get_by_label("Reason for rejecting this request (emailed to the applicant)").fill("No MCO contract")
    page.get_by_role("button", name="Confirm and reject 1 request").click()
    expect(page.locator("#queue-status .notice li")).to_have_text(
        [f"{single[1]}: rejected, the applicant has been emailed the reason"]
    )
    expect(page.locator("#queue-table .empty-queue")).to_have_text("No requests match these filters. Clear the filters")
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)


def test_an_empty_queue_says_so(page: Page, javascript: bool, server_env):
    approver = create_account(server_env, initial=False, grants=(), approver=(("MARX", 3),))
    log_in(page, approver)
    page.get_by_role("link", name="Requests to approve (0)").click()
    expect(page.locator("#queue-table .empty-queue")).to_have_text("There are no requests waiting for your decision.")
    assert_accessible(page)
    page.set_viewport_size({"width": 320, "height": 640})
    assert_fits(page, "the empty queue")
