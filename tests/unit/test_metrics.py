"""Metrics (portal/metrics.py): names, labels from a fixed set, the hashing queue, and counts
added up across processes in multiprocess mode."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from portal import metrics
from portal.hashing import hash_secret, verify_secret

ROOT = Path(__file__).resolve().parents[2]


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_the_exposition_has_every_metric_and_the_outbox_gauges():
    text = metrics.exposition(outbox_depth=3, outbox_oldest_age=12.5).decode()
    names = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "portal_http_requests",
        "portal_http_request_duration_seconds",
        "portal_hashing_queue_length",
        "portal_hashing_wait_seconds",
        "portal_hashing_seconds",
        "portal_registration_steps",
        "portal_decisions",
        "portal_outbox_depth",
        "portal_outbox_oldest_unsent_age_seconds",
    } <= names
    assert "portal_outbox_depth 3.0" in text and "portal_outbox_oldest_unsent_age_seconds 12.5" in text


def test_labels_come_from_a_fixed_set():
    before = sample("portal_registration_steps_total", step="terms")
    metrics.registration_step("terms")
    metrics.registration_step("an answer someone typed")
    metrics.decision("approved")
    metrics.decision("maybe")
    assert sample("portal_registration_steps_total", step="terms") == before + 1
    text = metrics.exposition(outbox_depth=0, outbox_oldest_age=0).decode()
    assert "an answer someone typed" not in text and "maybe" not in text


async def test_the_hashing_queue_is_counted_and_empties():
    hashes = sample("portal_hashing_seconds_count", operation="hash")
    verifies = sample("portal_hashing_seconds_count", operation="verify")
    waits = sample("portal_hashing_wait_seconds_count")
    seen: list[float] = []

    async def watch():
        for _ in range(100):
            seen.append(sample("portal_hashing_queue_length"))
            await asyncio.sleep(0.002)

    hashed = await asyncio.gather(*(hash_secret(f"secret {i}") for i in range(4)), watch())
    assert await verify_secret(hashed[0], "secret 0")
    assert max(seen) >= 2  # four at once on one thread: some waited
    assert sample("portal_hashing_queue_length") == 0
    assert sample("portal_hashing_seconds_count", operation="hash") == hashes + 4
    assert sample("portal_hashing_seconds_count", operation="verify") == verifies + 1
    assert sample("portal_hashing_wait_seconds_count") == waits + 5


async def test_a_cancelled_hash_leaves_the_queue():
    blocker = asyncio.ensure_future(hash_secret("first"))
    waiting = asyncio.ensure_future(hash_secret("second"))
    await asyncio.sleep(0.005)
    waiting.cancel()
    await blocker
    await asyncio.sleep(0.1)  # the cancelled job, if the thread took it anyway, is done too
    assert sample("portal_hashing_queue_length") == 0


def _run(code: str, env: dict[str, str]) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_multiprocess_mode_adds_up_every_process(tmp_path):
    env = {"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    for _ in range(2):  # two worker processes, one after the other
        _run("from portal import metrics; metrics.registration_step('terms'); metrics.decision('rejected')", env)
    text = _run(
        "from portal import metrics; print(metrics.exposition(outbox_depth=1, outbox_oldest_age=2).decode())", env
    )
    found = {
        (s.name, tuple(s.labels.items())): s.value for f in text_string_to_metric_families(text) for s in f.samples
    }
    assert found[("portal_registration_steps_total", (("step", "terms"),))] == 2
    assert found[("portal_decisions_total", (("outcome", "rejected"),))] == 2
    assert found[("portal_outbox_depth", ())] == 1
    _run("from portal import metrics; metrics.clear_multiprocess_dir()", env)
    assert list(tmp_path.glob("*.db")) == []
