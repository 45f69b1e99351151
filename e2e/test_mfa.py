"""Two-factor sign-in in Chromium, nothing mocked: an approver's first login sets up an
authenticator app (the code computed from the key the page shows), later sign-ins pass the
second step with the app or a recovery code, passkeys work through Chromium's virtual
authenticator (set up, sign in, a wrong key and a removed key refused), and a decision asks to
confirm it is you once the second factor is older than 12 hours."""

from __future__ import annotations

import base64
import itertools
import re
from datetime import UTC, datetime, timedelta

import pyotp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from playwright.sync_api import Browser, CDPSession, Page, expect

from e2e.conftest import (
    SECOND_STEP,
    assert_accessible,
    assert_no_console_errors,
    create_account,
    in_database,
    log_in,
    new_page,
    totp_code,
)

_n = itertools.count(1)
QUEUE = "Requests waiting for your approval"
PASSKEY_NOT_USED = "Your passkey was not used. Try again, or enter a code instead."


def _h1(page: Page):
    return page.get_by_role("heading", level=1)


def _password_step(page: Page, account: dict) -> None:
    """The login page's User ID and password, with the mouse: the second step comes next."""
    page.goto("/login")
    page.get_by_label("User ID").fill(account["user_id"])
    page.get_by_label("Password").fill(account["password"])
    page.get_by_role("button", name="Log in").click()
    expect(_h1(page)).to_have_text(SECOND_STEP)


def _log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_text("You have logged out.")).to_be_visible()


def _not_signed_in(page: Page) -> None:
    """A page behind the login, opened in another tab of the same browser, sends it to the login
    page (the page under test stays where it is)."""
    tab = page.context.new_page()
    tab.goto("/my/two-factor")
    expect(_h1(tab)).to_have_text("Log in to IACS")
    tab.close()


def _wrong_code(secret: str) -> str:
    """Six digits that are none of the codes the portal accepts now (this step or one either side)."""
    totp = pyotp.TOTP(secret)
    step = totp.timecode(datetime.now(UTC))
    accepted = {totp.generate_otp(step + offset) for offset in (-2, -1, 0, 1, 2)}
    return next(c for c in (f"{n:06d}" for n in range(123456, 1000000, 111111)) if c not in accepted)


def _latest_session(server_env, account: dict) -> dict:
    from portal.models.tables import UserSession

    rows = in_database(
        server_env,
        UserSession.select(UserSession.amr, UserSession.mfa_at)
        .where(UserSession.account == account["id"])
        .order_by(UserSession.id, ascending=False)
        .limit(1)
        .run(),
    )
    return rows[0]


# ---- a. An approver's first login ----------------------------------------------------------------


