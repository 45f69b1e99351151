"""``make loadtest``: applicants registering and approvers deciding, through nginx on the
production shape (deploy/stack.py), at a fixed arrival rate.

It starts a stack of its own (nginx round-robin to two workers, the mail worker, PostgreSQL, a
Redis server of its own) on free ports with a fresh database, its mail going to a real SMTP
server in this process; makes the approvers (levels 1 and 2 of every application, each with an
authenticator app) and signs them in with their second factor. Then applicants arrive at
``--rate`` a second for ``--seconds`` and each registers as an htmx browser does, pausing
between steps (bench/journey.py), while the approvers decide. It prints every step's p50/p99,
the completed registrations a second, the errors by step, the emails received, each worker's
resident memory before and after, argon2 hashes per registration (the workers' /metrics), the
load generator's own CPU, and PASS/FAIL against the targets. With ``--saturation`` it then
runs short rounds at rising rates and prints the rate at which a step's p99 first passes
250 ms."""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiosmtpd.controller import Controller
from prometheus_client.parser import text_string_to_metric_families

from bench.journey import (
    APPLICANT_STEPS,
    APPROVER_STEPS,
    ONE_LEVEL_ROLE,
    STEP_ROUTES,
    TWO_LEVEL_ROLE,
    HTTPError,
    Journey,
    Person,
    Pool,
    Recorder,
    Registered,
    Sink,
    StepFailed,
    decide,
    register,
    sign_in,
)
from bench.server import rss_mib
from deploy import stack as stack_mod

ROOT = Path(__file__).resolve().parents[1]
P99_TARGET_MS = 250.0
RATE_TARGET = 15.0
SATURATION_RATES = (15.0, 20.0, 25.0, 30.0, 35.0)
SATURATION_BELOW = (10.0, 5.0, 2.0)  # when 15/s already fails
SATURATION_SECONDS = 20.0


@dataclass(frozen=True)
class Plan:
    """One round of load."""

    rate: float = 15.0  # applicants arriving a second
    seconds: float = 120.0  # how long they keep arriving
    journey: Journey = Journey()
    cap: int = 600  # applicants in flight at most: an arrival beyond it is an error
    applicant_limit: float = 120.0  # one applicant's whole registration, at most
    drain: float = 90.0  # after the last arrival, at most this long for the rest to finish
    seed: int = 1
    reject_share: float = 0.1


@dataclass
class Round:
    """What one round measured."""

    plan: Plan
    recorder: Recorder
    registered: list[Registered] = field(default_factory=list)
    arrived: int = 0
    peak_in_flight: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    requests: int = 0

    def p(self, step: str, q: float) -> float:
        return quantile(self.recorder.times.get(step, []), q) * 1000

    @property
    def request_steps(self) -> list[str]:
        return [s for s in (*APPLICANT_STEPS, *APPROVER_STEPS) if self.recorder.times.get(s)]

    @property
    def worst_p99(self) -> tuple[str, float]:
        worst = max(self.request_steps, key=lambda s: self.p(s, 0.99), default="")
        return worst, (self.p(worst, 0.99) if worst else 0.0)

    @property
    def errors(self) -> int:
        return sum(self.recorder.errors.values())

    @property
    def completed_per_second(self) -> float:
        return len(self.registered) / self.plan.seconds


def quantile(values: list[float], q: float) -> float:
    """The nearest-rank quantile (p99 of 100 values is the 99th smallest)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


# ---- The stack, its sink, its approvers ---------------------------------------------------------


@dataclass
class Running:
    stack: stack_mod.Stack
    sink: Sink
    http: Pool
    approvers: list[Person]
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:8])


async def make_approvers(database_url: str, count: int) -> list[dict[str, Any]]:
    """``count`` approvers of every application at levels 1 and 2, each with an authenticator
    app, in the stack's database (through the functions provisioning uses)."""
    from portal.models.db import bind, current_engine
    from portal.models.engine import make_engine
    from portal.settings import Settings
    from tests.integration.accounts_support import make_account

    engine = current_engine()
    bind(make_engine(Settings(database_url=database_url, db_pool_size=0)))
    try:
        return [
            await make_account(initial=False, grants=(), approver=((None, 1), (None, 2)), totp=True)
            for _ in range(count)
        ]
    finally:
        bind(engine)


