"""Stateful streaming sessions: the session store, its limits, and the step runner per model.

A session holds the recurrent state of one sequence between calls (``h`` for GRU, ``h`` and
``c`` for LSTM, plus the small running values some step models need), so a chunk costs
O(chunk), not O(history). The state lives here, in the server process, as numpy arrays keyed by
``(model, session id)``; the step model (``model_step.onnx``, :mod:`service.step_model`) is pure.

Limits: at most ``stream_max_sessions`` sessions (all models, native and V2 sequences together).
Opening one more first sweeps idle sessions, then answers 503 at once (no queueing) with
``Retry-After``; ending or expiring a session frees its slot. A session unused for
``stream_idle_timeout_s`` expires: a background sweep every ``stream_reap_interval_s`` plus a
check on every access (so expiry is exact even between sweeps).
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from service.errors import ServiceError
from service.package import verify_streaming
from service.repository import LoadedModel, ModelRepository
from service.runtime import session_options
from service.settings import Settings
from service.step_model import StepModel, Tensors
from service.timing import now_ns

log = logging.getLogger("rnn_serve.streaming")


class SessionNotFound(ServiceError):
    """Unknown, ended or expired session: 404 (V2 sequences answer 400 like Triton)."""

    status = 404


class SessionLimit(ServiceError):
    """``stream_max_sessions`` open: 503 at once, with ``Retry-After`` (seconds)."""

    status = 503

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message, field="session", rule="at most stream_max_sessions open sessions")
        self.headers = {"Retry-After": str(retry_after_s)}


class StreamingUnavailable(ServiceError):
    """Asked to stream a model without a (working) step model: a client error, 400."""

    status = 400


@dataclass
class StreamSession:
    """One open sequence: its state tensors and bookkeeping (``steps`` = time steps consumed)."""

    id: str
    model: str
    state: Tensors
    created: float
    last_used: float
    chunks: int = 0
    steps: int = 0
    outputs: Tensors | None = None  #: the outputs after the last chunk that reached the model
    pending: np.ndarray | None = None  #: keywords: samples of the frame not yet complete
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def state_bytes(self) -> int:
        return int(sum(v.nbytes for v in self.state.values()))

    def info(self, step: StepModel, now: float) -> dict[str, Any]:
        spec = step.spec
        return {"session_id": self.id, "model": self.model, "chunks": self.chunks, "steps": self.steps,
                "state_bytes": self.state_bytes, "recurrent_state_bytes": spec.recurrent_state_bytes,
                "idle_s": round(now - self.last_used, 3), "age_s": round(now - self.created, 3)}


class StreamModel:
    """A served model's step model, with its own single thread (runs never block the event loop)."""

    def __init__(self, name: str, step: StepModel) -> None:
        self.name = name
        self.step = step
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"ort-step-{name}")

    def _timed(self, inputs: Tensors, state: Tensors) -> tuple[Tensors, Tensors, int, int]:
        started = now_ns()
        outputs, nxt = self.step.run(inputs, state)
        return outputs, nxt, started, now_ns()

    async def run(self, inputs: Tensors, state: Tensors) -> tuple[Tensors, Tensors, int, int]:
        """``(outputs, next state, queue_ns, inference_ns)``; ORT rejecting the chunk is a 400."""
        submitted = now_ns()
        loop = asyncio.get_running_loop()
        try:
            outputs, nxt, started, ended = await loop.run_in_executor(self._executor, self._timed, inputs, state)
        except (ort.capi.onnxruntime_pybind11_state.InvalidArgument,
                ort.capi.onnxruntime_pybind11_state.Fail,
                ort.capi.onnxruntime_pybind11_state.RuntimeException) as exc:
            raise ServiceError(f"the step model rejected this chunk: {exc}", field="inputs",
                               rule="tensors the step model can run") from None
        return outputs, nxt, (started - submitted) + (now_ns() - ended), ended - started

    def close(self) -> None:
        self._executor.shutdown(wait=True)


def load_stream_models(repository: ModelRepository, settings: Settings) -> tuple[dict[str, StreamModel], dict[str, str]]:
    """Step models of every ready package that declares one; a failure disables streaming for that
    model only (its one-shot API stays up) and is reported by ``GET /v1/sessions``."""
    models: dict[str, StreamModel] = {}
    errors: dict[str, str] = {}
    for model in repository.models.values():
        spec = model.package.streaming if model.package else None
        if not model.ready or spec is None:
            continue
        try:
            path = verify_streaming(model.folder, spec) if settings.verify_sha256 else model.folder / spec.file
            options = session_options(settings)
            step = StepModel(ort.InferenceSession(str(path), sess_options=options,
                                                  providers=["CPUExecutionProvider"]), spec)
            assert model.pipeline is not None
            example = model.pipeline.example_inputs()[spec.inputs[0].name]
            for _ in range(max(1, settings.warmup_runs)):
                step.run({spec.inputs[0].name: example[:, :4]}, step.zero_state())
            models[model.name] = StreamModel(model.name, step)
        except Exception as exc:  # one broken step model must not take the server down
            errors[model.name] = f"{type(exc).__name__}: {exc}"
            log.error("model %s: streaming NOT available: %s", model.name, errors[model.name])
    return models, errors


