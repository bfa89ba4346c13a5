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
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from service.errors import InvalidInput, ModelNotFound, bad_field
from service.observability.metrics import Metrics
from service.preprocess.errors import PreprocessError
from service.runtime.repository import LoadedModel, ModelRepository
from service.runtime.runner import ClientGone, Tensors
from service.settings import Settings
from service.streaming.store import SequenceNotStarted, SessionNotFound, StreamSession
from service.streaming.streams import Streaming
from service.tasks import TASKS
from service.timing import Timing, now_ns
from service.v2 import config as v2_config
from service.v2.types import InferRequest, InferResponse, bind_inputs, select_outputs, sequence_of

T = TypeVar("T")
#: the body, read by the front end when the data plane asks for it (inside the request's timing)
ReadBody = Callable[[], Awaitable[bytes]]


@dataclass
class Prediction:
    """A task API answer: the JSON body and the timing for the ``Server-Timing`` header."""

    body: dict[str, Any]
    timing: Timing


class DataPlane:
    def __init__(self, repository: ModelRepository, streaming: Streaming, metrics: Metrics, settings: Settings) -> None:
        self.repository = repository
        self.streaming = streaming
        self.metrics = metrics
        self.settings = settings

    # ---- what every request shares -----------------------------------------------------------
    @asynccontextmanager
    async def _call(self, model: LoadedModel, timing: Timing) -> AsyncIterator[None]:
        """Record the request as a success (with ``timing.batch_size`` rows) or a failure, once."""
        try:
            yield
        except PreprocessError as exc:
            model.stats.record_failure(now_ns() - timing.start_ns)
            raise bad_field(InvalidInput, exc.field, exc.rule) from None
        except BaseException:
            model.stats.record_failure(now_ns() - timing.start_ns)
            raise
        timing.finish()
        model.stats.record_success(timing, timing.rows)
        self.metrics.observe(model.name, timing)

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
        async with self._call(model, timing):
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
    async def infer(
        self,
        name: str,
        version: str | None,
        read: ReadBody,
        decode: Callable[[bytes], InferRequest],
        gone: ClientGone | None = None,
    ) -> tuple[InferRequest, InferResponse, Timing]:
        """A V2 inference request (a sequence chunk when it carries Triton's sequence parameters)."""
        timing = Timing()
        model = self.repository.get_ready(name, version)
        assert model.package is not None and model.task is not None
        raw = await read()
        async with self._call(model, timing):
            started = now_ns()
            request = await self._decode(len(raw), decode, raw)
            sequence = sequence_of(request)
            if sequence is not None:
                response = await self._sequence_step(
                    model, request, sequence.id, sequence.start, sequence.end, timing, started, gone
                )
            else:
                task = model.task
                inputs = task.check_tensors(
                    bind_inputs(
                        request,
                        model.package.inputs,
                        task.optional_inputs,
                        self.settings.max_request_rows,
                        task.max_sequence_length,
                    )
                )
                wanted = select_outputs(request, [o.name for o in model.package.outputs])
                timing.preprocess_ns = now_ns() - started
                outputs = await self._run(model, inputs, timing, gone)
                timing.rows = int(next(iter(inputs.values())).shape[0])
                response = InferResponse(model.name, model.version, [(n, outputs[n]) for n in wanted], {}, request.id)
        response.parameters = {**timing.as_dict(), **response.parameters}
        return request, response, timing

    async def _sequence_step(
        self,
        model: LoadedModel,
        request: InferRequest,
        sid: str,
        start: bool,
        end: bool,
        timing: Timing,
        started: int,
        gone: ClientGone | None,
    ) -> InferResponse:
        """Start/continue/end the stateful session ``sid`` with this request's tensors."""
        assert model.task is not None
        step = self.streaming.step(model)
        store = self.streaming.store
        inputs = model.task.check_chunk_tensors(
            bind_inputs(request, step.spec.inputs, frozenset(), 1, model.task.max_sequence_length)
        )
        wanted = select_outputs(request, step.output_names)
        timing.preprocess_ns = now_ns() - started
        if start:
            session = store.open(model.name, step.zero_state(), session_id=sid)
        else:
            try:
                session = store.get(model.name, sid)
            except SessionNotFound as exc:  # Triton: 400, the first request must carry START
                raise SequenceNotStarted(
                    f"{exc.message}; the first request of a sequence must set sequence_start",
                    field="parameters.sequence_id",
                    rule="a started sequence",
                ) from None
        async with session.lock:
            await self._advance(model, session, inputs, timing, gone)
            session.chunks += 1
            store.touch(session)
        if end:
            store.end(model.name, sid)
        assert session.outputs is not None
        return InferResponse(
            model.name,
            model.version,
            [(n, session.outputs[n]) for n in wanted],
            {"sequence_id": sid, "sequence_steps": session.steps},
            request.id,
        )

    async def _advance(
        self,
        model: LoadedModel,
        session: StreamSession,
        inputs: Tensors | None,
        timing: Timing,
        gone: ClientGone | None,
    ) -> None:
        """Run one chunk from the session's state and keep the new state (caller holds the lock)."""
        if inputs is None:
            return
        step = self.streaming.step(model)
        outputs, state, result = await step.advance(inputs, session.state, gone)
        session.state, session.outputs = state, outputs
        session.steps += int(next(iter(inputs.values())).shape[1])
        timing.queue_ns += result.queue_ns
        timing.inference_ns += result.inference_ns
        timing.batch_size = timing.rows = 1

    # ---- native streaming sessions ---------------------------------------------------------------
    def open_session(self, name: str) -> dict[str, Any]:
        model = self.repository.get_ready(name)
        step = self.streaming.step(model)
        store = self.streaming.store
        session = store.open(name, step.zero_state())
        return {
            **session.info(step.spec, store.clock()),
            "idle_timeout_s": store.idle_timeout_s,
            "bytes_per_session": step.spec.bytes_per_session,
        }

    def session_info(self, name: str, session_id: str, end: bool = False) -> dict[str, Any]:
        model = self.repository.get_ready(name)
        step = self.streaming.step(model)
        store = self.streaming.store
        session = store.end(name, session_id) if end else store.get(name, session_id)
        return {**session.info(step.spec, store.clock()), **({"ended": True} if end else {})}

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
        self.streaming.step(model)
        store = self.streaming.store
        session = store.get(name, session_id)
        body = await read()
        async with session.lock, self._call(model, timing):
            started = now_ns()
            inputs = await self._decode(len(body), task.chunk_inputs, body, content_type, session.carry)
            timing.preprocess_ns = now_ns() - started
            await self._advance(model, session, inputs, timing, gone)
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

    # ---- metadata ----------------------------------------------------------------------------------
    def model_config(self, name: str, version: str | None) -> dict[str, Any]:
        model = self.repository.get(name, version)
        return v2_config.model_config(
            model, self.settings.max_request_rows, self.streaming.sequence_batching(model.name)
        )

    def model_stats(self, name: str | None = None, version: str | None = None) -> dict[str, Any]:
        models = [self.repository.get(name, version)] if name is not None else list(self.repository.models.values())
        return {"model_stats": [m.stats.as_triton(m.name, m.version) for m in models]}