class LoadStack:
    """``async with LoadStack(...) as running``: Redis, the SMTP sink and the stack started on
    free ports with a fresh database, the approvers made and signed in; all stopped after."""

    def __init__(self, runtime: Path, database: str, approvers: int, connections: int = 64, keep: bool = True):
        from tests.support import free_port

        self.runtime = runtime
        self.approver_count = approvers
        self.connections = connections
        self.keep = keep  # keep the database after (for a look at it); the next run drops it
        self.redis_port = free_port()
        self.smtp_port = free_port()
        self.database = database
        self.redis: Any = None
        self.controller: Controller | None = None
        self.stack: stack_mod.Stack | None = None
        self.running: Running | None = None

    async def __aenter__(self) -> Running:
        from portal.settings import from_env
        from tests.support import free_port, start_redis

        self.runtime.mkdir(parents=True, exist_ok=True)
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's line per SMTP command
        try:
            self.redis = start_redis(self.redis_port, self.runtime)
            sink = Sink(asyncio.get_running_loop())
            self.controller = Controller(sink, hostname="127.0.0.1", port=self.smtp_port)
            self.controller.start()
            self.stack = stack_mod.Stack(
                runtime=self.runtime,
                port=free_port(),
                web_ports=(free_port(), free_port()),
                database=self.database,
                redis_url=f"redis://127.0.0.1:{self.redis_port}/0",
                smtp_url=f"smtp://127.0.0.1:{self.smtp_port}",
                # Every applicant comes from 127.0.0.1; the approvers are made here with the key
                # the stack decrypts their authenticator secrets with.
                extra_env={"PORTAL_RATE_LIMIT": "1000000", "PORTAL_DATA_KEY": from_env().data_key},
            )
            stack_mod.ensure_postgres(self.stack)
            await asyncio.to_thread(stack_mod.drop_database, self.stack)
            base_env = {k: v for k, v in os.environ.items() if not k.startswith("PORTAL_")}
            await asyncio.to_thread(stack_mod.up, self.stack, base_env)
            accounts = await make_approvers(self.stack.database_url, self.approver_count)
            http = Pool(self.stack.url, self.connections)
            approvers = []
            for account in accounts:
                person = Person(http, Recorder())
                await sign_in(person, account["user_id"], account["password"], account["totp_secret"])
                approvers.append(person)
            self.running = Running(self.stack, sink, http, approvers)
            return self.running
        except BaseException:
            await self.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc: object) -> None:
        if self.running is not None:
            await self.running.http.aclose()
        if self.stack is not None:
            await asyncio.to_thread(stack_mod.down, self.stack)
            if not self.keep:
                await asyncio.to_thread(stack_mod.drop_database, self.stack)
        if self.controller is not None:
            self.controller.stop()
        if self.redis is not None:
            self.redis.terminate()
            self.redis.wait(timeout=10)


# ---- One round ----------------------------------------------------------------------------------


