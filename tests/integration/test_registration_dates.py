"""The date of birth as GOV.UK's date input on step 1 and on the review (issue 11, item 8):
Day, Month and Year in one fieldset, one message for the group, the parts in error marked,
what was typed kept after an error, stored as ISO, and shown as "27 March 1980"."""

from __future__ import annotations

import pytest

from tests.htmlcheck import attr, definitions, element, field_errors, h1, input_value, page, title
from tests.integration.registration_flow import PERSONAL
from tests.integration.test_approvals import approver_client, submitted
from tests.integration.test_registration_bad_input import at_personal, at_review, draft_row, get_url, post_url
from tests.support import url

HX = {"HX-Request": "true"}
PARTS = ("dob_day", "dob_month", "dob_year")


async def post_personal(a, client, htmx: bool, **parts: str):
    """Step 1 with the date's parts as given, plain or as htmx sends it."""
    data = {**PERSONAL, "email": a.email, "email_confirm": a.email, **parts}
    return await a.post(post_url(client, "personal"), data, headers=HX if htmx else {})


def date_input(soup) -> dict[str, str]:
    """The date input as a reader finds it: its legend, hint, message and each part's state."""
    group = element(soup, "fieldset[role=group]:has(#dob_day)")
    state = {
        "legend": group.legend.get_text(strip=True),
        "hint": element(group, ".hint").get_text(strip=True),
        "described_by": group.get("aria-describedby", ""),
    }
    for part in PARTS:
        box = element(group, f"input#{part}")
        label = element(group, f"label[for={part}]").get_text(strip=True)
        state[part] = (
            f"{label} {box['type']} {box['inputmode']} {box['autocomplete']} {' '.join(box['class'])}"
            f"{' invalid' if box.get('aria-invalid') == 'true' else ''}"
        )
    return state


async def test_step_1_asks_the_date_of_birth_as_day_month_and_year(client, smtp):
    await at_personal(client, smtp)
    shown = date_input(page(await client.get(get_url(client, "personal"))))
    assert shown == {
        "legend": "Date of birth",
        "hint": "For example, 27 3 1980",
        "described_by": "dob-hint",
        "dob_day": "Day text numeric bday-day w-2",
        "dob_month": "Month text numeric bday-month w-2",
        "dob_year": "Year text numeric bday-year w-4",
    }


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_a_date_typed_in_three_parts_is_stored_as_iso_and_shown_back_without_zeros(client, smtp, htmx):
    a, token = await at_personal(client, smtp)
    r = await post_personal(a, client, htmx, dob_day="07", dob_month="March", dob_year="1980")
    assert r.status_code in (200, 303) and not field_errors(page(r)), field_errors(page(r))
    assert (await draft_row(token))["personal"]["date_of_birth"] == "1980-03-07"
    soup = page(await client.get(get_url(client, "personal")))
    assert [input_value(soup, part) for part in PARTS] == ["7", "3", "1980"]


