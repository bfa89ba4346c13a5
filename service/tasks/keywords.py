"""Keywords: WAV bytes or samples → log-mel (``service.preprocess.audio``) → digit."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

import numpy as np

from service.errors import InvalidInput, UnsupportedMediaType, bad_field
from service.package import KeywordsPreprocessing, ModelPackage
from service.preprocess.audio import check_samples, decode_wav, log_mel
from service.runtime import Tensors
from service.schemas import KeywordsRequest, parse_json, validate
from service.tasks.base import TaskPipeline, classify, is_json, media_type

WAV_TYPES = ("audio/wav", "audio/x-wav", "audio/wave", "audio/vnd.wave")


class KeywordsPipeline(TaskPipeline):
    task = "keywords"

    def __init__(self, package: ModelPackage, folder: Path, max_batch_size: int) -> None:
        super().__init__(package, folder, max_batch_size)
        assert isinstance(package.preprocessing, KeywordsPreprocessing)
        self.cfg = package.preprocessing
        self.input_name = package.inputs[0].name
        self.labels = package.labels or [str(i) for i in range(10)]

    def parse(self, body: bytes, content_type: str | None) -> np.ndarray:
        """Any accepted body → validated float32 samples at the model's sample rate."""
        if media_type(content_type) in WAV_TYPES:
            return decode_wav(body, self.cfg, field="body")
        if not is_json(content_type):
            raise UnsupportedMediaType(
                f"Content-Type: {media_type(content_type)!r} is not supported; send audio/wav or application/json",
                field="Content-Type", rule="audio/wav or application/json",
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

    def preprocess(self, samples: np.ndarray) -> tuple[Tensors, None]:
        return {self.input_name: log_mel(samples, self.cfg)[None]}, None

    def postprocess(self, outputs: Tensors, context: Any) -> list[dict[str, Any]]:
        answers = classify(outputs["logits"], self.labels)
        for answer in answers:
            answer["digit"] = answer.pop("index")
        return answers

    def example_inputs(self) -> Tensors:
        t = np.arange(self.cfg.clip_samples, dtype=np.float32) / self.cfg.sample_rate
        return self.preprocess((0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32))[0]
