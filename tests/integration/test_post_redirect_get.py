"""Post/redirect/get in registration (issue 11, item 10): without JavaScript every POST of
portal/controllers/registration.py answers 303 See Other, whether the form was valid, refused
or sent again; the page it leads to shows the messages once, and a refresh of that page shows it
without them (the returned-form cookie is cleared). With htmx the answers stay fragments."""

from __future__ import annotations

from portal.returns import COOKIE, PURPOSE
from tests.htmlcheck import error_summary, field_error, field_errors, h1, input_value, page, text
from tests.integration.registration_flow import CONTACT, PERSONAL, ROLE_FIELDS, Applicant
from tests.support import url

HX = {"HX-Request": "true"}

# Every POST route of registration, each tested below without and with htmx.
POST_ROUTES = {
    "registration:accept",
    "registration:personal-save",
    "registration:verify-check",
    "registration:resend",
    "registration:contact-save",
    "registration:questions-save",
    "registration:review-save",
    "registration:submit",
    "registration:finish",
}


async def raw_post(a: Applicant, path: str, data: dict | None = None, **kw):
    """A POST as the browser sends it, the answer not followed."""
    if "csrftoken" not in a.client.cookies:
        await a.client.get(url(a.client, "home:getting-ready"))
    return await a.client.post(path, data={**(data or {}), **a.csrf}, **kw)


def carried(client, response) -> str:
    """The returned-form cookie the 303 set, opened (as only the server can)."""
    (header,) = [h for h in response.headers.get_list("set-cookie") if h.startswith(f"{COOKIE}=")]
    value = header.split(";", 1)[0].split("=", 1)[1].strip('"')
    return client.app.state.cipher.decrypt(value, PURPOSE)


async def shown_once(client, response, has_messages) -> object:
    """Follow the 303 as a browser does: the page shows the messages; a refresh of it does not
    (the cookie was cleared). Returns the first page."""
    assert response.status_code == 303, response.status_code
    first = await client.get(response.headers["location"])
    assert first.status_code == 200 and has_messages(first)
    assert COOKIE not in client.cookies  # the page that showed it cleared it
    again = await client.get(response.headers["location"])  # a refresh
    assert again.status_code == 200 and not has_messages(again)
    return first


def is_fragment(r) -> bool:
    return r.status_code == 200 and not r.text.lstrip().lower().startswith("<!doctype")


async def at_contact(client, smtp) -> Applicant:
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    await a.verify()
    return a


async def at_review(client, smtp) -> Applicant:
    a = Applicant(client, smtp)
    await a.through_questions()
    return a


def test_every_post_route_of_registration_is_covered_here(app):
    posts = {
        handler.name
        for route in app.routes
        if route.path.startswith("/register")
        for handler in getattr(route, "route_handlers", [])
        if "POST" in handler.http_methods
    }
    assert posts == POST_ROUTES


# ---- Without JavaScript: 303 every time ---------------------------------------------------------


async def test_accept_answers_303_and_an_unknown_application_is_a_clean_404(client, smtp):
    a = Applicant(client, smtp)
    for _ in range(2):  # sent again: another 303
        r = await raw_post(a, url(client, "registration:accept", code="PSR"))
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:personal")
    r = await raw_post(a, url(client, "registration:accept", code="NOPE"))
    assert r.status_code == 404 and h1(page(r)) == "Page not found"


