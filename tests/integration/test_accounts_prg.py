"""Post/redirect/get on the account and status pages (issue 11, item 10): without JavaScript
every form answers 303, a refused one back to its page with its messages shown once; with htmx
the answers stay in place. An approver lands on the approval queue after login."""

from __future__ import annotations

import pytest

from portal.returns import COOKIE
from tests.htmlcheck import definitions, field_errors, h1, input_value, notice, page
from tests.integration.accounts_support import GOOD_PASSWORD, csrf, log_in, make_account
from tests.support import sent_back, url

HX = {"HX-Request": "true"}


async def shown_once(client, response, field: str) -> dict[str, str]:
    """The page a refused form was sent back to: its messages, which a refresh no longer shows."""
    assert sent_back(response), response.status_code
    first = await client.get(response.headers["location"])
    assert first.status_code == 200 and field in field_errors(page(first))
    assert f"{COOKIE}=" in first.headers.get("set-cookie", "")  # the page clears what it showed
    again = await client.get(response.headers["location"])
    assert field_errors(page(again)) == {}
    return field_errors(page(first))


async def test_a_refused_login_goes_back_with_the_user_id_and_never_the_password(client):
    account = await make_account(initial=False)
    password = "not the right password at all"
    r = await log_in(client, account["user_id"].lower(), password)
    assert r.headers["location"] == url(client, "accounts:login")
    assert password not in str(r.headers) and password.replace(" ", "+") not in str(r.headers)
    shown = await client.get(r.headers["location"])
    assert input_value(page(shown), "user_id") == account["user_id"].lower()
    assert input_value(page(shown), "password") == ""
    assert field_errors(page(shown)) == {"password": "The User ID or password is not correct."}
    assert h1(page(shown)) == "Log in to IACS" and page(shown).title.get_text().startswith("Error: ")
    again = await client.get(r.headers["location"])
    assert field_errors(page(again)) == {} and input_value(page(again), "user_id") == ""
    r = await log_in(client, "", "")
    assert set(await shown_once(client, r, "user_id")) == {"user_id", "password"}
    # htmx: in place, as before.
    hx = await client.post(
        url(client, "accounts:login-submit"),
        data={"user_id": account["user_id"], "password": password, **await csrf(client)},
        headers=HX,
    )
    assert hx.status_code == 200 and field_errors(page(hx)) == {"password": "The User ID or password is not correct."}


async def test_an_approver_lands_on_the_queue_and_everyone_else_on_their_applications(client, app):
    approver = await make_account(initial=False, grants=(), approver=(("HIOS", 1),))
    r = await log_in(client, approver["user_id"], approver["password"])
    assert r.status_code == 303 and r.headers["location"] == url(client, "approvals:table")
    assert (await client.get(r.headers["location"])).status_code == 200
    holder = await make_account(initial=False)
    from tests.integration.conftest import checked_client

    async with checked_client(app) as other:
        r = await log_in(other, holder["user_id"], holder["password"])
        assert r.headers["location"] == url(other, "accounts:applications")
    # An approver with an initial password still changes it first.
    fresh = await make_account(grants=(), approver=(("HIOS", 1),))
    async with checked_client(app) as third:
        r = await log_in(third, fresh["user_id"], fresh["password"])
        assert r.headers["location"] == url(third, "accounts:change-password")


