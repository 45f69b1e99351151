"""The approval table for real work (issue 11, item 7): sort direction, Details, select all,
bulk approve and bulk reject behind a confirmation step, results that name each request, the
reason box, the empty queue and the header's count of waiting requests."""

from __future__ import annotations

import itertools
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest

from portal.models.tables import AccessRequest
from tests.htmlcheck import attr, attrs, element, field_error, h1, link_href, page, text, texts, title
from tests.integration.accounts_support import csrf, log_in, make_account
from tests.integration.conftest import checked_client
from tests.integration.test_approvals import HX, approver_client, mails, quick_request, request, row_ids
from tests.support import follow_back, sent_back, url

_n = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_n):03d}x"


def confirm_url(client, action: str, selected: list[str], back: str) -> str:
    return url(
        client, "approvals:confirm", query=[("action", action), *(("selected", t) for t in selected), ("back", back)]
    )


async def post_bulk(client, action: str, selected: list[str], back: str, *, reason: str = "", htmx: bool = False):
    data = [("action", action), *(("selected", t) for t in selected), ("back", back), ("reason", reason)]
    data.append(("_csrf_token", (await csrf(client))["_csrf_token"]))
    return await client.post(
        url(client, "approvals:bulk"),
        content=urlencode(data),
        headers={**(HX if htmx else {}), "Content-Type": "application/x-www-form-urlencoded"},
    )


def planned(r) -> dict[str, str]:
    """The confirmation step's rows: tracking number -> what will happen."""
    soup = page(r)
    return {text(tr, "th[scope=row]"): text(tr, "td.will") for tr in soup.select(".confirm-table tbody tr")}


# ---- Bulk approve: confirm first, then the result names each request ---------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
async def test_bulk_approve_shows_what_will_happen_then_names_what_became_of_each(client, htmx):
    name = unique("Confirm")
    one_level = await quick_request("MARX", "mco-representative", last_name=name)
    two_levels = await quick_request("MARX", "mco-submitter", last_name=name)
    holder = await make_account(initial=False, grants=(("PSR", "provider-user"),))
    holders = await quick_request("MARX", "mco-representative", last_name=name)
    await AccessRequest.update({AccessRequest.account_user_id: holder["user_id"]}).where(
        AccessRequest.tracking_number == holders
    )
    theirs = await quick_request("HPMS", "plan-user", last_name=name)  # not this approver's application
    await approver_client(client, (("MARX", 1),))
    back = url(client, "approvals:table", query=f"q={name}")
    selected = [one_level, two_levels, holders, theirs]

    r = await client.get(confirm_url(client, "approve", selected, back), headers=HX if htmx else {})
    assert r.status_code == 200
    soup = page(r)
    if htmx:  # in place of the table, the count and the bulk buttons emptied out of band
        assert (
            element(soup, "div#queue-table.confirm-step") and text(soup, "h2#confirm-heading") == "Approve 3 requests?"
        )
        assert attr(soup, "#queue-footer", "hx-swap-oob") == "true" and not element(soup, "#queue-footer").contents
        assert r.headers["hx-push-url"] == confirm_url(client, "approve", selected, back)
    else:
        assert h1(soup) == "Approve 3 requests?"
        assert title(soup) == "Approve 3 requests? – IACS Registration"
    assert planned(r) == {
        one_level: "approved, account created",
        two_levels: "approved, waits for level 2",
        holders: "approved, access added to their account",
        theirs: "cannot be decided: not a request you may decide",
    }
    row = element(soup, ".confirm-table tbody tr")
    assert [text(row, "td[data-label=Name]"), text(row, "td[data-label=Role]")] == [f"Pat {name}", "MCO Representative"]
    # Confirm carries only what may be decided; Cancel goes back to the same view of the table.
    assert attrs(soup, ".confirm-step input[name=selected]", "value") == [one_level, two_levels, holders]
    assert text(soup, ".confirm-step form button[type=submit]") == "Confirm and approve 3 requests"
    assert link_href(soup, "Cancel") == back
    assert [(await request(t))["status"] for t in selected] == ["pending"] * 4  # showing it decided nothing

    r = await post_bulk(client, "approve", [one_level, two_levels, holders], back, htmx=htmx)
    if not htmx:  # post/redirect/get: the result travels signed in the URL, a refresh shows it again
        assert r.status_code == 303 and r.headers["location"].startswith(back + "&done=")
        r = await client.get(r.headers["location"])
    soup = page(r)
    assert text(soup, "#queue-status .notice p") == "Approved 3 requests."
    assert texts(soup, "#queue-status .notice li") == [
        f"{one_level}: approved, account created",
        f"{two_levels}: approved, waits for level 2",
        f"{holders}: approved, access added to their account",
    ]
    assert not {one_level, holders} & set(row_ids(r))  # decided: no longer in the queue
    assert [(await request(t))["status"] for t in (one_level, holders)] == ["approved", "approved"]
    assert (await request(two_levels))["level"] == 2