class SessionStore:
    """All open sessions, with the count limit and the idle timeout; single event-loop use."""

    def __init__(self, max_sessions: int, idle_timeout_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_sessions = max_sessions
        self.idle_timeout_s = idle_timeout_s
        self.clock = clock
        self.sessions: dict[tuple[str, str], StreamSession] = {}
        self.expired_total = 0
        self.rejected_total = 0

    def _expired(self, session: StreamSession, now: float) -> bool:
        return not session.lock.locked() and now - session.last_used >= self.idle_timeout_s

    def expire(self) -> int:
        """End every idle session (not one with a chunk in flight); returns how many."""
        now = self.clock()
        stale = [key for key, s in self.sessions.items() if self._expired(s, now)]
        for key in stale:
            del self.sessions[key]
        self.expired_total += len(stale)
        return len(stale)

    def open(self, model: str, state: Tensors, session_id: str | None = None) -> StreamSession:
        """A new session (a fresh id unless given: V2 sequences bring theirs); 503 when full."""
        key = (model, session_id) if session_id is not None else None
        if key is not None and key in self.sessions:  # Triton: START on a live id restarts it
            del self.sessions[key]
        if len(self.sessions) >= self.max_sessions and self.expire() == 0:
            self.rejected_total += 1
            raise SessionLimit(f"all {self.max_sessions} streaming sessions are in use; end one or retry later",
                               retry_after_s=max(1, int(min(self.idle_timeout_s, 5))))
        sid = session_id if session_id is not None else uuid.uuid4().hex
        now = self.clock()
        session = StreamSession(id=sid, model=model, state=state, created=now, last_used=now)
        self.sessions[(model, sid)] = session
        return session

    def get(self, model: str, session_id: str) -> StreamSession:
        session = self.sessions.get((model, session_id))
        if session is not None and self._expired(session, self.clock()):
            del self.sessions[(model, session_id)]
            self.expired_total += 1
            session = None
        if session is None:
            raise SessionNotFound(f"no open session {session_id!r} on model {model!r} (never opened, ended or "
                                  f"idle for {self.idle_timeout_s:g} s)", field="session_id",
                                  rule="an open session of this model")
        return session

    def end(self, model: str, session_id: str) -> StreamSession:
        session = self.get(model, session_id)
        del self.sessions[(model, session_id)]
        return session

    def touch(self, session: StreamSession) -> None:
        session.last_used = self.clock()

    def held_bytes(self) -> int:
        return sum(s.state_bytes for s in self.sessions.values())

    def count(self, model: str) -> int:
        return sum(1 for m, _ in self.sessions if m == model)


class Streaming:
    """What the routes use: the store plus the step models; ``app.state.streaming``."""

    def __init__(self, settings: Settings, models: dict[str, StreamModel], errors: dict[str, str]) -> None:
        self.store = SessionStore(settings.stream_max_sessions, settings.stream_idle_timeout_s)
        self.models = models
        self.errors = errors
        self.reap_interval_s = settings.stream_reap_interval_s
        self._reaper: asyncio.Task[None] | None = None

    @classmethod
    def load(cls, repository: ModelRepository, settings: Settings) -> Streaming:
        models, errors = load_stream_models(repository, settings)
        return cls(settings, models, errors)

    def model(self, loaded: LoadedModel) -> StreamModel:
        found = self.models.get(loaded.name)
        if found is None:
            why = self.errors.get(loaded.name, "its package has no step model (model.json streaming)")
            raise StreamingUnavailable(f"model {loaded.name!r} cannot stream: {why}", field="model",
                                       rule="a model with a step model")
        return found

    def overview(self) -> dict[str, Any]:
        """``GET /v1/sessions``: limits, counts and the state bytes each model's session holds."""
        store = self.store
        return {
            "active": len(store.sessions), "max_sessions": store.max_sessions,
            "idle_timeout_s": store.idle_timeout_s, "state_bytes_held": store.held_bytes(),
            "expired_total": store.expired_total, "rejected_total": store.rejected_total,
            "models": {name: {"active": store.count(name),
                              "recurrent_state_bytes": m.step.spec.recurrent_state_bytes,
                              "bytes_per_session": m.step.spec.bytes_per_session,
                              "states": [s.model_dump() for s in m.step.spec.states]}
                       for name, m in self.models.items()},
            "unavailable": self.errors,
        }

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(self.reap_interval_s)
            n = self.store.expire()
            if n:
                log.info("expired %d idle streaming session(s)", n)

    def start(self) -> None:
        self._reaper = asyncio.get_running_loop().create_task(self._reap(), name="stream-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            try:
                await self._reaper
            except asyncio.CancelledError:
                pass
        for m in self.models.values():
            m.close()
