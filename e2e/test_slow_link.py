"""The registration on an emulated Slow 3G link (CDP: 2,000 ms latency, 50,000 B/s each way):
a role picked the moment the contact step arrives, before or after the script has run, still
shows its fields; each step is one request, and the one script is fetched once, on the first
page. The per-step times are printed (run with -s to read them); nothing asserts a duration."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, CDPSession, Page, Request, expect

from e2e.conftest import (
    assert_accessible,
    assert_no_console_errors,
    fill_date_of_birth,
    new_page,
    start_registration,
)

SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000}
FALLBACK = "Show the information for this role"
_n = itertools.count(1)


def slow_3g(page: Page) -> CDPSession:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send("Network.emulateNetworkConditions", SLOW_3G)
    return cdp


def heading(page: Page, text: str, timeout: float = 60_000) -> None:
    expect(page.get_by_role("heading", level=1)).to_have_text(text, timeout=timeout)


def to_contact_step(page: Page, inbox, email: str) -> None:
    """Steps 1 and 2 at full speed: the draft is verified and the contact step is next."""
    start_registration(page, "EQRS", email, first="Rosa", last="Delgado", born="1981-04-09")
    page.get_by_label("Verification code").fill(inbox.code_for(email))
    page.get_by_role("button", name="Verify").click()
    heading(page, "Step 3 of 6: Contact Information")


@pytest.mark.parametrize("cache", ["cold", "warm"])
def test_a_role_picked_on_arrival_on_slow_3g_shows_its_fields(browser: Browser, base_url: str, inbox, cache: str):
    page = new_page(browser, base_url)
    to_contact_step(page, inbox, f"slow{next(_n)}.{cache}@example.gov")
    cdp = slow_3g(page)
    if cache == "cold":  # the script must come over the slow link too: the role is picked first
        cdp.send("Network.clearBrowserCache")

    fetches: list[str] = []
    page.on("request", lambda r: r.headers.get("hx-request") and fetches.append(r.url))
    started = time.monotonic()
    page.goto("/register/contact", wait_until="commit")
    page.get_by_label("Role").select_option(label="Facility Editor")  # as soon as the select exists
    picked = time.monotonic() - started
    script_ran, fallback_shown = page.evaluate(
        """text => [!!window.htmx, [...document.querySelectorAll('button')].some(
                    b => b.textContent.trim() === text && b.offsetParent !== null)]""",
        FALLBACK,
    )
    if cache == "cold":
        # The page arrived (2 s), then its script needs 2 s more: picked before it ran, and the
        # fallback button is there to be pressed meanwhile.
        assert not script_ran
        assert fallback_shown

    # The script, once it runs, sees the role already chosen and fetches its fields.
    expect(page.get_by_label("National Provider Identifier (NPI)")).to_be_visible(timeout=60_000)
    expect(page.get_by_label("Organization Number")).to_be_visible()
    shown = time.monotonic() - started
    expect(page.get_by_role("button", name=FALLBACK)).to_have_count(0)  # the script took it away
    assert len(fetches) == 1 and "role=facility-editor" in fetches[0]  # fetched once, not again on start
    print(
        f"\nSlow 3G, {cache} cache: role picked {picked:.1f} s after the contact step was asked for "
        f"(script had run: {script_ran}); its fields shown at {shown:.1f} s"
    )
    assert_accessible(page)
    assert_no_console_errors(page)
    page.context.close()


class Requests:
    """The requests the page makes (Playwright's own events), grouped by what was done. Chromium
    reports a file its cache served as a request too; CDP says which those were (by URL), so a
    step counts only what crossed the network."""

    def __init__(self, page: Page, cdp: CDPSession) -> None:
        self.seen: list[Request] = []
        self.cached: list[str] = []
        self.ids: dict[str, str] = {}
        self.rows: list[tuple[str, int, float, list[str]]] = []
        page.on("request", lambda request: self.seen.append(request))
        cdp.on("Network.requestWillBeSent", lambda e: self.ids.__setitem__(e["requestId"], e["request"]["url"]))
        cdp.on("Network.requestServedFromCache", lambda e: self.cached.append(self.ids.get(e["requestId"], "")))

    @contextmanager
    def step(self, label: str) -> Iterator[list[Request]]:
        """Yields the list of requests that went over the network, filled in when the step ends."""
        made: list[Request] = []
        before, cached_before = len(self.seen), len(self.cached)
        started = time.monotonic()
        yield made
        seconds = time.monotonic() - started
        cached = list(self.cached[cached_before:])
        for request in self.seen[before:]:
            if request.url in cached:
                cached.remove(request.url)
            else:
                made.append(request)
        kinds = [f"{r.method} {r.resource_type}" for r in made]
        self.rows.append((label, len(made), seconds, kinds))

    def report(self) -> str:
        lines = [f"{'Slow 3G, JavaScript on':46} {'requests':>8} {'seconds':>8}"]
        for label, count, seconds, kinds in self.rows:
            lines.append(f"{label:46} {count:>8} {seconds:>8.1f}   {', '.join(kinds)}")
        return "\n".join(lines)


def test_each_step_is_one_request_and_the_script_comes_once_on_slow_3g(browser: Browser, base_url: str, inbox):
    page = new_page(browser, base_url)
    requests = Requests(page, slow_3g(page))
    email = f"steps{next(_n)}@example.gov"

    with requests.step("Getting ready (first page, cold cache)") as made:
        page.goto("/", wait_until="load", timeout=60_000)
    assert [r.resource_type for r in made].count("script") == 1  # the one bundle, htmx and the portal's own
    first_paint, script_ready = page.evaluate(
        """() => [performance.getEntriesByName('first-contentful-paint')[0].startTime,
                  performance.getEntriesByType('navigation')[0].domContentLoadedEventStart]"""
    )

    with requests.step("New User Registration (page)") as made:
        page.get_by_role("link", name="New User Registration").click()
        heading(page, "New User Registration")
        page.wait_for_load_state("load")
    assert len(made) == 1  # the page; its stylesheet and script come from the cache
    with requests.step("choose the application (page)") as made:
        page.get_by_role("link", name="ESRD Quality Reporting System (EQRS)").click()
        heading(page, "CMS Computer System Security Requirements")
        page.wait_for_load_state("load")
    assert len(made) == 1
    with requests.step("accept the terms (plain form: POST, 303, GET)") as made:
        page.get_by_role("button", name="Accept").click()
        heading(page, "Step 1 of 6: New User Registration")
        page.wait_for_load_state("load")
    assert [r.method for r in made] == ["POST", "GET"]

    page.get_by_label("First name").fill("Noor")
    page.get_by_label("Last name").fill("Haddad")
    fill_date_of_birth(page, "1983-08-21")
    page.get_by_label("Work email address", exact=True).fill(email)
    page.get_by_label("Confirm work email address").fill(email)
    steps = []
    with requests.step("step 1 -> 2") as made:
        page.get_by_role("button", name="Next").click()
        heading(page, "Step 2 of 6: Email Verification")
    steps.append(made)

    page.get_by_label("Verification code").fill(inbox.code_for(email))
    with requests.step("step 2 -> 3") as made:
        page.get_by_role("button", name="Verify").click()
        heading(page, "Step 3 of 6: Contact Information")
    steps.append(made)

    page.get_by_label("Organization").fill("Lakeside Dialysis")
    page.get_by_label("Address line 1").fill("1 Harbor Way")
    page.get_by_label("City").fill("Baltimore")
    page.get_by_label("State").select_option(label="Maryland")
    page.get_by_label("ZIP code").fill("21230")
    page.get_by_label("Work phone").fill("410 555 0100")
    with requests.step("choose the role (its fields)") as made:
        page.get_by_label("Role").select_option(label="Facility Viewer")
        expect(page.get_by_label("Organization Number")).to_be_visible(timeout=60_000)
    assert len(made) == 1 and made[0].headers.get("hx-request") == "true"
    page.get_by_label("Organization Number").fill("0012345")
    with requests.step("step 3 -> 4") as made:
        page.get_by_role("button", name="Next").click()
        heading(page, "Step 4 of 6: Authentication Questions")
    steps.append(made)

    page.get_by_label("Question 1").select_option(label="What was the name of your first school?")
    page.get_by_label("Answer 1").fill("Lincoln Elementary")
    page.get_by_label("Question 2").select_option(label="What was the make and model of your first car?")
    page.get_by_label("Answer 2").fill("Ford Focus")
    with requests.step("step 4 -> 5") as made:
        page.get_by_role("button", name="Next").click()
        heading(page, "Step 5 of 6: Review Details")
    steps.append(made)

    with requests.step("step 5 -> 6 (submit)") as made:
        page.get_by_role("button", name="Submit").click()
        heading(page, "Step 6 of 6: Acknowledgement")
    steps.append(made)

    print(f"\n{requests.report()}")
    print(f"first page: content painted at {first_paint / 1000:.1f} s, script ready at {script_ready / 1000:.1f} s")
    for made in steps:  # a step is exactly one request, sent by htmx
        assert len(made) == 1, [r.url for r in made]
        assert made[0].method == "POST" and made[0].headers.get("hx-request") == "true"
    # Nothing but the first page fetched a script or a stylesheet: every later page had them cached.
    assert [kinds for *_, kinds in requests.rows[1:] if any(k.endswith(("script", "stylesheet")) for k in kinds)] == []
    assert_accessible(page)
    assert_no_console_errors(page)
    page.context.close()