async def test_a_refused_password_change_goes_back_without_the_passwords(client):
    account = await make_account(initial=False)
    await log_in(client, account["user_id"], account["password"])
    data = {"current_password": "wrong wrong wrong", "new_password": "short", "confirm_password": "short"}
    r = await client.post(url(client, "accounts:change-password-submit"), data={**data, **await csrf(client)})
    assert r.headers["location"] == url(client, "accounts:change-password")
    assert "short" not in str(r.headers) and "wrong" not in str(r.headers)
    errors = await shown_once(client, r, "current_password")
    assert errors["new_password"] == "Your password must be at least 15 characters long"
    hx = await client.post(
        url(client, "accounts:change-password-submit"), data={**data, **await csrf(client)}, headers=HX
    )
    assert hx.status_code == 200 and "current_password" in field_errors(page(hx))
    ok = {"current_password": GOOD_PASSWORD, "new_password": "amber lanterns over quiet water"}
    r = await client.post(
        url(client, "accounts:change-password-submit"),
        data={**ok, "confirm_password": ok["new_password"], **await csrf(client)},
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:applications", query="changed=1")


@pytest.mark.parametrize("what", ["password", "user-id"])
async def test_recovery_steps_answer_303_and_keep_working(client, what):
    account = await make_account(initial=False)
    identify = url(client, "accounts:recover-identify", what=what)
    r = await client.post(identify, data={"user_id": "", "email": "not an email", **await csrf(client)})
    assert r.headers["location"] == url(client, "accounts:recover", what=what)
    errors = await shown_once(client, r, "email")
    assert errors["email"].startswith("Enter an email address in the correct format")
    ids = {"user_id": account["user_id"], "email": account["email"]}
    r = await client.post(identify, data={**ids, **await csrf(client)})
    assert r.status_code == 303 and r.headers["location"].startswith(
        url(client, "accounts:recover-questions", what=what)
    )
    questions = await client.get(r.headers["location"])  # a refresh of it works as well
    assert h1(page(questions)) == "Answer your authentication questions"
    ticket = input_value(page(questions), "ticket")
    answers = url(client, "accounts:recover-answers", what=what)
    r = await client.post(answers, data={"ticket": ticket, "answer_1": "Lincoln Elementary", **await csrf(client)})
    assert "Lincoln" not in str(r.headers)
    back = await client.get(r.headers["location"])
    assert field_errors(page(back)) == {"answer_2": "Enter your answer to question 2"}
    assert input_value(page(back), "answer_1") == "" and input_value(page(back), "ticket") == ticket
    r = await client.post(
        answers,
        data={"ticket": ticket, "answer_1": "Lincoln Elementary", "answer_2": "Ford Focus", **await csrf(client)},
    )
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:recover-sent", what=what)
    assert h1(page(await client.get(r.headers["location"]))) == "Check your email"
    # A stale or forged ticket in the URL goes back to the start.
    r = await client.get(url(client, "accounts:recover-questions", what=what, query={"ticket": ticket[:-4] + "AAAA"}))
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:recover", what=what)


async def test_a_refused_new_password_goes_back_to_the_link(client):
    from tests.integration.test_accounts import _emailed_link, _recover

    account = await make_account(initial=False)
    await _recover(client, "password", account, ("Lincoln Elementary", "Ford Focus"))
    link = await _emailed_link(account, "password_reset")
    token = link.split("token=")[1]
    r = await client.post(
        url(client, "accounts:reset-submit"),
        data={"token": token, "new_password": "short", "confirm_password": "short", **await csrf(client)},
    )
    assert r.headers["location"] == url(client, "accounts:reset", query={"token": token})
    assert (await shown_once(client, r, "new_password"))["new_password"].startswith("Your password must be at least")


async def test_status_check_answers_on_the_status_page_once(client, app):
    from portal.models.tables import AccessRequest

    holder = await make_account(initial=False)
    from tests.integration.conftest import checked_client
    from tests.integration.registration_flow import CONTACT, ROLE_FIELDS

    async with checked_client(app) as h:
        await log_in(h, holder["user_id"], holder["password"])
        form = {**CONTACT, **ROLE_FIELDS, "role": "issuer-submitter"}
        await h.post(url(h, "accounts:request-submit", code="HIOS"), data={**form, **await csrf(h)})
    row = await AccessRequest.select().where(AccessRequest.email == holder["email"]).first()
    check = url(client, "status:check")
    pair = {"tracking_number": row["tracking_number"], "email": holder["email"].upper()}
    r = await client.post(check, data={**pair, **await csrf(client)})
    assert r.status_code == 303 and r.headers["location"] == url(client, "status:form")
    assert holder["email"] not in str(r.headers)  # the pair travels encrypted
    shown = await client.get(r.headers["location"])
    assert definitions(page(shown))["Status"] == "Pending approval at level 1 of 1"
    again = await client.get(r.headers["location"])  # a refresh: the empty form, nothing resent
    assert page(again).select_one("dl") is None and input_value(page(again), "email") == ""
    r = await client.post(check, data={**pair, "tracking_number": "IACS-AAAA-BBBB-CCCC", **await csrf(client)})
    assert notice(page(await client.get(r.headers["location"]))).startswith("We could not find a registration")
    r = await client.post(check, data={"tracking_number": "", "email": "", **await csrf(client)})
    assert set(await shown_once(client, r, "tracking_number")) == {"tracking_number", "email"}
    hx = await client.post(check, data={**pair, **await csrf(client)}, headers=HX)
    assert hx.status_code == 200 and definitions(page(hx))["Status"] == "Pending approval at level 1 of 1"
    assert not hx.text.lstrip().startswith("<!doctype")  # the fragment, as before
