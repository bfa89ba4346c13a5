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
        """The phases in ms, in :data:`PHASES` order (written out: this runs once per response,
        where building the keys with f-strings and ``getattr`` cost several µs)."""
        out: dict[str, float] = {
            "queue_ms": ms(self.queue_ns),
            "preprocess_ms": ms(self.preprocess_ns),
            "inference_ms": ms(self.inference_ns),
            "postprocess_ms": ms(self.postprocess_ns),
            "total_ms": ms(self.total_ns),
        }
        if self.batch_size:
            out["batch_size"] = self.batch_size
        return out

    def server_timing(self) -> str:
        """The W3C ``Server-Timing`` header value: ``queue;dur=0.012, ..., total;dur=0.850``,
        then ``batch;desc="size=8"`` (the batch this request rode in) when it ran a model.
        One format string, in :data:`PHASES` order, for the same reason as :meth:`as_dict`."""
        value = (
            f"queue;dur={self.queue_ns / 1e6:.3f}, preprocess;dur={self.preprocess_ns / 1e6:.3f}, "
            f"inference;dur={self.inference_ns / 1e6:.3f}, postprocess;dur={self.postprocess_ns / 1e6:.3f}, "
            f"total;dur={self.total_ns / 1e6:.3f}"
        )
        return f'{value}, batch;desc="size={self.batch_size}"' if self.batch_size else value

    def add(self, other: Timing) -> None:
        """Accumulate another request's phases (``/v1/compare`` runs two models in one request)."""
        self.queue_ns += other.queue_ns
        self.preprocess_ns += other.preprocess_ns
        self.inference_ns += other.inference_ns
        self.postprocess_ns += other.postprocess_ns