async def test_a_request_decided_meanwhile_is_named_with_why(client, app):
    name = unique("Meanwhile")
    first, second = [await quick_request("MARX", "mco-representative", last_name=name) for _ in range(2)]
    other = await make_account(initial=False, grants=(), approver=(("MARX", 1),))
    await approver_client(client, (("MARX", 1),))
    back = url(client, "approvals:table", query=f"q={name}")
    r = await client.get(confirm_url(client, "approve", [first, second], back))
    assert planned(r)[second] == "approved, account created"
    # Another approver decides the second while this one reads the confirmation.
    async with checked_client(app) as theirs:
        await log_in(theirs, other["user_id"], other["password"])
        await theirs.post(url(theirs, "approvals:approve", tracking=second), data=await csrf(theirs))
    assert (await request(second))["decided_by"] == other["user_id"]
    r = await post_bulk(client, "approve", [first, second], back, htmx=True)
    soup = page(r)
    assert "warn" in element(soup, "#queue-status .notice")["class"]
    assert text(soup, "#queue-status .notice p") == "Approved 1 request. 1 could not be decided."
    items = texts(soup, "#queue-status .notice li")
    assert items[0] == f"{first}: approved, account created"
    assert items[1].startswith(f"{second}: could not be decided: Already approved by {other['user_id']} on ")
    # Asking again shows it cannot be decided, and offers no Confirm.
    r = await client.get(confirm_url(client, "approve", [second], back))
    assert h1(page(r)) == "The selected requests cannot be decided"
    assert planned(r)[second].startswith("cannot be decided: Already approved by")
    assert page(r).select_one(".confirm-step form") is None


# ---- Bulk reject with one reason ---------------------------------------------------------------


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
async def test_bulk_reject_asks_one_reason_and_emails_it_to_each(client, htmx):
    name = unique("Reject")
    trackings = [await quick_request("MARX", "mco-representative", last_name=name) for _ in range(2)]
    await approver_client(client, (("MARX", 1),))
    back = url(client, "approvals:table", query=f"q={name}")
    r = await client.get(confirm_url(client, "reject", trackings, back), headers=HX if htmx else {})
    soup = page(r)
    assert planned(r) == {t: "rejected, the applicant is emailed the reason" for t in trackings}
    assert text(soup, "label[for=bulk-reason]") == "Reason for rejecting these requests (emailed to each applicant)"
    box = element(soup, "textarea#bulk-reason")
    assert box["rows"] == "5" and "reason" in box["class"]

    # No reason, markup or an over-long one: a message next to the box, nothing rejected.
    for reason, message in [
        ("   ", "Enter the reason for rejecting these requests"),
        ("x" * 501, "The reason must be 500 characters or fewer"),
        ("Not\u200beligible", "The reason must not contain invisible or control characters: type it again"),
    ]:
        r = await post_bulk(client, "reject", trackings, back, reason=reason, htmx=htmx)
        if not htmx:  # post/redirect/get: back to the confirmation, the reason and message kept
            assert sent_back(r)
            r = await follow_back(client, r)
        assert r.status_code == 200
        assert field_error(page(r), "bulk-reason") == message
        assert texts(page(r), ".error-summary li") == [message]
        assert attrs(page(r), ".confirm-step input[name=selected]", "value") == trackings  # the selection kept
    assert [(await request(t))["status"] for t in trackings] == ["pending", "pending"]
    if not htmx:
        assert title(page(r)).startswith("Error: Reject 2 requests?")

    reason = "Your organization has no <MCO> contract 🙂"
    r = await post_bulk(client, "reject", trackings, back, reason=reason, htmx=htmx)
    if not htmx:
        assert r.status_code == 303
        r = await client.get(r.headers["location"])
    assert text(page(r), "#queue-status .notice p") == "Rejected 2 requests."
    assert texts(page(r), "#queue-status .notice li") == [
        f"{t}: rejected, the applicant has been emailed the reason" for t in trackings
    ]
    for t in trackings:
        row = await request(t)
        assert row["status"] == "rejected" and row["reason"] == reason
        (mail,) = await mails(row["email"], "request_rejected")
        assert f"Reason: {reason}" in mail["body"]


