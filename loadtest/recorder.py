"""Recording one segment (one model, one round, one offered rate) into HdrHistograms.

Every latency goes into an HdrHistogram (µs, 3 significant digits) so segments can be merged
losslessly later: percentiles are computed from merged histograms, never averaged. Alongside
latency it keeps the client's send lag (actual − intended send), late and failed requests, and
the server's own ``Server-Timing`` phases, so client-side time can be set against server time.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from hdrh.histogram import HdrHistogram

#: 1 µs … 10 min at 3 significant digits (0.1 % resolution).
LOWEST_US, HIGHEST_US, DIGITS = 1, 600_000_000, 3
#: The phases the service reports, in the order they happen.
PHASES = ("queue", "preprocess", "inference", "postprocess", "total")
_METRIC = re.compile(r"^\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)\s*(.*)$")
_DUR = re.compile(r";\s*dur\s*=\s*\"?([0-9.eE+-]+)\"?")


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, DIGITS)


def to_us(seconds: float) -> int:
    """Seconds → whole µs, clamped into the histogram's trackable range."""
    return min(max(round(seconds * 1e6), LOWEST_US), HIGHEST_US)


def parse_server_timing(header: str | None) -> dict[str, float]:
    """``Server-Timing`` → ``{name: dur_ms}``; entries without ``dur`` are skipped.

    Per W3C Server Timing a name may repeat; repeated durations are summed (one request's time
    in that phase).
    """
    out: dict[str, float] = {}
    if not header:
        return out
    for entry in header.split(","):
        metric = _METRIC.match(entry)
        dur = _DUR.search(entry)
        if not metric or not dur:
            continue
        try:
            value = float(dur.group(1))
        except ValueError:
            continue
        out[metric.group(1)] = out.get(metric.group(1), 0.0) + value
    return out


@dataclass
class Segment:
    """What one model answered during one measured segment."""

    model: str
    round: int
    offered_rps: float | None
    mode: str
    duration_s: float
    #: latency of successful requests: from the INTENDED send (open loop) or the actual send (closed loop)
    latency: HdrHistogram = field(default_factory=new_histogram)
    #: actual send − intended send, for every request sent (open loop only)
    send_lag: HdrHistogram = field(default_factory=new_histogram)
    #: actual send → response, for successful requests (the "operational" latency)
    service: HdrHistogram = field(default_factory=new_histogram)
    sent: int = 0
    ok: int = 0
    late: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    server_sum_ms: dict[str, float] = field(default_factory=dict)
    server_count: dict[str, int] = field(default_factory=dict)
    #: seconds from the segment's start to its last response (≥ duration_s)
    elapsed_s: float = 0.0
    #: raw Server-Timing headers, parsed by :meth:`finish` after the run (keeps the send loop lean)
    _pending_timing: list[str] = field(default_factory=list, repr=False, init=False)

    def record_send(self, lag_s: float, late_threshold_s: float) -> None:
        self.sent += 1
        self.send_lag.record_value(to_us(max(lag_s, 0.0)))
        if lag_s > late_threshold_s:
            self.late += 1

    def record_ok(self, latency_s: float, service_s: float, server_timing: str | None) -> None:
        self.ok += 1
        self.latency.record_value(to_us(latency_s))
        self.service.record_value(to_us(service_s))
        if server_timing:
            self._pending_timing.append(server_timing)

    def finish(self) -> None:
        """Fold the collected Server-Timing headers into per-phase sums and counts."""
        for header in self._pending_timing:
            for name, dur in parse_server_timing(header).items():
                self.server_sum_ms[name] = self.server_sum_ms.get(name, 0.0) + dur
                self.server_count[name] = self.server_count.get(name, 0) + 1
        self._pending_timing.clear()

    def record_error(self, kind: str) -> None:
        self.errors[kind] += 1

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())

    @property
    def throughput_rps(self) -> float:
        """Successful responses per second over the segment (its schedule plus the drain)."""
        return self.ok / max(self.elapsed_s, self.duration_s) if self.duration_s else 0.0
