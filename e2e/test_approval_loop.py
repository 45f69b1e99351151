"""The whole loop in Chromium, with JavaScript on and off: an applicant registers, an approver
signs in and approves inline, the applicant reads both emails from the SMTP server, signs in
with the initial password, changes it and reaches the approved application."""

from __future__ import annotations

import itertools
import re

from playwright.sync_api import Browser, Page, expect

from e2e.conftest import (
    Keyboard,
    assert_accessible,
    assert_no_console_errors,
    create_account,
    fill_contact,
    fill_questions,
    in_database,
    log_in,
    new_page,
    start_registration,
)

_n = itertools.count(1)


def register(page: Page, inbox, email: str) -> str:
    """Through the six steps for EHRIP / Eligible Clinician; the tracking number."""
    start_registration(page, "EHRIP", email)
    page.get_by_label("Verification code").fill(inbox.code_for(email))
    page.get_by_role("button", name="Verify").click()
    fill_contact(page, "eligible-clinician", {"National Provider Identifier (NPI)": "1245319599"})
    page.get_by_role("button", name="Next").click()
    fill_questions(page)
    page.get_by_role("button", name="Next").click()
    page.get_by_role("button", name="Submit").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Step 6 of 6: Acknowledgement")
    return page.locator(".tracking-number").inner_text()


def test_register_approve_and_first_login(browser: Browser, base_url: str, javascript: bool, inbox, server_env):
    email = f"loop{next(_n)}.{'js' if javascript else 'nojs'}@example.gov"
    approver = create_account(server_env, initial=False, grants=(), approver=(("EHRIP", 1),))

    applicant = new_page(browser, base_url, javascript)
    tracking = register(applicant, inbox, email)

    page = new_page(browser, base_url, javascript)
    log_in(page, approver)
    page.goto("/approvals?application=EHRIP")
    expect(page.get_by_role("heading", level=1)).to_have_text("Requests waiting for your approval")
    row = page.locator(f"#req-{tracking}")
    expect(row).to_contain_text("Okafor Clinic")
    assert_accessible(page)

    # Expand the row: the details, in place with JavaScript, on their own page without.
    page.get_by_role("link", name=re.compile(rf"^{tracking}\s*, show details$")).click()
    expect(page.get_by_text("National Provider Identifier (NPI)")).to_be_visible()
    assert_accessible(page)
    if javascript:
        expect(page).to_have_url(re.compile(r"/approvals\?application=EHRIP$"))
        Keyboard(page).press(page.get_by_role("button", name=f"Approve request {tracking}"))  # Tab, Enter
        expect(page.locator(f"#req-{tracking}")).to_contain_text("Approved by")
        expect(page).to_have_url(re.compile(r"/approvals\?application=EHRIP$"))
    else:
        page.get_by_role("button", name=f"Approve request {tracking}").click()
        expect(page.get_by_text(f"{tracking}: Approved. The account has been provisioned.")).to_be_visible()
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)

    user_id = re.search(r"User ID is: (\S+)", inbox.wait_for(email, "Your IACS User ID").text).group(1)
    password_mail = inbox.wait_for(email, "initial password")
    assert user_id not in password_mail.text
    password = re.search(r"initial password is: (\S+)", password_mail.text).group(1)

    applicant.goto("/login")
    applicant.get_by_label("User ID").fill(user_id)
    applicant.get_by_label("Password").fill(password)
    applicant.get_by_role("button", name="Log in").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("Change password")
    new = "copper kettles sing at dawn"
    applicant.get_by_label("Current password").fill(password)
    applicant.get_by_label("New password", exact=True).fill(new)
    applicant.get_by_label("Confirm new password").fill(new)
    applicant.get_by_role("button", name="Change password").click()
    expect(applicant.get_by_role("heading", level=1)).to_have_text("My applications")
    expect(applicant.locator(".app-list li")).to_contain_text("EHRIP")  # the granted role, listed
    expect(applicant.locator(".app-list li")).to_contain_text("Eligible Clinician")
    applicant.context.close()
    page.context.close()


