"""Bytes on the wire: the first page with its assets, and every registration step's fragment,
raw, gzip and brotli, measured through the real app (``make bench``). ``reqs`` counts the HTTP
requests each row took, as the client made them (redirects are not followed for it)."""

from __future__ import annotations

import asyncio
import gzip
import os
import re
import tempfile

import brotli

os.environ.setdefault("PORTAL_DATABASE_URL", f"sqlite:///{tempfile.mkdtemp()}/bench.db")
os.environ["PORTAL_DB_POOL_SIZE"] = "0"

HX = {"HX-Request": "true"}


def sizes(body: bytes) -> tuple[int, int, int]:
    return len(body), len(gzip.compress(body, 6)), len(brotli.compress(body, quality=5))


async def main() -> None:
    from litestar.testing import AsyncTestClient

    from portal.app import create_app
    from portal.models.tables import OutboxMessage
    from portal.settings import from_env
    from tests.support import reset_database

    settings = from_env()
    await reset_database(settings)
    app = create_app(settings)
    rows: list[tuple[str, int, int, int, int]] = []
    sent = 0  # requests made so far, counted by the clients' own hook
    mark = 0

    async def count(_request) -> None:
        nonlocal sent
        sent += 1

    def begin() -> None:
        """The next row counts the requests made from here."""
        nonlocal mark
        mark = sent

    def record(label: str, body: bytes) -> None:
        rows.append((label, sent - mark, *sizes(body)))

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

        token = {"_csrf_token": c.cookies["csrftoken"]}

        async def post(path, data=None):
            return await c.post(path, data={**(data or {}), **token}, headers=HX)

        begin()
        r = await c.get("/register/", params={"q": "medi"}, headers=HX)
        record("search fragment (htmx)", r.content)
        begin()
        r = await c.post("/register/PSR/terms", data=token)  # a plain form: POST, 303, GET
        r = await c.get(r.headers["location"])
        record("accept terms -> step 1 page", r.content)
        begin()
        r = await c.get("/register/personal", headers=HX)
        record("step 1 fragment (Back from step 2)", r.content)
        email = "bench@example.gov"
        steps = [
            (
                "step 1 -> step 2 fragment",
                "/register/personal",
                {
                    "first_name": "Ana",
                    "last_name": "Lopez",
                    "date_of_birth": "1980-03-27",
                    "ssn": "123-45-6789",
                    "email": email,
                    "email_confirm": email,
                },
            ),
        ]
        begin()
        r = await post(*steps[0][1:])
        record(steps[0][0], r.content)
        body = (await OutboxMessage.select(OutboxMessage.body).where(OutboxMessage.to_address == email).first())["body"]
        code = re.search(r"code is: (\d{6})", body).group(1)
        begin()
        r = await post("/register/verify", {"code": code})
        record("step 2 -> step 3 fragment", r.content)
        begin()
        r = await c.get("/register/contact/fields", params={"role": "security-official"}, headers=HX)
        record("role fields fragment", r.content)
        begin()
        r = await post(
            "/register/contact",
            {
                "organization": "Acme",
                "address1": "1 Main St",
                "city": "Baltimore",
                "state": "MD",
                "zip": "21244",
                "phone": "410 786 3000",
                "role": "provider-user",
                "npi": "1234567893",
                "tin": "12-3456789",
            },
        )
        record("step 3 -> step 4 fragment", r.content)
        begin()
        r = await post(
            "/register/questions",
            {"question_1": "first-school", "answer_1": "Lincoln", "question_2": "first-car", "answer_2": "Ford"},
        )
        record("step 4 -> step 5 fragment", r.content)
        begin()
        r = await c.get("/register/review/contact/edit", headers=HX)
        record("review: edit contact fragment", r.content)
        begin()
        r = await post("/register/submit")
        record("step 5 -> step 6 fragment", r.content)
        begin()
        r = await c.get("/register/done")
        record("step 6 full page", r.content)
        tracking = re.search(r'<p class="tracking-number">([A-Z0-9-]+)</p>', r.text).group(1)
        await c.post("/register/done", data=token)

    from tests.integration.accounts_support import make_account
    from tests.integration.test_approvals import quick_request

    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    others = [await quick_request("PSR", "provider-user") for _ in range(30)]
    async with AsyncTestClient(app=app) as c:
        c.follow_redirects = False
        c.event_hooks["request"].append(count)
        await c.get("/login")
        token = {"_csrf_token": c.cookies["csrftoken"]}
        await c.post("/login", data={"user_id": approver["user_id"], "password": approver["password"], **token})
        begin()
        r = await c.get("/approvals", headers=HX)
        record("approval table, 25 rows (htmx)", r.content)
        begin()
        r = await c.get(f"/approvals/{tracking}", headers=HX)
        record("row expanded with details", r.content)
        begin()
        r = await c.post(f"/approvals/{tracking}/approve", data=token, headers=HX)
        record("approve: row response", r.content)
        begin()
        r = await c.get(f"/approvals/{others[0]}/reject", headers=HX)
        record("reject: reason form in the row", r.content)
        begin()
        r = await c.post(f"/approvals/{others[0]}/reject", data={"reason": "Not ours", **token}, headers=HX)
        record("reject: row response", r.content)

    print(f"{'response':34} {'reqs':>4} {'raw':>7} {'gzip':>7} {'brotli':>7}")
    for name, reqs, raw, gz, br in rows:
        print(f"{name:34} {reqs:>4} {raw or '':>7} {gz or '':>7} {br:>7}")


if __name__ == "__main__":
    asyncio.run(main())
