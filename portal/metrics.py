"""Prometheus metrics (prometheus-client), served at /metrics (portal/controllers/ops.py).

Labels are route names, statuses, step names, outcomes and operations: a fixed, small set of
words. Never a path (paths carry tokens), an address, a code or anything a person typed.

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory before
starting (``serve`` empties it): each process writes its values there and a scrape of any
worker adds them up. Without it, each process counts for itself.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.exposition import generate_latest
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

# Handlers answer in milliseconds; a hash is ~35 ms; a slow page is a second.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_HASH_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

HTTP_REQUESTS = Counter(
    "portal_http_requests",
    "HTTP requests answered, by route name (unmatched: no route) and status.",
    ["route", "status"],
)
HTTP_LATENCY = Histogram(
    "portal_http_request_duration_seconds",
    "Time from the request's arrival to the end of its response, by route name and status.",
    ["route", "status"],
    buckets=_LATENCY_BUCKETS,
)
HASHING_QUEUE = Gauge(
    "portal_hashing_queue_length",
    "argon2id hashes and verifications waiting for the hashing thread.",
    multiprocess_mode="livesum",
)
HASHING_WAIT = Histogram(
    "portal_hashing_wait_seconds",
    "Time an argon2id job waited for the hashing thread.",
    buckets=_HASH_BUCKETS,
)
HASHING_TIME = Histogram(
    "portal_hashing_seconds",
    "Time of one argon2id job on the hashing thread, by operation (hash or verify).",
    ["operation"],
    buckets=_HASH_BUCKETS,
)
REGISTRATION_STEPS = Counter(
    "portal_registration_steps",
    "Registration steps saved: terms accepted, each step's form saved, the request submitted.",
    ["step"],
)
DECISIONS = Counter(
    "portal_decisions",
    "Decisions on access requests, by outcome: approved (final), approved_level (moves to the next level) or rejected.",
    ["outcome"],
)

REGISTRATION_STEP_NAMES = ("terms", "personal", "verify", "contact", "questions", "submitted")
DECISION_OUTCOMES = ("approved", "approved_level", "rejected")


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


def clear_multiprocess_dir() -> None:
    """Remove the values of processes of an earlier run (called by ``serve`` before workers
    start): what a restart leaves behind would otherwise be added to the new counts."""
    directory = multiprocess_dir()
    if directory:
        Path(directory).mkdir(parents=True, exist_ok=True)
        for stale in Path(directory).glob("*.db"):
            stale.unlink(missing_ok=True)


def process_exited(pid: int) -> None:
    """A worker stops: its live gauges no longer count (multiprocess mode only)."""
    if multiprocess_dir():
        _multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def registration_step(step: str) -> None:
    if step in REGISTRATION_STEP_NAMES:
        REGISTRATION_STEPS.labels(step=step).inc()


def decision(outcome: str) -> None:
    if outcome in DECISION_OUTCOMES:
        DECISIONS.labels(outcome=outcome).inc()


def observe_request(route: str, status: int, seconds: float) -> None:
    HTTP_REQUESTS.labels(route=route, status=str(status)).inc()
    HTTP_LATENCY.labels(route=route, status=str(status)).observe(seconds)


class _Snapshot:
    """The registry of this process (or of every worker, in multiprocess mode) and gauges
    read from the database at scrape time."""

    def __init__(self, extra: Iterable[Metric]) -> None:
        self.extra = list(extra)

    def collect(self) -> Iterator[Metric]:
        if multiprocess_dir():
            registry = CollectorRegistry()
            _multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            yield from registry.collect()
        else:
            yield from REGISTRY.collect()
        yield from self.extra


def exposition(*, outbox_depth: int, outbox_oldest_age: float) -> bytes:
    """The text format a Prometheus server scrapes."""
    depth = GaugeMetricFamily("portal_outbox_depth", "Emails queued and not yet delivered.", value=outbox_depth)
    oldest = GaugeMetricFamily(
        "portal_outbox_oldest_unsent_age_seconds",
        "Age of the oldest email not yet delivered (0 when none).",
        value=outbox_oldest_age,
    )
    return generate_latest(_Snapshot([depth, oldest]))
