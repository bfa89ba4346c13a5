"""The data plane: the ONE request path every front end calls.

Task API, ``/v1/compare``, V2 infer (JSON and binary, plain and sequences) and native streaming
chunks all enter here; the front ends (``service.http``) only decode what arrives and encode what
leaves. :meth:`DataPlane._call` owns what every request shares: the timing of its phases,
success and failure in the model's statistics and in Prometheus, and turning a preprocessing
rule into a typed error. Anything new on the request path (tracing, auth, gRPC) is added once,
here.

A request is decoded on the event loop when its body is small and on a worker thread when it is
larger than ``decode_offload_bytes``, so one large body cannot stall every other request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar

from service.errors import BadRequest, InvalidInput, ModelNotFound, bad_field
from service.observability.metrics import Metrics
from service.preprocess.errors import PreprocessError
from service.runtime.repository import LoadedModel, ModelRepository
from service.runtime.runner import ClientGone, Tensors
from service.runtime.step import StepModel
from service.settings import Settings
from service.streaming.store import SequenceNotStarted, SessionNotFound, StreamSession
from service.streaming.streams import STREAM_SUFFIX, Streaming, StreamVariant
from service.tasks import TASKS
from service.timing import Timing, now_ns
from service.v2 import config as v2_config
from service.v2.stats import ModelStats
from service.v2.types import (
    InferRequest,
    InferResponse,
    SequenceParams,
    bind_inputs,
    select_outputs,
    sequence_of,
)

T = TypeVar("T")
#: the body, read by the front end when the data plane asks for it (inside the request's timing)
ReadBody = Callable[[], Awaitable[bytes]]


@dataclass
class Prediction:
    """A task API answer: the JSON body and the timing for the ``Server-Timing`` header."""

    body: dict[str, Any]
    timing: Timing


class _Call:
    """The context of one request in :meth:`DataPlane._call`: on the way out, a success is timed
    and recorded, a failure is counted, and a preprocessing rule becomes a typed error.

    A plain (synchronous) context manager because neither end awaits anything; an
    ``asynccontextmanager`` generator cost each request several µs of generator machinery.
    """

    __slots__ = ("metrics", "name", "stats", "timing")

    def __init__(self, metrics: Metrics, name: str, stats: ModelStats, timing: Timing) -> None:
        self.metrics, self.name, self.stats, self.timing = metrics, name, stats, timing

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        timing = self.timing
        if exc is None:
            timing.finish()
            self.stats.record_success(timing, timing.rows)
            self.metrics.observe(self.name, timing)
            return
        self.stats.record_failure(now_ns() - timing.start_ns)
        if isinstance(exc, PreprocessError):
            raise bad_field(InvalidInput, exc.field, exc.rule) from None


class DataPlane:
    def __init__(self, repository: ModelRepository, streaming: Streaming, metrics: Metrics, settings: Settings) -> None:
        self.repository = repository
        self.streaming = streaming
        self.metrics = metrics
        self.settings = settings

    # ---- what every request shares -----------------------------------------------------------
    def _call(self, name: str, stats: ModelStats, timing: Timing) -> _Call:
        """Record the request as a success (with ``timing.rows`` rows) or a failure, once, in the
        statistics of the model it named (``stats``) and in Prometheus (see :class:`_Call`)."""
        return _Call(self.metrics, name, stats, timing)

    async def _decode(self, size: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the loop for a small body, on a worker thread for a large one."""
        if size > self.settings.decode_offload_bytes:
            return await asyncio.to_thread(fn, *args)
        return fn(*args)

    async def _run(self, model: LoadedModel, inputs: Tensors, timing: Timing, gone: ClientGone | None) -> Tensors:
        assert model.runner is not None
        result = await model.runner.infer(inputs, gone)
        timing.queue_ns += result.queue_ns
        timing.inference_ns += result.inference_ns
        timing.batch_size = result.batch_size
        return result.outputs

    # ---- task API --------------------------------------------------------------------------------
    async def predict(
        self, name: str, read: ReadBody, content_type: str | None, gone: ClientGone | None = None
    ) -> Prediction:
        """Raw task input (text, audio, history) → answers, through the model's task."""
        timing = Timing()
        model = self.repository.get_ready(name)
        body = await self._predict(model, await read(), content_type, timing, gone)
        return Prediction(body, timing)

    async def _predict(
        self, model: LoadedModel, body: bytes, content_type: str | None, timing: Timing, gone: ClientGone | None
    ) -> dict[str, Any]:
        task = model.task
        assert task is not None
        with self._call(model.name, model.stats, timing):
            started = now_ns()
            inputs = await self._decode(len(body), lambda: task.preprocess(task.parse(body, content_type)))
            timing.preprocess_ns = now_ns() - started
            outputs = await self._run(model, inputs, timing, gone)
            started = now_ns()
            predictions = task.postprocess(outputs)
            timing.postprocess_ns = now_ns() - started
            timing.rows = len(predictions)
        return {"model": model.name, "predictions": predictions, "timing": timing.as_dict()}

    async def compare(
        self, task: str, read: ReadBody, content_type: str | None, gone: ClientGone | None = None
    ) -> Prediction:
        """One input through the task's LSTM and GRU: both answers, both timings."""
        timing = Timing()
        if task not in TASKS:
            raise ModelNotFound(f"unknown task {task!r}; tasks: {', '.join(TASKS)}", field="task")
        models = self.repository.for_task(task)
        if not models:
            raise ModelNotFound(f"no models for task {task!r} in the repository", field="task")
        ready = [self.repository.get_ready(m.name) for m in models]
        body = await read()
        results = {}
        for model in ready:
            one = Timing()
            results[model.name] = await self._predict(model, body, content_type, one, gone)
            timing.add(one)
        timing.finish()
        return Prediction({"task": task, "results": results, "timing": timing.as_dict()}, timing)

    # ---- KServe V2 -----------------------------------------------------------------------------
    def v2_model(self, name: str, version: str | None = None) -> LoadedModel | StreamVariant:
        """The model a V2 route names: a package, or a package's stateful ``-stream`` variant."""
        variant = self.streaming.by_name(name)
        if variant is None:
            return self.repository.get(name, version)
        if version is not None and version != variant.base.version:
            raise ModelNotFound(
                f"model {name!r} has no version {version!r}; versions: [{variant.base.version!r}]", field="version"
            )
        return variant

    async def infer(
        self,
        name: str,
        version: str | None,
        read: ReadBody,
        decode: Callable[[bytes], InferRequest],
        gone: ClientGone | None = None,
    ) -> tuple[InferRequest, InferResponse, Timing]:
        """A V2 inference request: one-shot on a package, a sequence step on a ``-stream`` model."""
        timing = Timing()
        target = self.v2_model(name, version)
        model = target.base if isinstance(target, StreamVariant) else target
        self.repository.get_ready(model.name)
        raw = await read()
        stats = target.stats
        with self._call(name, stats, timing):
            started = now_ns()
            request = await self._decode(len(raw), decode, raw)
            sequence = sequence_of(request)
            if isinstance(target, StreamVariant):
                if sequence is None:
                    raise bad_field(
                        BadRequest,
                        "parameters.sequence_id",
                        "a stateful model needs a non-zero sequence_id (Triton's sequence parameters)",
                    )
                response = await self._sequence_step(target, request, sequence, timing, started, gone)
            else:
                if sequence is not None:
                    raise bad_field(
                        BadRequest,
                        "parameters.sequence_id",
                        f"{name!r} is stateless; send sequences to {name + STREAM_SUFFIX!r}",
                    )
                response = await self._one_shot(model, request, timing, started, gone)
        response.parameters = {**timing.as_dict(), **response.parameters}
        return request, response, timing

    async def _one_shot(
        self, model: LoadedModel, request: InferRequest, timing: Timing, started: int, gone: ClientGone | None
    ) -> InferResponse:
        task, package = model.task, model.package
        assert task is not None and package is not None
        inputs = task.check_tensors(
            bind_inputs(
                request, package.inputs, task.implicit_inputs, self.settings.max_request_rows, task.max_sequence_length
            )
        )
        wanted = select_outputs(request, [o.name for o in package.outputs])
        timing.preprocess_ns = now_ns() - started
        outputs = await self._run(model, inputs, timing, gone)
        timing.rows = int(next(iter(inputs.values())).shape[0])
        return InferResponse(model.name, model.version, [(n, outputs[n]) for n in wanted], {}, request.id)

    async def _sequence_step(
        self,
        variant: StreamVariant,
        request: InferRequest,
        sequence: SequenceParams,
        timing: Timing,
        started: int,
        gone: ClientGone | None,
    ) -> InferResponse:
        """Start/continue/end the stateful session ``sequence.id`` with this request's tensors."""
        model, step, store = variant.base, variant.step, self.streaming.store
        assert model.task is not None
        inputs = model.task.check_chunk_tensors(
            bind_inputs(request, step.spec.inputs, frozenset(), 1, model.task.max_sequence_length)
        )
        wanted = select_outputs(request, step.output_names)
        timing.preprocess_ns = now_ns() - started
        if sequence.start:
            session = store.open(model.name, step.zero_state(), session_id=sequence.id)
        else:
            try:
                session = store.get(model.name, sequence.id)
            except SessionNotFound as exc:  # Triton: 400, the first request must carry START
                raise SequenceNotStarted(
                    f"{exc.message}; the first request of a sequence must set sequence_start",
                    field="parameters.sequence_id",
                    rule="a started sequence",
                ) from None
        async with session.lock:
            await self._advance(step, session, inputs, timing, gone)
            session.chunks += 1
            store.touch(session)
        if sequence.end:
            store.end(model.name, sequence.id)
        assert session.outputs is not None
        return InferResponse(
            variant.name,
            model.version,
            [(n, session.outputs[n]) for n in wanted],
            {"sequence_id": sequence.id, "sequence_steps": session.steps},
            request.id,
        )

    async def _advance(
        self, step: StepModel, session: StreamSession, inputs: Tensors | None, timing: Timing, gone: ClientGone | None
    ) -> None:
        """Run one chunk from the session's state and keep the new state (caller holds the lock)."""
        if inputs is None:
            return
        outputs, state, result = await step.advance(inputs, session.state, gone)
        session.state, session.outputs = state, outputs
        session.steps += int(next(iter(inputs.values())).shape[1])
        timing.queue_ns += result.queue_ns
        timing.inference_ns += result.inference_ns
        timing.batch_size = timing.rows = 1

    # ---- native streaming sessions (on the package's name; they run on its -stream variant) ---------
    def open_session(self, name: str) -> dict[str, Any]:
        variant = self.streaming.variant(self.repository.get_ready(name))
        store = self.streaming.store
        session = store.open(name, variant.step.zero_state())
        spec = variant.step.spec
        return {
            **session.info(spec, store.clock()),
            "idle_timeout_s": store.idle_timeout_s,
            "bytes_per_session": spec.bytes_per_session,
        }

    def session_info(self, name: str, session_id: str, end: bool = False) -> dict[str, Any]:
        variant = self.streaming.variant(self.repository.get_ready(name))
        store = self.streaming.store
        session = store.end(name, session_id) if end else store.get(name, session_id)
        return {**session.info(variant.step.spec, store.clock()), **({"ended": True} if end else {})}

    async def chunk(
        self,
        name: str,
        session_id: str,
        read: ReadBody,
        content_type: str | None,
        end: bool,
        gone: ClientGone | None = None,
    ) -> Prediction:
        """The next chunk of raw task input for an open session; the answer from the carried state."""
        timing = Timing()
        model = self.repository.get_ready(name)
        task = model.task
        assert task is not None
        variant = self.streaming.variant(model)
        store = self.streaming.store
        session = store.get(name, session_id)
        body = await read()
        async with session.lock:
            with self._call(variant.name, variant.stats, timing):
                started = now_ns()
                inputs = await self._decode(len(body), task.chunk_inputs, body, content_type, session.carry)
                timing.preprocess_ns = now_ns() - started
                await self._advance(variant.step, session, inputs, timing, gone)
                started = now_ns()
                predictions = task.postprocess(session.outputs) if session.outputs else []
                timing.postprocess_ns = now_ns() - started
                session.chunks += 1
                store.touch(session)
        if end:
            store.end(name, session_id)
        out: dict[str, Any] = {
            "model": name,
            "session_id": session_id,
            "chunks": session.chunks,
            "steps": session.steps,
            "state_bytes": session.state_bytes,
            "ended": end,
            "predictions": predictions,
            **task.chunk_info(session.carry),
            "timing": timing.as_dict(),
        }
        return Prediction(out, timing)

    # ---- V2 metadata, configuration and statistics ----------------------------------------------
    def metadata(self, name: str, version: str | None) -> dict[str, Any]:
        target = self.v2_model(name, version)
        if isinstance(target, StreamVariant):
            return v2_config.stream_metadata(target)
        return v2_config.metadata(target)

    def ready(self, name: str, version: str | None) -> None:
        """Raise 503 unless the model ``name`` (or the package behind a ``-stream`` model) is ready."""
        target = self.v2_model(name, version)
        self.repository.get_ready(target.base.name if isinstance(target, StreamVariant) else target.name)

    def model_config(self, name: str, version: str | None) -> dict[str, Any]:
        target = self.v2_model(name, version)
        if isinstance(target, StreamVariant):
            return v2_config.stream_config(target, self.streaming.sequence_batching(target))
        return v2_config.model_config(target, self.settings.max_request_rows)

    def model_stats(self, name: str | None = None, version: str | None = None) -> dict[str, Any]:
        """Triton statistics of one model, or of every model (packages, then their -stream variants)."""
        if name is not None:
            target = self.v2_model(name, version)
            version_ = target.base.version if isinstance(target, StreamVariant) else target.version
            return {"model_stats": [target.stats.as_triton(target.name, version_)]}
        plain = [m.stats.as_triton(m.name, m.version) for m in self.repository.models.values()]
        stateful = [v.stats.as_triton(v.name, v.base.version) for v in self.streaming.variants.values()]
        return {"model_stats": plain + stateful}