def test_an_approvers_first_login_sets_up_an_app_and_lands_on_the_queue(page: Page, javascript: bool, server_env):
    approver = create_account(server_env, initial=True, grants=(), approver=(("EHRIP", 1),))
    assert approver["totp_secret"] == ""  # nothing set up yet: the first login does it
    log_in(page, approver)  # an initial password: no second step yet
    expect(_h1(page)).to_have_text("Change password")
    new = "amber lighthouse keeps nine gulls"
    page.get_by_label("Current password").fill(approver["password"])
    page.get_by_label("New password", exact=True).fill(new)
    page.get_by_label("Confirm new password").fill(new)
    page.get_by_role("button", name="Change password").click()

    # Forced to Two-factor sign-in: every page leads back here until a factor is set up.
    expect(_h1(page)).to_have_text("Two-factor sign-in")
    expect(page.get_by_text("Your account must use a second factor")).to_be_visible()
    assert_accessible(page)
    for path in ("/approvals", "/my/applications"):
        page.goto(path)
        expect(_h1(page)).to_have_text("Two-factor sign-in")

    page.get_by_role("link", name="Use an authenticator app").click()
    expect(_h1(page)).to_have_text("Set up an authenticator app")
    expect(page.get_by_role("img", name=re.compile("QR code"))).to_be_visible()
    assert_accessible(page)
    secret = "".join(page.locator("#secret").inner_text().split())
    assert re.fullmatch(r"[A-Z2-7]{32}", secret), secret  # base32, 160 bits, typed in groups of 4
    assert re.fullmatch(r"([A-Z2-7]{4} ){7}[A-Z2-7]{4}", page.locator("#secret").inner_text().strip())

    # A wrong code: refused, the same key kept, the error accessible.
    page.get_by_label("Code from the app").fill(_wrong_code(secret))
    page.get_by_label("Name (optional)").fill("Work phone")
    page.get_by_role("button", name="Set up").click()
    expect(page.locator(".error-message").first).to_contain_text("The code is not correct")
    expect(page).to_have_title(re.compile("^Error: "))
    assert "".join(page.locator("#secret").inner_text().split()) == secret
    expect(page.get_by_label("Name (optional)")).to_have_value("Work phone")
    assert_accessible(page)

    approver |= {"totp_secret": secret, "totp_step": 0}
    page.get_by_label("Code from the app").fill(totp_code(approver))
    page.get_by_role("button", name="Set up").click()
    expect(_h1(page)).to_have_text("Your recovery codes")
    codes = page.locator(".codes code")
    expect(codes).to_have_count(10)
    texts = codes.all_inner_texts()
    assert len(set(texts)) == 10 and all(re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", c) for c in texts), texts
    assert_accessible(page)
    page.get_by_role("link", name="I have saved my codes, continue").click()
    expect(_h1(page)).to_have_text(QUEUE)
    expect(page).to_have_url(re.compile(r"/approvals$"))
    assert_accessible(page)

    page.goto("/my/two-factor/codes")  # shown once
    expect(page.locator(".codes code")).to_have_count(0)
    page.goto("/my/two-factor")
    expect(page.locator("dl.summary dt")).to_have_text(["Work phone"])
    expect(page.get_by_text("You have 10 unused recovery codes.")).to_be_visible()
    assert_accessible(page)

    # The passkey set-up page: its form needs JavaScript; without, it points to the app.
    page.get_by_role("link", name="Use a passkey or security key").click()
    expect(_h1(page)).to_have_text("Set up a passkey or security key")
    if javascript:
        expect(page.get_by_role("button", name="Set up my passkey")).to_be_visible()
    else:
        expect(page.get_by_role("button", name="Set up my passkey")).to_be_hidden()
        expect(page.get_by_role("link", name="use an authenticator app")).to_be_visible()
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)


# ---- b. Signing in again --------------------------------------------------------------------------


def test_the_second_step_takes_a_code_from_the_app_once(page: Page, javascript: bool, server_env):
    approver = create_account(server_env, initial=False, grants=(), approver=(("EHRIP", 1),))
    _password_step(page, approver)
    expect(page.get_by_role("button", name="Use my passkey")).to_have_count(0)  # none set up
    assert_accessible(page)
    # Nothing is open yet: another page sends this browser back to the login.
    page.goto("/approvals")
    expect(_h1(page)).to_have_text("Log in to IACS")
    page.goto("/login/confirm")  # the halfway sign-in is still there
    expect(_h1(page)).to_have_text(SECOND_STEP)

    code = page.get_by_label("Code", exact=True)
    code.fill(_wrong_code(approver["totp_secret"]))
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".error-message").first).to_contain_text("The code is not correct")
    expect(_h1(page)).to_have_text(SECOND_STEP)
    assert_accessible(page)

    used = totp_code(approver)
    code.fill(used)
    page.get_by_role("button", name="Continue").click()
    expect(_h1(page)).to_have_text(QUEUE)
    session = _latest_session(server_env, approver)
    assert session["amr"] == "pwd otp" and session["mfa_at"] is not None
    if javascript:
        assert_no_console_errors(page)

    # The same code again (a replay, well within its time): refused.
    _log_out(page)
    _password_step(page, approver)
    page.get_by_label("Code", exact=True).fill(used)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".error-message").first).to_contain_text("The code is not correct")
    _not_signed_in(page)