@pytest.mark.parametrize("htmx", [True, False], ids=["htmx", "nojs"])
@pytest.mark.parametrize("action", ["approve", "reject"])
async def test_nothing_selected_says_so(client, htmx, action):
    tracking = await quick_request("MARX", "mco-representative", last_name=unique("None"))
    await approver_client(client, (("MARX", 1),))
    back = url(client, "approvals:table")
    # Nothing ticked, or only what cannot be a tracking number (markup, too long): the same.
    for selected in ([], ["<b>x</b>", "A" * 50]):
        r = await client.get(confirm_url(client, action, selected, back), headers=HX if htmx else {})
        if not htmx:
            assert r.status_code == 303
            r = await client.get(r.headers["location"])
        assert r.status_code == 200
        assert text(page(r), "#queue-status .notice") == f"Select at least one request to {action}."
    assert (await request(tracking))["status"] == "pending"


async def test_an_odd_action_or_back_address_is_harmless(client):
    tracking = await quick_request("MARX", "mco-representative", last_name=unique("Odd"))
    await approver_client(client, (("MARX", 1),))
    r = await client.get(confirm_url(client, "<script>", [tracking], "https://evil.example/"))
    assert r.status_code == 200 and h1(page(r)) == "Approve 1 request?"  # anything but reject approves
    assert link_href(page(r), "Cancel") == url(client, "approvals:table")


# ---- The table's controls ----------------------------------------------------------------------


async def test_sort_direction_is_shown_and_said(client):
    await approver_client(client, (("MARX", 1),))
    r = await client.get(url(client, "approvals:table"), params={"sort": "applicant", "dir": "desc"})
    soup = page(r)
    assert attrs(soup, "thead th[aria-sort]", "aria-sort") == ["descending"]
    active = element(soup, "thead th[aria-sort]")
    assert text(active, "a .visually-hidden") == ", sorted descending"
    assert text(active, ".sort-arrow[aria-hidden=true]") == "▼"
    assert texts(soup, "thead th:not([aria-sort]) .sort-arrow") == ["↕"] * 6
    r = await client.get(url(client, "approvals:table"), params={"sort": "applicant"})
    assert text(page(r), "thead th[aria-sort=ascending] .sort-arrow") == "▲"


async def test_each_row_has_details_approve_saying_what_it_does_and_a_large_reason_box(client):
    name = unique("Row")
    single = await quick_request("MARX", "mco-representative", last_name=name)
    double = await quick_request("MARX", "mco-submitter", last_name=name)
    await approver_client(client, (("MARX", 1),))
    soup = page(await client.get(url(client, "approvals:table"), params={"q": name}))
    details = element(soup, f"#req-{single} a#details-{single}")
    assert " ".join(details.get_text().split()) == f"Details of request {single}"
    assert details["href"] == url(client, "approvals:details", tracking=single)
    assert details["aria-expanded"] == "false"
    approve = element(soup, f"#req-{single} td.decision button[type=submit]")
    assert " ".join(approve.get_text().split()) == f"Approve request {single}"
    assert text(soup, f"#{approve['aria-describedby']}") == "Approving creates their account."
    assert text(soup, f"#will-{double}") == "Approving sends it to level 2."
    r = await client.get(url(client, "approvals:reject-form", tracking=single))
    box = element(page(r), f"textarea#reason-{single}")
    assert box["rows"] == "5" and "reason" in box["class"]
    r = await client.get(url(client, "approvals:details", tracking=single))
    hide = element(page(r), f"a#details-{single}")
    assert hide["aria-expanded"] == "true" and hide.get_text().startswith("Hide details")