async def run_round(running: Running, plan: Plan, label: str = "") -> Round:
    """Applicants arriving at ``plan.rate`` for ``plan.seconds`` while the approvers decide;
    returns once every applicant finished (or the hard limits ended them)."""
    loop = asyncio.get_running_loop()
    rec = Recorder()
    result = Round(plan, rec)
    rng = random.Random(plan.seed)
    stop = asyncio.Event()
    for person in running.approvers:
        person.recorder = rec

    async def approver(person: Person, seed: int) -> None:
        own = random.Random(seed)
        while not stop.is_set():
            try:
                await decide(person, stop, plan.journey.pause, own, plan.reject_share)
            except StepFailed as exc:
                rec.error(exc.step, exc.detail)
            except (HTTPError, ValueError) as exc:  # ValueError: an answer that is not HTTP
                rec.error("approver", f"{type(exc).__name__}: {exc}")
            if not stop.is_set():
                await asyncio.sleep(plan.journey.pause)

    async def applicant(n: int, role: str) -> None:
        on_step = ["start"]
        address = f"applicant.{running.tag}{label}.{n}@example.gov"
        person = Person(running.http, rec)
        try:
            async with asyncio.timeout(plan.applicant_limit):
                result.registered.append(
                    await register(person, running.sink, plan.journey, address, role, on_step=on_step)
                )
        except StepFailed as exc:
            rec.error(exc.step, exc.detail)
        except TimeoutError:
            rec.error(f"{on_step[0]} (applicant time limit)", f"not done in {plan.applicant_limit:.0f} s")
        except (HTTPError, ValueError) as exc:  # ValueError: an answer that is not HTTP
            rec.error(on_step[0], f"{type(exc).__name__}: {exc}")
        except asyncio.CancelledError:
            rec.error(f"{on_step[0]} (unfinished at the hard limit)", "cancelled")
            raise
        finally:
            running.sink.forget(address)

    deciding = [asyncio.create_task(approver(p, plan.seed * 1000 + i)) for i, p in enumerate(running.approvers)]
    in_flight: set[asyncio.Task[None]] = set()
    cpu, started = time.process_time(), loop.time()
    try:
        for n in range(int(plan.rate * plan.seconds)):
            await asyncio.sleep(max(0.0, started + n / plan.rate - loop.time()))
            role = TWO_LEVEL_ROLE if rng.random() < plan.journey.two_level_share else ONE_LEVEL_ROLE
            result.arrived += 1
            if len(in_flight) >= plan.cap:
                rec.error("arrival (in-flight cap)", f"{plan.cap} applicants already in flight")
                continue
            task = asyncio.create_task(applicant(n, role))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
            result.peak_in_flight = max(result.peak_in_flight, len(in_flight))
        if in_flight:
            await asyncio.wait(set(in_flight), timeout=plan.drain)
    finally:  # the hard limit, or this round cancelled (Ctrl-C): nobody is left running
        stop.set()
        await asyncio.wait(deciding, timeout=35)  # an approver finishes the decision under way
        for task in (*in_flight, *deciding):
            task.cancel()
        await asyncio.gather(*in_flight, *deciding, return_exceptions=True)
    result.wall = loop.time() - started
    result.cpu = time.process_time() - cpu
    result.requests = sum(len(rec.times.get(s, [])) for s in (*APPLICANT_STEPS, *APPROVER_STEPS))
    return result


# ---- What the workers say about themselves ------------------------------------------------------


def listening_pid(port: int) -> int | None:
    """The process listening on 127.0.0.1:``port`` (the uvicorn process of a worker), from
    /proc/net/tcp and the processes' open sockets."""
    wanted = f"0100007F:{port:04X}"
    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[1] == wanted and parts[3] == "0A":  # LISTEN
            inode = parts[9]
            break
    if not inode:
        return None
    target = f"socket:[{inode}]"
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) == target for fd in (proc / "fd").iterdir()):
                return int(proc.name)
        except OSError:
            continue
    return None


def memory(stack: stack_mod.Stack) -> list[float]:
    return [rss_mib(listening_pid(port)) for port in stack.web_ports]


# What the report reads from each worker's /metrics, by family: hashing, the outbox, route times.
METRIC_FAMILIES = ("portal_hashing_seconds", "portal_hashing_wait_seconds", "portal_outbox_depth")
ROUTE_TIMES = "portal_http_request_duration_seconds"


async def metrics(stack: stack_mod.Stack) -> dict[str, float]:
    """The hashing counts (by operation), hashing wait, outbox depth and each route's time in the
    workers, summed over the workers (each worker's own port: they count apart)."""
    totals: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as c:
        for port in stack.web_ports:
            text = (await c.get(f"http://127.0.0.1:{port}/metrics")).text
            for family in text_string_to_metric_families(text):
                for sample in family.samples:
                    if family.name == ROUTE_TIMES and sample.name.endswith(("_sum", "_count")):
                        key = f"{sample.name}:{sample.labels.get('route', '')}"  # statuses together
                    elif family.name in METRIC_FAMILIES and not sample.name.endswith(("_bucket", "_created")):
                        labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
                        key = sample.name + (f"{{{labels}}}" if labels else "")
                    else:
                        continue
                    if family.name == "portal_outbox_depth":  # the same table, seen by both
                        totals[key] = sample.value
                    else:
                        totals[key] = totals.get(key, 0.0) + sample.value
    return totals


