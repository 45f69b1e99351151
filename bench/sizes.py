"""Bytes on the wire: the first page with its assets, and every registration step's fragment,
raw, gzip and brotli, measured through the real app (``make bench``)."""

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

    async with AsyncTestClient(app=app) as c:
        c.follow_redirects = False
        first = await c.get("/")
        assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', first.text)
        total_br = sizes(first.content)[2]
        rows.append(("GET / (page)", 1, *sizes(first.content)))
        for url in assets:
            body = (await c.get(url, headers={"Accept-Encoding": "identity"})).content
            sent = int((await c.get(url, headers={"Accept-Encoding": "br"})).headers["content-length"])
            gz = int((await c.get(url, headers={"Accept-Encoding": "gzip"})).headers["content-length"])
            rows.append((f"  {url.split('/')[-1]} (as served)", 1, len(body), gz, sent))
            total_br += sent
        rows.append(("first visit total (brotli)", 1 + len(assets), 0, 0, total_br))

        token = {"_csrf_token": c.cookies["csrftoken"]}

        async def post(path, data=None):
            return await c.post(path, data={**(data or {}), **token}, headers=HX)

        r = await c.get("/register/", params={"q": "medi"}, headers=HX)
        rows.append(("search fragment (htmx)", 1, *sizes(r.content)))
        await c.post("/register/PSR/terms", data=token)
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
        r = await post(*steps[0][1:])
        rows.append((steps[0][0], 1, *sizes(r.content)))
        body = (await OutboxMessage.select(OutboxMessage.body).where(OutboxMessage.to_address == email).first())["body"]
        code = re.search(r"code is: (\d{6})", body).group(1)
        r = await post("/register/verify", {"code": code})
        rows.append(("step 2 -> step 3 fragment", 1, *sizes(r.content)))
        r = await c.get("/register/contact/fields", params={"role": "security-official"}, headers=HX)
        rows.append(("role fields fragment", 1, *sizes(r.content)))
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
        rows.append(("step 3 -> step 4 fragment", 1, *sizes(r.content)))
        r = await post(
            "/register/questions",
            {"question_1": "first-school", "answer_1": "Lincoln", "question_2": "first-car", "answer_2": "Ford"},
        )
        rows.append(("step 4 -> step 5 fragment", 1, *sizes(r.content)))
        r = await c.get("/register/review/contact/edit", headers=HX)
        rows.append(("review: edit contact fragment", 1, *sizes(r.content)))
        r = await post("/register/submit")
        rows.append(("step 5 -> step 6 fragment", 1, *sizes(r.content)))
        r = await c.get("/register/done")
        rows.append(("step 6 full page", 1, *sizes(r.content)))
        tracking = re.search(r'<p class="tracking-number">([A-Z0-9-]+)</p>', r.text).group(1)
        await c.post("/register/done", data=token)

    from tests.integration.accounts_support import make_account
    from tests.integration.test_approvals import quick_request

    approver = await make_account(initial=False, grants=(), approver=(("PSR", 1),))
    others = [await quick_request("PSR", "provider-user") for _ in range(30)]
    async with AsyncTestClient(app=app) as c:
        c.follow_redirects = False
        await c.get("/login")
        token = {"_csrf_token": c.cookies["csrftoken"]}
        await c.post("/login", data={"user_id": approver["user_id"], "password": approver["password"], **token})
        r = await c.get("/approvals", headers=HX)
        rows.append(("approval table, 25 rows (htmx)", 1, *sizes(r.content)))
        r = await c.get(f"/approvals/{tracking}", headers=HX)
        rows.append(("row expanded with details", 1, *sizes(r.content)))
        r = await c.post(f"/approvals/{tracking}/approve", data=token, headers=HX)
        rows.append(("approve: row response", 1, *sizes(r.content)))
        r = await c.get(f"/approvals/{others[0]}/reject", headers=HX)
        rows.append(("reject: reason form in the row", 1, *sizes(r.content)))
        r = await c.post(f"/approvals/{others[0]}/reject", data={"reason": "Not ours", **token}, headers=HX)
        rows.append(("reject: row response", 1, *sizes(r.content)))

    print(f"{'response':34} {'reqs':>4} {'raw':>7} {'gzip':>7} {'brotli':>7}")
    for name, reqs, raw, gz, br in rows:
        print(f"{name:34} {reqs:>4} {raw or '':>7} {gz or '':>7} {br:>7}")


if __name__ == "__main__":
    asyncio.run(main())
