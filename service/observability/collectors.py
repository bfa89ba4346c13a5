"""Prometheus views read at scrape time (nothing on the request path): batching and streaming.

Batching: ``rnn_serve_batch_size{model}`` is a histogram of rows per ``session.run`` (from the
same counts as the Triton ``batch_stats``), ``rnn_serve_queue_depth{model}`` the requests waiting
now, and ``rnn_serve_batch_queue_refused_total{model,reason}`` the requests refused (queue full)
or dropped (client gone before its batch ran).

Streaming: ``rnn_serve_stream_sessions{model}`` open sessions, ``rnn_serve_stream_state_bytes{model}``
the state bytes they hold, ``rnn_serve_stream_sessions_ended_total{reason}`` sessions expired
(idle) or refused (limit reached).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from service.runtime.repository import LoadedModel
from service.streaming.streams import Streaming

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class BatchCollector(Collector):
    """Collects from the repository's models each time ``/metrics`` is scraped."""

    def __init__(self, models: Callable[[], Iterable[LoadedModel]]) -> None:
        self._models = models

    def collect(self) -> Iterator[HistogramMetricFamily | GaugeMetricFamily | CounterMetricFamily]:
        sizes = HistogramMetricFamily(
            "rnn_serve_batch_size", "Rows per session.run (dynamic batching)", labels=["model"]
        )
        depth = GaugeMetricFamily("rnn_serve_queue_depth", "Requests waiting in the batching queue", labels=["model"])
        refused = CounterMetricFamily(
            "rnn_serve_batch_queue_refused", "Requests refused or dropped by the batcher", labels=["model", "reason"]
        )
        for model in self._models():
            if model.runner is None:
                continue
            counts = model.stats.batches
            buckets, total = [], 0
            for bound in BATCH_BUCKETS:
                buckets.append((str(float(bound)), sum(v[0] for k, v in counts.items() if k <= bound)))
            buckets.append(("+Inf", sum(v[0] for v in counts.values())))
            total = sum(k * v[0] for k, v in counts.items())
            sizes.add_metric([model.name], buckets, total)
            queued, rejected, dropped = model.stats.queue()
            depth.add_metric([model.name], queued)
            refused.add_metric([model.name, "queue_full"], rejected)
            refused.add_metric([model.name, "client_gone"], dropped)
        yield sizes
        yield depth
        yield refused


class SessionCollector(Collector):
    def __init__(self, streaming: Streaming) -> None:
        self._streaming = streaming

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        store = self._streaming.store
        count = GaugeMetricFamily("rnn_serve_stream_sessions", "Open streaming sessions", labels=["model"])
        held = GaugeMetricFamily("rnn_serve_stream_state_bytes", "State bytes held by open sessions", labels=["model"])
        per_model: dict[str, list[int]] = {name: [0, 0] for name in self._streaming.variants}
        for (model, _), session in list(store.sessions.items()):
            entry = per_model.setdefault(model, [0, 0])
            entry[0] += 1
            entry[1] += session.state_bytes
        for model, (n, nbytes) in per_model.items():
            count.add_metric([model], n)
            held.add_metric([model], nbytes)
        events = CounterMetricFamily(
            "rnn_serve_stream_sessions_ended", "Sessions expired or refused", labels=["reason"]
        )
        events.add_metric(["idle_timeout"], store.expired_total)
        events.add_metric(["limit_refused"], store.rejected_total)
        yield count
        yield held
        yield events
