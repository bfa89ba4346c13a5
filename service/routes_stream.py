"""Streaming sessions over HTTP: the native endpoints, and V2 inference with Triton's sequence
parameters (``sequence_id``, ``sequence_start``, ``sequence_end`` in the request ``parameters``).

Native::

    POST   /v1/models/{name}/sessions                 → 201 {"session_id", ...}
    POST   /v1/models/{name}/sessions/{id}/chunks     → the answer after this chunk (?end=true ends it)
    GET    /v1/models/{name}/sessions/{id}            → its counters and state bytes
    DELETE /v1/models/{name}/sessions/{id}            → ends it, frees its state
    GET    /v1/sessions                               → limits, counts, state bytes per model

Unknown, ended or expired sessions answer 404 natively and 400 on V2 (what Triton answers for a
sequence that was not started); a full store answers 503 with ``Retry-After``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from service.errors import BadRequest, ServiceError, bad_field
from service.http_io import json_response, read_body
from service.pipeline import record
from service.repository import LoadedModel
from service.stream_chunks import native_inputs, steps_of, v2_inputs
from service.streaming import SessionNotFound, StreamModel, StreamSession, Streaming
from service.timing import Timing, now_ns
from service.v2_codec import encode_outputs, encode_response, requested_outputs

router = APIRouter(tags=["streaming sessions"])

_CHUNK_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "examples": {
                    "sentiment (text continues the sequence)": {"value": {"text": "but the acting is wonderful ."}},
                    "keywords (raw 8 kHz samples, any length)": {"value": {"samples": [0.0, 0.01, -0.02],
                                                                           "sample_rate": 8000}},
                    "forecast (new hourly rows, raw units)": {"value": {"rows": [[5.8, 2.0, 1.6, 0.46, 4.2, 1.34,
                                                                                  30.5]]}},
                },
            },
            "audio/wav": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def _streaming(request: Request) -> Streaming:
    return request.app.state.streaming


def _stream_model(request: Request, name: str) -> tuple[LoadedModel, StreamModel]:
    loaded = request.app.state.repository.get_ready(name)
    return loaded, _streaming(request).model(loaded)


async def _advance(stream: StreamModel, session: StreamSession, inputs: dict[str, Any] | None,
                   timing: Timing) -> None:
    """Run one chunk from the session's state and keep the new state (caller holds the lock)."""
    if inputs is None:
        return
    outputs, state, queue_ns, inference_ns = await stream.run(inputs, session.state)
    session.state, session.outputs = state, outputs
    session.steps += steps_of(inputs)
    timing.queue_ns += queue_ns
    timing.inference_ns += inference_ns
    timing.batch_size = 1


@router.get("/v1/sessions", summary="Streaming sessions: limits, counts, state bytes per model")
async def sessions_overview(request: Request) -> Response:
    return json_response(_streaming(request).overview())


@router.post("/v1/models/{name}/sessions", status_code=201, summary="Open a streaming session on a model")
async def open_session(name: str, request: Request) -> Response:
    _, stream = _stream_model(request, name)
    store = _streaming(request).store
    session = store.open(name, stream.step.zero_state())
    body = session.info(stream.step, store.clock())
    body.update(idle_timeout_s=store.idle_timeout_s, bytes_per_session=stream.step.spec.bytes_per_session)
    return json_response(body, status_code=201)


@router.get("/v1/models/{name}/sessions/{session_id}", summary="One session's counters and state bytes")
async def session_info(name: str, session_id: str, request: Request) -> Response:
    _, stream = _stream_model(request, name)
    store = _streaming(request).store
    return json_response(store.get(name, session_id).info(stream.step, store.clock()))


@router.delete("/v1/models/{name}/sessions/{session_id}", summary="End a session and free its state")
async def end_session(name: str, session_id: str, request: Request) -> Response:
    _, stream = _stream_model(request, name)
    store = _streaming(request).store
    session = store.end(name, session_id)
    return json_response({**session.info(stream.step, store.clock()), "ended": True})


@router.post("/v1/models/{name}/sessions/{session_id}/chunks", openapi_extra=_CHUNK_BODY,
             summary="Send the next chunk (text / audio / hourly rows); answer from the carried state")
