"""Speed on a small server (``make bench``): the portal served by uvicorn with 2 workers on
PostgreSQL, loaded with wrk from the same machine.

Measures: step reads/s and latency at 16 concurrent; resident memory per worker (after the reads
here, and through 1,000 full registrations: ``bench/memory.py``); whether a
refusal takes the same time for a real and an unknown User ID or email (``bench/timing.py``: Log
in, Forgot password, Forgot User ID); health-check latency while logins hash; the approval
table's render time with 10,000 pending requests."""

from __future__ import annotations

import asyncio
import statistics
import time
from datetime import timedelta

import httpx

from bench import memory, server, timing
from bench.server import BASE_PG, URL, children, prepare, rss_mib, serve


async def seed_requests(url: str, count: int) -> tuple[dict, list[timing.Holder]]:
    """An approver for every application at level 1, ``count`` pending requests, and the
    accounts whose refusals ``bench.timing`` times."""
    from portal.clock import now
    from portal.models.db import bind
    from portal.models.engine import make_engine
    from portal.models.tables import AccessRequest, Role
    from portal.settings import Settings
    from tests.integration.accounts_support import make_account
    from tests.integration.test_approvals import pending_request

    bind(make_engine(Settings(database_url=url)))
    approver = await make_account(initial=False, grants=(), approver=((None, 1),))
    holders = await timing.make_accounts(timing.ACCOUNTS + timing.LOCKED_ACCOUNTS)
    roles = await Role.select(Role.id, Role.application, Role.review_days, Role.approval_levels)
    at = now()
    rows = [
        pending_request(
            roles[i % len(roles)], at=at - timedelta(days=i % 70, minutes=i), n=i, last_name=f"Bench{i:05d}"
        )
        for i in range(count)
    ]
    for start in range(0, len(rows), 1000):
        await AccessRequest.insert(*rows[start : start + 1000])
    return approver, holders


def wrk(path: str, cookie: str, seconds: int = 10) -> dict[str, float]:
    return server.wrk("-H", f"Cookie: {cookie}", URL + path, seconds=seconds)


async def draft_cookie(client: httpx.AsyncClient) -> str:
    from tests.integration.registration_flow import PERSONAL

    await client.get("/register/PSR/terms")
    token = client.cookies["csrftoken"]
    await client.post("/register/PSR/terms", data={"_csrf_token": token})
    email = "load@example.gov"
    await client.post(
        "/register/personal", data={**PERSONAL, "email": email, "email_confirm": email, "_csrf_token": token}
    )
    return f"iacs_draft={client.cookies['iacs_draft']}; csrftoken={token}"


async def health_during_logins(
    client: httpx.AsyncClient, user_id: str, password: str
) -> tuple[float, float, float, int]:
    # Each login has its own client and CSRF cookie, made before the clock starts: building an
    # httpx client costs this process ~25 ms (its TLS context) and would be counted as latency.
    logins = [httpx.AsyncClient(base_url=URL) for _ in range(8)]
    for c in logins:
        await c.get("/login")

    async def one_login(c: httpx.AsyncClient):
        await c.post("/login", data={"user_id": user_id, "password": password, "_csrf_token": c.cookies["csrftoken"]})

    idle = []
    for _ in range(20):
        t = time.perf_counter()
        await client.get("/healthz")
        idle.append(time.perf_counter() - t)
    busy = []
    tasks = [asyncio.create_task(one_login(c)) for c in logins]
    while not all(t.done() for t in tasks):
        t = time.perf_counter()
        await client.get("/healthz")
        busy.append(time.perf_counter() - t)
    await asyncio.gather(*tasks)
    for c in logins:
        await c.aclose()
    return statistics.median(idle) * 1000, statistics.median(busy) * 1000, max(busy) * 1000, len(busy)


async def table_time(approver: dict) -> tuple[float, int, int]:
    import pyotp

    async with httpx.AsyncClient(base_url=URL) as c:
        await c.get("/login")
        token = {"_csrf_token": c.cookies["csrftoken"]}
        await c.post("/login", data={"user_id": approver["user_id"], "password": approver["password"], **token})
        await c.post("/login/confirm", data={"code": pyotp.TOTP(approver["totp_secret"]).now(), **token})
        times = []
        for _ in range(10):
            t = time.perf_counter()
            r = await c.get("/approvals", params={"sort": "due"})
            times.append(time.perf_counter() - t)
        assert r.status_code == 200 and "10000 requests" in r.text, (
            r.status_code,
            r.headers.get("location"),
            r.text[-600:],
        )
        frag = await c.get(
            "/approvals", params={"sort": "due"}, headers={"HX-Request": "true", "Accept-Encoding": "br"}
        )
        return statistics.median(times) * 1000, len(r.content), int(frag.headers.get("content-length", 0))


async def main() -> None:
    from tests.support import fresh_postgres_database

    url = await fresh_postgres_database(BASE_PG, "portal_bench")
    await prepare(url)
    approver, holders = await seed_requests(url, 10_000)
    proc = serve(url)
    try:
        async with httpx.AsyncClient(base_url=URL, timeout=30) as client:
            cookie = await draft_cookie(client)
            wrk("/register/verify", cookie, seconds=3)  # warm up
            step = wrk("/register/verify", cookie, seconds=10)
            workers = children(proc.pid)
            rss = [rss_mib(pid) for pid in workers]
            await client.get("/login")
            start = time.perf_counter()
            refusals = await timing.measure(client, url, holders)
            refusal_seconds = time.perf_counter() - start
            idle_health, busy_median, busy_health, busy_count = await health_during_logins(
                client, approver["user_id"], approver["password"]
            )
            table_ms, table_bytes, table_br = await table_time(approver)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    print("PostgreSQL, uvicorn with 2 workers on this machine, wrk -t2 -c16 on the same cores")
    print(
        f"step read GET /register/verify  {step['rps']:8.0f} req/s  p50 {step['p50']:.1f} ms  p99 {step['p99']:.1f} ms"
        f"  non-2xx {step['non2xx']}"
    )
    print(f"resident memory per worker      {', '.join(f'{m:.0f} MB' for m in rss)}")
    print("\n".join(timing.report(refusals, refusal_seconds)))
    print(
        f"/healthz idle median {idle_health:.1f} ms; while 8 logins hash: median {busy_median:.1f} ms,"
        f" worst {busy_health:.1f} ms of {busy_count}"
    )
    print(
        f"approval table, 10,000 pending: median {table_ms:.1f} ms for page 1 (25 rows), {table_bytes} bytes raw;"
        f" htmx table fragment {table_br} bytes brotli"
    )
    await memory.main()


if __name__ == "__main__":
    asyncio.run(main())
