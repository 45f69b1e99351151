"""Single sign-on as the person sees it at the portal: an application's request waits while they
log in (the login page says where they are going, and starts with the request's login_hint),
then continues to the application; after the portal's own forms the way back is a page that
moves on by itself (the portal's CSP stops a form's redirects from leaving the site)."""

from __future__ import annotations

from portal.models import accounts as aq
from tests.htmlcheck import attr, h1, page, text
from tests.integration.accounts_support import csrf, log_in, make_account
from tests.integration.sso_support import HPMS_REDIRECT, Rp, answer, keys_and_secret
from tests.support import url


async def test_logging_in_for_an_application_continues_to_it(client, settings):
    secret = await keys_and_secret(settings)
    account = await make_account(initial=False, grants=(("HPMS", "plan-user"),))
    rp = Rp(secret=secret)
    start = rp.authorize_url(client, login_hint=account["user_id"].lower())
    r = await client.get(start)
    assert r.status_code == 303 and r.headers["location"] == url(client, "accounts:login")
    login = page(await client.get(url(client, "accounts:login")))
    assert text(login, "p.lead") == "Log in with your IACS account to continue to HPMS."
    assert attr(login, "input#user_id", "value") == account["user_id"]  # from login_hint
    r = await log_in(client, account["user_id"], account["password"])
    assert r.status_code == 303 and r.headers["location"] == start  # back to the waiting request
    got = answer(await client.get(start))
    assert got["state"] == [rp.state] and (await rp.token(client, got["code"][0])).status_code == 200


async def test_after_the_portals_own_form_the_way_back_is_a_page_that_moves_on(client, settings):
    secret = await keys_and_secret(settings)
    account = await make_account(initial=False, grants=(("HPMS", "plan-user"),))
    await log_in(client, account["user_id"], account["password"])
    rp = Rp(secret=secret)
    r = await client.get(rp.authorize_url(client), headers={"Sec-Fetch-Site": "same-origin"})
    assert r.status_code == 200 and h1(page(r)) == "Returning you to HPMS"
    doc = page(r)
    location = attr(doc, "meta[http-equiv=refresh]", "content").removeprefix("0;url=")
    assert location.startswith(HPMS_REDIRECT + "?code=") and attr(doc, "main a", "href") == location
    assert "form-action 'self'" in r.headers["content-security-policy"]  # unchanged


async def test_an_initial_password_is_changed_first_then_the_application_gets_its_code(client, settings):
    secret = await keys_and_secret(settings)
    account = await make_account(initial=True, grants=(("HPMS", "plan-user"),))
    rp = Rp(secret=secret)
    start = rp.authorize_url(client)
    await client.get(start)  # waits for the sign-in
    r = await log_in(client, account["user_id"], account["password"])
    assert r.headers["location"] == url(client, "accounts:change-password")
    new = "seven quiet lanterns over the harbour"
    r = await client.post(
        url(client, "accounts:change-password-submit"),
        data={
            "current_password": account["password"],
            "new_password": new,
            "confirm_password": new,
            **await csrf(client),
        },
    )
    assert r.status_code == 303 and r.headers["location"] == start
    assert "code" in answer(await client.get(start))


async def test_a_refusal_to_an_account_without_a_role_is_audited(client, settings):
    await keys_and_secret(settings)
    account = await make_account(initial=False, grants=(("PSR", "provider-user"),))
    await log_in(client, account["user_id"], account["password"])
    r = await client.get(Rp().authorize_url(client))
    assert r.status_code == 403 and h1(page(r)) == "You do not have access to HPMS"
    events = await aq.audit_events(subject="hpms", action="sso_refused")
    mine = [e.detail for e in events if e.actor == account["user_id"]]
    assert mine == [{"reason": "no role in the application"}]
