"""Streaming sessions: the store of open sequences, its limits and its idle expiry.

A session holds the recurrent state of one sequence between calls (``h`` for GRU, ``h`` and
``c`` for LSTM, plus the small running values some step models need), so a chunk costs
O(chunk), not O(history). The state lives here, in the server process, as numpy arrays keyed by
``(model, session id)``; the step model (:mod:`service.runtime.step`) is pure.

Limits: at most ``stream_max_sessions`` sessions (all models, native and V2 sequences together).
Opening one more first sweeps idle sessions, then answers 503 at once (no queueing) with
``Retry-After``; ending or expiring a session frees its slot. A session unused for
``stream_idle_timeout_s`` expires: a background sweep every ``stream_reap_interval_s`` plus a
check on every access (so expiry is exact even between sweeps).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from service.errors import BadRequest, Overloaded, ServiceError
from service.package import StreamingSpec

Tensors = dict[str, np.ndarray]


class SessionNotFound(ServiceError):
    """Unknown, ended or expired session: 404."""

    status = 404


class SequenceNotStarted(BadRequest):
    """A V2 sequence request for an id that is not open: 400, Triton's answer (START comes first)."""


class SessionLimit(Overloaded):
    """``stream_max_sessions`` open: 503 at once, with ``Retry-After`` (seconds)."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(
            message, field="session", rule="at most stream_max_sessions open sessions", retry_after_s=retry_after_s
        )


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
    #: the task's scratch space between chunks (keywords: samples of the frame not yet complete)
    carry: dict[str, Any] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def state_bytes(self) -> int:
        return int(sum(v.nbytes for v in self.state.values()))

    def info(self, spec: StreamingSpec, now: float) -> dict[str, Any]:
        return {
            "session_id": self.id,
            "model": self.model,
            "chunks": self.chunks,
            "steps": self.steps,
            "state_bytes": self.state_bytes,
            "recurrent_state_bytes": spec.recurrent_state_bytes,
            "idle_s": round(now - self.last_used, 3),
            "age_s": round(now - self.created, 3),
        }


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
            raise SessionLimit(
                f"all {self.max_sessions} streaming sessions are in use; end one or retry later",
                retry_after_s=max(1, int(min(self.idle_timeout_s, 5))),
            )
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
            raise SessionNotFound(
                f"no open session {session_id!r} on model {model!r} (never opened, ended or "
                f"idle for {self.idle_timeout_s:g} s)",
                field="session_id",
                rule="an open session of this model",
            )
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