def test_a_recovery_code_signs_in_once(page: Page, javascript: bool, server_env, inbox):
    approver = create_account(server_env, initial=False, grants=(), approver=(("EHRIP", 1),))
    recovery = approver["recovery_codes"][0]
    _password_step(page, approver)
    page.get_by_label("Code", exact=True).fill(recovery.upper().replace("-", " "))  # typed loosely
    page.get_by_role("button", name="Continue").click()
    expect(_h1(page)).to_have_text(QUEUE)
    assert "you have 9 left" in inbox.wait_for(approver["email"], "A recovery code was used").text
    page.goto("/my/two-factor")
    expect(page.get_by_text("You have 9 unused recovery codes.")).to_be_visible()

    _log_out(page)
    _password_step(page, approver)
    page.get_by_label("Code", exact=True).fill(recovery)
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".error-message").first).to_contain_text("already used")
    assert_accessible(page)
    _not_signed_in(page)


# ---- c. Passkeys, with Chromium's virtual authenticator ----------------------------------------------


def _authenticator(cdp: CDPSession) -> str:
    """A platform authenticator that verifies its user and answers at once; its id."""
    options = {
        "protocol": "ctap2",
        "transport": "internal",
        "hasResidentKey": True,
        "hasUserVerification": True,
        "isUserVerified": True,
        "automaticPresenceSimulation": True,
    }
    return cdp.send("WebAuthn.addVirtualAuthenticator", {"options": options})["authenticatorId"]


def _other_private_key() -> str:
    """A fresh P-256 key as the virtual authenticator takes one (PKCS #8, base64)."""
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return base64.b64encode(der).decode()


def _use_passkey(page: Page) -> None:
    page.get_by_role("button", name="Use my passkey").click()


def test_a_passkey_signs_in_and_a_wrong_or_removed_key_does_not(browser: Browser, base_url: str, server_env):
    assert base_url.startswith("http://localhost:")  # a passkey's relying party is a domain
    page = new_page(browser, base_url)
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    first = _authenticator(cdp)
    approver = create_account(server_env, initial=False, grants=(), approver=(("EHRIP", 1),))
    log_in(page, approver)  # with the app
    expect(_h1(page)).to_have_text(QUEUE)

    # Set one up from Two-factor sign-in.
    page.goto("/my/two-factor")
    page.get_by_role("link", name="Use a passkey or security key").click()
    expect(_h1(page)).to_have_text("Set up a passkey or security key")
    assert_accessible(page)
    page.get_by_label("Name (optional)").fill("Laptop key")
    page.get_by_role("button", name="Set up my passkey").click()
    expect(_h1(page)).to_have_text("Two-factor sign-in")  # not the first factor: no new codes
    expect(page.get_by_text("Your second factor is set up.")).to_be_visible()
    expect(page.locator("dl.summary dt")).to_have_text(["Test phone", "Laptop key"])
    expect(page.locator("dl.summary dd").nth(1)).to_contain_text("Passkey or security key")
    assert_accessible(page)
    [credential] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": first})["credentials"]
    assert credential["rpId"] == "localhost"

    # Sign in with it.
    _log_out(page)
    _password_step(page, approver)
    expect(page.get_by_role("heading", name="Use your passkey or security key")).to_be_visible()
    assert_accessible(page)
    _use_passkey(page)
    expect(_h1(page)).to_have_text(QUEUE)
    assert _latest_session(server_env, approver)["amr"] == "pwd hwk"
    [used] = cdp.send("WebAuthn.getCredentials", {"authenticatorId": first})["credentials"]
    assert used["signCount"] > credential["signCount"]

    # A wrong key: another authenticator, without the credential. The browser finds no key to
    # use; nothing is sent and the page says so.
    _log_out(page)
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": first})
    second = _authenticator(cdp)
    _password_step(page, approver)
    _use_passkey(page)
    expect(page.locator(".passkey-status")).to_have_text(PASSKEY_NOT_USED)
    expect(_h1(page)).to_have_text(SECOND_STEP)
    assert_accessible(page)
    _not_signed_in(page)

    # A forged key: the credential's id, another private key. The browser signs; the portal
    # refuses the signature.
    forged = {**used, "privateKey": _other_private_key(), "signCount": used["signCount"] + 10}
    cdp.send("WebAuthn.addCredential", {"authenticatorId": second, "credential": forged})
    _use_passkey(page)
    expect(page.locator(".error-message").first).to_contain_text("That passkey is not set up for this account")
    expect(_h1(page)).to_have_text(SECOND_STEP)
    assert_accessible(page)
    _not_signed_in(page)

    # The real key, moved to this authenticator, still signs in (from the form htmx swapped in
    # with the refusal: passkey.js wires it again).
    cdp.send("WebAuthn.clearCredentials", {"authenticatorId": second})
    cdp.send("WebAuthn.addCredential", {"authenticatorId": second, "credential": used})
    _use_passkey(page)
    expect(_h1(page)).to_have_text(QUEUE)

    # A removed key: removed on Two-factor sign-in (the app stays); the second step then offers
    # no passkey, and the key still in the authenticator cannot be used.
    page.goto("/my/two-factor")
    page.get_by_role("button", name="Remove Laptop key").click()
    expect(page.get_by_text("It has been removed.")).to_be_visible()
    expect(page.locator("dl.summary dt")).to_have_text(["Test phone"])
    assert_accessible(page)
    _log_out(page)
    _password_step(page, approver)
    expect(page.get_by_role("button", name="Use my passkey")).to_have_count(0)
    expect(page.locator("form[data-passkey]")).to_have_count(0)
    assert len(cdp.send("WebAuthn.getCredentials", {"authenticatorId": second})["credentials"]) == 1
    _not_signed_in(page)
    assert_no_console_errors(page)
    page.context.close()