async def test_select_all_without_javascript_ticks_every_row_of_the_page(client):
    name = unique("All")
    trackings = [await quick_request("MARX", "mco-representative", last_name=name) for _ in range(3)]
    await approver_client(client, (("MARX", 1),))
    r = await client.get(url(client, "approvals:table"), params={"q": name})
    soup = page(r)
    assert attrs(soup, "input[name=selected][checked]", "value") == []
    assert element(soup, "input#select-all[hidden]")["aria-label"] == "Select all requests on this page"
    link = link_href(soup, "Select all on this page")
    assert parse_qs(urlsplit(link).query) == {"q": [name], "sort": ["due"], "dir": ["asc"], "select": ["all"]}
    soup = page(await client.get(link))
    assert sorted(attrs(soup, "input[name=selected][checked]", "value")) == sorted(trackings)
    # The bulk form asks first: a GET to the confirmation, carrying the view to come back to.
    form = element(soup, "form#bulk")
    assert form["method"] == "get" and form["action"] == url(client, "approvals:confirm")
    assert texts(form, "button") == ["Approve selected", "Reject selected"]


# ---- The empty queue, and the header's count ---------------------------------------------------


async def test_an_empty_queue_says_so_plainly_and_a_filtered_one_offers_to_clear(client):
    await approver_client(client, (("MARX", 3),))  # nothing ever waits at level 3
    soup = page(await client.get(url(client, "approvals:table")))
    assert text(soup, "#queue-table .empty-queue") == "There are no requests waiting for your decision."
    assert soup.select_one("#bulk button") is None and soup.select_one("#select-all") is None
    await approver_client(client, (("MARX", 1),))
    soup = page(await client.get(url(client, "approvals:table"), params={"q": "nobody-by-this-name"}))
    assert text(soup, "#queue-table .empty-queue") == "No requests match these filters. Clear the filters"
    assert link_href(soup, "Clear the filters") == url(client, "approvals:table")


async def test_approvers_see_their_waiting_count_in_the_header_on_every_page(client):
    approver = await approver_client(client, (("MARX", 3),))

    def count(r) -> str:
        return text(page(r), "nav.account-nav a#nav-queue")

    r = await client.get(url(client, "accounts:applications"))
    assert count(r) == "Requests to approve (0)"
    assert attr(page(r), "a#nav-queue", "href") == url(client, "approvals:table")
    # A level-1 approver of MARX: the count is their queue's, and moves with it.
    first = await approver_client(client, (("MARX", 1),))
    shown = count(await client.get(url(client, "home:getting-ready")))
    before = int(shown.removeprefix("Requests to approve (").removesuffix(")"))
    tracking = await quick_request("MARX", "mco-representative", last_name=unique("Count"))
    r = await client.get(url(client, "accounts:applications"))
    assert count(r) == f"Requests to approve ({before + 1})"
    assert count(await client.get(url(client, "approvals:table"))) == f"Requests to approve ({before + 1})"
    await client.post(url(client, "approvals:approve", tracking=tracking), data=await csrf(client), headers=HX)
    assert count(await client.get(url(client, "accounts:applications"))) == f"Requests to approve ({before})"
    # Their own request is never theirs to decide, so never counted.
    mine = await quick_request("MARX", "mco-representative", email=first["email"])
    assert count(await client.get(url(client, "accounts:applications"))) == f"Requests to approve ({before})"
    assert (await request(mine))["status"] == "pending" and approver["user_id"] != first["user_id"]
    # Anyone else: no link at all.
    holder = await make_account(initial=False)
    await log_in(client, holder["user_id"], holder["password"])
    assert page(await client.get(url(client, "accounts:applications"))).select_one("#nav-queue") is None


async def test_a_refused_reason_without_javascript_comes_back_to_the_reject_form_once(client):
    """Post/redirect/get: a refused reason answers 303 to the reject form, which shows the typed
    reason and the message; a refresh shows the form without them; nothing was rejected."""
    tracking = await quick_request("EQRS", "facility-viewer")
    await approver_client(client, (("EQRS", 1),))
    back = url(client, "approvals:table", query="sort=applicant")
    r = await client.post(
        url(client, "approvals:reject", tracking=tracking),
        data={"reason": "Not\u200beligible", "back": back, **await csrf(client)},
    )
    assert sent_back(r)
    assert urlsplit(r.headers["location"]).path == url(client, "approvals:reject-form", tracking=tracking)
    assert parse_qs(urlsplit(r.headers["location"]).query)["back"] == [back]
    shown = await follow_back(client, r)
    message = "The reason must not contain invisible or control characters: type it again"
    assert field_error(page(shown), f"reason-{tracking}") == message
    assert text(page(shown), f"textarea#reason-{tracking}") == "Noteligible"  # shown without the invisible one
    again = await client.get(r.headers["location"])  # a refresh: the message was shown once
    assert f"reason-{tracking}-error" not in again.text
    assert (await request(tracking))["status"] == "pending"
