"""Prometheus metrics: what operators watch, counted once per process and shown by each app's registry.

Every metric object is made once per process, here, at import. prometheus_client decides at its own
import, from ``PROMETHEUS_MULTIPROC_DIR``, whether values live in memory or in a file per process
that any worker's ``/metrics`` adds up (``lodestone serve --workers N`` sets the variable before the
workers start). In that mode two objects of one name in one process would overwrite each other's
file, hence one object each, here; an app's ``registry`` only reads them.
"""

import atexit
import bisect
import contextlib
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool

MULTIPROCESS_DIR = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None
# A remembered SKU answer takes about a millisecond; a deep answer computed afresh, seconds.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Any other method a client invents is counted as `other`: a label's values must stay few.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"  # the route of a request no route matched (404, a slash redirect)
FLUSH_SECONDS = 1.0  # under several workers: how stale another worker's counts may be

HTTP_REQUESTS = Counter(
    "lodestone_http_requests",
    "HTTP requests answered, by route template (not the path asked), method and status.",
    ["route", "method", "status"],
    registry=None,
)
HTTP_DURATION = Histogram(
    "lodestone_http_request_duration_seconds",
    "Time from a request's arrival to its answer's last byte, by route template and method.",
    ["route", "method"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)
ANSWERS = Counter(
    "lodestone_answers",
    "SKU answers given, by memo (origin, compliance) and outcome (remembered, computed).",
    ["memo", "outcome"],
    registry=None,
)
EVENTS_RECORDED = Counter("lodestone_events_recorded", "Events recorded (committed; voids not counted).", registry=None)
LOTS_RECORDED = Counter("lodestone_lots_recorded", "Lots made by recorded events (committed).", registry=None)
# Under several workers each samples its own pools into these; `livesum` adds up the live workers.
POOL_CHECKED_OUT_HELP = "Database connections in use, by engine role (primary, replica)."
POOL_SIZE_HELP = "The most connections the pools may open (pool_size + max_overflow), by engine role."
POOL_CHECKED_OUT = Gauge(
    "lodestone_db_pool_checked_out",
    POOL_CHECKED_OUT_HELP,
    ["role"],
    multiprocess_mode="livesum",
    registry=None,
)
POOL_SIZE = Gauge(
    "lodestone_db_pool_size",
    POOL_SIZE_HELP,
    ["role"],
    multiprocess_mode="livesum",
    registry=None,
)
PROCESS_METRICS = (HTTP_REQUESTS, HTTP_DURATION, ANSWERS, EVENTS_RECORDED, LOTS_RECORDED)

Engines = Callable[[], Mapping[str, Engine]]
_BOUNDS = (*LATENCY_BUCKETS, math.inf)


class _Tally:
    """The requests of one (route, method, status), counted in plain numbers; ``flush`` hands them on.

    Counting straight into prometheus_client costs about 3.5 us a request under several workers
    (three writes to the worker's value files, each under a lock): a tenth of a remembered SKU
    answer's time. This costs about 0.6 us ("Metrics on and off" in BENCHMARKS.md). Only the event
    loop's thread counts; ``flush`` (under ``_flushing``) adds what came since its last call.
    """

    __slots__ = ("_counter", "_flushed", "_histogram", "buckets", "seconds")

    def __init__(self, route: str, method: str, status: int) -> None:
        self._counter = HTTP_REQUESTS.labels(route, method, str(status))
        self._histogram = HTTP_DURATION.labels(route, method)
        self.buckets = [0] * len(_BOUNDS)
        self.seconds = 0.0
        self._flushed = ([0] * len(_BOUNDS), 0.0)

    def flush(self) -> None:
        buckets, seconds = list(self.buckets), self.seconds
        flushed_buckets, flushed_seconds = self._flushed
        added = [now - before for now, before in zip(buckets, flushed_buckets, strict=True)]
        if not any(added):
            return
        self._counter.inc(sum(added))
        # prometheus_client has no call for many observations at once: its histogram keeps a value per
        # bucket (not cumulative) and the sum, as ``Histogram.observe`` adds to them.
        self._histogram._sum.inc(seconds - flushed_seconds)
        for bucket, count in zip(self._histogram._buckets, added, strict=True):
            if count:
                bucket.inc(count)
        self._flushed = (buckets, seconds)


_tallies: dict[tuple[str, str, int], _Tally] = {}
_flushing = threading.Lock()


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one answered request and its duration (on the event loop: see ``_Tally``)."""
    if method not in METHODS:
        method = "other"
    key = (route, method, status)
    tally = _tallies.get(key)
    if tally is None:
        with _flushing:
            tally = _tallies[key] = _Tally(route, method, status)
    tally.buckets[bisect.bisect_left(_BOUNDS, seconds)] += 1
    tally.seconds += seconds


def flush_requests() -> None:
    """Hand the requests counted since the last flush to prometheus_client: before a scrape reads them."""
    with _flushing:
        for tally in list(_tallies.values()):
            tally.flush()


@dataclass(frozen=True)
class AnswerCounters:
    """One memo's counters: answers found remembered, and answers computed afresh."""

    remembered: Counter
    computed: Counter


def answer_counters(memo: str) -> AnswerCounters:
    return AnswerCounters(ANSWERS.labels(memo, "remembered"), ANSWERS.labels(memo, "computed"))


def count_recorded(session: Session, events: int, lots: int) -> None:
    """Count events and the lots they made once ``session``'s transaction commits: a refused write counts none."""

    def committed(_session: Session) -> None:
        EVENTS_RECORDED.inc(events)
        LOTS_RECORDED.inc(lots)

    event.listen(session, "after_commit", committed, once=True)


def _pool_use(engines: Mapping[str, Engine]) -> Iterator[tuple[str, int, int]]:
    """(role, connections checked out, most connections) for each engine's pool."""
    for role, engine in engines.items():
        pool = engine.pool
        if isinstance(pool, QueuePool):
            yield role, pool.checkedout(), pool.size() + max(pool._max_overflow, 0)


class _Process:
    """One process, one app: the process's counts and the app's pools as they are when scraped."""

    def __init__(self, engines: Engines) -> None:
        self._engines = engines

    def collect(self) -> Iterator[Metric]:
        flush_requests()
        for metric in PROCESS_METRICS:
            yield from metric.collect()
        checked_out = GaugeMetricFamily("lodestone_db_pool_checked_out", POOL_CHECKED_OUT_HELP, labels=["role"])
        size = GaugeMetricFamily("lodestone_db_pool_size", POOL_SIZE_HELP, labels=["role"])
        for role, used, most in _pool_use(self._engines()):
            checked_out.add_metric([role], used)
            size.add_metric([role], most)
        yield checked_out
        yield size


def _sample_pools(engines: Engines) -> None:
    for role, used, most in _pool_use(engines()):
        POOL_CHECKED_OUT.labels(role).set(used)
        POOL_SIZE.labels(role).set(most)


def _keep_files_current(engines: Engines) -> None:
    """This worker's requests and pools into its files every second (and its requests when it exits), where
    the other workers' scrapes read them. Pools are sampled rather than followed by pool events:
    nothing on the request path, and a gauge is a sample anyway."""

    def write() -> None:
        while True:
            flush_requests()
            _sample_pools(engines)
            time.sleep(FLUSH_SECONDS)

    atexit.register(flush_requests)
    threading.Thread(target=write, name="lodestone-metrics", daemon=True).start()


_LIVE_GAUGE_FILE = re.compile(r"gauge_live[a-z]+_(\d+)\.db")


def _forget_dead_workers(path: str) -> None:
    """Drop the live gauges of workers that are gone (a restarted worker has a new pid)."""
    for name in os.listdir(path):
        found = _LIVE_GAUGE_FILE.fullmatch(name)
        if found is None:
            continue
        pid = int(found[1])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
        except PermissionError:
            pass  # alive, someone else's


class _Workers:
    """Several workers: every worker's files, read when scraped, after this worker's are brought up to date."""

    def __init__(self, path: str, engines: Engines) -> None:
        self._files = MultiProcessCollector(None, path)  # type: ignore[no-untyped-call]
        self._path = path
        self._engines = engines

    def collect(self) -> Iterator[Metric]:
        flush_requests()
        _sample_pools(self._engines)
        with contextlib.suppress(OSError):
            _forget_dead_workers(self._path)
        yield from self._files.collect()  # type: ignore[no-untyped-call]


def registry(engines: Engines) -> CollectorRegistry:
    """What one app's ``/metrics`` shows: this process's metrics, or every worker's when there are several.

    ``engines`` names the app's database engines by role, asked afresh at each scrape. With
    several workers this also starts the thread that writes the worker's files: once per worker.
    """
    shown = CollectorRegistry()
    if MULTIPROCESS_DIR is not None:
        shown.register(_Workers(MULTIPROCESS_DIR, engines))
        _keep_files_current(engines)
    else:
        shown.register(_Process(engines))
    return shown
