"""Prometheus metrics (``GET /metrics``): request counts, per-phase latency, requests in flight;
and the recent-latency rings behind ``GET /v1/latency`` (fed by the same ``observe`` call).

Latency buckets run from 50 µs to 10 s: the tiny models' ``session.run`` is sub-millisecond,
so the usual 5 ms first bucket would put every inference into one bucket.

With ``--workers N`` (``multiprocess_dir`` given) the counters and histograms are prometheus_client's
multiprocess values (one memory-mapped file per worker) and ``render`` merges every worker's
files, so a scrape that reaches any worker reads the whole server. The recent-latency rings are
shared the same way (:mod:`service.observability.recent`).
"""

from __future__ import annotations

from bisect import bisect_left
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from service.observability.recent import RecentLatencies
from service.runtime.activity import ACTIVITY
from service.timing import PHASES, Timing

BUCKETS = (
    50e-6,
    100e-6,
    200e-6,
    300e-6,
    500e-6,
    750e-6,
    1e-3,
    1.5e-3,
    2e-3,
    3e-3,
    5e-3,
    7.5e-3,
    10e-3,
    20e-3,
    50e-3,
    100e-3,
    250e-3,
    500e-3,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Metrics:
    """The app's collectors, in their own registry so several apps never collide."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, latency_window: int = 1000, multiprocess_dir: Path | None = None) -> None:
        self.registry = CollectorRegistry()
        #: what a scrape reads: the registry itself, or every worker's files plus the collectors
        self._exposed = self.registry
        if multiprocess_dir is not None:
            values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
            self._exposed = CollectorRegistry()
            MultiProcessCollector(self._exposed, path=str(multiprocess_dir))  # type: ignore[no-untyped-call]
        self.requests = Counter(
            "rnn_serve_requests",
            "HTTP requests by model, route and status",
            ["model", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "rnn_serve_latency_seconds",
            "Per-phase latency of successful predictions",
            ["model", "phase"],
            buckets=BUCKETS,
            registry=self.registry,
        )
        #: the buckets' upper bounds as the histogram keeps them (``+Inf`` last), for :meth:`observe`
        self._bounds: list[float] = self.latency._upper_bounds
        self.in_flight = Gauge(
            "rnn_serve_requests_in_flight",
            "Requests being handled now",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        if multiprocess_dir is None:
            self.in_flight.set_function(lambda: ACTIVITY.requests)
        else:
            ACTIVITY.mirror = self.in_flight.set
        self._children: dict[tuple[str, str], Any] = {}
        #: per model, each phase's (sum, buckets) values in :data:`PHASES` order (see :meth:`observe`)
        self._series: dict[str, tuple[tuple[Any, list[Any]], ...]] = {}
        self._request_children: dict[tuple[str, str, int], Any] = {}
        #: Model/task names worth a label; anything else is counted as "unknown" so random
        #: 404 names cannot grow the label set without bound.
        self.known_names: set[str] = set()
        self.recent = RecentLatencies(latency_window)

    def add_models(self, names: list[str]) -> None:
        """Label the models worth a label, and create their latency series at zero now: a
        Prometheus ``rate()`` needs a sample from before a series' first request."""
        self.known_names.update(names)
        self.recent.add_models(names)
        for name in names:
            for phase in PHASES:
                self._child(name, phase)

    def _child(self, model: str, phase: str) -> Any:
        key = (model, phase)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = self.latency.labels(model=model, phase=phase)
        return child

    def _phases(self, model: str) -> tuple[tuple[Any, list[Any]], ...]:
        series = self._series.get(model)
        if series is None:
            children = [self._child(model, phase) for phase in PHASES]
            series = self._series[model] = tuple((c._sum, c._buckets) for c in children)
        return series

    def observe(self, model: str, timing: Timing) -> None:
        """One successful prediction: its phases into the histograms, its total into the ring.

        Does what ``Histogram.observe`` does (add to the sum, add 1 to the first bucket whose
        bound is ≥ the value) on the children's own value objects, so the exposition, and the
        multiprocess files, are the same; but finds the bucket by bisection and skips the label
        lookup and the per-call checks: five ``observe`` calls were most of this method's cost.
        """
        bounds = self._bounds
        queue, preprocess, inference, postprocess, total = self._phases(model)
        for (sum_, buckets), seconds in (
            (queue, timing.queue_ns / 1e9),
            (preprocess, timing.preprocess_ns / 1e9),
            (inference, timing.inference_ns / 1e9),
            (postprocess, timing.postprocess_ns / 1e9),
            (total, timing.total_ns / 1e9),
        ):
            sum_.inc(seconds)
            buckets[bisect_left(bounds, seconds)].inc(1)
        self.recent.record(model, timing.total_ns, timing.start_ns)

    def count_request(self, name: str, route: str, status: int) -> None:
        """``requests{model,route,status}`` += 1 for a request (HTTP or gRPC) naming the model or task
        ``name`` (empty: none), with the child cached: ``labels()`` costs µs."""
        model = name if not name or name in self.known_names else "unknown"
        key = (model, route, status)
        child = self._request_children.get(key)
        if child is None:
            child = self._request_children[key] = self.requests.labels(model=model, route=route, status=str(status))
        child.inc()

    def register(self, collector: Collector) -> None:
        """A view computed at scrape time (its sources already add up over the workers)."""
        self._exposed.register(collector)

    def render(self) -> bytes:
        return generate_latest(self._exposed)