async def send_chunk(name: str, session_id: str, request: Request, end: bool = False) -> Response:
    timing = Timing()
    state = request.app.state
    loaded, stream = _stream_model(request, name)
    store = _streaming(request).store
    session = store.get(name, session_id)
    body = await read_body(request, state.settings.max_body_bytes)
    assert loaded.pipeline is not None
    async with session.lock:
        try:
            started = now_ns()
            inputs = native_inputs(loaded, session, body, request.headers.get("content-type"))
            timing.preprocess_ns = now_ns() - started
            await _advance(stream, session, inputs, timing)
            started = now_ns()
            predictions = loaded.pipeline.postprocess(session.outputs, None) if session.outputs else []
            timing.postprocess_ns = now_ns() - started
        except (ServiceError, ValueError):
            loaded.stats.record_failure(now_ns() - timing.start_ns)
            raise
        session.chunks += 1
        store.touch(session)
    if end:
        store.end(name, session_id)
    timing.finish()
    if inputs is not None:
        record(loaded, state.metrics, timing, batch=1)
    out: dict[str, Any] = {"model": name, "session_id": session_id, "chunks": session.chunks,
                           "steps": session.steps, "state_bytes": session.state_bytes, "ended": end,
                           "predictions": predictions}
    if session.pending is not None:
        out["pending_samples"] = int(session.pending.size)
    out["timing"] = timing.as_dict()
    return json_response(out, timing)


def sequence_batching_config(request: Request, model: LoadedModel) -> dict[str, Any]:
    """Triton's ``sequence_batching`` block (implicit state) for a model that can stream, else {}."""
    streaming = _streaming(request)
    stream = streaming.models.get(model.name)
    if stream is None:
        return {}
    states = [{"input_name": s.input, "output_name": s.output, "data_type": f"TYPE_{s.datatype}",
               "dims": [d for d in s.shape if d >= 0] or [1]} for s in stream.step.spec.states]
    return {"sequence_batching": {
        "max_sequence_idle_microseconds": int(streaming.store.idle_timeout_s * 1e6),
        "state": states,
        "control_input": [],  # controls travel as request parameters (sequence_start/_end), not tensors
    }}


def sequence_parameters(request: dict[str, Any]) -> tuple[str, bool, bool] | None:
    """``(id, start, end)`` when a V2 request belongs to a sequence (Triton: id 0 / "" = none)."""
    params = request.get("parameters")
    if not isinstance(params, dict) or "sequence_id" not in params:
        return None
    sid = params["sequence_id"]
    if isinstance(sid, bool) or not isinstance(sid, (int, str)):
        raise bad_field(BadRequest, "parameters.sequence_id", "must be an unsigned integer or a string")
    if sid in (0, ""):
        return None
    if isinstance(sid, int) and sid < 0:
        raise bad_field(BadRequest, "parameters.sequence_id", "must be an unsigned integer or a string")
    flags = []
    for key in ("sequence_start", "sequence_end"):
        value = params.get(key, False)
        if not isinstance(value, bool):
            raise bad_field(BadRequest, f"parameters.{key}", "must be true or false")
        flags.append(value)
    return str(sid), flags[0], flags[1]


async def v2_sequence_infer(model: LoadedModel, request: Request, req: dict[str, Any], tail: bytes,
                            sequence: tuple[str, bool, bool], timing: Timing) -> Response:
    """A V2 infer request of a sequence: start/continue/end the session ``sequence_id``.

    Called inside ``routes_v2.infer``'s error handling (which counts failures in the stats)."""
    sid, start, end = sequence
    streaming = _streaming(request)
    stream = streaming.model(model)
    store = streaming.store
    assert model.package is not None
    started = now_ns()
    inputs = v2_inputs(model, stream.step, req, tail)
    wanted = requested_outputs(req, [o.name for o in stream.step.spec.outputs])
    timing.preprocess_ns = now_ns() - started
    if start:
        session = store.open(model.name, stream.step.zero_state(), session_id=sid)
    else:
        try:
            session = store.get(model.name, sid)
        except SessionNotFound as exc:  # Triton: 400, the first request must carry START
            raise BadRequest(f"{exc.message}; the first request of a sequence must set sequence_start",
                             field="parameters.sequence_id", rule="a started sequence") from None
    async with session.lock:
        await _advance(stream, session, inputs, timing)
        session.chunks += 1
        store.touch(session)
    if end:
        store.end(model.name, sid)
    started = now_ns()
    assert session.outputs is not None
    entries, chunks = encode_outputs(session.outputs, wanted)
    timing.postprocess_ns = now_ns() - started
    timing.finish()
    record(model, request.app.state.metrics, timing, batch=1)
    header: dict[str, Any] = {"model_name": model.name, "model_version": model.package.version}
    if "id" in req:
        header["id"] = str(req["id"])
    header["parameters"] = {**timing.as_dict(), "sequence_id": sid, "sequence_steps": session.steps}
    header["outputs"] = entries
    payload, extra = encode_response(header, chunks)
    media = "application/octet-stream" if chunks else "application/json"
    return Response(payload, media_type=media, headers={**extra, "Server-Timing": timing.server_timing()})
