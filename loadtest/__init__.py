"""rnn-serve's load tester: open-loop (no coordinated omission) and closed-loop load, A/B rounds.

Library use::

    from loadtest import LoadTestConfig, run
    doc = run(LoadTestConfig(url="http://127.0.0.1:8000", models=["sentiment-lstm", "sentiment-gru"],
                             rate=50, duration=10, rounds=3, output=Path("out")))
    doc["comparison"]["ratios"]["p99_ms"]   # GRU/LSTM p99 with a 95 % bootstrap CI
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from loadtest.config import ConfigError, LoadTestConfig, check_target_url

__all__ = ["ConfigError", "LoadTestConfig", "check_target_url", "run"]


def run(config: LoadTestConfig) -> dict[str, Any]:
    """Validate ``config``, run the load test, write outputs if ``config.output`` is set; return the results."""
    from loadtest.report import write_outputs
    from loadtest.results import build_results
    from loadtest.runner import execute

    config.validate()
    doc = build_results(config, execute(config))
    if config.output is not None:
        write_outputs(doc, Path(config.output))
    return doc
