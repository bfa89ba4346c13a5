"""Keywords: WAV bytes or samples → log-mel (``service.preprocess.audio``) → digit.

A streaming chunk is raw audio, as for ``/predict``, at 8 kHz. Samples are appended to the
stream; every analysis frame (25 ms window, 10 ms hop) that is complete is computed with
:func:`~service.preprocess.audio.log_mel_frames` and fed; the samples of the next, incomplete
frame wait for the next chunk. The answer after N chunks equals ``model.onnx`` on the log-mel
frames of the concatenated audio (a stream has no fixed 1-s window); for audio of exactly 8,000
samples that is ``/predict``'s answer.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from service.errors import InvalidInput, UnsupportedMediaType, bad_field
from service.package import KeywordsPreprocessing, ModelPackage
from service.preprocess.audio import check_samples, complete_frames, decode_wav, log_mel, log_mel_frames
from service.tasks.base import RequestModel, Task, Tensors, classify, is_json, media_type, parse_json, validate

WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")


class KeywordsRequest(RequestModel):
    """A spoken digit: base64 of a 16-bit mono PCM WAV, or raw samples in [-1, 1] at 8 kHz.

    A WAV file can also be sent as the request body with ``Content-Type: audio/wav``.
    """

    audio_base64: str | None = None
    samples: list[float] | None = None
    sample_rate: int | None = Field(None, description="required with samples; must be the model's rate")

    @model_validator(mode="after")
    def _exactly_one(self) -> KeywordsRequest:
        if (self.audio_base64 is None) == (self.samples is None):
            raise ValueError("give exactly one of 'audio_base64' or 'samples'")
        if self.samples is not None and self.sample_rate is None:
            raise ValueError("'sample_rate' is required with 'samples'")
        return self


class KeywordsTask(Task):
    name = "keywords"
    request_model = KeywordsRequest
    examples: ClassVar[dict[str, Any]] = {"keywords samples": {"samples": [0.0, 0.1, -0.1], "sample_rate": 8000}}
    chunk_examples: ClassVar[dict[str, Any]] = {
        "keywords (raw 8 kHz samples, any length)": {"samples": [0.0, 0.01, -0.02], "sample_rate": 8000}
    }
    binary_media_types = WAV_TYPES

    def __init__(self, package: ModelPackage, folder: Path, max_request_rows: int) -> None:
        super().__init__(package, folder, max_request_rows)
        assert isinstance(package.preprocessing, KeywordsPreprocessing)
        self.cfg = package.preprocessing
        self.input_name = package.inputs[0].name
        self.labels = package.labels or [str(i) for i in range(10)]

    @property
    def max_sequence_length(self) -> int:
        """Frames of the longest audio accepted, plus the partial frame a stream may carry over."""
        return complete_frames(self.cfg.max_input_samples + self.cfg.win_length - 1, self.cfg)

    def parse(self, body: bytes, content_type: str | None) -> np.ndarray:
        """Any accepted body → validated float32 samples at the model's sample rate."""
        if media_type(content_type) in WAV_TYPES:
            return decode_wav(body, self.cfg, field="body")
        if not is_json(content_type):
            raise UnsupportedMediaType(
                f"Content-Type: {media_type(content_type)!r} is not supported; send audio/wav or application/json",
                field="Content-Type",
                rule="audio/wav or application/json",
            )
        request = validate(KeywordsRequest, parse_json(body))
        if request.audio_base64 is not None:
            try:
                wav = base64.b64decode(request.audio_base64, validate=True)
            except (binascii.Error, ValueError):
                raise bad_field(InvalidInput, "audio_base64", "must be standard base64") from None
            return decode_wav(wav, self.cfg, field="audio_base64")
        if request.sample_rate != self.cfg.sample_rate:
            raise bad_field(
                InvalidInput, "sample_rate", f"must be {self.cfg.sample_rate} Hz; got {request.sample_rate}"
            )
        samples = check_samples(np.asarray(request.samples, dtype=np.float32), self.cfg)
        if np.abs(samples).max() > 1.0:
            raise bad_field(InvalidInput, "samples", "samples must be in [-1, 1]")
        return samples

    def preprocess(self, samples: np.ndarray) -> Tensors:
        return self.feeds([log_mel(samples, self.cfg)])

    def postprocess(self, outputs: Tensors) -> list[dict[str, Any]]:
        answers = classify(outputs["logits"], self.labels)
        for answer in answers:
            answer["digit"] = answer.pop("index")
        return answers

    def chunk_inputs(self, body: bytes, content_type: str | None, carry: dict[str, Any]) -> Tensors | None:
        samples = self.parse(body, content_type)
        pending = carry.get("pending")
        buffer = samples if pending is None else np.concatenate([pending, samples])
        frames = complete_frames(len(buffer), self.cfg)
        carry["pending"] = buffer[frames * self.cfg.hop_length :]
        return {self.input_name: log_mel_frames(buffer, self.cfg)[None]} if frames else None

    def chunk_info(self, carry: dict[str, Any]) -> dict[str, Any]:
        pending = carry.get("pending")
        return {} if pending is None else {"pending_samples": int(pending.size)}

    def example_inputs(self) -> Tensors:
        t = np.arange(self.cfg.clip_samples, dtype=np.float32) / self.cfg.sample_rate
        return self.preprocess((0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))

    def probe_inputs(self, rows: int, steps: int) -> Tensors:
        return {self.input_name: np.zeros((rows, steps, self.cfg.n_mels), dtype=np.float32)}

    @classmethod
    def feeds(cls, examples: Sequence[np.ndarray] | np.ndarray) -> Tensors:
        """Log-mel feature matrices [frames, mels] → ``features`` [B, frames, mels]."""
        return {
            "features": np.ascontiguousarray(
                np.stack(list(examples)) if not isinstance(examples, np.ndarray) else examples, dtype=np.float32
            )
        }
