"""Per-request latency: the phases every response reports, in its body and its header.

A request is timed by the data plane from the moment it resolves the model (body not yet read)
to the moment the answer is built. ``queue`` is the wait for the model (its batching queue or
its thread), ``inference`` the ``session.run`` the request rode in, ``preprocess`` reading the
body, decoding and task preprocessing, ``postprocess`` turning tensors into answers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

PHASES = ("queue", "preprocess", "inference", "postprocess", "total")


def now_ns() -> int:
    return time.perf_counter_ns()


def ms(ns: int) -> float:
    """Nanoseconds → milliseconds rounded to the microsecond."""
    return round(ns / 1e6, 3)


@dataclass
class Timing:
    """Phase durations of one request, in nanoseconds (reported in ms with µs resolution)."""

    start_ns: int = field(default_factory=now_ns)
    queue_ns: int = 0
    preprocess_ns: int = 0
    inference_ns: int = 0
    postprocess_ns: int = 0
    total_ns: int = 0
    #: rows in the ``session.run`` this request rode in (0 = no model run, e.g. ``/v1/compare``)
    batch_size: int = 0
    #: rows this request itself carried (Triton's ``inference_count`` adds them up)
    rows: int = 0

    def finish(self) -> Timing:
        self.total_ns = now_ns() - self.start_ns
        return self

    def as_dict(self) -> dict[str, float]:
        out: dict[str, float] = {f"{phase}_ms": ms(getattr(self, f"{phase}_ns")) for phase in PHASES}
        if self.batch_size:
            out["batch_size"] = self.batch_size
        return out

    def server_timing(self) -> str:
        """The W3C ``Server-Timing`` header value: ``queue;dur=0.012, ..., total;dur=0.850``,
        then ``batch;desc="size=8"`` (the batch this request rode in) when it ran a model."""
        value = ", ".join(f"{phase};dur={getattr(self, f'{phase}_ns') / 1e6:.3f}" for phase in PHASES)
        return f'{value}, batch;desc="size={self.batch_size}"' if self.batch_size else value

    def add(self, other: Timing) -> None:
        """Accumulate another request's phases (``/v1/compare`` runs two models in one request)."""
        for phase in PHASES[:-1]:
            setattr(self, f"{phase}_ns", getattr(self, f"{phase}_ns") + getattr(other, f"{phase}_ns"))
