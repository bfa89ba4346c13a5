"""``Streaming``: the session store plus each model's step model, loaded beside the repository.

Step models run on :class:`~service.runtime.step.StepModel`, i.e. on the same runner as the
one-shot models (own thread, inline when alone and small, the same error mapping); their runs
count in the model's statistics like any other execution.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from service.errors import ServiceError
from service.package import verify_streaming
from service.runtime.repository import LoadedModel, ModelRepository, public_reason
from service.runtime.sessions import SessionConfig
from service.runtime.step import StepModel
from service.settings import Settings
from service.streaming.store import SessionStore

log = logging.getLogger("rnn_serve.streaming")


class StreamingUnavailable(ServiceError):
    """Asked to stream a model without a (working) step model: a client error, 400."""

    status = 400


def _open_step(model: LoadedModel, settings: Settings) -> StepModel:
    """Open, check and warm up one package's step model."""
    assert model.package is not None and model.package.streaming is not None and model.task is not None
    spec = model.package.streaming
    path = verify_streaming(model.folder, spec) if settings.verify_sha256 else model.folder / spec.file
    step = StepModel.open(
        model.name,
        path,
        spec,
        SessionConfig.from_settings(settings),
        recorder=model.stats,
        inline_max_us=settings.inline_max_us,
    )
    example = model.task.example_inputs()[spec.inputs[0].name][:, :4]
    step.runner.warm_up({spec.inputs[0].name: example, **step.zero_state()}, settings.warmup_runs)
    return step


class Streaming:
    """The session store and the step models of every ready package that declares one."""

    def __init__(self, settings: Settings, steps: dict[str, StepModel], errors: dict[str, str]) -> None:
        self.store = SessionStore(settings.stream_max_sessions, settings.stream_idle_timeout_s)
        self.steps = steps
        #: model → why it cannot stream (reported by ``GET /v1/sessions``)
        self.errors = errors
        self.reap_interval_s = settings.stream_reap_interval_s
        self._reaper: asyncio.Task[None] | None = None

    @classmethod
    def load(cls, repository: ModelRepository, settings: Settings) -> Streaming:
        """A failure disables streaming for that model only; its one-shot API stays up."""
        steps: dict[str, StepModel] = {}
        errors: dict[str, str] = {}
        for model in repository.models.values():
            if not model.ready or model.package is None or model.package.streaming is None:
                continue
            try:
                steps[model.name] = _open_step(model, settings)
            except Exception as exc:  # one broken step model must not take the server down
                errors[model.name] = f"the step model failed to load: {public_reason(exc)}"
                log.error("model %s: streaming NOT available: %s: %s", model.name, type(exc).__name__, exc)
        return cls(settings, steps, errors)

    def step(self, model: LoadedModel) -> StepModel:
        found = self.steps.get(model.name)
        if found is None:
            why = self.errors.get(model.name, "its package has no step model (model.json streaming)")
            raise StreamingUnavailable(
                f"model {model.name!r} cannot stream: {why}", field="model", rule="a model with a step model"
            )
        return found

    def overview(self) -> dict[str, Any]:
        """``GET /v1/sessions``: limits, counts and the state bytes each model's session holds."""
        store = self.store
        return {
            "active": len(store.sessions),
            "max_sessions": store.max_sessions,
            "idle_timeout_s": store.idle_timeout_s,
            "state_bytes_held": store.held_bytes(),
            "expired_total": store.expired_total,
            "rejected_total": store.rejected_total,
            "models": {
                name: {
                    "active": store.count(name),
                    "recurrent_state_bytes": s.spec.recurrent_state_bytes,
                    "bytes_per_session": s.spec.bytes_per_session,
                    "states": [st.model_dump() for st in s.spec.states],
                }
                for name, s in self.steps.items()
            },
            "unavailable": self.errors,
        }

    def sequence_batching(self, name: str) -> dict[str, Any] | None:
        """Triton's ``sequence_batching`` block (implicit state) for a model that can stream."""
        step = self.steps.get(name)
        if step is None:
            return None
        states = [
            {
                "input_name": s.input,
                "output_name": s.output,
                "data_type": f"TYPE_{s.datatype}",
                "dims": [d for d in s.shape if d >= 0] or [1],
            }
            for s in step.spec.states
        ]
        return {
            "max_sequence_idle_microseconds": int(self.store.idle_timeout_s * 1e6),
            "state": states,
            "control_input": [],  # controls travel as request parameters (sequence_start/_end), not tensors
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
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        for step in self.steps.values():
            step.close()
