"""Resident memory per web worker under full registrations (``make bench``; alone:
``python -m bench.memory``).

The portal served as bench/server.py serves it (uvicorn, 2 workers, PostgreSQL) with the mail
delivered from inside the workers to an SMTP sink of this process (aiosmtpd); 16 applicants at
once go through the whole registration, terms to acknowledgement, reading their codes from the
sink: the load test's applicant (bench/journey.py), without its pauses. Each worker's VmRSS is
read at 0 and after each 250 registrations, once the last of them is answered and its mail sent
(2 s at rest), so that the figures compare what stays, not what a request in flight holds (an
argon2id hash alone is 19 MiB while it runs).

Pass: every worker at most 120 MiB at 1,000, and none grown by more than 5 MiB from 500 to 1,000.
Why 5 MiB: a worker that keeps something per registration (a draft's rows, a request, a cache
entry: 10 KiB or more) grows by 2.5 MiB or more over the ~250 registrations it answers between
500 and 1,000. What legitimately still moves a settled worker: caches filling up to their
bounds (asyncpg prepares each statement once per pooled connection, up to 100 a connection)
and the allocators' rounding (Python's 1 MiB arenas, glibc's heap top): measured +0.4 MiB from
500 to 1,000, and 1 MiB between 250 and 1,000.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller

from bench.journey import ONE_LEVEL_ROLE, HTTPError, Journey, Person, Pool, Recorder, Sink, StepFailed, register
from bench.server import BASE_PG, children, prepare, rss_mib, serve

CHECKPOINTS = (0, 250, 500, 750, 1000)
SETTLE_SECONDS = 2.0
CONCURRENT = 16
LIMIT_MIB = 120.0
GROWTH_MIB = 5.0
# The load test's applicant (bench/journey.py) without its pauses: 16 at once, back to back.
AT_ONCE = Journey(pause=0.0, email_timeout=30.0)


@dataclass
class Run:
    http: Pool
    sink: Sink
    workers: list[int]
    total: int
    limit: int = 0  # registrations started up to the next checkpoint
    done: int = 0
    errors: list[str] = field(default_factory=list)
    rss: dict[int, list[float]] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=itertools.count)

    def measure(self, at: int) -> None:
        self.rss[at] = [rss_mib(pid) for pid in self.workers]


async def applicant(run: Run) -> None:
    while (n := next(run._numbers)) < run.limit:
        address = f"memory{n}.{int(time.time())}@example.gov"
        try:
            await register(Person(run.http, Recorder()), run.sink, AT_ONCE, address, ONE_LEVEL_ROLE, on_step=[""])
        except (StepFailed, HTTPError, TimeoutError) as exc:
            run.errors.append(f"{type(exc).__name__}: {exc}")
            continue
        finally:
            run.sink.forget(address)
        run.done += 1


async def measure(
    total: int = CHECKPOINTS[-1],
    concurrent: int = CONCURRENT,
    env: dict[str, str] | None = None,
    database: str = "portal_bench_memory",
) -> Run:
    """Serve the portal (with ``env`` added to its environment) on a fresh database and drive
    ``total`` registrations through it."""
    from tests.support import free_port, fresh_postgres_database

    url = await fresh_postgres_database(BASE_PG, database)
    await prepare(url)
    sink = Sink(asyncio.get_running_loop())
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    port = free_port()
    proc = serve(
        url,
        {"PORTAL_SMTP_URL": f"smtp://127.0.0.1:{smtp.port}", "PORTAL_MAIL_WORKER_INLINE": "true", **(env or {})},
        port=port,
    )
    http = Pool(f"http://127.0.0.1:{port}", CONCURRENT)
    try:
        run = Run(http, sink, children(proc.pid), total)
        run.measure(0)
        for checkpoint in (n for n in CHECKPOINTS if 0 < n <= total):
            # Up to the checkpoint with 16 at once, then each worker measured at rest (its last
            # requests answered, its mail sent), so that the figures compare what stays.
            run.limit, run._numbers = checkpoint, itertools.count(run.limit)
            await asyncio.gather(*(applicant(run) for _ in range(concurrent)))
            await asyncio.sleep(SETTLE_SECONDS)
            run.measure(checkpoint)
    finally:
        await http.aclose()
        proc.terminate()
        proc.wait(timeout=20)
        smtp.stop()
    return run


def report(run: Run) -> list[str]:
    at = {n: run.rss[n] for n in CHECKPOINTS if n in run.rss}
    workers = "; ".join(
        f"worker {i + 1} " + " / ".join(f"{figures[i]:.0f}" for figures in at.values()) + " MiB"
        for i in range(len(run.workers))
    )
    lines = [f"memory per worker at {' / '.join(f'{n:,}' for n in at)} registrations: {workers}"]
    last, middle = at.get(run.total), at.get(run.total // 2)
    if not last or not middle or run.errors:
        lines.append(f"memory: FAIL ({run.done} of {run.total} registrations completed, {len(run.errors)} errors)")
        lines += [f"  {e}" for e in run.errors[:5]]
        return lines
    growth = max(b - a for a, b in zip(middle, last, strict=True))
    verdict = "PASS" if max(last) <= LIMIT_MIB and growth <= GROWTH_MIB else "FAIL"
    lines.append(
        f"memory: {verdict} (largest worker {max(last):.0f} MiB at {run.total:,}, limit {LIMIT_MIB:.0f};"
        f" largest growth {run.total // 2:,} to {run.total:,} {growth:+.1f} MiB, limit {GROWTH_MIB:.0f})"
    )
    return lines


async def main() -> None:
    started = time.perf_counter()
    run = await measure()
    seconds = time.perf_counter() - started
    print(f"PostgreSQL, uvicorn with 2 workers, {CONCURRENT} applicants at once, mail delivered by the workers")
    print("\n".join(report(run)))
    print(f"({run.done} registrations in {seconds:.0f} s, {run.done / seconds:.1f}/s with the server's start)")


if __name__ == "__main__":
    asyncio.run(main())
