"""Help and law: the footer, the help desk from the settings, the Help, Contact, Accessibility
and Privacy pages, "Get help with this page", and the Privacy Act statement where the SSN or
TIN is asked (portal/controllers/home.py, portal/templates/help/)."""

from __future__ import annotations

import gzip

import msgspec
import pytest

from tests.htmlcheck import attr, element, h1, link_href, page, texts
from tests.integration.conftest import client_of
from tests.integration.registration_flow import Applicant
from tests.support import url

HX = {"HX-Request": "true"}
PAGES = [
    ("help:index", "Help with IACS Registration"),
    ("help:contact", "Contact the IACS help desk"),
    ("help:accessibility", "Accessibility statement for IACS Registration"),
    ("help:privacy", "Privacy policy"),
]
FOOTER = ["Help", "Contact", "Accessibility statement", "Privacy policy"]


@pytest.mark.parametrize(("route", "heading"), PAGES)
async def test_each_page_has_its_heading_and_the_footer(client, route, heading):
    response = await client.get(url(client, route))
    assert response.status_code == 200
    doc = page(response)
    assert h1(doc) == heading
    footer = element(doc, "footer nav[aria-label='Support links']")
    assert [(a.get_text(), a["href"]) for a in footer.select("a")] == [
        (label, url(client, name)) for label, (name, _) in zip(FOOTER, PAGES, strict=True)
    ]


@pytest.mark.parametrize("route", ["help:index", "help:contact"])
async def test_the_help_desk_comes_from_the_settings(settings, route):
    desk = {
        "help_desk_phone": "+1 (800) 555-0199",
        "help_desk_email": "desk@cms.example.gov",
        "help_desk_hours": "Weekdays, 7am to 7pm ET",
    }
    async with client_of(msgspec.structs.replace(settings, **desk)) as client:
        doc = page(await client.get(url(client, route)))
    assert attr(doc, "main a.help-desk-phone", "href") == "tel:+18005550199"
    assert texts(doc, "main a.help-desk-phone") == ["+1 (800) 555-0199"]
    assert attr(doc, "main a.help-desk-email", "href") == "mailto:desk@cms.example.gov"
    assert texts(doc, "main .help-desk-hours") == ["Weekdays, 7am to 7pm ET"]


async def test_the_default_help_desk_is_shown_on_contact(client, settings):
    doc = page(await client.get(url(client, "help:contact")))
    assert texts(doc, "main a.help-desk-phone") == [settings.help_desk_phone]
    assert texts(doc, "main a.help-desk-email") == [settings.help_desk_email]


@pytest.mark.parametrize(
    "route", ["home:getting-ready", "home:applications", "accounts:login", "status:form", "registration:start"]
)
async def test_every_page_has_the_footer_and_a_help_link(client, route):
    doc = page(await client.get(url(client, route)))
    assert texts(doc, "footer a") == FOOTER
    assert texts(doc, "main #page-help a") == ["Get help with this page"]


async def test_the_not_found_page_has_the_footer_and_helps_from_the_top(client):
    doc = page(await client.get("/no-such-page"))
    assert texts(doc, "footer a") == FOOTER
    assert attr(doc, "#page-help a", "href") == url(client, "help:index")


async def _help_ids(client) -> set[str]:
    doc = page(await client.get(url(client, "help:index")))
    return {el["id"] for el in doc.select("main [id]")}


async def test_the_help_page_does_not_link_to_itself_and_its_contents_work(client):
    doc = page(await client.get(url(client, "help:index")))
    assert doc.select("#page-help") == []
    ids = {el["id"] for el in doc.select("main [id]")}
    contents = [a["href"] for a in doc.select("nav.help-contents a")]
    assert contents and all(href.startswith("#") and href[1:] in ids for href in contents)
    # The help page links to the real routes, by name.
    assert link_href(doc, "check your registration status") == url(client, "status:form")
    assert link_href(doc, "reset your password") == url(client, "accounts:recover", what="password")
    assert link_href(doc, "get your User ID") == url(client, "accounts:recover", what="user-id")


def _section(href: str) -> str:
    path, _, section = href.partition("#")
    return section


@pytest.mark.parametrize(
    ("route", "section"),
    [
        ("home:getting-ready", "before-you-start"),
        ("accounts:login", "log-in"),
        ("status:form", "status"),
        ("help:privacy", "contact"),
    ],
)
async def test_the_help_link_goes_to_the_pages_own_section(client, route, section):
    doc = page(await client.get(url(client, route)))
    href = attr(doc, "#page-help a", "href")
    assert href == f"{url(client, 'help:index')}#{section}"
    assert section in await _help_ids(client)


