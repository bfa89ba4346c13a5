"""What one chunk of a stream is, per task, for the native endpoint and for V2 sequences.

Native chunks (raw task input, preprocessed here with the same ``service.preprocess`` code as
one-shot requests):

* sentiment: ``{"text": "..."}``: its tokens continue the sequence (tokenised per chunk, so a
  stream equals one-shot on the *concatenated token ids*).
* keywords: raw audio, as for ``/predict`` (WAV body, ``audio_base64`` or ``samples``), at
  8 kHz. Samples are appended to the stream; every analysis frame (25 ms window, 10 ms hop) that
  is complete is computed with ``service.preprocess.audio.log_mel_frames`` and fed; the samples
  of the next, incomplete frame wait for the next chunk. The answer after N chunks equals
  ``model.onnx`` on the log-mel frames of the concatenated audio (no 1-s padding/cropping: the
  stream has no fixed window). For audio of exactly 8,000 samples that is ``/predict``'s answer.
* forecast: ``{"rows": [[7 raw values], ...]}``: hourly rows (HUFL … OT, raw units), z-scored
  with the package statistics; the answer is the 96-h forecast from the current state, anchored
  to the last observed OT, in °C. After 96 rows it equals ``/predict`` on those 96 rows.

V2 sequence chunks are the model's tensors with a free time axis: ``tokens`` [1, T],
``features`` [1, T, 40] (already log-mel + scaled), ``history`` [1, T, 7] (already z-scored).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from service.errors import BadRequest, InvalidInput, bad_field
from service.package import ForecastPreprocessing, KeywordsPreprocessing
from service.preprocess.audio import complete_frames, log_mel_frames
from service.preprocess.errors import PreprocessError
from service.preprocess.series import normalize
from service.preprocess.text import encode_text
from service.repository import LoadedModel
from service.runtime import Tensors
from service.schemas import parse_json
from service.step_model import StepModel
from service.streaming import StreamSession
from service.tasks.base import require_json
from service.v2_codec import decode_inputs

#: Most forecast rows in one chunk (a chunk is new observations, not a data set).
MAX_ROWS_PER_CHUNK = 10_000


def _forecast_rows(body: bytes, content_type: str | None, cfg: ForecastPreprocessing) -> np.ndarray:
    require_json(content_type)
    data = parse_json(body)
    if not (isinstance(data, dict) and "rows" in data):
        raise bad_field(InvalidInput, "rows", "send {\"rows\": [[HUFL, HULL, MUFL, MULL, LUFL, LULL, OT], ...]}")
    n_vars = len(cfg.variables)
    try:
        rows = np.asarray(data["rows"], dtype=np.float64)
    except (TypeError, ValueError):
        raise PreprocessError("rows", f"rows must be a list of rows of {n_vars} numbers") from None
    if rows.ndim != 2 or rows.shape[1] != n_vars or not 1 <= rows.shape[0] <= MAX_ROWS_PER_CHUNK:
        shape = "x".join(map(str, rows.shape))
        raise PreprocessError("rows", f"rows must be 1–{MAX_ROWS_PER_CHUNK} rows of {n_vars} values "
                                      f"({', '.join(cfg.variables)}); got shape {shape}")
    if not np.all(np.isfinite(rows)):
        raise PreprocessError("rows", "values must be finite numbers (no NaN or Inf)")
    return normalize(rows.astype(np.float32), cfg)


def native_inputs(model: LoadedModel, session: StreamSession, body: bytes,
                  content_type: str | None) -> Tensors | None:
    """The step inputs of one native chunk, or None when it completes no new time step (keywords)."""
    pipeline = model.pipeline
    assert pipeline is not None and model.package is not None
    task = model.package.task
    if task == "sentiment":
        request = pipeline.parse(body, content_type)
        if request.text is None:
            raise bad_field(InvalidInput, "text", "a stream takes one text per chunk ({\"text\": \"...\"})")
        cfg = pipeline.cfg
        ids = encode_text(request.text, pipeline.vocab, max_tokens=cfg.max_tokens, max_chars=cfg.max_chars)
        return {"tokens": np.asarray(ids, dtype=np.int64)[None]}
    if task == "keywords":
        cfg = pipeline.cfg
        assert isinstance(cfg, KeywordsPreprocessing)
        samples = pipeline.parse(body, content_type)
        buffer = samples if session.pending is None else np.concatenate([session.pending, samples])
        frames = complete_frames(len(buffer), cfg)
        session.pending = buffer[frames * cfg.hop_length:]
        return {"features": log_mel_frames(buffer, cfg)[None]} if frames else None
    return {"history": _forecast_rows(body, content_type, pipeline.cfg)[None]}


def v2_inputs(model: LoadedModel, step: StepModel, request: dict[str, Any], tail: bytes) -> Tensors:
    """Decode and check a V2 sequence request's tensors (batch 1, any number of time steps)."""
    assert model.pipeline is not None and model.package is not None
    inputs = decode_inputs(request, tail, step.spec.inputs, set(), 1)
    if model.package.task == "sentiment":
        inputs = {"tokens": model.pipeline.check_tensors(inputs)["tokens"]}
    first = next(iter(inputs.values()))
    if first.ndim < 2 or first.shape[1] == 0:
        raise bad_field(BadRequest, step.spec.inputs[0].name, "a chunk needs at least 1 time step")
    return inputs


def steps_of(inputs: Tensors) -> int:
    """Time steps in a chunk (axis 1 of its data input)."""
    return int(next(iter(inputs.values())).shape[1])