def test_reject_needs_a_reason_and_errors_are_accessible(page: Page, javascript: bool, inbox, server_env):
    """With JavaScript, keyboard only in the table: expand the row, Reject, the reason, submit."""
    kb = Keyboard(page)
    email = f"reject{next(_n)}.{'js' if javascript else 'nojs'}@example.gov"
    approver = create_account(server_env, initial=False, grants=(), approver=(("EHRIP", 1),))
    tracking = register(page, inbox, email)
    page.get_by_role("button", name="OK").click()
    log_in(page, approver)
    page.goto("/approvals?application=EHRIP")
    kb.press(page.get_by_role("link", name=re.compile(rf"^{tracking}\s*, show details$")))
    expect(page.get_by_text("National Provider Identifier (NPI)")).to_be_visible()
    reject_link = page.get_by_role("link", name=f"Reject request {tracking}")
    reason = page.get_by_label(f"Reason for rejecting {tracking}")
    if javascript:  # the focus stays where the keyboard user was, row swapped or not
        expect(page.get_by_role("link", name=re.compile(rf"^{tracking}\s*, hide details$"))).to_be_focused()
        kb.press(reject_link)
        expect(reason).to_be_focused()
        kb.press(page.get_by_role("link", name="Cancel"))
        expect(reject_link).to_be_focused()
    kb.press(reject_link)
    expect(reason).to_be_visible()
    assert_accessible(page)
    reject = page.get_by_role("button", name="Reject", exact=True)
    kb.press(reject)
    expect(page.get_by_text("Enter the reason for rejecting this request")).to_be_visible()
    assert_accessible(page)
    kb.fill(reason, "Not an eligible clinician")
    kb.press(reject)
    if javascript:
        expect(page.locator(f"#req-{tracking}")).to_contain_text("Rejected by")
        assert_no_console_errors(page)
    else:
        expect(page.get_by_text(f"{tracking}: Rejected.")).to_be_visible()
    assert_accessible(page)
    assert "Not an eligible clinician" in inbox.wait_for(email, "was not approved").text


def _quick_requests(server_env, count: int, **options) -> list[str]:
    from tests.integration.test_approvals import quick_request

    async def make():
        return [await quick_request("COBR", "account-designee", days_ago=i, **options) for i in range(count)]

    return in_database(server_env, make())


def test_table_filters_sorts_and_pages(page: Page, javascript: bool, server_env):
    approver = create_account(server_env, initial=False, grants=(), approver=(("COBR", 1),))
    _quick_requests(server_env, 27)
    log_in(page, approver)
    page.goto("/approvals")
    page.get_by_label("Application").select_option("COBR")
    if not javascript:
        page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"application=COBR"))
    expect(page.locator("#queue-status")).to_contain_text(re.compile(r"page 1 of [2-9]"))
    expect(page.locator("#queue-table tbody.request")).to_have_count(25)
    assert_accessible(page)
    page.get_by_role("link", name="Applicant").click()
    expect(page).to_have_url(re.compile(r"sort=applicant"))
    expect(page.locator("#queue-table th[aria-sort=ascending]")).to_have_text("Applicant, sorted ascending▲")
    page.get_by_role("link", name="Next page").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(page.locator("#queue-status")).to_contain_text(re.compile(r"page 2 of [2-9]"))
    assert 1 <= page.locator("#queue-table tbody.request").count() <= 25
    assert_accessible(page)
    page.reload()  # the URL reproduces the view
    expect(page.locator("#queue-status")).to_contain_text(re.compile(r"page 2 of [2-9]"))
    expect(page.locator("#queue-table th[aria-sort=ascending]")).to_have_text("Applicant, sorted ascending▲")
    page.go_back()
    expect(page).not_to_have_url(re.compile(r"page=2"))


def test_bulk_approve_two_at_once(page: Page, javascript: bool, server_env):
    approver = create_account(server_env, initial=False, grants=(), approver=(("COBR", 1),))
    name = f"Bulk{next(_n)}{'js' if javascript else 'nojs'}"
    first, second, third = _quick_requests(server_env, 3, last_name=name)
    log_in(page, approver)
    page.goto(f"/approvals?q={name}")
    rows = page.locator("#queue-table tbody.request")
    expect(rows).to_have_count(3)
    page.get_by_label(f"Select {first}").check()
    page.get_by_label(f"Select {second}").check()
    page.get_by_role("button", name="Approve selected").click()
    # First what will happen, then the decision (see e2e/test_approval_table.py for more).
    page.get_by_role("button", name="Confirm and approve 2 requests").click()
    expect(page.locator("#queue-status .notice p")).to_have_text("Approved 2 requests.")
    results = page.locator("#queue-status .notice li")
    expect(results).to_have_count(2)
    assert sorted(results.all_inner_texts()) == sorted(f"{t}: approved, account created" for t in (first, second))
    expect(page).to_have_url(re.compile(rf"q={name}"))
    expect(rows).to_have_count(1)  # the table lists only the requests still waiting
    expect(page.locator(f"#req-{third}")).to_be_visible()
    assert_accessible(page)
    if javascript:
        expect(page.locator("#queue-status .notice")).to_be_focused()  # not lost to <body>
        assert_no_console_errors(page)
    for tracking in (first, second):
        page.goto(f"/approvals/{tracking}")
        expect(page.locator(f"#req-{tracking}")).to_contain_text(f"Approved by {approver['user_id']}")
    # Nothing ticked: a message, not an error page, and nothing decided.
    page.goto(f"/approvals?q={name}")
    page.get_by_role("button", name="Approve selected").click()
    expect(page.locator("#queue-status .notice")).to_have_text("Select at least one request to approve.")
    expect(page.locator(f"#req-{third}")).to_be_visible()
    assert_accessible(page)