async def test_each_registration_step_links_to_its_section_with_and_without_javascript(client, smtp):
    ids = await _help_ids(client)
    a = Applicant(client, smtp)
    await a.accept_terms()
    doc = page(await client.get(url(client, "registration:personal")))
    assert _section(attr(doc, "#page-help a", "href")) == "step-personal" and "step-personal" in ids
    # htmx: step 1's answer is step 2's fragment, which carries step 2's help link out of band.
    from tests.integration.registration_flow import PERSONAL

    r = await a.post(
        url(client, "registration:personal-save"), {**PERSONAL, "email": a.email, "email_confirm": a.email}, headers=HX
    )
    assert h1(page(r)) == "Step 2 of 6: Email Verification"
    oob = element(page(r), "#page-help")
    assert oob["hx-swap-oob"] == "true"
    assert _section(attr(oob, "a", "href")) == "step-verify" and "step-verify" in ids
    # Without JavaScript the step page itself names its section.
    doc = page(await client.get(url(client, "registration:verify")))
    assert _section(attr(doc, "#page-help a", "href")) == "step-verify"
    assert doc.select_one("#page-help[hx-swap-oob]") is None


# ---- The Privacy Act statement -------------------------------------------------------------------


async def _at_contact_step(client, smtp, app_code: str) -> Applicant:
    a = Applicant(client, smtp, app_code=app_code)
    await a.accept_terms()
    await a.personal()
    await a.verify()
    return a


def _statement(doc) -> str:
    return " ".join(texts(doc, "details.privacy-act"))


async def test_the_statement_shows_for_a_role_asking_for_the_tin_and_not_for_one_without(client, smtp):
    a = await _at_contact_step(client, smtp, "HPMS")
    fields = url(client, "registration:contact-fields")
    with_tin = await client.get(fields, params={"role": "plan-security-officer"}, headers=HX)
    doc = page(with_tin)
    assert "tin" in {el["id"] for el in doc.select("input[id]")}
    statement = _statement(doc)
    for part in (
        "Privacy Act statement",
        "Authority:",
        "5 U.S.C. 301",
        "Executive Order 9397",
        "Purpose:",
        "Routine uses:",
    ):
        assert part in statement
    assert "Disclosure is voluntary, but without it we cannot process your request for this role." in statement
    assert _section(link_href(doc, "Full Privacy Act statement")) == "privacy-act"
    # The fragment stays small on the wire.
    assert len(gzip.compress(with_tin.content)) <= 1024

    without = page(await client.get(fields, params={"role": "plan-user"}, headers=HX))
    assert without.select_one("input#contract_number") is not None
    assert without.select("details.privacy-act") == []

    # Without JavaScript, choosing the role re-renders the contact step with the statement.
    r = await a.post(url(client, "registration:contact-save"), {"role": "plan-security-officer", "action": "role"})
    assert h1(page(r)) == "Step 3 of 6: Contact Information"
    assert "Disclosure is voluntary" in _statement(page(r))
    r = await a.post(url(client, "registration:contact-save"), {"role": "plan-user", "action": "role"})
    assert page(r).select("details.privacy-act") == []


async def test_the_statement_shows_where_the_ssn_is_asked_and_only_there(client, smtp):
    a = Applicant(client, smtp, app_code="PSR")
    await a.accept_terms()
    doc = page(await client.get(url(client, "registration:personal")))
    assert doc.select_one("input#ssn") is not None
    assert "Disclosure is voluntary" in _statement(doc)

    b = Applicant(client, smtp, app_code="HPMS")
    await b.accept_terms()
    doc = page(await client.get(url(client, "registration:personal")))
    assert doc.select_one("input#ssn") is None
    assert doc.select("details.privacy-act") == []


async def test_the_privacy_page_has_the_full_statement_and_the_cookies(client):
    doc = page(await client.get(url(client, "help:privacy")))
    statement = element(doc, "#privacy-act").find_next_sibling("dl")
    terms = [dt.get_text() for dt in statement.select("dt")]
    assert terms == ["Authority", "Purpose", "Routine uses", "Disclosure"]
    cookies = texts(doc, "#cookies ~ table tbody th")
    assert cookies == ["iacs_draft", "iacs_session", "iacs_login", "iacs_continue", "csrftoken", "iacs_form"]


async def test_the_cookies_listed_are_the_cookies_the_portal_sets(client, smtp, settings):
    from portal.auth import Continuation, SessionCookies

    doc = page(await client.get(url(client, "help:privacy")))
    listed = set(texts(doc, "#cookies ~ table tbody th"))
    a = Applicant(client, smtp)
    await a.accept_terms()  # a draft, and the CSRF cookie
    refused = await client.post(url(client, "registration:personal-save"), data=a.csrf)  # a refused form
    assert set(client.cookies.keys()) <= listed
    assert {"iacs_draft", "csrftoken", "iacs_form"} <= set(client.cookies.keys())
    assert refused.status_code == 303
    assert SessionCookies(settings).name in listed and Continuation(settings).name in listed


async def test_every_mapped_route_exists_and_its_section_is_on_the_help_page(client, app):
    from portal.controllers.home import HELP_SECTIONS

    names = {h.name for r in app.routes for h in r.route_handlers if h.name}
    assert set(HELP_SECTIONS) <= names
    assert set(HELP_SECTIONS.values()) <= await _help_ids(client)
    # Every page a person reaches has its own section (not only the top of the help page).
    pages = {n for n in names if n.split(":")[0] in {"home", "registration", "accounts", "approvals", "status", "help"}}
    unmapped = pages - set(HELP_SECTIONS) - {"help:index", "accounts:logout", "accounts:session-refresh"}
    assert unmapped == set()
