"""Intended send times for the open loop.

The schedule is fixed before the run starts (absolute offsets from t0, never cumulative sleeps),
so a slow server or a late client cannot move it: each request's latency is then measured from
the time it SHOULD have been sent, which is what a user arriving at that moment would see.
"""

from __future__ import annotations

import numpy as np


def intended_offsets(rate: float, duration: float, arrival: str, seed: int) -> np.ndarray:
    """Send offsets in seconds from t0, ascending, all < ``duration``.

    ``constant``: i / rate (exactly rate × duration requests, like wrk2).
    ``poisson``: exponential gaps with mean 1 / rate from a seeded generator (the request count
    varies around rate × duration, as real independent arrivals do).
    """
    if rate <= 0 or duration <= 0:
        return np.zeros(0)
    if arrival == "constant":
        n = int(np.floor(rate * duration - 1e-9)) + 1
        offsets = np.arange(n) / rate
        return np.asarray(offsets[offsets < duration])
    if arrival != "poisson":
        raise ValueError(f"arrival must be constant or poisson; got {arrival!r}")
    rng = np.random.default_rng(seed)
    expected = rate * duration
    gaps = rng.exponential(1.0 / rate, size=int(expected + 10 * np.sqrt(expected) + 20))
    offsets = np.cumsum(gaps) - gaps[0]
    return np.asarray(offsets[offsets < duration])
