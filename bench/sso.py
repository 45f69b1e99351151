"""Single sign-on figures (``make bench``): the portal as bench/server.py serves it (PostgreSQL,
uvicorn with 2 workers) and the demo HPMS behind Apache + mod_auth_openidc.

1. Round trips and bytes from "Log in to HPMS" to HPMS's page, in Chromium: signed in at the
   portal already (My applications' button), and not (HPMS's own address, then the login form).
   Every HTTP request the browser made is counted, with its response's bytes as they crossed the
   wire (headers and compressed body; the portal's static files are cached after the first page).
2. The token endpoint at 16 concurrent (wrk -t2 -c16): each request redeems its own code (rows
   made beforehand with a PKCE challenge) with client_secret_basic, and gets an ES256 ID token."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import tempfile
from datetime import timedelta
from pathlib import Path

from bench.server import BASE_PG, PORT, prepare, serve, wrk
from tests.support import demo_clients_on, free_port

URL = f"http://localhost:{PORT}"  # the issuer: PORTAL_BASE_URL (a host name, not an address)
VERIFIER = "bench-verifier-" + "v" * 40
CODES_PER_THREAD = 20_000


async def _setup(url: str, rp_port: int) -> tuple[dict, dict[str, str]]:
    """Catalog with the demo addresses on ``rp_port``, keys, secrets, and an HPMS account."""
    from portal.models.db import bind
    from portal.models.engine import make_engine
    from portal.settings import Settings
    from tests.integration.accounts_support import make_account

    bind(make_engine(Settings(database_url=url)))
    secrets = await demo_clients_on(rp_port)
    account = await make_account(initial=False, grants=(("HPMS", "plan-user"),))
    return account, secrets


async def _codes(account_id: int, redirect_uri: str) -> None:
    """Codes ready to redeem: ``bench-RUN-T-N`` for wrk's threads T = 1, 2, in the warm-up run
    and the measured one (a code works once: a second use is refused and revokes)."""
    from portal.accounts.sso import ACR_PASSWORD, token_hash
    from portal.clock import now
    from portal.models.tables import OidcClient, OidcCode

    client = await OidcClient.select(OidcClient.id).where(OidcClient.client_id == "hpms").first()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(VERIFIER.encode()).digest()).decode().rstrip("=")
    at = now()
    rows = [
        OidcCode(
            code_hash=token_hash(f"bench-{run}-{t}-{n}"),
            client=client["id"],
            account=account_id,
            redirect_uri=redirect_uri,
            scope="openid profile email",
            nonce="",
            code_challenge=challenge,
            auth_time=at,
            acr=ACR_PASSWORD,
            amr=["pwd"],
            expires_at=at + timedelta(minutes=30),
        )
        for run in ("warm", "load")
        for t in (1, 2)
        for n in range(1, CODES_PER_THREAD + 1)
    ]
    for start in range(0, len(rows), 2000):
        await OidcCode.insert(*rows[start : start + 2000])


LUA = """
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
request = function()
  counter = counter + 1
  local body = "grant_type=authorization_code&code=bench-%s-" .. tid .. "-" .. counter ..
    "&redirect_uri=%s&code_verifier=%s"
  return wrk.format("POST", "/oidc/token", nil, body)
end
"""


def token_load(run: str, redirect_uri: str, secret: str, seconds: int = 10) -> dict[str, float]:
    from urllib.parse import quote

    script = Path(tempfile.mkdtemp()) / "token.lua"
    script.write_text(LUA % (run, quote(redirect_uri, safe=""), VERIFIER))
    auth = base64.b64encode(f"hpms:{secret}".encode()).decode()
    return wrk(
        "-s",
        str(script),
        "-H",
        f"Authorization: Basic {auth}",
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        f"http://127.0.0.1:{PORT}/oidc/token",
        seconds=seconds,
    )


def browser_trips(account: dict, app_url: str) -> list[tuple[str, int, int]]:
    """(case, requests, bytes) from "Log in to HPMS" to HPMS's page, in Chromium."""
    from playwright.sync_api import sync_playwright

    from e2e.conftest import CHROMIUM, CHROMIUM_ARGS

    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context().new_page()
        seen: list = []
        page.on("requestfinished", lambda request: seen.append(request))

        def measure(case: str, action) -> None:
            seen.clear()
            action()
            page.wait_for_selector("#claim-roles")
            page.wait_for_load_state("load")
            total = 0
            for request in seen:
                sizes = request.sizes()
                total += sizes["responseHeadersSize"] + sizes["responseBodySize"]
                total += sizes["requestHeadersSize"] + sizes["requestBodySize"]
            results.append((case, len(seen), total))

        def not_signed_in() -> None:
            page.goto(app_url)
            page.get_by_label("User ID").fill(account["user_id"])
            page.get_by_label("Password").fill(account["password"])
            page.get_by_role("button", name="Log in").click()

        page.goto(f"{URL}/login")  # the portal's static files cached, as for anyone who visited before
        measure("not signed in: HPMS's address, the login page, Log in", not_signed_in)
        page.goto(f"{URL}/my/applications")
        page.context.clear_cookies(domain="hpms.localhost")  # out of HPMS, still in the portal
        measure(
            "signed in: My applications' Log in to HPMS",
            lambda: page.get_by_role("link", name="Log in to HPMS").click(),
        )
        browser.close()
    return results


async def main() -> None:
    from portal.demo_rp import DemoRP, available, demo_clients
    from tests.support import fresh_postgres_database

    problem = available()
    if problem:
        raise SystemExit(f"bench.sso needs Apache and mod_auth_openidc (make apache): {problem}")
    url = await fresh_postgres_database(BASE_PG, "portal_bench_sso")
    await prepare(url)
    rp_port = free_port()
    account, secrets = await _setup(url, rp_port)
    rp = DemoRP(None, rp_port, URL, demo_clients(secrets))
    hpms = rp.clients[0]
    await _codes(account["id"], rp.redirect_uri(hpms))
    proc = serve(url, {"PORTAL_BASE_URL": URL, "PORTAL_TOKEN_RATE_LIMIT": "100000000"})
    rp.start()
    try:
        trips = await asyncio.to_thread(browser_trips, account, rp.url(hpms))
        token_load("warm", rp.redirect_uri(hpms), secrets["hpms"], seconds=3)
        token = token_load("load", rp.redirect_uri(hpms), secrets["hpms"], seconds=10)
    finally:
        rp.stop()
        proc.terminate()
        proc.wait(timeout=20)
    print("Single sign-on: the demo HPMS (Apache + mod_auth_openidc) and the portal (2 workers, PostgreSQL)")
    for case, requests, size in trips:
        print(f"  {case}: {requests} HTTP requests, {size:,} bytes on the wire")
    print(
        f"token endpoint POST /oidc/token  {token['rps']:8.0f} req/s  p50 {token['p50']:.1f} ms"
        f"  p99 {token['p99']:.1f} ms  non-2xx {token['non2xx']} (16 concurrent, a code redeemed per request)"
    )
    if token["non2xx"]:
        raise SystemExit("the token endpoint refused codes it should have redeemed")


if __name__ == "__main__":
    os.environ.setdefault("PORTAL_DB_POOL_SIZE", "0")
    asyncio.run(main())
