"""``make loadtest``'s code at a small sample: a stack of its own (nginx, two workers, the mail
worker, PostgreSQL, its own Redis) on free ports, applicants at 2 a second for 4 seconds with
short pauses, and 2 approvers deciding meanwhile. Every applicant must reach the acknowledgement
with a tracking number, with the code read from the real SMTP sink, without an error; and the
approvers' final approvals must have made accounts in the stack's database."""

from __future__ import annotations

import asyncpg

from bench.journey import PATHS, Journey, path
from bench.loadtest import LoadStack, Plan, run_round, table

DATABASE = "iacs_loadtest_test"


def test_the_drivers_name_the_portals_own_routes(app):
    params = {"code": "PSR", "tracking": "IACS-TEST"}
    for name, template in PATHS.items():
        wanted = {k: v for k, v in params.items() if "{" + k + "}" in template}
        assert path(name, **wanted) == app.route_reverse(name, **wanted), name


async def test_a_small_load_registers_everyone_and_approvals_make_accounts(tmp_path):
    plan = Plan(rate=2, seconds=4, journey=Journey(pause=0.2), seed=7, drain=60, applicant_limit=60)
    async with LoadStack(tmp_path / "stack", DATABASE, approvers=2, connections=8, keep=False) as running:
        result = await run_round(running, plan)
        conn = await asyncpg.connect(running.stack.database_url)
        try:
            requests = await conn.fetch("SELECT tracking_number, email, status FROM access_request")
            accounts = {r["email"] for r in await conn.fetch("SELECT email FROM account")}
        finally:
            await conn.close()
        print("\n" + "\n".join(table(result)))
        verification_emails = running.sink.subjects["Your IACS email verification code"]

    assert result.arrived == 8
    assert dict(result.recorder.errors) == {}, result.recorder.examples
    assert len(result.registered) == 8
    assert all(r.tracking_number.startswith("IACS-") for r in result.registered)
    assert all(r.code_from_sink for r in result.registered)
    assert verification_emails == 8
    assert {r["tracking_number"] for r in requests} == {r.tracking_number for r in result.registered}
    decided = sum(n for k, n in result.recorder.counts.items() if k.startswith("decisions: ") and "another" not in k)
    assert decided >= 1, result.recorder.counts
    approved = [r for r in requests if r["status"] == "approved"]
    assert approved, [r["status"] for r in requests]
    assert all(r["email"] in accounts for r in approved)


async def test_the_pool_reuses_connections_and_replaces_those_the_server_closed():
    """A keep-alive connection the server closed while it sat idle (nginx after its
    keepalive_timeout) is replaced by a new one, not counted as an error."""
    import asyncio

    from bench.journey import Pool

    connections = 0

    async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nSet-Cookie: a=1; Path=/\r\n\r\nok")
        await writer.drain()
        writer.close()  # without "Connection: close": the client believes it may reuse it

    server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    pool = Pool(f"http://127.0.0.1:{port}", size=2)
    try:
        for _ in range(3):
            response = await pool.request("GET", "/", {})
            assert (response.status_code, response.text, response.cookies) == (200, "ok", ["a=1; Path=/"])
    finally:
        await pool.aclose()
        server.close()
        await server.wait_closed()
    assert connections == 3
