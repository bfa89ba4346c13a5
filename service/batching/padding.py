"""Rows of different lengths in one batch: right-padding (:func:`merge`/:func:`split`) and
length-aware runs (:func:`plan`): pad less, run a few times.

Why: a recurrent layer walks every step of the padded batch, so one run of B rows padded to the
longest costs about ``call + steps·(step + B·row_step)``. SST-2 sentences range from 1 to ~50
tokens; one run of 32 of them padded to the longest was *slower* than 32 separate runs (0.7× the
rows per second; ``python -m service.bench_padding``). Sorting the batch by length and cutting it
into a few runs of similar lengths gets 1.3–1.4× instead, on the same draws. The answers do not
change: every row is still read at its own last step (``lengths`` → ``sequence_lens``).

The cost model is fitted per model at warm-up from three timed probes (it depends on the hidden
size and the CPU), and reported in the model's runtime configuration.
"""

from __future__ import annotations

import itertools
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np

Tensors = dict[str, np.ndarray]

#: probe shapes: (rows, steps) for the call/step/row-step fit
_SHORT, _LONG, _ROWS = 4, 32, 16


@dataclass(frozen=True)
class PaddedCost:
    """Estimated µs of one ``session.run``: ``call_us + steps · (step_us + rows · row_step_us)``."""

    call_us: float
    step_us: float
    row_step_us: float

    def of(self, rows: int, steps: int) -> float:
        return self.call_us + steps * (self.step_us + rows * self.row_step_us)

    @classmethod
    def fit(cls, median_us: Callable[[int, int], float]) -> PaddedCost:
        """Fit from ``median_us(rows, steps)`` at (1, short), (1, long) and (16, long); clamped ≥ 0."""
        short, long_ = median_us(1, _SHORT), median_us(1, _LONG)
        wide = median_us(_ROWS, _LONG)
        per_step_one_row = max(0.0, (long_ - short) / (_LONG - _SHORT))
        row_step = max(1e-3, (wide - long_) / (_LONG * (_ROWS - 1)))
        step = max(0.0, per_step_one_row - row_step)
        call = max(0.0, short - _SHORT * (step + row_step))
        return cls(round(call, 3), round(step, 3), round(row_step, 4))

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def time_median_us(run: Callable[[], object], repeats: int = 15) -> float:
    """Median wall time of ``run()`` in µs, after one untimed call (first-run allocations)."""
    run()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1e6)
    return statistics.median(samples)


def plan(lengths: list[int], rows: list[int], cost: PaddedCost) -> list[list[int]]:
    """Group the parts (indices) into runs: sorted by length, each part joins the current run when
    that adds less estimated time than opening a new run for it. Greedy and O(n log n), because
    it runs on the model's thread before every batched ``session.run``.

    Every index appears in exactly one run; a run's parts are in ascending length order.
    """
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    runs: list[list[int]] = []
    run_rows, run_steps = 0, 0
    for i in order:
        steps, n = lengths[i], rows[i]
        if runs:
            join = cost.of(run_rows + n, steps) - cost.of(run_rows, run_steps)
            if join <= cost.of(n, steps):
                runs[-1].append(i)
                run_rows, run_steps = run_rows + n, steps
                continue
        runs.append([i])
        run_rows, run_steps = n, steps
    return runs


def merge(parts: list[Tensors], pad_axes: bool) -> tuple[Tensors, list[int]]:
    """Stack requests along axis 0; with ``pad_axes`` right-pad the other axes with zeros.

    Returns the merged tensors and each request's row offsets (``len(parts) + 1`` entries).
    """
    offsets = [0]
    for part in parts:
        offsets.append(offsets[-1] + next(iter(part.values())).shape[0])
    merged: Tensors = {}
    for name in parts[0]:
        arrays = [p[name] for p in parts]
        shapes = {a.shape[1:] for a in arrays}
        if len(shapes) == 1:
            merged[name] = np.concatenate(arrays, axis=0)
            continue
        if not pad_axes:
            raise ValueError(f"{name}: rows of different shapes {sorted(shapes)} cannot share a batch")
        tail = tuple(max(dims) for dims in zip(*shapes, strict=True))
        out = np.zeros((offsets[-1], *tail), dtype=arrays[0].dtype)
        for start, a in zip(offsets, arrays, strict=False):
            out[(slice(start, start + a.shape[0]), *(slice(0, d) for d in a.shape[1:]))] = a
        merged[name] = out
    return merged, offsets


def split(outputs: Tensors, offsets: list[int]) -> list[Tensors]:
    """Each request's own rows of every output (views, no copies)."""
    return [{k: v[a:b] for k, v in outputs.items()} for a, b in itertools.pairwise(offsets)]
