"""Approvals and provisioning (portal/controllers/approvals.py, portal/approvals/service.py)."""

from __future__ import annotations

import asyncio
import itertools
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest

from portal import timefmt
from portal.accounts.passwords import problem
from portal.clock import now
from portal.hashing import verify_secret
from portal.models import accounts as aq
from portal.models.tables import AccessGrant, AccessRequest, Account, Application, OutboxMessage, Role
from portal.web import links_for
from tests.htmlcheck import (
    attr,
    attrs,
    definitions,
    element,
    field_error,
    h1,
    notice,
    page,
    text,
    texts,
    tracking_number,
)
from tests.integration.accounts_support import csrf, log_in, make_account
from tests.integration.conftest import _check_html_response, checked_client
from tests.integration.registration_flow import CONTACT, ROLE_FIELDS, Applicant
from tests.support import follow_back, url

HX = {"HX-Request": "true"}
_n = itertools.count(1)


async def submitted(client_factory, smtp, app_code="PSR", role="provider-user") -> str:
    """A request submitted through the real registration journey; its tracking number."""
    a = Applicant(client_factory, smtp, app_code=app_code)
    await a.through_questions(role=role)
    return tracking_number(page(await a.submit()))


def pending_request(role: dict, *, at: datetime, n: int, email: str = "", last_name: str = "") -> AccessRequest:
    """A pending request row for ``role`` (a Role row), submitted ``at``; ``n`` makes it distinct."""
    from portal.registration.tracking import new_tracking_number

    tracking = new_tracking_number()
    return AccessRequest(
        tracking_number=tracking,
        draft_token=f"quick:{tracking}",
        application=role["application"],
        role=role["id"],
        email=email or f"quick{n}.{id(_n) % 9999}@example.gov",
        first_name="Pat",
        last_name=last_name or f"Quick{n:04d}",
        personal={},
        contact={
            "organization": f"Org {n:04d}",
            "address1": "1 Main",
            "city": "X",
            "state": "MD",
            "zip": "21244",
            "phone": "(410) 786-3000",
            "phone_ext": "",
            "fields": {},
        },
        organization=f"Org {n:04d}",
        questions=[],
        terms_version="2026-01",
        terms_accepted_at=at,
        levels=role["approval_levels"],
        submitted_at=at,
        due_at=at + timedelta(days=role["review_days"]),
    )


async def quick_request(
    app_code: str, role_code: str, *, days_ago: int = 0, last_name: str = "", email: str = ""
) -> str:
    """A pending request written straight to the table (for volume: sorting, paging)."""
    app = await Application.select(Application.id).where(Application.code == app_code).first()
    role = await Role.select().where((Role.application == app["id"]) & (Role.code == role_code)).first()
    row = pending_request(role, at=now() - timedelta(days=days_ago), n=next(_n), email=email, last_name=last_name)
    await AccessRequest.insert(row)
    return row.tracking_number


async def approver_client(client, rights, **kw):
    account = await make_account(initial=False, grants=(), approver=rights, **kw)
    await log_in(client, account["user_id"], account["password"])
    return account


def row_ids(r) -> list[str]:
    """The tracking numbers of the table's rows (each request is a tbody), in order."""
    return [tbody["id"].removeprefix("req-") for tbody in page(r).select("tbody[id^='req-']")]


def decision(r, tracking: str) -> str:
    """What the Decision cell of a request's row says of a decided request."""
    return text(page(r), f"#req-{tracking} td.decision .verdict")


async def mails(to: str, kind: str) -> list[dict]:
    return await OutboxMessage.select().where((OutboxMessage.to_address == to) & (OutboxMessage.kind == kind))


async def request(tracking: str) -> dict:
    return await AccessRequest.select().where(AccessRequest.tracking_number == tracking).first()


# ---- 1. The table -----------------------------------------------------------------------------