# ---- d. Confirm it is you before a decision ----------------------------------------------------------


def test_a_decision_after_12_hours_asks_to_confirm_it_is_you(page: Page, javascript: bool, server_env):
    from portal.models.accounts import now
    from portal.models.tables import UserSession
    from tests.integration.test_approvals import quick_request

    approver = create_account(server_env, initial=False, grants=(), approver=(("COBR", 1),))
    name = f"StepUp{next(_n)}{'js' if javascript else 'nojs'}"
    tracking = in_database(server_env, quick_request("COBR", "account-designee", last_name=name))
    log_in(page, approver)
    thirteen_hours_ago = now() - timedelta(hours=13)
    in_database(
        server_env,
        UserSession.update({UserSession.mfa_at: thirteen_hours_ago}).where(UserSession.account == approver["id"]).run(),
    )

    page.goto(f"/approvals?q={name}")
    page.get_by_role("button", name=f"Approve request {tracking}").click()
    expect(_h1(page)).to_have_text("Confirm it is you")
    expect(page).to_have_url(re.compile(r"/my/two-factor/confirm\?next="))
    assert_accessible(page)
    page.get_by_label("Code", exact=True).fill(_wrong_code(approver["totp_secret"]))
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".error-message").first).to_contain_text("The code is not correct")
    expect(_h1(page)).to_have_text("Confirm it is you")
    assert_accessible(page)
    page.get_by_label("Code", exact=True).fill(totp_code(approver))
    page.get_by_role("button", name="Continue").click()

    # Back at the same request, still waiting: the first click decided nothing.
    expect(_h1(page)).to_have_text(f"Request {tracking}")
    expect(page).to_have_url(re.compile(rf"/approvals/{tracking}$"))
    row = page.locator(f"#req-{tracking}")
    expect(row.locator(".verdict")).to_have_count(0)
    page.get_by_role("button", name=f"Approve request {tracking}").click()
    if javascript:  # the row, swapped in place
        expect(row).to_contain_text(f"Approved by {approver['user_id']}")
    else:  # back at the table, which lists what still waits, with what was done
        expect(page.get_by_text(f"{tracking}: Approved.")).to_be_visible()
        page.goto(f"/approvals/{tracking}")
        expect(row).to_contain_text(f"Approved by {approver['user_id']}")
    session = _latest_session(server_env, approver)
    assert session["mfa_at"] > thirteen_hours_ago + timedelta(hours=12)
    assert_accessible(page)
    if javascript:
        assert_no_console_errors(page)