# Each refusal: the parts typed (day, month, year), the message, and the parts marked in error
# (the first is where the error summary's link goes).
REFUSED = [
    (("", "", ""), "Enter your date of birth", PARTS),
    (("", "3", "1980"), "Date of birth must include a day", ("dob_day",)),
    (("27", "", "1980"), "Date of birth must include a month", ("dob_month",)),
    (("27", "3", ""), "Date of birth must include a year", ("dob_year",)),
    (("", "", "1980"), "Date of birth must include a day and month", ("dob_day", "dob_month")),
    (("27", "", ""), "Date of birth must include a month and year", ("dob_month", "dob_year")),
    (("30", "2", "1980"), "Date of birth must be a real date", ("dob_day",)),
    (("27", "13", "1980"), "Date of birth must be a real date", ("dob_month",)),
    (("27", "3", "80"), "Year must include 4 numbers", ("dob_year",)),
    (("1", "1", "2099"), "Date of birth must be in the past", PARTS),
    (("1", "1", "1850"), "Date of birth must be between 16 and 120 years ago", PARTS),
    (("<b>", "3", "1980"), "Date of birth must be a real date", ("dob_day",)),
]


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
@pytest.mark.parametrize(("typed", "message", "marked"), REFUSED, ids=lambda v: repr(v)[:40])
async def test_a_refused_date_shows_one_message_marks_its_parts_and_keeps_what_was_typed(
    client, smtp, typed, message, marked, htmx
):
    a, token = await at_personal(client, smtp)
    r = await post_personal(a, client, htmx, **dict(zip(PARTS, typed, strict=True)))
    assert r.status_code == 200
    soup = page(r)
    assert h1(soup) == "Step 1 of 6: New User Registration"
    assert field_errors(soup)["dob"] == message  # one message for the group, above the boxes
    assert element(soup, "#dob-error").find_next("input")["id"] == "dob_day"
    # Listed once in the error summary, linked to the first box in error.
    assert [(li.get_text(strip=True), li.a["href"]) for li in soup.select(".error-summary li")] == [
        (message, f"#{marked[0]}")
    ]
    assert [el["id"] for el in soup.select(".date-input input[aria-invalid=true]")] == list(marked)
    assert [el["id"] for el in soup.select(".date-input input.input-error")] == list(marked)
    assert attr(soup, "fieldset[role=group]:has(#dob_day)", "aria-describedby") == "dob-hint dob-error"
    assert [input_value(soup, part) for part in PARTS] == list(typed)  # as typed
    assert (await draft_row(token))["personal"] is None
    if not htmx:
        assert title(soup).startswith("Error: ")


async def test_the_review_shows_the_date_of_birth_as_a_day_month_and_year(client, smtp):
    await at_review(client, smtp)
    soup = page(await client.get(get_url(client, "review")))
    assert definitions(soup, "#review-personal dl")["Date of birth"] == "27 March 1980"


@pytest.mark.parametrize("htmx", [False, True], ids=["plain", "htmx"])
async def test_the_review_edits_the_date_of_birth_with_the_same_date_input(client, smtp, htmx):
    a, token = await at_review(client, smtp)
    headers = HX if htmx else {}
    r = await client.get(url(client, "registration:review-edit", section="personal"), headers=headers)
    if r.status_code == 303:  # without JavaScript the section's form may be a page of its own
        r = await client.get(r.headers["location"])
    assert [input_value(page(r), part) for part in PARTS] == ["27", "3", "1980"]
    assert date_input(page(r))["legend"] == "Date of birth"
    data = {**PERSONAL, "email": a.email, "email_confirm": a.email}
    r = await a.post(post_url(client, "review/personal"), {**data, "dob_month": ""}, headers=headers)
    assert r.status_code == 200
    assert field_errors(page(r)) == {"dob": "Date of birth must include a month"}
    assert [el["id"] for el in page(r).select(".date-input input[aria-invalid=true]")] == ["dob_month"]
    assert (await draft_row(token))["personal"]["date_of_birth"] == "1980-03-27"
    r = await a.post(post_url(client, "review/personal"), {**data, "dob_day": "1", "dob_month": "dec"}, headers=headers)
    assert r.status_code in (200, 303) and not field_errors(page(r)), field_errors(page(r))
    assert (await draft_row(token))["personal"]["date_of_birth"] == "1980-12-01"
    soup = page(await client.get(get_url(client, "review")))
    assert definitions(soup, "#review-personal dl")["Date of birth"] == "1 December 1980"


async def test_the_approver_sees_the_date_of_birth_as_a_day_month_and_year(client, smtp, app):
    from tests.integration.conftest import checked_client

    async with checked_client(app) as applicant:
        tracking = await submitted(applicant, smtp)
    await approver_client(client, (("PSR", 1),))
    r = await client.get(url(client, "approvals:details", tracking=tracking), headers=HX)
    assert definitions(page(r), f"#req-{tracking} .row-details dl")["Date of birth"] == "27 March 1980"
