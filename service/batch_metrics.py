"""Prometheus view of dynamic batching, read at scrape time (nothing on the request path).

``rnn_serve_batch_size{model}`` is a histogram of rows per ``session.run`` (from the same counts
as the Triton ``batch_stats``), ``rnn_serve_queue_depth{model}`` the requests waiting now, and
``rnn_serve_batch_queue_refused_total{model,reason}`` the requests refused (queue full) or dropped
(client gone before its batch ran).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.registry import Collector

from service.repository import LoadedModel

BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class BatchCollector(Collector):
    """Collects from the repository's models each time ``/metrics`` is scraped."""

    def __init__(self, models: Callable[[], Iterable[LoadedModel]]) -> None:
        self._models = models

    def collect(self) -> Iterator[HistogramMetricFamily | GaugeMetricFamily | CounterMetricFamily]:
        sizes = HistogramMetricFamily("rnn_serve_batch_size", "Rows per session.run (dynamic batching)",
                                      labels=["model"])
        depth = GaugeMetricFamily("rnn_serve_queue_depth", "Requests waiting in the batching queue",
                                  labels=["model"])
        refused = CounterMetricFamily("rnn_serve_batch_queue_refused", "Requests refused or dropped by the batcher",
                                      labels=["model", "reason"])
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
            batcher = model.runner.batcher
            depth.add_metric([model.name], batcher.depth if batcher else 0)
            refused.add_metric([model.name, "queue_full"], batcher.counters.rejected if batcher else 0)
            refused.add_metric([model.name, "client_gone"], batcher.counters.dropped if batcher else 0)
        yield sizes
        yield depth
        yield refused