async def test_approvers_only(client):
    r = await client.get(url(client, "approvals:table"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:login")
    holder = await make_account(initial=False)
    await log_in(client, holder["user_id"], holder["password"])
    assert (await client.get(url(client, "approvals:table"))).status_code == 403


async def test_table_lists_the_queue_with_due_dates_and_overdue_marked(client, smtp, app):

    async with checked_client(app) as applicant_browser:
        tracking = await submitted(applicant_browser, smtp, "MED", "state-agency-user")
    late = await quick_request("MED", "state-agency-user", days_ago=30)
    await approver_client(client, (("MED", 1),))
    r = await client.get(url(client, "approvals:table"), params={"application": "MED"})
    assert r.status_code == 200
    ids = row_ids(r)
    assert tracking in ids and late in ids
    soup = page(r)
    headers = texts(soup, "thead th")
    assert headers == [  # the sortable ones with an arrow: ↕ until sorted, ▲ or ▼ (and said) when sorted
        "Select",
        "Tracking number↕",
        "Applicant↕",
        "Organization↕",
        "Application↕",
        "Role↕",
        "Submitted↕",
        "Due, sorted ascending▲",
        "Days left",
        "Decision",
    ]
    row = await request(tracking)
    assert (row["due_at"] - row["submitted_at"]).days == 21  # the role's review days
    late_row = element(soup, f"#req-{late}")
    assert "overdue" in late_row["class"] and text(late_row, ".overdue-tag") == "Overdue 9 d"


async def test_filters_sort_search_and_pages_with_and_without_htmx(client):
    await approver_client(client, (("COBR", 1),))
    names = [f"Zed{i:02d}" for i in range(30)]
    trackings = [await quick_request("COBR", "account-designee", last_name=n, days_ago=i) for i, n in enumerate(names)]
    await quick_request("COBR", "account-manager", last_name="Manager", days_ago=40)

    r = await client.get(
        url(client, "approvals:table"), params={"application": "COBR", "role": "account-designee", "sort": "applicant"}
    )
    assert text(page(r), "#queue-status .count") == "30 requests, page 1 of 2"
    assert [t for t in row_ids(r)] == trackings[:25]  # Zed00..Zed24, by last name
    r2 = await client.get(
        url(client, "approvals:table"),
        params={"application": "COBR", "role": "account-designee", "sort": "applicant", "page": "2"},
    )
    assert row_ids(r2) == trackings[25:]
    desc = await client.get(
        url(client, "approvals:table"),
        params={"application": "COBR", "role": "account-designee", "sort": "applicant", "dir": "desc"},
    )
    assert row_ids(desc)[:3] == [trackings[29], trackings[28], trackings[27]]

    r = await client.get(url(client, "approvals:table"), params={"application": "COBR", "q": "zed07"})
    assert row_ids(r) == [trackings[7]]
    r = await client.get(url(client, "approvals:table"), params={"application": "COBR", "q": trackings[3].lower()})
    assert row_ids(r) == [trackings[3]]
    r = await client.get(url(client, "approvals:table"), params={"application": "COBR", "overdue": "1"})
    assert all(t in row_ids(r) for t in trackings[15:]) and trackings[0] not in row_ids(r)  # 14-day role

    # With htmx: only the table (the count and the pager out of band), and its URL pushed so it
    # can be reloaded and shared; the filter form is left alone, with its focus.
    table = url(client, "approvals:table")
    r = await client.get(table, params={"application": "COBR", "sort": "due", "dir": "desc", "page": "2"}, headers=HX)
    soup = page(r)
    assert r.text.lstrip().startswith("<title>") and soup.select_one("table#queue-table.queue-table")
    assert "<html" not in r.text  # a fragment: the raw response, before any parser adds the document
    assert soup.select_one("#queue") is None and soup.select_one("#f-q") is None
    assert attr(soup, "div#queue-status", "hx-swap-oob") == "true"
    assert text(soup, "#queue-status .count") == "31 requests, page 2 of 2"
    assert len(row_ids(r)) == 6
    assert r.headers["hx-push-url"] == f"{table}?application=COBR&sort=due&dir=desc&page=2"
    sort_links = [link for link in attrs(soup, "thead th a", "hx-get") if link.startswith(f"{table}?")]
    assert any("sort=organization" in link for link in sort_links)


async def test_every_column_sorts(client):
    await approver_client(client, (("GENTRAN", 1),))
    for i in range(3):
        await quick_request("GENTRAN", "mailbox-user", days_ago=i)
    for key in ("tracking", "applicant", "organization", "application", "role", "submitted", "due"):
        table = url(client, "approvals:table")
        asc = row_ids(await client.get(table, params={"sort": key, "application": "GENTRAN"}))
        desc = row_ids(await client.get(table, params={"sort": key, "dir": "desc", "application": "GENTRAN"}))
        assert len(asc) == 3 and sorted(asc) == sorted(desc), key
        if key in {"tracking", "applicant", "organization", "submitted", "due"}:
            assert asc == list(reversed(desc)), key


# ---- 2. Row actions ---------------------------------------------------------------------------


async def test_row_expands_with_ssn_and_tin_masked(client, smtp, app):

    async with checked_client(app) as b:
        tracking = await submitted(b, smtp)
    await approver_client(client, (("PSR", 1),))
    r = await client.get(url(client, "approvals:details", tracking=tracking), headers=HX)
    assert r.text.lstrip().startswith(f'<tbody id="req-{tracking}"')
    details = definitions(page(r), f"#req-{tracking} .row-details dl")
    assert details["Social Security Number"] == "•••••6789"
    assert details["Tax Identification Number (TIN)"] == "•••••6789"
    # Never in full, anywhere in the fragment (the TIN's digits apart from the NPI's):
    assert "123-45-6789" not in r.text and "3456789" not in r.text.replace("1234567893", "")
    r = await client.get(url(client, "approvals:details", tracking=tracking))  # without JavaScript: its own page
    assert h1(page(r)) == f"Request {tracking}"


async def test_approve_inline_swaps_the_row_and_reject_needs_a_reason(client, smtp, app):

    async with checked_client(app) as b:
        first = await submitted(b, smtp, "EQRS", "facility-viewer")
    second = await quick_request("EQRS", "facility-viewer")
    approver = await approver_client(client, (("EQRS", 1),))
    r = await client.post(url(client, "approvals:approve", tracking=first), data=await csrf(client), headers=HX)
    assert r.text.lstrip().startswith(f'<tbody id="req-{first}"')
    assert decision(r, first) == f"Approved by {approver['user_id']}"
    assert len(r.content) < 3000
    r = await client.get(url(client, "approvals:reject-form", tracking=second), headers=HX)
    assert text(page(r), f"label[for='reason-{second}']") == f"Reason for rejecting {second} (emailed to the applicant)"
    reject = url(client, "approvals:reject", tracking=second)
    r = await client.post(reject, data={"reason": "   ", **await csrf(client)}, headers=HX)
    assert field_error(page(r), f"reason-{second}") == "Enter the reason for rejecting this request"
    assert (await request(second))["status"] == "pending"
    r = await client.post(reject, data={"reason": "Not our facility", **await csrf(client)}, headers=HX)
    assert decision(r, second) == f"Rejected by {approver['user_id']}"
    row = await request(second)
    assert row["status"] == "rejected" and row["reason"] == "Not our facility"
    rejection = await mails(row["email"], "request_rejected")
    assert len(rejection) == 1 and "Reason: Not our facility" in rejection[0]["body"]
    r = await client.post(
        url(client, "status:check"), data={"tracking_number": second, "email": row["email"], **await csrf(client)}
    )
    r = await client.get(r.headers["location"])  # the answer is on the status page (post/redirect/get)
    assert re.fullmatch(r"Rejected on \d{1,2} \w+ \d{4}\. Reason: Not our facility", definitions(page(r))["Status"])


async def test_without_javascript_decisions_reload_the_same_view(client):
    tracking = await quick_request("HIOS", "issuer-submitter")
    await approver_client(client, (("HIOS", 1),))
    back = url(client, "approvals:table", query="application=HIOS&sort=due")
    approve = url(client, "approvals:approve", tracking=tracking)
    r = await client.post(approve, data={"back": back, **await csrf(client)})
    assert r.status_code == 303 and r.headers["location"].startswith(back + "&done=")
    r = await client.post(approve, data={"back": "https://evil.example/", **await csrf(client)})
    assert r.headers["location"].startswith(url(client, "approvals:table", query="done="))


async def test_bulk_approve(client):
    trackings = [await quick_request("HIOS", "issuer-submitter") for _ in range(3)]
    await approver_client(client, (("HIOS", 1),))
    data = [("selected", t) for t in trackings] + [
        ("back", url(client, "approvals:table")),
        ("_csrf_token", (await csrf(client))["_csrf_token"]),
    ]
    r = await client.post(
        url(client, "approvals:bulk"),
        content="&".join(f"{k}={v}" for k, v in data),
        headers={**HX, "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert text(page(r), "#queue-status .notice p") == "Approved 3 requests."
    assert texts(page(r), "#queue-status .notice li") == [f"{t}: approved, account created" for t in trackings]
    for t in trackings:
        assert (await request(t))["status"] == "approved"
    # Without JavaScript: the same form posts, then the same view reloads with the outcome.
    more = [await quick_request("HIOS", "issuer-submitter") for _ in range(2)]
    back = url(client, "approvals:table", query="application=HIOS&sort=due")
    data = [("selected", t) for t in more] + [("back", back), ("_csrf_token", (await csrf(client))["_csrf_token"])]
    r = await client.post(
        url(client, "approvals:bulk"),
        content=urlencode(data),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert r.status_code == 303 and r.headers["location"].startswith(back)
    r = await client.get(r.headers["location"])
    assert text(page(r), "#queue-status .notice p") == "Approved 2 requests."
    assert [(await request(t))["status"] for t in more] == ["approved", "approved"]


@pytest.mark.parametrize("htmx", [True, False])
async def test_bulk_approve_with_nothing_selected_says_so(client, htmx):
    """ "Approve selected" with no row ticked sends no ``selected`` field at all."""
    tracking = await quick_request("HIOS", "issuer-submitter")
    await approver_client(client, (("HIOS", 1),))
    data = {"back": url(client, "approvals:table"), **await csrf(client)}
    r = await client.post(url(client, "approvals:bulk"), data=data, headers=HX if htmx else {})
    if not htmx:
        assert r.status_code == 303
        r = await client.get(r.headers["location"])
    assert r.status_code == 200
    assert text(page(r), "#queue-status div.notice[role=status]") == "Select at least one request to approve."
    assert (await request(tracking))["status"] == "pending"


async def test_a_request_outside_the_approvers_rights_answers_like_an_unknown_one(client):
    """No oracle: another application's tracking number and one that does not exist get the
    same status and the same page on every approval route."""
    theirs = await quick_request("HPMS", "plan-user")
    unknown = "IACS-ZZZZ-ZZZZ-ZZZZ"
    await approver_client(client, (("HIOS", 1),))

    async def answers(tracking: str) -> list[tuple[int, str]]:
        out = []
        for method, name, headers in (
            ("GET", "approvals:details", {}),
            ("GET", "approvals:row", HX),
            ("GET", "approvals:reject-form", HX),
            ("POST", "approvals:approve", HX),
            ("POST", "approvals:reject", HX),
        ):
            data = {"reason": "Not eligible", **await csrf(client)} if method == "POST" else None
            r = await client.request(method, url(client, name, tracking=tracking), data=data, headers=headers)
            # The session warning's clocks count down between the two runs: not an oracle.
            shown = re.sub(r'data-(expires|ends)-in="\d+"', "", r.text.replace(tracking, "TRACKING"))
            out.append((r.status_code, shown))
        return out

    mine, none = await answers(theirs), await answers(unknown)
    assert [s for s, _ in mine] == [404] * 5
    assert mine == none
    assert (await request(theirs))["status"] == "pending"


async def test_a_rejection_reason_with_invisible_characters_is_refused_and_nothing_is_sent(client):
    tracking = await quick_request("HIOS", "issuer-submitter")
    await approver_client(client, (("HIOS", 1),))
    for reason in ("Not eligible \u202egnissim", "Missing\u200b documents", "Bad\x00 data"):
        r = await client.post(
            url(client, "approvals:reject", tracking=tracking),
            data={"reason": reason, **await csrf(client)},
            headers=HX,
        )
        assert r.status_code == 200
        assert field_error(page(r), f"reason-{tracking}") == (
            "The reason must not contain invisible or control characters: type it again"
        )
    row = await request(tracking)
    assert row["status"] == "pending" and row["reason"] == ""
    assert await mails(row["email"], "request_rejected") == []


async def test_the_table_never_prints_invisible_characters_whatever_is_stored(client):
    """Older rows (or a future bug) cannot spoof the table: pages drop bidi controls on output."""
    tracking = await quick_request("HIOS", "issuer-submitter", last_name="Smith\u202eevil\u202c")
    await approver_client(client, (("HIOS", 1),))
    r = await client.get(url(client, "approvals:table"), params={"application": "HIOS", "q": tracking})
    assert tracking in row_ids(r)
    assert "\u202e" not in r.text and "\u202c" not in r.text  # nowhere on the page
    assert texts(page(r), f"#req-{tracking} td")[1] == "Pat Smithevil"  # the Applicant column


# ---- 3. Levels and own requests ---------------------------------------------------------------


async def test_two_levels_and_never_both_by_one_person(client, app):

    tracking = await quick_request("MARX", "mco-submitter")  # two levels
    level2 = await make_account(initial=False, grants=(), approver=(("MARX", 2),))
    both = await approver_client(client, (("MARX", 1), ("MARX", 2)))
    approve = url(client, "approvals:approve", tracking=tracking)
    r = await client.post(approve, data=await csrf(client), headers=HX)
    assert notice(page(r)) == f"{tracking}: Approved at level 1; it moves to level 2."
    row = await request(tracking)
    assert row["status"] == "pending" and row["level"] == 2 and row["level1_by"] == both["user_id"]
    assert tracking not in row_ids(await client.get(url(client, "approvals:table"), params={"application": "MARX"}))
    r = await client.post(approve, data=await csrf(client), headers=HX)
    assert r.status_code == 200
    assert notice(page(r)) == f"{tracking}: Already approved at level 1 by {both['user_id']}; it now waits at level 2."
    assert (await request(tracking))["status"] == "pending"
    async with checked_client(app) as other:
        await log_in(other, level2["user_id"], level2["password"])
        assert tracking in row_ids(await other.get(url(other, "approvals:table"), params={"application": "MARX"}))
        assert await mails(level2["email"], "approval_needed")
        r = await other.post(approve, data=await csrf(other), headers=HX)
        assert decision(r, tracking) == f"Approved by {level2['user_id']}"
    row = await request(tracking)
    assert row["status"] == "approved" and row["decided_by"] == level2["user_id"]


async def test_nobody_decides_their_own_request(client):
    approver = await approver_client(client, (("HPMS", 1),))
    own = await quick_request("HPMS", "plan-user", email=approver["email"])
    assert own not in row_ids(await client.get(url(client, "approvals:table"), params={"application": "HPMS"}))
    r = await client.post(url(client, "approvals:approve", tracking=own), data=await csrf(client), headers=HX)
    assert r.status_code == 404 and (await request(own))["status"] == "pending"


# ---- 4. Exactly once --------------------------------------------------------------------------


async def test_twenty_concurrent_approvals_by_two_approvers_make_one_account(concurrent_client, app):
    """Two approvers (and two tabs each, in effect) fire 20 approvals of one request at once."""
    import httpx

    tracking = await quick_request("EHRIP", "eligible-clinician")
    second_browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver.local",
        event_hooks={"response": [_check_html_response]},
    )
    async with second_browser:
        browsers = (concurrent_client, second_browser)
        approvers = [await approver_client(b, (("EHRIP", 1),)) for b in browsers]
        tokens = [await csrf(b) for b in browsers]
        approve = url(app, "approvals:approve", tracking=tracking)
        responses = await asyncio.gather(
            *(browsers[i % 2].post(approve, data=tokens[i % 2], headers=HX) for i in range(20))
        )
    assert {r.status_code for r in responses} == {200}
    notices = [notice(page(r)) for r in responses]
    assert notices.count(f"{tracking}: Approved. The account has been provisioned.") == 1
    row = await request(tracking)
    assert row["decided_by"] in {a["user_id"] for a in approvers}
    when = timefmt.day_and_clock(row["decided_at"])
    assert notices.count(f"{tracking}: Already approved by {row['decided_by']} on {when}.") == 19
    accounts = await Account.select().where(Account.email == row["email"])
    assert len(accounts) == 1
    assert await AccessGrant.count().where(AccessGrant.account == accounts[0]["id"]) == 1
    assert len(await mails(row["email"], "user_id")) == 1 and len(await mails(row["email"], "initial_password")) == 1
    assert len(await aq.audit_events(subject=tracking, action="request_approved")) == 1


# ---- 5. Provisioning --------------------------------------------------------------------------


async def test_final_approval_provisions_account_grant_and_two_separate_emails(client):
    tracking = await quick_request("PSR", "provider-user")
    await approver_client(client, (("PSR", 1),))
    await client.post(url(client, "approvals:approve", tracking=tracking), data=await csrf(client), headers=HX)
    row = await request(tracking)
    account = (await Account.select().where(Account.email == row["email"]))[0]
    assert re.fullmatch(r"[A-HJKMNP-TW-Z]{4}[2-9]{3}", account["user_id"])
    assert account["password_initial"] and account["password_hash"].startswith("$sha256$")  # 114 random bits
    assert timedelta(hours=71) < account["password_expires_at"] - now() <= timedelta(hours=72)
    (uid_mail,) = await mails(row["email"], "user_id")
    (pw_mail,) = await mails(row["email"], "initial_password")
    assert account["user_id"] in uid_mail["body"]
    assert account["user_id"] not in pw_mail["body"] and account["user_id"] not in pw_mail["subject"]
    password = re.search(r"initial password is: (\S+)", pw_mail["body"]).group(1)
    assert problem(password) is None and await verify_secret(account["password_hash"], password)
    assert password not in uid_mail["body"]
    grants = await aq.grants_of(account["id"])
    assert [(g.application_code, g.role_name) for g in grants] == [("PSR", "Provider User")]
    assert await aq.audit_events(subject=account["user_id"], action="account_created")


async def test_a_holders_request_only_adds_the_grant_with_one_email(client, app):

    holder = await make_account(initial=False)
    async with checked_client(app) as h:
        await log_in(h, holder["user_id"], holder["password"])
        form = {**CONTACT, **ROLE_FIELDS, "role": "issuer-submitter"}
        r = await h.post(url(h, "accounts:request-submit", code="HIOS"), data={**form, **await csrf(h)})
        tracking = tracking_number(page(await h.get(r.headers["location"])))  # the confirmation page
    stored = await (
        AccessRequest.select(AccessRequest.personal, AccessRequest.questions)
        .where(AccessRequest.tracking_number == tracking)
        .output(load_json=True)
        .first()
    )
    assert stored == {"personal": {}, "questions": []}  # a holder gives no personal information again
    await approver_client(client, (("HIOS", 1),))
    await client.post(url(client, "approvals:approve", tracking=tracking), data=await csrf(client), headers=HX)
    assert await Account.count().where(Account.email == holder["email"]) == 1
    codes = [g.application_code for g in await aq.grants_of(holder["id"])]
    assert sorted(codes) == ["HIOS", "PSR"]
    assert len(await mails(holder["email"], "access_added")) == 1
    assert await mails(holder["email"], "user_id") == [] and await mails(holder["email"], "initial_password") == []


async def test_a_holder_cannot_ask_again_for_a_role_they_hold_and_a_late_duplicate_sends_nothing(client, app):
    holder = await make_account(initial=False)  # holds PSR / provider-user
    psr = {**CONTACT, **ROLE_FIELDS, "role": "provider-user"}
    async with checked_client(app) as h:
        await log_in(h, holder["user_id"], holder["password"])
        r = await follow_back(
            h, await h.post(url(h, "accounts:request-submit", code="PSR"), data={**psr, **await csrf(h)})
        )
        assert field_error(page(r), "role") == "You already have PSR as Provider User"
        assert await AccessRequest.count().where(AccessRequest.email == holder["email"]) == 0
        r = await h.post(
            url(h, "accounts:request-submit", code="HIOS"), data={**psr, "role": "issuer-submitter", **await csrf(h)}
        )
        tracking = tracking_number(page(await h.get(r.headers["location"])))
    # Granted by other means before the approval: approving adds nothing and tells nobody.
    request = await AccessRequest.select().where(AccessRequest.tracking_number == tracking).first()
    await aq.add_grant(holder["id"], request["application"], request["role"], None)
    await approver_client(client, (("HIOS", 1),))
    r = await client.post(url(client, "approvals:approve", tracking=tracking), data=await csrf(client), headers=HX)
    assert r.status_code == 200 and notice(page(r)).startswith(f"{tracking}: Approved")
    assert (await AccessRequest.select().where(AccessRequest.tracking_number == tracking).first())[
        "status"
    ] == "approved"
    assert await AccessGrant.count().where(AccessGrant.account == holder["id"]) == 2
    assert await mails(holder["email"], "access_added") == []


# ---- 6. Notifications -------------------------------------------------------------------------


async def test_approvers_are_told_when_a_request_reaches_them_and_reminded_daily(client, smtp, app):

    from portal.approvals.service import remind

    approver = await make_account(initial=False, grants=(), approver=(("GENTRAN", 1),))
    async with checked_client(app) as b:
        tracking = await submitted(b, smtp, "GENTRAN", "mailbox-user")
    needed = await mails(approver["email"], "approval_needed")
    assert len(needed) == 1 and tracking in needed[0]["subject"]
    await quick_request("GENTRAN", "mailbox-user", days_ago=40)
    assert await remind(now(), links_for(app, "http://portal")) >= 1
    first = await mails(approver["email"], "overdue_reminder")
    assert len(first) == 1 and "past the review target date" in first[0]["body"]
    await remind(now(), links_for(app, "http://portal"))  # same day: nothing more
    assert len(await mails(approver["email"], "overdue_reminder")) == 1


async def test_an_approver_hears_of_new_requests_at_most_once_in_fifteen_minutes(client, smtp, app):
    """A busy queue does not flood its approvers: the second request inside the gap sends no
    email (the queue shows it); once the gap has passed the next one does."""
    approver = await make_account(initial=False, grants=(), approver=(("GENTRAN", 1),))
    other = await make_account(initial=False, grants=(), approver=(("GENTRAN", 1),))
    async with checked_client(app) as b:
        first = await submitted(b, smtp, "GENTRAN", "mailbox-user")
    async with checked_client(app) as b:
        await submitted(b, smtp, "GENTRAN", "mailbox-user")
    for person in (approver, other):
        needed = await mails(person["email"], "approval_needed")
        assert [first in m["subject"] for m in needed] == [True]
        assert "at most once every 15 minutes" in needed[0]["body"]
    await OutboxMessage.update({OutboxMessage.created_at: now() - timedelta(minutes=16)}).where(
        OutboxMessage.to_address == approver["email"]
    )
    async with checked_client(app) as b:
        third = await submitted(b, smtp, "GENTRAN", "mailbox-user")
    assert [third in m["subject"] for m in await mails(approver["email"], "approval_needed")] == [False, True]
    assert len(await mails(other["email"], "approval_needed")) == 1  # still inside its gap


# ---- 7. Audit ---------------------------------------------------------------------------------


async def test_every_decision_is_audited_and_shown_on_the_details(client):
    tracking = await quick_request("MED", "contractor-user")  # two levels
    approver = await approver_client(client, (("MED", 1),))
    await client.post(url(client, "approvals:approve", tracking=tracking), data=await csrf(client), headers=HX)
    (event,) = await aq.audit_events(subject=tracking, action="request_approved_level")
    assert event.actor == approver["user_id"] and event.ip and event.at
    r = await client.get(url(client, "approvals:details", tracking=tracking), headers=HX)
    history = texts(page(r), f"#req-{tracking} ul.audit li")
    assert any(item.endswith(f": request approved level by {approver['user_id']} from {event.ip}") for item in history)


# ---- 8. The two-level loop, end to end through the test client --------------------------------


async def test_two_level_loop_from_registration_to_first_login(client, smtp, app):

    async with checked_client(app) as applicant:
        a = Applicant(applicant, smtp, app_code="PSR")
        await a.through_questions(role="security-official")  # two levels
        tracking = tracking_number(page(await a.submit()))

        async def status() -> str:
            r = await a.post(url(applicant, "status:check"), {"tracking_number": tracking, "email": a.email})
            return definitions(page(r))["Status"]

        assert await status() == "Pending approval at level 1 of 2"
        for rights, after in ((("PSR", 1),), "Pending approval at level 2 of 2"), ((("PSR", 2),), "Approved on "):
            async with checked_client(app) as approver:
                await approver_client(approver, rights)
                r = await approver.post(
                    url(approver, "approvals:approve", tracking=tracking), data=await csrf(approver), headers=HX
                )
                assert r.status_code == 200
            assert (await status()).startswith(after)
        messages = await smtp.deliver()
        to_me = [m for m in messages if a.email in m.rcpt_tos]
        user_id = re.search(
            r"User ID is: (\S+)", next(m.text for m in to_me if m.subject == "Your IACS User ID")
        ).group(1)
        password = re.search(
            r"initial password is: (\S+)", next(m.text for m in to_me if "initial password" in m.subject)
        ).group(1)
        r = await log_in(applicant, user_id, password)
        assert r.headers["location"] == url(applicant, "accounts:change-password")
        new = "harbour lanterns drift at seven"
        r = await applicant.post(
            url(applicant, "accounts:change-password-submit"),
            data={"current_password": password, "new_password": new, "confirm_password": new, **await csrf(applicant)},
        )
        assert r.status_code == 303
        r = await applicant.get(url(applicant, "accounts:applications"))
        assert texts(page(r), ".app-list .muted") == [
            "Provider Statistical and Reimbursement System: Security Official"
        ]


async def test_the_message_after_a_decision_cannot_be_forged(client):
    await approver_client(client, (("HIOS", 1),))
    r = await client.get(url(client, "approvals:table"), params={"done": "Your account is suspended: call 555-0100"})
    assert page(r).select_one("#queue-status .notice") is None
    assert "Your account is suspended" not in r.text  # nowhere on the page
    tracking = await quick_request("HIOS", "issuer-submitter")
    r = await client.post(
        url(client, "approvals:approve", tracking=tracking),
        data={"back": url(client, "approvals:table"), **await csrf(client)},
    )
    r = await client.get(r.headers["location"])
    assert text(page(r), "#queue-status .notice") == f"{tracking}: Approved. The account has been provisioned."


@pytest.mark.parametrize("number", ["²", "9" * 5000, "-1", "abc", ""])
async def test_odd_page_numbers_show_the_first_page(client, number):
    await approver_client(client, (("HIOS", 1),))
    r = await client.get(url(client, "approvals:table"), params={"page": number})
    assert r.status_code == 200 and h1(page(r)) == "Requests waiting for your approval"
