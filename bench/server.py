"""The portal as the benchmarks run it: a fresh database on the local PostgreSQL and uvicorn
with 2 workers (shared by bench/load.py and bench/timing.py)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
BASE_PG = os.environ.get("PORTAL_BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
PORT = 8765
URL = f"http://127.0.0.1:{PORT}"


async def prepare(url: str) -> None:
    from portal.settings import Settings
    from tests.support import reset_database

    await reset_database(Settings(database_url=url))


def serve(url: str, extra_env: dict[str, str] | None = None, port: int = PORT) -> subprocess.Popen:
    env = {
        **os.environ,
        "PORTAL_DATABASE_URL": url,
        "PORTAL_ENV": "development",
        "PORTAL_RATE_LIMIT": "1000000",
        "PORTAL_DB_POOL_SIZE": "8",
        **(extra_env or {}),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "portal", "serve", "--port", str(port), "--workers", "2"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: a server that never answered goes whole
    )
    deadline = time.monotonic() + 60  # 2 workers importing on 2 busy cores
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=20)
    raise RuntimeError("server did not start")


def rss_mib(pid: int | None) -> float:
    """The resident memory (VmRSS) of process ``pid`` in MiB (0 for no such process)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines() if pid else ():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    """The worker processes of uvicorn ``pid`` (not multiprocessing's resource tracker)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out if b"spawn_main" in Path(f"/proc/{x}/cmdline").read_bytes()]


def wrk(*args: str, seconds: int) -> dict[str, float]:
    """Run ``wrk -t2 -c16 --latency`` (16 concurrent) with ``args``; requests/s, p50 and p99 in
    ms, and the count of non-2xx/3xx answers."""
    out = subprocess.run(
        ["wrk", "-t2", "-c16", f"-d{seconds}s", "--latency", *args], capture_output=True, text=True, check=True
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def ms(label: str) -> float:
        m = re.search(rf"\s{label}\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%"), "non2xx": int(errors.group(1)) if errors else 0}
