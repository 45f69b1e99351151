"""The registration journey through Litestar's test client (portal/controllers/registration.py,
portal/registration/*)."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta

import pytest
from prometheus_client import REGISTRY

from portal import timefmt
from portal.hashing import answers_secret, verify_secret
from portal.models.tables import AccessRequest, OutboxMessage, RegistrationDraft
from tests.htmlcheck import (
    attr,
    attrs,
    definitions,
    element,
    field_error,
    field_errors,
    h1,
    input_ids,
    input_value,
    link_href,
    norm,
    notice,
    page,
    text,
    texts,
    title,
    tracking_number,
)
from tests.integration.conftest import checked_client
from tests.integration.registration_flow import Applicant, unique_email
from tests.support import url

HX = {"HX-Request": "true"}


async def latest_draft() -> dict:
    return (
        await RegistrationDraft.select().order_by(RegistrationDraft.id, ascending=False).output(load_json=True).first()
    )


async def draft_count() -> int:
    return await RegistrationDraft.count()


# ---- 1. Choose and accept ---------------------------------------------------------------------


async def test_application_list_filters_by_plain_get(client):
    r = await client.get(url(client, "registration:start"), params={"q": "gentran"})
    soup = page(r)
    assert texts(soup, "#application-list a") == ["CMS Gentran Mailbox Services (GENTRAN)"]
    assert attr(soup, "input#q", "value") == "gentran"


async def test_application_list_filters_as_you_type_with_htmx(client):
    r = await client.get(url(client, "registration:start"), params={"q": "medicare"}, headers=HX)
    assert r.status_code == 200
    assert not r.text.lstrip().startswith("<!doctype")  # only the list fragment
    assert r.text.lstrip().startswith('<div id="application-list"')
    assert r.headers["hx-push-url"] == url(client, "registration:start", query="q=medicare")
    assert "HX-Request" in r.headers["vary"]
    links = [(a["href"], norm(a.get_text())) for a in page(r).select("#application-list a")]
    names = [label.rsplit(" (", 1)[1].removesuffix(")") for _, label in links]  # "Name (CODE)"
    assert [href for href, _ in links] == [url(client, "registration:terms", code=code) for code in names]
    assert names and all("medicare" in _app_text(code) for code in names)
    assert "HIOS" not in names
    assert len(r.content) < 2000


def _app_text(code: str) -> str:
    from portal.catalog import read

    app = next(a for a in read().applications if a.code == code)
    return f"{app.code} {app.name} {app.description}".casefold()


async def test_terms_are_versioned_and_accept_records_version_and_time(client, smtp):
    before = await draft_count()
    r = await client.get(url(client, "registration:terms", code="PSR"))
    assert text(page(r), "p.hint") == "Terms and Conditions, version 2026-01"
    assert await draft_count() == before  # reading the terms stores nothing
    a = Applicant(client, smtp)
    r = await a.accept_terms()
    assert r.status_code == 303
    draft = await latest_draft()
    assert draft["terms_version"] == "2026-01" and draft["terms_accepted_at"] is not None
    assert await draft_count() == before + 1


async def test_decline_returns_home_and_stores_nothing(client):
    before = await draft_count()
    r = await client.get(url(client, "registration:terms", code="HPMS"))
    assert link_href(page(r), "Decline") == url(client, "home:getting-ready")
    assert await draft_count() == before
    assert "iacs_draft" not in client.cookies


async def test_unknown_application_is_404(client):
    assert (await client.get(url(client, "registration:terms", code="NOPE"))).status_code == 404


# ---- 2. The six steps -------------------------------------------------------------------------


async def test_each_step_shows_step_n_of_6(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    names = {
        "personal": "Step 1 of 6: New User Registration",
        "verify": "Step 2 of 6: Email Verification",
        "contact": "Step 3 of 6: Contact Information",
        "questions": "Step 4 of 6: Authentication Questions",
        "review": "Step 5 of 6: Review Details",
    }
    for slug, step_title in names.items():
        r = await client.get(url(client, f"registration:{slug}"))
        assert r.status_code == 200 and h1(page(r)) == step_title
        assert title(page(r)) == f"{step_title} – IACS Registration"


async def test_htmx_step_is_one_round_trip_with_pushed_url(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    r = await a.post(url(client, "registration:personal-save"), {**_personal(a)}, headers=HX)
    assert r.status_code == 200
    assert r.headers["hx-push-url"] == url(client, "registration:verify")
    assert title(page(r)) == "Step 2 of 6: Email Verification – IACS Registration"
    assert h1(page(r)) == "Step 2 of 6: Email Verification"
    assert not r.text.lstrip().startswith("<!doctype")


async def test_server_refuses_to_skip_steps(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    for step in ("verify", "contact", "questions", "review", "done"):
        r = await client.get(url(client, f"registration:{step}"))
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:personal"), step
    await a.personal()
    verify = url(client, "registration:verify")
    r = await client.get(url(client, "registration:review"))
    assert r.headers["location"] == verify
    r = await a.contact()
    assert r.headers["location"] == verify
    r = await client.get(url(client, "registration:review"), headers=HX)
    assert r.status_code == 200 and r.headers["hx-redirect"] == verify
    # The review's sections too (found by the generated-input tier: a 500 on a draft with no
    # contact details yet).
    for section in ("personal", "contact", "questions"):
        r = await client.get(url(client, "registration:review-section", section=section), headers=HX)
        assert r.status_code == 200 and r.headers["hx-redirect"] == verify, section


def _personal(a: Applicant) -> dict:
    from tests.integration.registration_flow import PERSONAL

    return {**PERSONAL, "email": a.email, "email_confirm": a.email}


# ---- 3. Email verification --------------------------------------------------------------------


async def test_code_is_emailed_stored_hashed_and_valid_30_minutes(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    code = await smtp.code_for(a.email)
    draft = await latest_draft()
    assert re.fullmatch(r"\d{6}", code)
    assert code not in str(draft)  # only a digest is stored
    assert len(draft["code_hash"]) == 64
    sent = (await OutboxMessage.select().where(OutboxMessage.to_address == a.email).first())["created_at"]
    assert timedelta(minutes=29) < draft["code_expires_at"] - sent <= timedelta(minutes=30, seconds=5)
    r = await client.get(url(client, "registration:verify"))
    # The clock time in Eastern time (a test at both sides of daylight saving: tests/unit/test_timefmt.py).
    assert text(page(r), ".expiry > strong") == timefmt.clock(draft["code_expires_at"])  # without JavaScript
    assert text(page(r), ".expiry-left") in ("(in 29 minutes)", "(in 30 minutes)")  # as the page was made
    left = int(attr(page(r), ".code-expiry", "data-expires-in"))  # for the live countdown
    assert 29 * 60 <= left <= 30 * 60


async def test_resend_once_a_minute_and_five_an_hour_voiding_the_old_code(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    first = await smtp.code_for(a.email)
    r = await a.post(url(client, "registration:resend"))
    assert "You can ask for a new code once a minute" in field_error(page(r), "code")
    draft = await latest_draft()
    # Pretend the first send was two minutes ago: a resend is allowed and voids the first code.
    await _shift_sends(draft, minutes=2)
    r = await a.post(url(client, "registration:resend"))
    assert notice(page(r)) == f"We have sent a new code to {a.email}. Only the newest code works."
    second = await smtp.code_for(a.email)
    assert (await latest_draft())["code_hash"] != draft["code_hash"]
    if first != second:  # one time in a million the two random codes are equal
        r = await a.verify(first)
        assert "This code no longer works: a newer code was sent" in field_error(page(r), "code")
    # Five sends in the hour: the sixth is refused until the oldest is an hour old.
    for _ in range(3):
        await _shift_sends(await latest_draft(), minutes=2)
        r = await a.post(url(client, "registration:resend"))
        assert notice(page(r)) == f"We have sent a new code to {a.email}. Only the newest code works."
    await _shift_sends(await latest_draft(), minutes=2)
    r = await a.post(url(client, "registration:resend"))
    assert "You have asked for 5 codes in the last hour" in field_error(page(r), "code")
    r = await a.verify(await smtp.code_for(a.email))
    assert r.status_code == 303 and r.headers["location"] == url(client, "registration:contact")


async def _shift_sends(draft: dict, *, minutes: int) -> None:
    from datetime import datetime

    sends = [
        {**s, "at": (datetime.fromisoformat(s["at"]) - timedelta(minutes=minutes)).isoformat()}
        for s in draft["code_sends"]
    ]
    await RegistrationDraft.update({RegistrationDraft.code_sends: sends}).where(RegistrationDraft.id == draft["id"])


async def _codes_to(email: str) -> int:
    return await OutboxMessage.count().where(
        (OutboxMessage.to_address == email) & (OutboxMessage.kind == "verification_code")
    )


async def _queued_earlier(email: str, kind: str, ages: list[timedelta]) -> None:
    """Emails to ``email`` queued that long ago (as if sent by other drafts and browsers)."""
    from portal.mail.outbox import new_message_id
    from portal.models.accounts import now

    for age in ages:
        at = now() - age
        await OutboxMessage.insert(
            OutboxMessage(
                kind=kind,
                to_address=email,
                subject="earlier",
                body="",
                message_id=new_message_id(),
                created_at=at,
                next_attempt_at=at,
                sent_at=at,
            )
        )


CAPPED = "We have sent as many codes to this email address as we can for now. You can ask for a code again at"


async def test_one_address_gets_at_most_five_codes_an_hour_across_drafts_and_browsers(app, smtp):
    email = unique_email()
    for _ in range(5):
        async with checked_client(app) as browser:
            a = Applicant(browser, smtp, email=email)
            await a.accept_terms()
            assert (await a.personal()).status_code == 303
    async with checked_client(app) as browser:
        a = Applicant(browser, smtp, email=email)
        await a.accept_terms()
        r = await a.personal()
        assert r.status_code == 200 and h1(page(r)).startswith("Step 1 of 6")
        message = field_error(page(r), "email")
        assert message.startswith(CAPPED) and re.search(
            r"again at \d{1,2}:\d\d[ap]m ET( on \d{1,2} \w+ \d{4})? \(in \d+ (minute|hour|day)s?\)\.$", message
        )
        assert "account" not in message
        assert (await latest_draft())["email"] is None  # nothing half-saved
    assert await _codes_to(email) == 5


async def test_ten_codes_a_day_to_one_address_and_resend_is_capped_too(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    assert (await a.personal()).status_code == 303  # 1 today, just now
    await _queued_earlier(a.email, "verification_code", [timedelta(hours=h) for h in range(2, 11)])  # 9 more
    await _shift_sends(await latest_draft(), minutes=2)  # the draft's own once-a-minute rule allows it
    r = await a.post(url(client, "registration:resend"))
    message = field_error(page(r), "code")
    assert message.startswith(CAPPED)
    assert await _codes_to(a.email) == 10


async def test_tracking_number_emails_to_one_address_are_capped(client, smtp):
    """Past five status emails in the hour the request is still made and its page shows the
    tracking number; only the email is not sent."""
    a = Applicant(client, smtp)
    await a.through_questions()
    await _queued_earlier(a.email, "tracking_number", [timedelta(minutes=m) for m in range(1, 6)])
    r = await a.submit()
    tracking = tracking_number(page(r))
    assert await AccessRequest.count().where(AccessRequest.tracking_number == tracking) == 1
    sent = await OutboxMessage.count().where(
        (OutboxMessage.to_address == a.email) & (OutboxMessage.kind == "tracking_number")
    )
    assert sent == 5


async def test_five_wrong_codes_void_the_code_and_a_resend_does_not_reset_the_count(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    code = await smtp.code_for(a.email)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1):
        r = await a.verify(wrong)
        assert f"That code is not correct. Check the email and try again ({left} tr" in field_error(page(r), "code")
    r = await a.verify(wrong)
    assert "fifth wrong code in an hour, so the code no longer works" in field_error(page(r), "code")
    assert (await latest_draft())["code_voided"]
    r = await a.verify(code)  # the right code, but voided
    assert "Too many wrong codes in the last hour" in field_error(page(r), "code")
    await _shift_sends(await latest_draft(), minutes=2)
    await a.post(url(client, "registration:resend"))
    r = await a.verify(await smtp.code_for(a.email))  # a new code: the hour's wrong tries still count
    assert "Too many wrong codes in the last hour" in field_error(page(r), "code")
    assert (await latest_draft())["email_verified_at"] is None


async def test_expired_code_has_its_own_message(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    code = await smtp.code_for(a.email)
    draft = await latest_draft()
    await RegistrationDraft.update(
        {RegistrationDraft.code_expires_at: draft["code_expires_at"] - timedelta(minutes=31)}
    ).where(RegistrationDraft.id == draft["id"])
    r = await a.verify(code)
    assert "This code has expired" in field_error(page(r), "code")
    assert (await latest_draft())["email_verified_at"] is None


async def test_verified_email_is_locked_on_the_server(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    await a.verify()
    r = await client.get(url(client, "registration:personal"))
    assert page(r).select_one("[name=email]") is None  # shown, not editable:
    assert text(page(r), "#email .locked") == f"{a.email} Verified"
    r = await a.personal(email="someone.else@example.gov", email_confirm="someone.else@example.gov")
    assert field_error(page(r), "email") == "Your email address is verified and cannot be changed"
    assert (await latest_draft())["email"] == a.email
    r = await a.post(
        url(client, "registration:review-save", section="personal"), {**_personal(a), "email": "x@example.gov"}
    )
    assert (await latest_draft())["email"] == a.email


# ---- 4. Contact information -------------------------------------------------------------------


async def test_changing_the_role_swaps_in_exactly_its_fields(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    await a.verify()
    fields = url(client, "registration:contact-fields")
    r = await client.get(fields, params={"role": "security-official"}, headers=HX)
    assert input_ids(page(r)) == {"npi", "tin", "legal_business_name"}
    r = await client.get(fields, params={"role": "provider-user"}, headers=HX)
    assert input_ids(page(r)) == {"npi", "tin"}
    # Without JavaScript the page re-renders with the chosen role's fields and keeps the values.
    r = await a.post(
        url(client, "registration:contact-save"),
        {"organization": "Kept Org", "role": "security-official", "action": "role"},
    )
    soup = page(r)
    assert h1(soup) == "Step 3 of 6: Contact Information"
    assert soup.select_one("input#legal_business_name") and input_value(soup, "organization") == "Kept Org"
    assert field_errors(soup) == {}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("npi", "1234567890", "Enter a valid National Provider Identifier (NPI), like 1234567893"),
        ("tin", "12-34567", "Enter a valid Tax Identification Number (TIN), like 12-3456789"),
        ("zip", "2124", "Enter a ZIP code of 5 digits, or 5 digits, a hyphen and 4 digits"),
        ("phone", "555-01", "Enter a work phone number, like 202 555 0143"),
        ("state", "ZZ", "Select your state"),
        ("role", "no-such-role", "Select your role"),
    ],
)
async def test_contact_fields_are_validated_by_their_format(client, smtp, field, value, message):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    await a.verify()
    r = await a.contact(**{field: value})
    assert r.status_code == 200 and field_error(page(r), field) == message
    assert (await latest_draft())["contact"] is None


# ---- 5. Authentication questions --------------------------------------------------------------


async def test_answers_are_stored_only_as_argon2id_hashes_and_normalised(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    questions = (await latest_draft())["questions"]
    assert questions["keys"] == ["first-school", "first-car"]
    stored = questions["answers_hash"]
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert "Lincoln" not in str(questions)
    spaced = [("first-school", "  LINCOLN elementary "), ("first-car", "ford   FOCUS")]
    assert await verify_secret(stored, answers_secret(spaced))
    assert not await verify_secret(stored, answers_secret([("first-school", "Lincoln Middle"), spaced[1]]))
    assert not await verify_secret(stored, answers_secret(spaced[::-1]))  # each answer belongs to its question


def _argon2_jobs() -> float:
    """argon2id jobs (hashes and verifications) this process has run (portal_hashing_seconds)."""
    return sum(
        REGISTRY.get_sample_value("portal_hashing_seconds_count", {"operation": op}) or 0.0 for op in ("hash", "verify")
    )


async def test_a_registration_costs_one_argon2id_hash_and_its_reads_none(client, smtp):
    """Hashing is the budget of a registration (issue 14): one hash over all the answers
    together, three questions or two, and nothing on any page read or other step."""
    a = Applicant(client, smtp)
    before = _argon2_jobs()
    await a.accept_terms()
    await a.personal()
    await a.verify()
    assert (await a.contact()).status_code == 303
    assert _argon2_jobs() == before
    third = {"question_3": "first-employer", "answer_3": "Acme Mills"}
    assert (await a.questions(**third)).status_code == 303
    assert _argon2_jobs() == before + 1
    assert (await latest_draft())["questions"]["keys"] == ["first-school", "first-car", "first-employer"]
    for name in ("registration:questions", "registration:review", "registration:contact", "registration:verify"):
        assert (await client.get(url(client, name))).status_code == 200
    done = await a.submit()
    assert done.submitted.status_code == 303
    assert _argon2_jobs() == before + 1


async def test_two_different_questions_are_required(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    await a.verify()
    await a.contact()
    r = await a.questions(question_2="first-school")
    assert field_error(page(r), "question_2") == "Choose a different question for each answer"
    r = await a.questions(question_2="", answer_2="")
    assert field_error(page(r), "question_2") == "Select question 2"
    assert (await latest_draft())["questions"] is None


# ---- 6. Review details ------------------------------------------------------------------------


async def test_review_inline_edit_with_htmx(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    r = await client.get(url(client, "registration:review"))
    soup = page(r)
    changes = {a["href"]: norm(a.get_text()) for a in soup.select(".review-section a.change-link")}
    assert changes == {  # GOV.UK "check answers": "Change" with the section in visually hidden text
        url(client, "registration:review-edit", section="personal"): "Change personal information",
        url(client, "registration:review-edit", section="contact"): "Change contact information",
        url(client, "registration:review-edit", section="questions"): "Change authentication questions",
    }
    assert texts(soup, ".review-section a.change-link > .visually-hidden") == [
        "personal information",
        "contact information",
        "authentication questions",
    ]
    assert definitions(soup, "#review-personal dl")["Social Security Number"] == "•••••6789"
    assert definitions(soup, "#review-contact dl")["Tax Identification Number (TIN)"] == "•••••6789"
    assert "123-45-6789" not in r.text  # nowhere on the page
    no_email_edit = url(client, "registration:review-section", section="email")  # no Edit for the email address
    assert not [href for href in attrs(soup, "a", "href") if href.startswith(no_email_edit)]
    r = await client.get(url(client, "registration:review-edit", section="contact"), headers=HX)
    assert r.text.lstrip().startswith('<section id="review-contact"') and page(r).select_one("#organization")
    save = url(client, "registration:review-save", section="contact")
    r = await a.post(save, {**_contact_values(), "organization": ""}, headers=HX)
    assert field_errors(page(r)) == {"organization": "Enter your organization"}  # still the form
    r = await a.post(save, {**_contact_values(), "organization": "New Org"}, headers=HX)
    assert definitions(page(r), "#review-contact dl")["Organization"] == "New Org"
    assert page(r).select_one("#organization") is None  # read-only again
    assert (await latest_draft())["contact"]["organization"] == "New Org"


async def test_change_without_javascript_is_a_page_of_that_section_only(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    review = url(client, "registration:review")
    r = await client.get(url(client, "registration:review-edit", section="contact"))
    assert r.status_code == 200
    soup = page(r)
    assert h1(soup) == "Change your contact information"
    assert title(soup) == "Change your contact information – IACS Registration"
    assert soup.select_one("#wizard") is None and "Step 3 of 6" not in r.text  # no wizard chrome
    form = element(soup, "main form")
    assert form["action"] == url(client, "registration:review-save", section="contact")
    assert not form.has_attr("hx-post")  # a plain form: the page is the no-JavaScript path
    assert input_value(soup, "organization") == "Acme Health Services"
    assert input_value(soup, "tin") == ""  # the saved TIN never goes back to the browser
    assert [norm(b.get_text()) for b in form.select("button[type=submit]:not([name=action])")] == [
        "Save and return to review"
    ]
    assert link_href(soup, "Cancel") == review
    assert attr(soup, "main a.back-link", "href") == review
    # A valid save returns to the review (303), where the change shows.
    r = await a.post(
        url(client, "registration:review-save", section="contact"), {**_contact_values(), "organization": "Via Page"}
    )
    assert r.status_code == 303 and r.headers["location"] == review
    r = await client.get(review)
    assert definitions(page(r), "#review-contact dl")["Organization"] == "Via Page"


async def test_change_personal_without_javascript_keeps_the_email_address(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    r = await client.get(url(client, "registration:review-edit", section="personal"))
    soup = page(r)
    assert h1(soup) == "Change your personal information"
    assert soup.select_one("input[name=email]") is None  # not editable
    assert text(soup, "p.locked").startswith(a.email)
    save = url(client, "registration:review-save", section="personal")
    r = await a.post(save, {**_personal(a), "first_name": "Ann", "email": "other@example.gov"})  # crafted
    assert r.sent_back.headers["location"] == url(client, "registration:review-edit", section="personal")
    assert field_error(page(r), "email") == "Your email address is verified and cannot be changed"
    assert (await latest_draft())["personal"]["first_name"] == "Ana"
    fields = {k: v for k, v in _personal(a).items() if not k.startswith("email")}  # as the page posts it
    r = await a.post(save, {**fields, "first_name": "Ann"})
    assert r.status_code == 303 and r.headers["location"] == url(client, "registration:review")
    draft = await latest_draft()
    assert draft["email"] == a.email and draft["personal"]["first_name"] == "Ann"


async def test_back_from_the_review_goes_to_step_4(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    soup = page(await client.get(url(client, "registration:review")))
    back = element(soup, "#wizard a.back-link")
    assert norm(back.get_text()) == "Back" and back["href"] == url(client, "registration:questions")
    assert back["hx-get"] == url(client, "registration:questions")


def _contact_values() -> dict:
    from tests.integration.registration_flow import CONTACT, ROLE_FIELDS

    return {**CONTACT, "role": "provider-user", **ROLE_FIELDS}


# ---- 7. Submit and acknowledgement ------------------------------------------------------------


async def test_submit_creates_one_request_and_the_tracking_email(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    r = await a.submit()
    assert h1(page(r)) == "Step 6 of 6: Acknowledgement"
    tracking = tracking_number(page(r))
    assert re.fullmatch(r"IACS-[2-9A-HJKMNP-TV-Z]{4}(-[2-9A-HJKMNP-TV-Z]{4}){2}", tracking)
    again = await a.submit()  # replayed POST
    assert tracking_number(page(again)) == tracking
    rows = await AccessRequest.select().where(AccessRequest.email == a.email)
    assert len(rows) == 1 and rows[0]["tracking_number"] == tracking and rows[0]["status"] == "pending"
    assert rows[0]["levels"] == 1 and (rows[0]["due_at"] - rows[0]["submitted_at"]).days == 14
    assert (
        json.loads(rows[0]["personal"])["ssn"].startswith("v1.")
        if isinstance(rows[0]["personal"], str)
        else rows[0]["personal"]["ssn"].startswith("v1.")
    )
    mails = await OutboxMessage.select().where(
        (OutboxMessage.to_address == a.email) & (OutboxMessage.kind == "tracking_number")
    )
    assert len(mails) == 1 and tracking in mails[0]["body"]
    message = await smtp.last_to(a.email)
    assert tracking in message.subject


async def test_the_acknowledgement_gives_the_decision_date_the_email_gives(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    r = await a.submit()
    soup = page(r)
    tracking = tracking_number(soup)
    row = await AccessRequest.select().where(AccessRequest.tracking_number == tracking).first()
    due, submitted = timefmt.day(row["due_at"]), timefmt.day(row["submitted_at"])
    assert definitions(soup, "dl.acknowledgement") == {
        "Application": "Provider Statistical and Reimbursement System",
        "Role": "Provider User",
        "Date submitted": submitted,
        "Expected decision": due,
    }
    assert text(soup, ".decision-date") == f"We expect a decision by {due}."
    assert "between 12 and 60" not in r.text
    assert f"Review target date: {due}" in (await smtp.last_to(a.email)).text  # page and email agree
    assert texts(soup, "h2") == ["What happens next"]
    print_link = link_href(soup, "Print this page")
    assert print_link == url(client, "registration:done", query="print=1")
    assert soup.select_one("form[action='{}'] button".format(url(client, "registration:finish")))


async def test_the_print_view_is_the_acknowledgement_without_buttons(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    tracking = tracking_number(page(await a.submit()))
    r = await client.get(url(client, "registration:done", query="print=1"))
    soup = page(r)
    assert "print-view" in soup.body["class"]
    assert tracking_number(soup) == tracking and definitions(soup, "dl.acknowledgement")["Expected decision"]
    assert soup.select("main button") == [] and soup.select("main form") == []  # no OK, nothing to press
    assert not [a for a in soup.select("main a") if norm(a.get_text()) == "Print this page"]
    assert link_href(soup, "Back to the acknowledgement") == url(client, "registration:done")


async def test_concurrent_double_submit_creates_one_request(concurrent_client, smtp):
    a = Applicant(concurrent_client, smtp)
    await a.through_questions()
    r1, r2, r3 = await asyncio.gather(a.submit(), a.submit(), a.submit())
    assert {r1.status_code, r2.status_code, r3.status_code} == {200}
    numbers = {tracking_number(page(r)) for r in (r1, r2, r3)}
    assert len(numbers) == 1
    assert len(await AccessRequest.select().where(AccessRequest.email == a.email)) == 1


async def test_ok_ends_the_draft(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    await a.submit()
    draft_id = (await latest_draft())["id"]
    r = await a.post(url(client, "registration:finish"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "home:getting-ready")
    assert await RegistrationDraft.count().where(RegistrationDraft.id == draft_id) == 0
    assert "iacs_draft" not in client.cookies
    assert len(await AccessRequest.select().where(AccessRequest.email == a.email)) == 1


async def test_one_pending_request_per_email_and_application(client, smtp, app):

    a = Applicant(client, smtp)
    await a.through_questions()
    r = await a.submit()
    tracking = tracking_number(page(r))
    async with checked_client(app) as other_browser:
        b = Applicant(other_browser, smtp, email=a.email)
        await b.through_questions()
        refused = await b.submit()
        assert refused.status_code == 303  # never an answer at the POST address
        assert refused.headers["location"] == url(client, "registration:pending")
        r = await other_browser.get(refused.headers["location"])
    assert h1(page(r)) == "You already have a pending request"
    assert text(page(r), "main p > strong") == tracking
    assert link_href(page(r), "Check registration status") == url(client, "status:form")
    assert len(await AccessRequest.select().where(AccessRequest.email == a.email)) == 1


# ---- 8. Status --------------------------------------------------------------------------------


async def test_status_shows_state_and_review_date_and_hides_wrong_pairs(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    r = await a.submit()
    tracking = tracking_number(page(r))
    row = await AccessRequest.select().where(AccessRequest.tracking_number == tracking).first()
    check = url(client, "status:check")
    r = await a.post(check, {"tracking_number": tracking.lower().replace("-", " "), "email": a.email.upper()})
    result = definitions(page(r), "#status dl")
    assert result["Status"] == "Pending approval at level 1 of 1"
    assert result["Review target date"] == timefmt.day(row["due_at"])  # "1 December 2026", Eastern
    wrong_pair = await a.post(check, {"tracking_number": tracking, "email": "other@example.gov"})
    unknown = await a.post(check, {"tracking_number": "IACS-2222-3333-4444", "email": a.email})

    def answer(text: str) -> str:
        """The page without the values typed into the form."""
        return re.sub(r'value="[^"]*"', "", text)

    assert notice(page(wrong_pair)).startswith("We could not find a registration with that tracking number")
    assert answer(wrong_pair.text) == answer(unknown.text)
    assert wrong_pair.status_code == unknown.status_code == 200


# ---- 9. Drafts and personal data --------------------------------------------------------------


async def test_draft_cookie_is_signed_httponly_samesite_and_names_only_the_draft(client, smtp):
    a = Applicant(client, smtp)
    r = await a.accept_terms()
    cookie = r.headers["set-cookie"]
    assert cookie.startswith("iacs_draft=") and "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert "Path=/register" in cookie
    value = client.cookies["iacs_draft"]
    assert value.count(".") == 2  # itsdangerous: payload.timestamp.signature, and nothing else
    client.cookies.set("iacs_draft", value[:-2] + ("AA" if not value.endswith("AA") else "BB"), path="/register")
    r = await client.get(url(client, "registration:personal"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "registration:start", query="expired=1")


async def test_a_returning_browser_resumes_its_draft(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    r = await client.get(url(client, "registration:start"))
    assert text(page(r), "main .panel p > strong").startswith("Provider Statistical")
    assert link_href(page(r), "Continue your registration") == url(client, "registration:verify")


async def test_ssn_and_tin_are_encrypted_at_rest_with_a_key_id(client, smtp, app):
    a = Applicant(client, smtp)
    await a.through_questions()
    draft = await latest_draft()
    ssn = draft["personal"]["ssn"]
    tin = draft["contact"]["fields"]["tin"]
    cipher = app.state.cipher
    for token in (ssn, tin):
        assert token.startswith(f"v1.{cipher.key_id}.")
        assert "6789" not in token
    assert cipher.decrypt(ssn, "ssn") == "123-45-6789"
    assert cipher.decrypt(tin, "tin") == "123456789"


async def test_personal_data_never_reaches_the_logs(client, smtp, caplog):
    caplog.set_level("DEBUG")
    a = Applicant(client, smtp)
    await a.through_questions()
    await a.submit()
    logged = caplog.text
    for secret in ("123-45-6789", "123456789", "Lincoln", a.email):
        assert secret not in logged


async def test_purge_deletes_idle_drafts_with_their_data(client, smtp):
    from portal.models.registration import purge_idle_drafts

    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    idle = await latest_draft()
    await RegistrationDraft.update({RegistrationDraft.updated_at: idle["updated_at"] - timedelta(hours=25)}).where(
        RegistrationDraft.id == idle["id"]
    )
    deleted = await purge_idle_drafts()
    assert deleted >= 1
    assert await RegistrationDraft.count().where(RegistrationDraft.id == idle["id"]) == 0
    r = await client.get(url(client, "registration:verify"))
    assert r.status_code == 303 and r.headers["location"] == url(client, "registration:start", query="expired=1")


async def test_ssn_and_tin_never_go_back_to_the_browser(client, smtp):
    a = Applicant(client, smtp)
    await a.through_questions()
    for step in ("personal", "contact", "review"):
        body = (await client.get(url(client, f"registration:{step}"))).text
        assert "123-45-6789" not in body and "123456789" not in body.replace("1234567893", ""), step
    r = await client.get(url(client, "registration:review-edit", section="personal"), headers=HX)
    assert input_value(page(r), "ssn") == "" and "45-6789" not in r.text  # nowhere in the fragment
    assert text(page(r), "#ssn-hint").startswith("We have your SSN; leave this blank to keep it")
    # Saving with the SSN and TIN left blank keeps the saved ones.
    r = await a.post(
        url(client, "registration:review-save", section="personal"), {**_personal(a), "ssn": ""}, headers=HX
    )
    assert definitions(page(r), "#review-personal dl")["Social Security Number"] == "•••••6789"
    r = await a.post(
        url(client, "registration:review-save", section="contact"), {**_contact_values(), "tin": ""}, headers=HX
    )
    assert definitions(page(r), "#review-contact dl")["Tax Identification Number (TIN)"] == "•••••6789"
    draft = await latest_draft()
    assert client.app.state.cipher.decrypt(draft["personal"]["ssn"], "ssn") == "123-45-6789"
    assert client.app.state.cipher.decrypt(draft["contact"]["fields"]["tin"], "tin") == "123456789"


async def test_delivered_secrets_are_erased_from_the_outbox(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    code = await smtp.code_for(a.email)  # delivered over SMTP
    row = (
        await OutboxMessage.select()
        .where((OutboxMessage.to_address == a.email) & (OutboxMessage.kind == "verification_code"))
        .first()
    )
    assert row["sent_at"] is not None and code not in row["body"]
