"""Prometheus view of the streaming sessions, read at scrape time (nothing on the request path).

``rnn_serve_stream_sessions{model}`` open sessions, ``rnn_serve_stream_state_bytes{model}`` the
state bytes they hold, ``rnn_serve_stream_sessions_ended_total{reason}`` sessions expired
(idle) or refused (limit reached).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from service.streaming import Streaming


class SessionCollector(Collector):
    def __init__(self, streaming: Streaming) -> None:
        self._streaming = streaming

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        store = self._streaming.store
        count = GaugeMetricFamily("rnn_serve_stream_sessions", "Open streaming sessions", labels=["model"])
        held = GaugeMetricFamily("rnn_serve_stream_state_bytes", "State bytes held by open sessions",
                                 labels=["model"])
        per_model: dict[str, list[int]] = {name: [0, 0] for name in self._streaming.models}
        for (model, _), session in list(store.sessions.items()):
            entry = per_model.setdefault(model, [0, 0])
            entry[0] += 1
            entry[1] += session.state_bytes
        for model, (n, nbytes) in per_model.items():
            count.add_metric([model], n)
            held.add_metric([model], nbytes)
        events = CounterMetricFamily("rnn_serve_stream_sessions_ended", "Sessions expired or refused",
                                     labels=["reason"])
        events.add_metric(["idle_timeout"], store.expired_total)
        events.add_metric(["limit_refused"], store.rejected_total)
        yield count
        yield held
        yield events
