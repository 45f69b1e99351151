"""Single sign-on through a real, independently written relying party: Apache httpd with
mod_auth_openidc (an OpenID-certified client) protecting HPMS and MARX (portal/demo_rp.py), in
Chromium. A protected page sends the person to the portal; they log in there (with their second
factor) and come back to the application, which shows the roles it received; an application
they hold no role in is refused; logging out of the application ends both sessions."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

from e2e.conftest import SECOND_STEP, assert_accessible, create_account, in_database, totp_code
from portal.demo_rp import DemoRP, available, demo_clients
from tests.support import demo_clients_on, free_port

ACR_SECOND_FACTOR = "http://idmanagement.gov/ns/assurance/aal/2"


@pytest.fixture(scope="module")
def applications(server_env: dict[str, str], base_url: str) -> Iterator[DemoRP]:
    problem = available()
    assert problem is None, f"the demo applications need Apache (make apache): {problem}"
    port = free_port()
    secrets = in_database(server_env, demo_clients_on(port))
    rp = DemoRP(None, port, base_url, demo_clients(secrets))
    rp.start()
    yield rp
    rp.stop()


def _claim(page: Page, name: str):
    return page.locator(f"#claim-{name}")


def test_sign_in_to_an_application_through_the_portal_and_out_of_both(
    page: Page, applications: DemoRP, server_env: dict[str, str], base_url: str
) -> None:
    account = create_account(server_env, initial=False, grants=(("HPMS", "plan-user"),), totp=True)
    hpms, marx = applications.clients

    # A protected page of HPMS: to the portal's login, which says where it will go on to.
    page.goto(applications.url(hpms))
    expect(page).to_have_url(f"{base_url}/login")
    expect(page.get_by_text("Log in with your IACS account to continue to HPMS.")).to_be_visible()
    assert_accessible(page)
    page.get_by_label("User ID").fill(account["user_id"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(SECOND_STEP)
    page.get_by_label("Code", exact=True).fill(totp_code(account))
    page.get_by_role("button", name="Continue").click()

    # Back at HPMS, signed in: the claims it received, its roles only.
    expect(page.get_by_role("heading", level=1)).to_have_text("Signed in to HPMS through IACS")
    assert page.url.startswith(applications.url(hpms))
    expect(_claim(page, "roles")).to_have_text("plan-user")
    expect(_claim(page, "acr")).to_have_text(ACR_SECOND_FACTOR)
    expect(_claim(page, "amr")).to_have_text("pwd,otp")
    expect(_claim(page, "email")).to_have_text(account["email"])

    # Signed in at the portal: My applications' "Log in to HPMS" needs no password.
    page.goto(f"{base_url}/my/applications")
    page.get_by_role("link", name="Log in to HPMS").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Signed in to HPMS through IACS")

    # MARX: no role there, so the portal refuses it (a page at the portal, no password asked).
    page.goto(applications.url(marx))
    expect(page.get_by_role("heading", level=1)).to_have_text("You do not have access to MARX")
    assert page.url.startswith(f"{base_url}/oidc/authorize")
    assert_accessible(page)
    back = page.get_by_role("link", name="Go back to MARX").get_attribute("href") or ""
    assert back.startswith(applications.redirect_uri(marx)) and "error=access_denied" in back

    # Log out of HPMS: mod_auth_openidc logs out at the portal too (RP-initiated logout).
    page.goto(applications.url(hpms))
    page.locator("#logout").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("You are logged out of HPMS")
    page.goto(f"{base_url}/my/applications")
    expect(page.get_by_role("heading", level=1)).to_have_text("Log in to IACS")
    page.goto(applications.url(hpms))
    expect(page).to_have_url(f"{base_url}/login")
