"""``Streaming``: the session store plus each model's stateful variant, loaded beside the repository.

A package with a step model is served twice, as Triton serves a stateless and a stateful model:
``forecast-gru`` (one-shot, dynamic batching) and ``forecast-gru-stream`` (:class:`StreamVariant`,
Triton's sequence batcher: V2 requests carry ``sequence_id``/``sequence_start``/``sequence_end``).
A model has one scheduler, so perf_analyzer measures the plain path on the plain name and
sequences on the ``-stream`` name. The native session endpoints use the plain name and run on
the same variant. Step models run on :class:`~service.runtime.step.StepModel`, i.e. on the same
runner as the one-shot models (own thread, inline when alone and small, the same error mapping),
and count in the variant's own statistics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from service.errors import ServiceError
from service.package import verify_streaming
from service.runtime.repository import LoadedModel, ModelRepository, public_reason
from service.runtime.sessions import SessionConfig
from service.runtime.step import StepModel
from service.settings import Settings
from service.streaming.store import SessionStore
from service.v2.stats import ModelStats

#: the suffix of a package's stateful variant (``forecast-gru`` → ``forecast-gru-stream``)
STREAM_SUFFIX = "-stream"

log = logging.getLogger("rnn_serve.streaming")

#: why an int8 package has no stateful variant (``GET /v1/sessions`` ``unavailable``, the 400)
INT8_NO_STREAMING = (
    "int8 packages ship no step model: dynamic quantization scales each call by its own value range, "
    "so a streamed answer would depend on how the stream was chunked"
)


class StreamingUnavailable(ServiceError):
    """Asked to stream a model without a (working) step model: a client error, 400."""

    status = 400


@dataclass
class StreamVariant:
    """The stateful model ``<base>-stream``: the base package's step model and its own statistics."""

    name: str
    base: LoadedModel
    step: StepModel
    stats: ModelStats


def _open_step(model: LoadedModel, settings: Settings, stats: ModelStats) -> StepModel:
    """Open, check and warm up one package's step model; its runs count in ``stats``."""
    assert model.package is not None and model.package.streaming is not None and model.task is not None
    spec = model.package.streaming
    path = verify_streaming(model.folder, spec) if settings.verify_sha256 else model.folder / spec.file
    step = StepModel.open(
        model.name,
        path,
        spec,
        SessionConfig.from_settings(settings),
        recorder=stats,
        inline_max_us=settings.inline_max_us,
    )
    example = model.task.example_inputs()[spec.inputs[0].name][:, :4]
    step.runner.warm_up({spec.inputs[0].name: example, **step.zero_state()}, settings.warmup_runs)
    return step


class Streaming:
    """The session store and the stateful variant of every ready package with a step model."""

    def __init__(self, settings: Settings, variants: dict[str, StreamVariant], errors: dict[str, str]) -> None:
        self.store = SessionStore(settings.stream_max_sessions, settings.stream_idle_timeout_s)
        #: by the *base* model's name
        self.variants = variants
        self._by_name = {v.name: v for v in variants.values()}
        #: model → why it cannot stream (reported by ``GET /v1/sessions``)
        self.errors = errors
        self.reap_interval_s = settings.stream_reap_interval_s
        self._reaper: asyncio.Task[None] | None = None

    @classmethod
    def load(cls, repository: ModelRepository, settings: Settings) -> Streaming:
        """A failure disables streaming for that model only; its one-shot API stays up."""
        variants: dict[str, StreamVariant] = {}
        errors: dict[str, str] = {}
        for model in repository.models.values():
            if model.ready and model.package is not None and model.package.precision == "int8":
                errors[model.name] = INT8_NO_STREAMING
                continue
            if not model.ready or model.package is None or model.package.streaming is None:
                continue
            if settings.workers > 1:
                errors[model.name] = (
                    f"streaming needs --workers 1 (this server runs {settings.workers}): a session's state lives "
                    "in one process, and the next chunk may reach another"
                )
                continue
            try:
                stats = ModelStats(model.name + STREAM_SUFFIX)
                variants[model.name] = StreamVariant(
                    model.name + STREAM_SUFFIX, model, _open_step(model, settings, stats), stats
                )
            except Exception as exc:  # one broken step model must not take the server down
                errors[model.name] = f"the step model failed to load: {public_reason(exc)}"
                log.error("model %s: streaming NOT available: %s: %s", model.name, type(exc).__name__, exc)
        return cls(settings, variants, errors)

    def variant(self, model: LoadedModel) -> StreamVariant:
        """The stateful variant of ``model``; 400 when it has none."""
        found = self.variants.get(model.name)
        if found is None:
            why = self.errors.get(model.name, "its package has no step model (model.json streaming)")
            raise StreamingUnavailable(
                f"model {model.name!r} cannot stream: {why}", field="model", rule="a model with a step model"
            )
        return found

    def by_name(self, name: str) -> StreamVariant | None:
        """The variant called ``name`` (``<base>-stream``), if there is one."""
        return self._by_name.get(name)

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
                    "stateful_model": v.name,
                    "recurrent_state_bytes": v.step.spec.recurrent_state_bytes,
                    "bytes_per_session": v.step.spec.bytes_per_session,
                    "states": [st.model_dump() for st in v.step.spec.states],
                }
                for name, v in self.variants.items()
            },
            "unavailable": self.errors,
        }

    def sequence_batching(self, variant: StreamVariant) -> dict[str, Any]:
        """Triton's ``sequence_batching`` block (implicit state) of a stateful variant."""
        step = variant.step
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
        for variant in self.variants.values():
            variant.step.close()
