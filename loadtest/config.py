"""Load-test settings, and the rule that a load test only ever targets this machine.

A load generator pointed at someone else's host is a denial-of-service tool, so the URL check
lives here, next to the settings, and every entry point (CLI and library) goes through it.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

Mode = Literal["open", "closed"]
Arrival = Literal["constant", "poisson"]
Endpoint = Literal["v1", "v2"]

#: A docker-compose service name: one DNS label, no dots (so never a public host name or IP).
_COMPOSE_SERVICE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


class ConfigError(ValueError):
    """Settings that cannot describe an honest, local load test."""


def check_target_url(url: str, allow_remote: bool = False) -> str:
    """Return ``url`` without a trailing slash if its host is loopback; raise :class:`ConfigError` otherwise.

    Loopback = 127.0.0.0/8, ``::1`` or ``localhost``. With ``allow_remote`` a bare
    docker-compose service name (e.g. ``rnn-serve``) is also accepted, because the compose
    ``loadtest`` container reaches the server container by its service name; dotted names and
    non-loopback IP addresses are refused even then.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"--url must look like http://127.0.0.1:8000; got {url!r}")
    host = parts.hostname.lower()
    if host == "localhost":
        return url.rstrip("/")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None and address.is_loopback:
        return url.rstrip("/")
    if allow_remote and address is None and _COMPOSE_SERVICE.match(host):
        return url.rstrip("/")
    hint = (
        " (--allow-remote only admits a docker-compose service name such as 'rnn-serve')"
        if allow_remote
        else " (pass --allow-remote to target a docker-compose service by name)"
    )
    raise ConfigError(f"refusing to load-test {host!r}: only loopback hosts are allowed{hint}")


@dataclass
class LoadTestConfig:
    """Everything one load test needs; :func:`loadtest.run` takes one of these.

    ``rate`` is the total offered rate per model segment (requests/s); in the closed loop
    ``concurrency`` workers send back-to-back instead and ``rate`` is ignored.
    """

    url: str = "http://127.0.0.1:8000"
    models: list[str] = field(default_factory=lambda: ["sentiment-lstm", "sentiment-gru"])
    endpoint: Endpoint = "v1"
    mode: Mode = "open"
    rate: float = 50.0
    arrival: Arrival = "constant"
    concurrency: int = 8
    duration: float = 10.0
    warmup: float = 2.0
    rounds: int = 3
    seed: int = 0
    sweep: bool = False
    rates: list[float] | None = None
    rate_start: float = 25.0
    rate_step: float = 25.0
    rate_max: float = 400.0
    p99_bound_ms: float = 100.0
    #: a sweep point is past the knee when achieved/offered falls below this
    min_achieved_fraction: float = 0.9
    #: a request whose actual send is this much after its intended send counts as late
    late_threshold_ms: float = 10.0
    timeout_s: float = 30.0
    max_connections: int = 256
    data: Path | None = None
    max_payloads: int = 1000
    model_repository: Path | None = None
    allow_remote: bool = False
    output: Path | None = None
    quiet: bool = False
    bootstrap_resamples: int = 2000

    def validate(self) -> LoadTestConfig:
        """Check ranges and the target URL; return self so calls can chain."""
        self.url = check_target_url(self.url, self.allow_remote)
        if not self.models or any(not m for m in self.models):
            raise ConfigError("--models needs at least one model name")
        if len(set(self.models)) != len(self.models):
            raise ConfigError("--models lists a model twice")
        if self.mode not in ("open", "closed"):
            raise ConfigError(f"mode must be open or closed; got {self.mode!r}")
        if self.endpoint not in ("v1", "v2"):
            raise ConfigError(f"--endpoint must be v1 or v2; got {self.endpoint!r}")
        if self.arrival not in ("constant", "poisson"):
            raise ConfigError(f"--arrival must be constant or poisson; got {self.arrival!r}")
        if self.sweep and self.mode == "closed":
            raise ConfigError("--sweep varies the offered rate: it needs the open loop, not --concurrency")
        for name, value in (("duration", self.duration), ("rate", self.rate), ("timeout", self.timeout_s)):
            if not value > 0:
                raise ConfigError(f"--{name} must be > 0; got {value}")
        if self.warmup < 0:
            raise ConfigError(f"--warmup must be ≥ 0; got {self.warmup}")
        if self.seed < 0:
            raise ConfigError(f"--seed must be ≥ 0; got {self.seed}")
        if self.rounds < 1 or self.concurrency < 1:
            raise ConfigError("--rounds and --concurrency must be ≥ 1")
        if self.sweep and not self.sweep_rates():
            raise ConfigError("the sweep has no rates: check --rates or --rate-start/--rate-step/--rate-max")
        return self

    def sweep_rates(self) -> list[float]:
        """Offered rates of a sweep, ascending: ``rates`` if given, else start, start+step, … ≤ max."""
        if self.rates:
            return sorted(float(r) for r in self.rates if r > 0)
        if self.rate_start <= 0 or self.rate_step <= 0:
            return []
        out, rate = [], self.rate_start
        while rate <= self.rate_max + 1e-9:
            out.append(round(rate, 6))
            rate += self.rate_step
        return out
