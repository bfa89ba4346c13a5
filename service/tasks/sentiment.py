"""Sentiment: raw text → PTB-like tokens → vocabulary ids (``service.preprocess.text``) → label."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from service.errors import BadRequest, bad_field
from service.package import ModelPackage, SentimentPreprocessing
from service.preprocess.text import Vocabulary, encode_text, pad_batch
from service.runtime import Tensors
from service.schemas import SentimentRequest, parse_json, validate
from service.tasks.base import TaskPipeline, classify, require_json


class SentimentPipeline(TaskPipeline):
    task = "sentiment"

    def __init__(self, package: ModelPackage, folder: Path, max_batch_size: int) -> None:
        super().__init__(package, folder, max_batch_size)
        assert isinstance(package.preprocessing, SentimentPreprocessing)
        self.cfg = package.preprocessing
        self.vocab = Vocabulary.load(folder / self.cfg.vocab_file)
        self.labels = package.labels or ["negative", "positive"]

    def parse(self, body: bytes, content_type: str | None) -> SentimentRequest:
        require_json(content_type)
        request = validate(SentimentRequest, parse_json(body))
        if request.texts is not None and len(request.texts) > self.max_batch_size:
            raise bad_field(BadRequest, "texts", f"at most {self.max_batch_size} texts per request")
        return request

    def preprocess(self, request: SentimentRequest) -> tuple[Tensors, None]:
        texts = [request.text] if request.text is not None else list(request.texts or [])
        fields = ["text"] if request.text is not None else [f"texts[{i}]" for i in range(len(texts))]
        ids = [
            encode_text(t, self.vocab, max_tokens=self.cfg.max_tokens, max_chars=self.cfg.max_chars, field=f)
            for t, f in zip(texts, fields, strict=True)
        ]
        tokens, lengths = pad_batch(ids, self.cfg.pad_id)
        return {"tokens": tokens, "lengths": lengths}, None

    def postprocess(self, outputs: Tensors, context: Any) -> list[dict[str, Any]]:
        answers = classify(outputs["logits"], self.labels)
        for answer in answers:
            del answer["index"]
        return answers

    def check_tensors(self, inputs: Tensors) -> Tensors:
        """V2: ids must index the vocabulary; ``lengths`` defaults to the full padded length."""
        tokens = inputs["tokens"]
        if tokens.shape[1] == 0:
            raise bad_field(BadRequest, "tokens", "sequence axis must have at least 1 step")
        if tokens.size and (tokens.min() < 0 or tokens.max() >= len(self.vocab)):
            raise bad_field(BadRequest, "tokens", f"token ids must be in [0, {len(self.vocab) - 1}]")
        lengths = inputs.get("lengths")
        if lengths is None:
            lengths = np.full(tokens.shape[0], tokens.shape[1], dtype=np.int64)
        elif lengths.shape[0] != tokens.shape[0]:
            raise bad_field(BadRequest, "lengths", f"must have one length per row ({tokens.shape[0]})")
        elif lengths.size and (lengths.min() < 1 or lengths.max() > tokens.shape[1]):
            raise bad_field(BadRequest, "lengths", f"each length must be in [1, {tokens.shape[1]}]")
        return {"tokens": tokens, "lengths": lengths}

    def example_inputs(self) -> Tensors:
        return self.preprocess(SentimentRequest(text="a good movie , not a bad one ."))[0]
