"""Every knob of the service, in ONE pydantic-settings class.

Values come from (highest first) ``rnn-serve serve`` CLI flags, ``RNN_SERVE_*`` environment
variables (plain ``HOST``/``PORT`` too, as container platforms set them), then the defaults below.
The CLI flags are generated from these fields (:func:`add_cli_arguments`), so a flag can never
exist without its env var or drift from its default.
"""

from __future__ import annotations

import argparse
import re
import typing
from pathlib import Path
from typing import Any, Literal

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GraphOptimization = Literal["disable", "basic", "extended", "all"]
#: what a browser sends as ``Origin``: scheme, host, optional port, nothing else
_ORIGIN = re.compile(r"^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(:[0-9]{1,5})?$")


#: Most rows one ``session.run`` may hold, whatever the settings and model.json say: the V2
#: statistics keep a fixed slot per batch size, so that worker processes can share them.
MAX_ROWS = 4096


class Settings(BaseSettings):
    """Service configuration; see the README settings table for the same list with examples."""

    model_config = SettingsConfigDict(
        env_prefix="RNN_SERVE_", protected_namespaces=(), populate_by_name=True, extra="ignore"
    )

    model_repository: Path = Field(
        Path("models"), description="folder with one <task>-<cell>/ package per served model"
    )
    host: str = Field(
        "127.0.0.1",
        validation_alias=AliasChoices("RNN_SERVE_HOST", "HOST"),
        description="interface to listen on",
    )
    port: int = Field(
        8000,
        ge=0,
        le=65535,
        validation_alias=AliasChoices("RNN_SERVE_PORT", "PORT"),
        description="TCP port to listen on",
    )
    grpc_port: int = Field(
        8001,
        ge=0,
        le=65535,
        description="TCP port of the KServe V2 gRPC front end (Triton's GRPCInferenceService), on the same "
        "host and event loop as HTTP; 0 = off",
    )
    workers: int = Field(
        1,
        ge=1,
        le=256,
        description="server processes sharing the ports (HTTP and gRPC), one per core to use (statistics and "
        "/metrics add up over all of them; streaming sessions need 1)",
    )
    intra_op_threads: int = Field(
        1, ge=0, description="onnxruntime threads inside one operator (0 = ORT default: all cores)"
    )
    inter_op_threads: int = Field(1, ge=0, description="onnxruntime threads across operators (0 = ORT default)")
    graph_optimization_level: GraphOptimization = Field("all", description="onnxruntime graph optimisation level")
    cpu_mem_arena: bool = Field(
        False,
        description="onnxruntime's CPU memory arena: faster allocation, but it keeps the peak memory of the "
        "largest request for the life of the process",
    )
    warmup_runs: int = Field(3, ge=0, description="session.run calls per model before it is ready")
    verify_sha256: bool = Field(True, description="refuse a package whose model.onnx sha256 differs")
    inline_max_us: int = Field(
        500,
        ge=0,
        description="run a request's session.run on the event loop (no hop to the model's thread) "
        "when it is the only request in flight and its model is idle, if its estimated run time (the model's "
        "one-row run measured at warm-up, scaled by this request's rows and time steps) is at most this many "
        "µs; 0 = always hop",
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, ge=1024, description="larger request bodies are rejected with 413")
    decode_offload_bytes: int = Field(
        512 * 1024,
        ge=0,
        description="request bodies larger than this are decoded and preprocessed on a worker "
        "thread, so one large request cannot stall the event loop for everyone else (0 = always)",
    )
    header_timeout_s: float = Field(
        10.0,
        gt=0,
        description="a request whose headers have not all arrived this long after its first byte "
        "is answered 408 and its connection closed",
    )
    body_timeout_s: float = Field(
        30.0,
        gt=0,
        description="a request whose body has not all arrived this long after its headers is "
        "answered 408 and its connection closed",
    )
    max_header_bytes: int = Field(
        32 * 1024, ge=1024, description="larger request headers (names + values, all together) get 431"
    )
    max_headers: int = Field(100, ge=8, description="requests with more header fields get 431")
    max_request_rows: int = Field(
        64,
        ge=1,
        le=MAX_ROWS,
        description="most rows one request may carry (texts, the V2 batch axis); Triton's max_batch_size",
    )
    batching: Literal["on", "off", "package"] = Field(
        "on", description="dynamic batching: on (the settings below), off, or package (each model.json)"
    )
    max_batch_rows: int = Field(
        16, ge=1, le=MAX_ROWS, description="most rows one batched session.run may hold (batching=on)"
    )
    max_queue_delay_us: int = Field(
        0, ge=0, description="how long an idle model waits for a batch to fill, µs (0 = run at once; batching=on)"
    )
    max_queue_size: int = Field(
        256, ge=1, description="most requests waiting in a model's batching queue; more get 503 + Retry-After"
    )
    stream_max_sessions: int = Field(
        1000, ge=1, description="most open streaming sessions (all models, native + V2 sequences); more get 503 at once"
    )
    stream_idle_timeout_s: float = Field(
        300.0, gt=0, description="a streaming session unused this long is ended and its state freed"
    )
    stream_reap_interval_s: float = Field(
        1.0, gt=0, description="how often idle streaming sessions are swept (they also expire on access)"
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="log level of the service and uvicorn"
    )
    access_log: bool = Field(False, description="uvicorn access log line per request (costs CPU)")
    latency_window: int = Field(
        1000,
        ge=1,
        le=1_000_000,
        description="successful requests per model whose total latency GET /v1/latency keeps for its "
        "percentiles (a ring buffer, 16 bytes a slot)",
    )
    cors_allow_origins: str = Field(
        "",
        description="browser origins allowed to call the API (CORS), comma-separated, e.g. "
        "https://app.example.com,http://localhost:3000; * = any origin; empty = none (no CORS headers, "
        "preflights get 405)",
    )
    graceful_shutdown_s: float = Field(
        10.0, ge=0, description="on SIGTERM, how long in-flight requests may take to finish"
    )
    shutdown_delay_s: float = Field(
        0.5,
        ge=0,
        description="on SIGTERM, keep accepting and serving this long first, so requests already "
        "sent but not yet read are answered instead of reset",
    )

    @field_validator("cors_allow_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        """Refuse at start-up what a browser would never send as ``Origin`` (a path, a typo), rather
        than serve a CORS policy that silently matches nothing."""
        origins = [o.strip() for o in value.split(",") if o.strip()]
        bad = [o for o in origins if o != "*" and not _ORIGIN.match(o)]
        if bad:
            raise ValueError(f"not an origin (scheme://host[:port], or *): {', '.join(bad)}")
        return ",".join(origins)

    @model_validator(mode="after")
    def _distinct_ports(self) -> Settings:
        """Refuse at start-up rather than let the second listener fail to bind (or, with a random
        HTTP port, collide only some of the time)."""
        if self.grpc_port and self.grpc_port == self.port:
            raise ValueError(f"grpc_port and port are both {self.port}; give gRPC a port of its own (or 0 = off)")
        return self

    @property
    def cors_origins(self) -> list[str]:
        """``cors_allow_origins`` as a list (empty: CORS off)."""
        return self.cors_allow_origins.split(",") if self.cors_allow_origins else []


def add_cli_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one ``--flag`` per :class:`Settings` field; unset flags leave env/defaults alone."""
    for name, field in Settings.model_fields.items():
        flag = "--" + name.replace("_", "-")
        env = f"RNN_SERVE_{name.upper()}"
        help_ = f"{field.description} (env {env}; default {field.default})"
        kwargs: dict[str, Any] = {"dest": name, "default": argparse.SUPPRESS, "help": help_}
        annotation = field.annotation
        if annotation is bool:
            kwargs["action"] = argparse.BooleanOptionalAction
        elif typing.get_origin(annotation) is Literal:
            kwargs["choices"] = list(typing.get_args(annotation))
        elif annotation in (int, float, Path, str):
            kwargs["type"] = annotation
        parser.add_argument(flag, **kwargs)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Settings from env/defaults, overridden by the CLI flags that were given."""
    return Settings(**vars(args))


def markdown_table() -> str:
    """The README's settings table, generated from the fields (a test keeps the README in step)."""
    rows = ["| setting | env var | CLI flag | default | meaning |", "|---|---|---|---|---|"]
    for name, field in Settings.model_fields.items():
        env = f"`RNN_SERVE_{name.upper()}`"
        if name in {"host", "port"}:
            env += f" or `{name.upper()}`"
        flag = "--" + name.replace("_", "-")
        if field.annotation is bool:
            flag += f" / --no-{name.replace('_', '-')}"
        default = f"`{field.default}`" if field.default != "" else "(empty)"
        rows.append(f"| `{name}` | {env} | `{flag}` | {default} | {field.description} |")
    return "\n".join(rows)
