"""Bytes on the wire: the first page with its assets, and every registration step's fragment,
raw, gzip and brotli, measured through the real app (``make bench``). ``reqs`` counts the HTTP
requests each row took, as the client made them (redirects are not followed for it)."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import tempfile
from collections.abc import Awaitable
from typing import Any

import brotli
import pyotp

os.environ.setdefault("PORTAL_DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.db")
os.environ["PORTAL_DB_POOL_SIZE"] = "0"

HX = {"HX-Request": "true"}
FIRST_VISIT_LIMIT = 28_000  # bytes, brotli: the first page with its stylesheet and its one script


def sizes(body: bytes) -> tuple[int, int, int]:
    return len(body), len(gzip.compress(body, 6)), len(brotli.compress(body, quality=5))


async def main() -> None:
    from litestar.testing import AsyncTestClient

    from portal.app import create_app
    from portal.models.tables import OutboxMessage
    from portal.settings import from_env
    from tests.integration.accounts_support import make_account
    from tests.integration.registration_flow import CONTACT, PERSONAL, QUESTIONS, ROLE_FIELDS
    from tests.integration.test_approvals import quick_request
    from tests.support import reset_database

    settings = from_env()
    await reset_database(settings)
    app = create_app(settings)
    rows: list[tuple[str, int, int, int, int]] = []
    sent = 0  # requests made so far, counted by the clients' own hook

    async def count(_request) -> None:
        nonlocal sent
        sent += 1

    async def measure(label: str, action: Awaitable[Any]) -> Any:
        """Run one user action (its requests, in turn) and record its last response."""
        before = sent
        r = await action
        rows.append((label, sent - before, *sizes(r.content)))
        return r

    async with AsyncTestClient(app=app) as c:
        c.follow_redirects = False
        c.event_hooks["request"].append(count)
        first = await c.get("/")
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', first.text)
        total_br = sizes(first.content)[2]
        rows.append(("GET / (page)", 1, *sizes(first.content)))
        for url in assets:
            body = (await c.get(url, headers={"Accept-Encoding": "identity"})).content
            br = int((await c.get(url, headers={"Accept-Encoding": "br"})).headers["content-length"])
            gz = int((await c.get(url, headers={"Accept-Encoding": "gzip"})).headers["content-length"])
            rows.append((f"  {url.split('/')[-1]} (as served)", 1, len(body), gz, br))
            total_br += br
        rows.append(("first visit total (brotli)", 1 + len(assets), 0, 0, total_br))
        script = app.state.assets.by_name["portal.js"]  # the one script: htmx and the portal's own
        bundle = (len(script.body), len(script.gzip or b""), len(script.brotli or b""))

        token = {"_csrf_token": c.cookies["csrftoken"]}

        def post(path, data=None):
            return c.post(path, data={**(data or {}), **token}, headers=HX)

        async def accept_terms():  # a plain form: POST, 303, GET
            r = await c.post("/register/PSR/terms", data=token)
            return await c.get(r.headers["location"])

        email = "bench@example.gov"
        await measure("search fragment (htmx)", c.get("/register/", params={"q": "medi"}, headers=HX))
        await measure("accept terms -> step 1 page", accept_terms())
        await measure("step 1 fragment (Back from step 2)", c.get("/register/personal", headers=HX))
        personal = {**PERSONAL, "email": email, "email_confirm": email}
        await measure("step 1 -> step 2 fragment", post("/register/personal", personal))
        body = (await OutboxMessage.select(OutboxMessage.body).where(OutboxMessage.to_address == email).first())["body"]
        code = re.search(r"code is: (\d{6})", body).group(1)
        await measure("step 2 -> step 3 fragment", post("/register/verify", {"code": code}))
        fields = c.get("/register/contact/fields", params={"role": "security-official"}, headers=HX)
        await measure("role fields fragment", fields)
        contact = {**CONTACT, "role": "provider-user", **ROLE_FIELDS}
        await measure("step 3 -> step 4 fragment", post("/register/contact", contact))
        await measure("step 4 -> step 5 fragment", post("/register/questions", QUESTIONS))
        await measure("review: edit contact fragment", c.get("/register/review/contact/edit", headers=HX))
        await measure("step 5 -> step 6 fragment", post("/register/submit"))
        r = await measure("step 6 full page", c.get("/register/done"))
        tracking = re.search(r'<p class="tracking-number">([A-Z0-9-]+)</p>', r.text).group(1)
        await c.post("/register/done", data=token)

    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    others = [await quick_request("PSR", "provider-user") for _ in range(30)]  # more than a page of 25
    other = others[0]
    async with AsyncTestClient(app=app) as c:
        c.follow_redirects = False
        c.event_hooks["request"].append(count)
        await c.get("/login")
        token = {"_csrf_token": c.cookies["csrftoken"]}
        hxt = {**HX, "x-csrftoken": c.cookies["csrftoken"]}
        # Signing in with an authenticator app, with htmx: the password, the second step's page,
        # the code; then the landing page (counted with the table below).
        await measure(
            "log in: password (htmx)",
            c.post("/login", data={"user_id": approver["user_id"], "password": approver["password"]}, headers=hxt),
        )
        await measure("log in: second step page", c.get("/login/confirm"))
        await measure(
            "second step: a wrong code (htmx)", c.post("/login/confirm", data={"code": "000000"}, headers=hxt)
        )
        code = pyotp.TOTP(approver["totp_secret"]).now()
        await measure("second step: the code (htmx)", c.post("/login/confirm", data={"code": code}, headers=hxt))
        await measure("two-factor settings page", c.get("/my/two-factor"))
        await measure("set up an authenticator app page", c.get("/my/two-factor/app"))
        await measure("set up a passkey page", c.get("/my/two-factor/passkey"))
        await measure("approval table, 25 rows (htmx)", c.get("/approvals", headers=HX))
        await measure("row expanded with details", c.get(f"/approvals/{tracking}", headers=HX))
        await measure("approve: row response", c.post(f"/approvals/{tracking}/approve", data=token, headers=HX))
        await measure("reject: reason form in the row", c.get(f"/approvals/{other}/reject", headers=HX))
        reject = c.post(f"/approvals/{other}/reject", data={"reason": "Not ours", **token}, headers=HX)
        await measure("reject: row response", reject)

    print(f"{'response':34} {'reqs':>4} {'raw':>7} {'gzip':>7} {'brotli':>7}")
    for name, reqs, raw, gz, br in rows:
        print(f"{name:34} {reqs:>4} {raw or '':>7} {gz or '':>7} {br:>7}")
    print(f"\nportal.js, the one script (raw, gzip, brotli): {bundle[0]} {bundle[1]} {bundle[2]} bytes")
    print(f"first visit {total_br} bytes (brotli), limit {FIRST_VISIT_LIMIT}")
    if total_br > FIRST_VISIT_LIMIT:
        raise SystemExit(f"the first visit is over {FIRST_VISIT_LIMIT} bytes")


if __name__ == "__main__":
    asyncio.run(main())
