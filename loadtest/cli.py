"""``rnn-serve loadtest``: command-line front end of :func:`loadtest.run`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from loadtest.config import ConfigError, LoadTestConfig


def _floats(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers; got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    d = LoadTestConfig()
    p = argparse.ArgumentParser(
        prog="rnn-serve loadtest",
        description="Open-loop (default; latency from each request's intended send time) or closed-loop "
        "(--concurrency) load test of rnn-serve models, with interleaved A/B rounds.",
    )
    p.add_argument("--url", default=d.url, help="server base URL; loopback only unless --allow-remote")
    p.add_argument("--models", default=",".join(d.models), help="comma-separated; the 2nd is compared to the 1st")
    p.add_argument(
        "--endpoint",
        choices=["v1", "v2"],
        default=d.endpoint,
        help="v1: /v1/models/{name}/predict; v2: /v2/models/{name}/infer (JSON tensors)",
    )
    p.add_argument("--rate", type=float, default=d.rate, help="open loop: offered requests/s per model segment")
    p.add_argument("--arrival", choices=["constant", "poisson"], default=d.arrival)
    p.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="closed loop with this many workers (latency from actual send: hides stalls)",
    )
    p.add_argument("--duration", type=float, default=d.duration, help="seconds per model per round")
    p.add_argument("--warmup", type=float, default=d.warmup, help="seconds per model before measuring (discarded)")
    p.add_argument("--rounds", type=int, default=d.rounds, help="interleaved randomised rounds")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--sweep", action="store_true", help="sweep offered rates to find the knee")
    p.add_argument("--rates", type=_floats, default=None, help="sweep rates, e.g. 25,50,100,200")
    p.add_argument("--rate-start", type=float, default=d.rate_start)
    p.add_argument("--rate-step", type=float, default=d.rate_step)
    p.add_argument("--rate-max", type=float, default=d.rate_max)
    p.add_argument("--p99-bound-ms", type=float, default=d.p99_bound_ms, help="sweep: knee when p99 exceeds this")
    p.add_argument(
        "--late-threshold-ms",
        type=float,
        default=d.late_threshold_ms,
        help="a request sent later than this after its intended time counts as late",
    )
    p.add_argument("--timeout", type=float, default=d.timeout_s, help="per-request timeout (s)")
    p.add_argument("--max-connections", type=int, default=d.max_connections)
    p.add_argument(
        "--data",
        type=Path,
        default=None,
        help="your own inputs: SST-2 TSV, WAV file/folder, or ETT CSV (default: ../shared/data held-out)",
    )
    p.add_argument("--max-payloads", type=int, default=d.max_payloads)
    p.add_argument(
        "--model-repository",
        type=Path,
        default=None,
        help="local model packages (V2 tensors need the preprocessing config and vocabulary)",
    )
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="also allow a docker-compose service name as host (e.g. http://rnn-serve:8000)",
    )
    p.add_argument("--output", type=Path, default=None, help="write results.json, CSV and PNG plots here")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def config_from_args(argv: list[str]) -> LoadTestConfig:
    args = build_parser().parse_args(argv)
    repo = args.model_repository
    if repo is None and args.endpoint == "v2" and Path("models").is_dir():
        repo = Path("models")
    return LoadTestConfig(
        url=args.url,
        models=[m.strip() for m in args.models.split(",") if m.strip()],
        endpoint=args.endpoint,
        mode="closed" if args.concurrency else "open",
        rate=args.rate,
        arrival=args.arrival,
        concurrency=args.concurrency or LoadTestConfig().concurrency,
        duration=args.duration,
        warmup=args.warmup,
        rounds=args.rounds,
        seed=args.seed,
        sweep=args.sweep,
        rates=args.rates,
        rate_start=args.rate_start,
        rate_step=args.rate_step,
        rate_max=args.rate_max,
        p99_bound_ms=args.p99_bound_ms,
        late_threshold_ms=args.late_threshold_ms,
        timeout_s=args.timeout,
        max_connections=args.max_connections,
        data=args.data,
        max_payloads=args.max_payloads,
        model_repository=repo,
        allow_remote=args.allow_remote,
        output=args.output,
        quiet=args.quiet,
    )


def main(argv: list[str] | None = None) -> int:
    """Run a load test; 0 on success, 1 if any request failed, 2 on bad settings or an unreachable server."""
    from loadtest import run
    from loadtest.report import print_summary

    try:
        cfg = config_from_args(list(sys.argv[1:] if argv is None else argv)).validate()
    except ConfigError as exc:
        print(f"rnn-serve loadtest: {exc}", file=sys.stderr)
        return 2
    try:
        doc = run(cfg)
    except (ValueError, OSError) as exc:
        print(f"rnn-serve loadtest: {exc}", file=sys.stderr)
        return 2
    print_summary(doc)
    if cfg.output is not None:
        print(f"results written to {cfg.output}/ (results.json, results.csv, rounds.csv, *.png)")
    return 1 if any(m["errors"] for m in doc["models"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
