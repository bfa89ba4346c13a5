"""service/observability/metrics.py: the exposition after known observations, read back with
prometheus_client's own text parser (values in seconds, counts, help texts, bucket bounds)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, Histogram, generate_latest, values
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from service.observability.metrics import BUCKETS, Metrics
from service.runtime.activity import ACTIVITY
from service.timing import PHASES, Timing

MS = 1_000_000  # ns


def _samples(m: Metrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the rendered text: (name, sorted labels) → value."""
    out = {}
    for family in text_string_to_metric_families(m.render().decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _helps(m: Metrics) -> dict[str, tuple[str, str]]:
    return {f.name: (f.type, f.documentation) for f in text_string_to_metric_families(m.render().decode())}


def test_families_names_types_and_help() -> None:
    assert _helps(Metrics()) == {
        "rnn_serve_requests": ("counter", "HTTP requests by model, route and status"),
        "rnn_serve_latency_seconds": ("histogram", "Per-phase latency of successful predictions"),
        "rnn_serve_requests_in_flight": ("gauge", "Requests being handled now"),
    }
    assert Metrics.content_type.startswith("text/plain; version=")


def test_add_models_creates_every_phase_series_at_zero() -> None:
    m = Metrics()
    m.add_models(["a", "b"])
    samples = _samples(m)
    for model in ("a", "b"):
        for phase in PHASES:
            labels = (("model", model), ("phase", phase))
            assert samples[("rnn_serve_latency_seconds_count", labels)] == 0
            assert samples[("rnn_serve_latency_seconds_sum", labels)] == 0
    assert PHASES == ("queue", "preprocess", "inference", "postprocess", "total")
    assert m.known_names == {"a", "b"}
    assert set(m.recent.rings) == {"a", "b"}
    assert m.recent.window == 1000


def test_observe_records_each_phase_in_seconds_into_the_right_buckets() -> None:
    m = Metrics(latency_window=4)
    m.add_models(["a"])
    # queue 0.04 ms, preprocess 1.5 ms, inference 3 ms, postprocess 0 ms, total 12 ms
    timing = Timing(start_ns=777, queue_ns=40_000, preprocess_ns=3 * MS // 2, inference_ns=3 * MS, total_ns=12 * MS)
    m.observe("a", timing)
    m.observe("a", timing)
    samples = _samples(m)

    def value(name: str, phase: str, le: str | None = None) -> float:
        labels = {"model": "a", "phase": phase}
        if le is not None:
            labels["le"] = le
        return samples[(name, tuple(sorted(labels.items())))]

    expected_s = {"queue": 40e-6, "preprocess": 1.5e-3, "inference": 3e-3, "postprocess": 0.0, "total": 12e-3}
    for phase, seconds in expected_s.items():
        assert value("rnn_serve_latency_seconds_count", phase) == 2
        assert value("rnn_serve_latency_seconds_sum", phase) == pytest.approx(2 * seconds, rel=1e-12, abs=1e-15)
    # the buckets run from 50 µs: 40 µs lands in the first one, 1.5 ms exactly on its bound
    assert value("rnn_serve_latency_seconds_bucket", "queue", "5e-05") == 2
    assert value("rnn_serve_latency_seconds_bucket", "preprocess", "0.001") == 0
    assert value("rnn_serve_latency_seconds_bucket", "preprocess", "0.0015") == 2
    assert value("rnn_serve_latency_seconds_bucket", "inference", "0.002") == 0
    assert value("rnn_serve_latency_seconds_bucket", "inference", "0.003") == 2
    assert value("rnn_serve_latency_seconds_bucket", "total", "0.01") == 0
    assert value("rnn_serve_latency_seconds_bucket", "total", "0.02") == 2
    assert value("rnn_serve_latency_seconds_bucket", "total", "+Inf") == 2
    bounds = sorted(
        float(dict(labels)["le"])
        for name, labels in samples
        if name == "rnn_serve_latency_seconds_bucket" and dict(labels)["phase"] == "total"
    )
    assert bounds[:3] == [50e-6, 100e-6, 200e-6] and bounds[-2:] == [10.0, float("inf")]
    assert len(bounds) == 23  # 22 bounds and +Inf
    # the recent-latency ring got the totals and start times
    ring = m.recent.rings["a"]
    assert ring.count == 2 and ring.size == 4
    count, totals, done = ring.samples()
    assert count == 2 and totals.tolist() == [12 * MS, 12 * MS] and done.tolist() == [777 + 12 * MS] * 2


def test_observe_of_a_model_not_added_still_counts_in_prometheus() -> None:
    m = Metrics()
    m.observe("late", Timing(total_ns=2 * MS))
    assert _samples(m)[("rnn_serve_latency_seconds_count", (("model", "late"), ("phase", "total")))] == 1
    assert "late" not in m.recent.rings


def test_count_request_by_model_route_and_status() -> None:
    m = Metrics()
    m.known_names.update({"a", "b"})
    for _ in range(3):
        m.count_request("a", "/v1/predict", 200)
    m.count_request("a", "/v1/predict", 422)
    m.count_request("b", "/v2/infer", 200)
    m.count_request("random-404-name", "/v2/infer", 404)  # not a label of its own: "unknown"
    m.count_request("", "/v2", 200)
    samples = _samples(m)

    def total(model: str, route: str, status: str) -> float:
        return samples[("rnn_serve_requests_total", (("model", model), ("route", route), ("status", status)))]

    assert total("a", "/v1/predict", "200") == 3
    assert total("a", "/v1/predict", "422") == 1
    assert total("b", "/v2/infer", "200") == 1
    assert total("unknown", "/v2/infer", "404") == 1
    assert total("", "/v2", "200") == 1
    assert sum(v for (name, _), v in samples.items() if name == "rnn_serve_requests_total") == 7


def test_in_flight_gauge_reads_the_activity_counter(monkeypatch: pytest.MonkeyPatch) -> None:
    m = Metrics()
    monkeypatch.setattr(ACTIVITY, "requests", 3)
    assert _samples(m)[("rnn_serve_requests_in_flight", ())] == 3
    monkeypatch.setattr(ACTIVITY, "requests", 0)
    assert _samples(m)[("rnn_serve_requests_in_flight", ())] == 0


def test_two_apps_have_separate_registries() -> None:
    a, b = Metrics(), Metrics()
    a.count_request("x", "/r", 200)
    assert not any(name == "rnn_serve_requests_total" for name, _ in _samples(b))


class _Fixed(Collector):
    """A scrape-time view with one known value."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("rnn_serve_fixed", "a fixed value", labels=["k"])
        family.add_metric(["v"], 3.0)
        yield family


def test_a_registered_collector_is_rendered_once() -> None:
    m = Metrics()
    m.register(_Fixed())
    assert _samples(m)[("rnn_serve_fixed", (("k", "v"),))] == 3.0
    assert m.render().decode().count("# TYPE rnn_serve_fixed gauge") == 1


def test_workers_write_their_own_files_and_any_one_renders_the_sum(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Multiprocess mode (``--workers N``): a forked worker's observations and this process's
    add up in one render; the in-flight gauge is the sum over live processes."""
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)  # undone after the test
    monkeypatch.setattr(ACTIVITY, "mirror", None)
    timing = Timing(queue_ns=0, preprocess_ns=MS, inference_ns=2 * MS, postprocess_ns=0, total_ns=3 * MS)
    pid = os.fork()
    if pid == 0:  # another worker: one prediction, then gone without running pytest's teardown
        other = Metrics(multiprocess_dir=tmp_path)
        other.add_models(["a"])
        other.observe("a", timing)
        other.count_request("a", "/v1/models/{name}/predict", 200)
        os._exit(0)
    os.waitpid(pid, 0)
    m = Metrics(multiprocess_dir=tmp_path)
    m.add_models(["a"])
    m.register(_Fixed())
    m.observe("a", timing)
    m.count_request("a", "/v1/models/{name}/predict", 200)
    ACTIVITY.enter()
    try:
        got = _samples(m)
    finally:
        ACTIVITY.leave()
    assert got[("rnn_serve_latency_seconds_count", (("model", "a"), ("phase", "total")))] == 2
    assert got[("rnn_serve_latency_seconds_sum", (("model", "a"), ("phase", "inference")))] == pytest.approx(4e-3)
    route = (("model", "a"), ("route", "/v1/models/{name}/predict"), ("status", "200"))
    assert got[("rnn_serve_requests_total", route)] == 2
    assert got[("rnn_serve_fixed", (("k", "v"),))] == 3.0
    # the dead worker's gauge file still says 0 (it never entered); this process had one in flight
    assert got[("rnn_serve_requests_in_flight", ())] == 1
    assert _samples(m)[("rnn_serve_requests_in_flight", ())] == 0  # after leave(): mirrored at once


def test_observe_matches_histogram_observe_on_every_bound_and_between() -> None:
    """``observe`` increments the children's values itself (bisection over the bounds): the
    exposition must equal that of prometheus_client's own ``Histogram.observe``."""
    reference = CollectorRegistry()
    latency = Histogram("rnn_serve_latency_seconds", "x", ["model", "phase"], buckets=BUCKETS, registry=reference)
    m = Metrics()
    m.add_models(["a"])
    bounds_ns = [round(b * 1e9) for b in BUCKETS]
    values_ns = [0, 1, *bounds_ns, *(b + 1 for b in bounds_ns), *(b - 1 for b in bounds_ns), 30 * 10**9]
    for i, v in enumerate(values_ns):
        other = values_ns[(i * 7) % len(values_ns)]
        t = Timing(0, v, other, v // 3, other // 2, v + other)
        m.observe("a", t)
        for phase in PHASES:
            latency.labels(model="a", phase=phase).observe(getattr(t, f"{phase}_ns") / 1e9)
    mine = {k: v for k, v in _samples(m).items() if k[0].startswith("rnn_serve_latency_seconds")}
    theirs = {}
    for family in text_string_to_metric_families(generate_latest(reference).decode()):
        for s in family.samples:
            if not s.name.endswith("_created"):
                theirs[(s.name, tuple(sorted(s.labels.items())))] = s.value
    mine = {k: v for k, v in mine.items() if not k[0].endswith("_created")}
    assert mine == theirs
    assert sum(v for k, v in mine.items() if k[0].endswith("_count")) == len(values_ns) * len(PHASES)