async def database_counts(stack: stack_mod.Stack) -> dict[str, int]:
    conn = await asyncpg.connect(stack.database_url)
    try:
        rows = await conn.fetch("SELECT status, level, levels, count(*) AS n FROM access_request GROUP BY 1, 2, 3")
        accounts = await conn.fetchval(
            "SELECT count(*) FROM account WHERE id NOT IN (SELECT account FROM approver_right)"
        )
    finally:
        await conn.close()
    counts = {"accounts created": int(accounts)}
    for row in rows:
        key = row["status"] if row["status"] != "pending" else f"pending at level {row['level']} of {row['levels']}"
        counts[f"requests {key}"] = counts.get(f"requests {key}", 0) + int(row["n"])
    return counts


# ---- The report ---------------------------------------------------------------------------------


def server_means(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    """Each step's mean time inside a worker (ms, from the workers' own latency histograms):
    what the table's times are less the waiting in nginx, the sockets and the event loop."""
    means = {}
    for step in (*APPLICANT_STEPS, *APPROVER_STEPS):
        route = STEP_ROUTES[step]
        count = after.get(f"portal_http_request_duration_seconds_count:{route}", 0.0)
        count -= before.get(f"portal_http_request_duration_seconds_count:{route}", 0.0)
        total = after.get(f"portal_http_request_duration_seconds_sum:{route}", 0.0)
        total -= before.get(f"portal_http_request_duration_seconds_sum:{route}", 0.0)
        if count > 0:
            means[step] = total / count * 1000
    return means


def table(result: Round, server: dict[str, float] | None = None) -> list[str]:
    """Per step: count, p50, p99 and max as the browser saw them (through nginx), and the mean
    time the workers say they spent on that route (``server``; the same route's other uses,
    such as the approvers' sign-in, counted with it)."""
    rec = result.recorder
    server = server or {}
    lines = [f"{'step':<24}{'count':>8}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}{'in worker, mean ms':>20}"]
    for step in (*APPLICANT_STEPS, "(code email arrives)", *APPROVER_STEPS):
        values = rec.times.get(step, [])
        if values:
            inside = f"{server[step]:>20.1f}" if step in server else ""
            lines.append(
                f"{step:<24}{len(values):>8}{result.p(step, 0.5):>10.1f}{result.p(step, 0.99):>10.1f}"
                f"{max(values) * 1000:>10.1f}{inside}"
            )
    return lines


def verdict(result: Round) -> list[str]:
    worst, worst_p99 = result.worst_p99
    checks = [
        (
            result.completed_per_second >= RATE_TARGET,
            f"completed registrations {result.completed_per_second:.2f}/s (target >= {RATE_TARGET:.0f}/s)",
        ),
        (
            worst_p99 <= P99_TARGET_MS,
            f"every step's p99 <= {P99_TARGET_MS:.0f} ms (worst: {worst} {worst_p99:.1f} ms)",
        ),
        (result.errors == 0, f"errors: {result.errors} (target 0)"),
    ]
    return [f"{'PASS' if ok else 'FAIL'}  {text}" for ok, text in checks]


def report(
    result: Round,
    *,
    rss_before: list[float],
    rss_after: list[float],
    metrics_before: dict[str, float],
    metrics_after: dict[str, float],
    counts: dict[str, int],
    emails: int,
    subjects: dict[str, int],
    cores: int,
) -> str:
    plan, rec = result.plan, result.recorder
    done = len(result.registered)
    out = [
        f"Load: {plan.rate:g} applicants/s for {plan.seconds:g} s ({result.arrived} arrived), {plan.journey.pause:g} s"
        f" pause between steps, {len([s for s in rec.times])} kinds of request; through nginx to 2 workers",
        "",
        *table(result, server_means(metrics_before, metrics_after)),
        "",
        f"completed registrations   {done} of {result.arrived}: {result.completed_per_second:.2f}/s over the"
        f" {plan.seconds:g} s arrival window (all finished {result.wall:.1f} s after the first arrival);"
        f" peak in flight {result.peak_in_flight}",
    ]
    for key, n in [*sorted(rec.counts.items()), *counts.items()]:
        out.append(f"{key + ':':<52}{n}")
    out.append(f"errors by step            {dict(rec.errors) or 'none'}")
    for step, examples in rec.examples.items():
        for example in examples:
            out.append(f"  {step}: {example}")
    out.append(f"emails received by the sink {emails}: " + ", ".join(f"{n} {s!r}" for s, n in subjects.items()))
    out.append(
        "resident memory (VmRSS)   "
        + ", ".join(
            f"web{i + 1} {before:.0f} MiB -> {after:.0f} MiB"
            for i, (before, after) in enumerate(zip(rss_before, rss_after, strict=True))
        )
    )
    hashes = {
        k.split('"')[1]: metrics_after.get(k, 0.0) - metrics_before.get(k, 0.0)
        for k in metrics_after
        if k.startswith("portal_hashing_seconds_count")
    }
    waits = metrics_after.get("portal_hashing_wait_seconds_count", 0.0) - metrics_before.get(
        "portal_hashing_wait_seconds_count", 0.0
    )
    wait_sum = metrics_after.get("portal_hashing_wait_seconds_sum", 0.0) - metrics_before.get(
        "portal_hashing_wait_seconds_sum", 0.0
    )
    if hashes:
        # Approvals hash nothing (an initial password is 114 random bits: salted SHA-256), so
        # every hash is a registration's answers.
        per = hashes.get("hash", 0.0) / done if done else 0.0
        out.append(
            "argon2 jobs on the workers "
            + ", ".join(f"{op} {n:.0f}" for op, n in sorted(hashes.items()))
            + f" -> {per:.2f} hashes per completed registration;"
            f" mean wait for the hashing thread {wait_sum / waits * 1000 if waits else 0:.1f} ms"
        )
    depth = metrics_after.get("portal_outbox_depth")
    if depth is not None:
        out.append(f"outbox depth at the end   {depth:.0f}")
    out.append(
        f"load generator CPU        {result.cpu:.1f} s in {result.wall:.1f} s = {result.cpu / result.wall * 100:.0f}% of"
        f" one core ({cores} cores here); {result.cpu / max(1, result.requests) * 1000:.2f} ms per request"
        f" ({result.requests} requests)"
    )
    out.append("")
    out.extend(verdict(result))
    return "\n".join(out)


async def settle(stack: stack_mod.Stack, limit: float = 90.0) -> float:
    """Wait (at most ``limit`` seconds, asking every 2 s) for the mail worker to empty the outbox
    the last round filled, so the next round starts level; return the depth left."""
    depth = 0.0
    for _ in range(int(limit / 2) + 1):
        depth = (await metrics(stack)).get("portal_outbox_depth", 0.0)
        if not depth:
            break
        await asyncio.sleep(2)
    return depth


async def saturation(running: Running, base: Plan) -> str:
    """Short rounds at rising rates (from 15/s; below it when 15/s already fails) after the
    outbox has emptied; the first rate whose worst step's p99 passes the target, or that has
    errors, is the saturation point."""
    lines = [
        f"Saturation: {SATURATION_SECONDS:g} s at each of {', '.join(f'{r:g}' for r in SATURATION_RATES)}"
        f" applicants/s (then {', '.join(f'{r:g}' for r in SATURATION_BELOW)} if 15/s fails), stopping at the"
        f" first whose worst p99 passes {P99_TARGET_MS:.0f} ms or that has errors"
    ]
    tried = 0

    async def holds(rate: float) -> bool:
        nonlocal tried
        left = await settle(running.stack)
        plan = replace(base, rate=rate, seconds=SATURATION_SECONDS, seed=base.seed + 100 + tried)
        result = await run_round(running, plan, label=f"s{tried}")
        tried += 1
        worst, p99 = result.worst_p99
        lines.append(
            f"  {rate:>4g}/s: worst p99 {p99:8.1f} ms ({worst}), completed {result.completed_per_second:.2f}/s,"
            f" errors {dict(result.recorder.errors) or 0}, generator CPU {result.cpu / result.wall * 100:.0f}%"
            + (f" (started with {left:.0f} emails still queued)" if left else "")
        )
        return p99 <= P99_TARGET_MS and not result.errors

    held = None
    for rate in SATURATION_RATES:
        if not await holds(rate):
            failed = rate
            break
        held = rate
    else:
        lines.append(f"p99 stayed <= {P99_TARGET_MS:.0f} ms up to {SATURATION_RATES[-1]:g} applicants/s")
        return "\n".join(lines)
    if held is None:
        for rate in SATURATION_BELOW:
            if await holds(rate):
                held = rate
                break
            failed = rate
    below = f"; it held at {held:g}/s" if held is not None else "; it held at none of the rates tried"
    lines.append(f"saturation point: p99 first passes {P99_TARGET_MS:.0f} ms at {failed:g} applicants/s{below}")
    return "\n".join(lines)


async def main_async(args: argparse.Namespace) -> int:
    journey = Journey(pause=args.pause)
    plan = Plan(rate=args.rate, seconds=args.seconds, journey=journey, cap=args.cap, seed=args.seed)
    runtime = args.dir.resolve()
    print(f"Starting a stack of its own in {runtime} (database {args.database}) ...", flush=True)
    async with LoadStack(runtime, args.database, args.approvers) as running:
        stack = running.stack
        print(
            f"Stack up: nginx on {stack.url}, workers on {stack.web_ports}, {args.approvers} approvers signed in."
            f" Applicants arrive at {plan.rate:g}/s for {plan.seconds:g} s ...",
            flush=True,
        )
        rss_before, metrics_before = memory(stack), await metrics(stack)
        result = await run_round(running, plan)
        await asyncio.sleep(3)  # the mail worker's last messages
        rss_after, metrics_after = memory(stack), await metrics(stack)
        print()
        print(
            report(
                result,
                rss_before=rss_before,
                rss_after=rss_after,
                metrics_before=metrics_before,
                metrics_after=metrics_after,
                counts=await database_counts(stack),
                emails=running.sink.received,
                subjects=dict(running.sink.subjects.most_common()),
                cores=os.cpu_count() or 1,
            ),
            flush=True,
        )
        if args.saturation:
            print()
            print(await saturation(running, plan), flush=True)
            print(f"resident memory after saturation: {', '.join(f'{m:.0f} MiB' for m in memory(stack))}")
    print(
        "(Figures measured on a shared machine: the load generator, nginx, PostgreSQL and the workers share its cores.)"
    )
    return 0 if all(line.startswith("PASS") for line in verdict(result)) else 1  # the main round's targets


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.loadtest", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=15.0, help="applicants arriving a second (default 15)")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long they arrive (default 120)")
    parser.add_argument("--approvers", type=int, default=10, help="approvers deciding meanwhile (default 10)")
    parser.add_argument("--pause", type=float, default=1.5, help="a person's pause between steps, s (default 1.5)")
    parser.add_argument(
        "--saturation",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="then rounds of 20 s at 15, 20, 25, 30, 35/s (10, 5, 2 if 15 fails) until a p99 passes 250 ms",
    )
    parser.add_argument("--database", default="iacs_loadtest", help="database on the local PostgreSQL (dropped first)")
    parser.add_argument("--cap", type=int, default=600, help="applicants in flight at most (default 600)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--dir", type=Path, default=ROOT / ".stack" / "loadtest", help="runtime directory")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    import uvloop

    return uvloop.run(main_async(parse(argv)))


if __name__ == "__main__":
    sys.exit(main())