async def test_step_1_refused_valid_and_sent_again(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    save = url(client, "registration:personal-save")
    r = await raw_post(a, save, {**PERSONAL, "first_name": "", "email": a.email, "email_confirm": a.email})
    assert r.headers["location"] == url(client, "registration:personal")
    first = await shown_once(client, r, lambda p: bool(field_errors(page(p))))
    assert field_error(page(first), "first_name") == "Enter your first name"
    assert input_value(page(first), "last_name") == PERSONAL["last_name"]  # what was typed, kept
    valid = {**PERSONAL, "email": a.email, "email_confirm": a.email}
    for _ in range(2):
        r = await raw_post(a, save, valid)
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:verify")


async def test_a_wrong_code_comes_back_once_and_the_code_never_rides_in_the_cookie(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    code = await smtp.code_for(a.email)
    wrong = "000000" if code != "000000" else "111111"
    r = await raw_post(a, url(client, "registration:verify-check"), {"code": wrong})
    assert r.headers["location"] == url(client, "registration:verify")
    assert wrong not in carried(client, r)
    first = await shown_once(client, r, lambda p: bool(field_errors(page(p))))
    assert field_error(page(first), "code").startswith("That code is not correct")
    for _ in range(2):  # valid, then sent again once verified
        r = await raw_post(a, url(client, "registration:verify-check"), {"code": code})
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:contact")


async def test_resend_shows_its_notice_once_and_too_soon_its_message_once(client, smtp):
    a = Applicant(client, smtp)
    await a.accept_terms()
    await a.personal()
    r = await raw_post(a, url(client, "registration:resend"))  # within the minute: refused
    assert r.headers["location"] == url(client, "registration:verify")
    first = await shown_once(client, r, lambda p: bool(field_errors(page(p))))
    assert field_error(page(first), "code").startswith("You can ask for a new code once a minute")


async def test_choosing_a_role_without_javascript_is_a_get_of_the_contact_page(client, smtp):
    a = await at_contact(client, smtp)
    save = url(client, "registration:contact-save")
    r = await raw_post(a, save, {**CONTACT, "organization": "Typed Org", "role": "provider-user", "action": "role"})
    assert r.status_code == 303
    assert r.headers["location"] == url(client, "registration:contact", query={"role": "provider-user"})
    first = await client.get(r.headers["location"])
    assert input_value(page(first), "organization") == "Typed Org"  # what was typed, carried
    assert page(first).select_one("#npi") is not None  # the role's fields
    assert not field_errors(page(first))  # asking for the fields is not a refusal
    again = await client.get(r.headers["location"])  # a refresh: the role's fields, no stale form
    assert page(again).select_one("#npi") is not None and input_value(page(again), "organization") == ""


async def test_contact_refused_valid_and_sent_again(client, smtp):
    a = await at_contact(client, smtp)
    save = url(client, "registration:contact-save")
    r = await raw_post(a, save, {**CONTACT, "zip": "12", "role": "provider-user", **ROLE_FIELDS})
    assert r.headers["location"] == url(client, "registration:contact")
    first = await shown_once(client, r, lambda p: bool(field_errors(page(p))))
    assert field_error(page(first), "zip").startswith("Enter a ZIP code of 5 digits")
    for _ in range(2):
        r = await raw_post(a, save, {**CONTACT, "role": "provider-user", **ROLE_FIELDS})
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:questions")


async def test_questions_refused_without_carrying_the_answers(client, smtp):
    a = await at_contact(client, smtp)
    await a.contact()
    save = url(client, "registration:questions-save")
    r = await raw_post(
        a, save, {"question_1": "first-school", "answer_1": "Lincoln Secret", "question_2": "first-school"}
    )
    assert r.headers["location"] == url(client, "registration:questions")
    assert "Lincoln Secret" not in carried(client, r)  # a security answer never rides in the cookie
    first = await shown_once(client, r, lambda p: bool(error_summary(page(p))))
    assert input_value(page(first), "answer_1") == ""
    valid = {"question_1": "first-school", "answer_1": "Lincoln", "question_2": "first-car", "answer_2": "Ford"}
    for _ in range(2):
        r = await raw_post(a, save, valid)
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:review")


async def test_a_section_change_refused_comes_back_to_its_page_once(client, smtp):
    a = await at_review(client, smtp)
    save = url(client, "registration:review-save", section="contact")
    edit = url(client, "registration:review-edit", section="contact")
    r = await raw_post(a, save, {**CONTACT, "organization": "", "role": "provider-user", **ROLE_FIELDS})
    assert r.headers["location"] == edit
    first = await shown_once(client, r, lambda p: bool(field_errors(page(p))))
    assert h1(page(first)) == "Change your contact information"
    assert page(first).select_one("title").get_text().startswith("Error: ")
    assert field_errors(page(first)) == {"organization": "Enter your organization"}
    r = await raw_post(a, save, {**CONTACT, "role": "hospital-user", "action": "role"})  # the role's fields
    assert r.status_code == 303 and r.headers["location"] == edit
    shown = await client.get(edit)
    assert input_value(page(shown), "organization") == CONTACT["organization"] and not field_errors(page(shown))
    for _ in range(2):
        r = await raw_post(a, save, {**CONTACT, "organization": "Saved Org", "role": "provider-user", **ROLE_FIELDS})
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:review")


async def test_submit_valid_sent_again_and_refused_all_lead_to_get_pages(client, smtp, app):
    from tests.integration.conftest import checked_client

    a = await at_review(client, smtp)
    for _ in range(2):  # the second is a replay
        r = await raw_post(a, url(client, "registration:submit"))
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:done")
    async with checked_client(app) as other_browser:
        b = Applicant(other_browser, smtp, email=a.email)
        await b.through_questions()
        r = await raw_post(b, url(other_browser, "registration:submit"))  # refused: one pending already
        assert r.status_code == 303 and r.headers["location"] == url(client, "registration:pending")
        shown = await other_browser.get(r.headers["location"])
        assert h1(page(shown)) == "You already have a pending request"


async def test_finish_answers_303_before_and_after_the_draft_is_gone(client, smtp):
    a = await at_review(client, smtp)
    r = await raw_post(a, url(client, "registration:finish"))  # not submitted yet: back to it
    assert r.status_code == 303 and r.headers["location"] == url(client, "registration:review")
    await raw_post(a, url(client, "registration:submit"))
    for _ in range(2):  # the second: the draft is gone
        r = await raw_post(a, url(client, "registration:finish"))
        assert r.status_code == 303 and r.headers["location"] == url(client, "home:getting-ready")


# ---- With htmx: one request, a fragment ----------------------------------------------------------


async def test_with_htmx_the_steps_answer_with_fragments(client, smtp):
    a = Applicant(client, smtp)
    r = await raw_post(a, url(client, "registration:accept", code="PSR"), headers=HX)
    assert r.headers["hx-redirect"] == url(client, "registration:personal")
    r = await raw_post(a, url(client, "registration:personal-save"), {**PERSONAL, "first_name": ""}, headers=HX)
    assert is_fragment(r) and field_error(page(r), "first_name") == "Enter your first name"
    await a.personal()
    r = await raw_post(a, url(client, "registration:resend"), headers=HX)
    assert is_fragment(r) and field_error(page(r), "code").startswith("You can ask for a new code once a minute")
    r = await raw_post(a, url(client, "registration:verify-check"), {"code": "12"}, headers=HX)
    assert is_fragment(r) and field_errors(page(r))
    await a.verify()
    r = await raw_post(a, url(client, "registration:contact-save"), {**CONTACT, "role": "provider-user"}, headers=HX)
    assert is_fragment(r) and field_errors(page(r))
    await a.contact()
    r = await raw_post(a, url(client, "registration:questions-save"), {"question_1": "first-school"}, headers=HX)
    assert is_fragment(r) and error_summary(page(r))
    await a.questions()
    save = url(client, "registration:review-save", section="contact")
    r = await raw_post(a, save, {**CONTACT, "organization": "", "role": "provider-user", **ROLE_FIELDS}, headers=HX)
    assert is_fragment(r) and r.text.lstrip().startswith('<section id="review-contact"')
    r = await raw_post(a, url(client, "registration:submit"), headers=HX)
    assert is_fragment(r) and r.headers["hx-push-url"] == url(client, "registration:done")
    assert text(page(r), ".tracking-number").startswith("IACS-")
    r = await raw_post(a, url(client, "registration:finish"), headers=HX)
    assert r.headers["hx-redirect"] == url(client, "home:getting-ready")
