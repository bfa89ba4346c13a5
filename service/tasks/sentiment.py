"""Sentiment: raw text → PTB-like tokens → vocabulary ids (``service.preprocess.text``) → label."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field, model_validator

from service.errors import BadRequest, InvalidInput, bad_field
from service.package import ModelPackage, SentimentPreprocessing
from service.preprocess.text import Vocabulary, encode_text, pad_batch
from service.tasks.base import RequestModel, Task, Tensors, classify, parse_json, require_json, validate


class SentimentRequest(RequestModel):
    """One text (``text``) or a batch (``texts``), raw English; tokenised by the service."""

    text: str | None = Field(None, examples=["A wonderful, moving film."])
    texts: list[str] | None = Field(None, min_length=1, examples=[["great acting", "dull plot"]])

    @model_validator(mode="after")
    def _exactly_one(self) -> SentimentRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("give exactly one of 'text' or 'texts'")
        return self


#: one text: it must hold at least one word or punctuation mark (a non-space character)
_TEXT: dict[str, Any] = {
    "type": "object",
    "required": ["text"],
    "additionalProperties": False,
    "properties": {"text": {"type": "string", "pattern": "\\S"}},
}


class SentimentTask(Task):
    name = "sentiment"
    request_model = SentimentRequest
    examples: ClassVar[dict[str, Any]] = {
        "sentiment": {"text": "a wonderful , moving film ."},
        "sentiment batch": {"texts": ["great acting", "dull plot"]},
    }
    chunk_examples: ClassVar[dict[str, Any]] = {
        "sentiment (text continues the sequence)": {"text": "but the acting is wonderful ."}
    }
    implicit_inputs = frozenset({"lengths"})
    pads = True

    def __init__(self, package: ModelPackage, folder: Path, max_request_rows: int) -> None:
        super().__init__(package, folder, max_request_rows)
        assert isinstance(package.preprocessing, SentimentPreprocessing)
        self.cfg = package.preprocessing
        self.vocab = Vocabulary.load(folder / self.cfg.vocab_file)
        self.labels = package.labels or ["negative", "positive"]

    @property
    def max_sequence_length(self) -> int:
        return self.cfg.max_tokens

    def _encode(self, text: str, field: str) -> np.ndarray:
        return encode_text(text, self.vocab, max_tokens=self.cfg.max_tokens, max_chars=self.cfg.max_chars, field=field)

    def parse(self, body: bytes, content_type: str | None) -> SentimentRequest:
        require_json(content_type)
        request = validate(SentimentRequest, parse_json(body))
        if request.texts is not None and len(request.texts) > self.max_request_rows:
            raise bad_field(BadRequest, "texts", f"at most {self.max_request_rows} texts per request")
        return request

    def preprocess(self, request: SentimentRequest) -> Tensors:
        if request.text is not None:
            return self.feeds([self._encode(request.text, "text")])
        texts = request.texts or []
        return self.feeds([self._encode(t, f"texts[{i}]") for i, t in enumerate(texts)])

    def postprocess(self, outputs: Tensors) -> list[dict[str, Any]]:
        answers = classify(outputs["logits"], self.labels)
        for answer in answers:
            del answer["index"]
        return answers

    def check_tensors(self, inputs: Tensors) -> Tensors:
        """V2: rows are right-padded with ``<pad>``; without ``lengths`` each row is read up to its last
        non-pad id. An id outside the vocabulary is an unknown word (``<unk>``), as any id the model
        has no embedding for must be."""
        tokens = inputs["tokens"]
        if tokens.shape[1] == 0:
            raise bad_field(BadRequest, "tokens", "sequence axis must have at least 1 step")
        # one row (the common request): plain Python over its ids, where each numpy call on a
        # handful of ids cost more than the arithmetic (several µs per request in all)
        row = tokens[0].tolist() if tokens.shape[0] == 1 else None
        size = len(self.vocab)
        if row is None or min(row) < 0 or max(row) >= size:
            unknown = (tokens < 0) | (tokens >= size)
            if unknown.any():
                tokens = np.where(unknown, self.cfg.unk_id, tokens)
                row = None  # its lengths come from the replaced ids, by the general rule below
        lengths = inputs.get("lengths")
        if lengths is None and row is not None:
            last = len(row)  # 1 + index of the last real id; 1 when every id pads
            while last > 1 and row[last - 1] == self.cfg.pad_id:
                last -= 1
            lengths = np.array([last], dtype=np.int64)
        elif lengths is None:
            real = tokens != self.cfg.pad_id  # [B, T]
            after_last = tokens.shape[1] - np.argmax(real[:, ::-1], axis=1)  # 1 + index of the last real id
            lengths = np.where(real.any(axis=1), after_last, 1).astype(np.int64)
        elif lengths.shape[0] != tokens.shape[0]:
            raise bad_field(BadRequest, "lengths", f"must have one length per row ({tokens.shape[0]})")
        elif lengths.size and (lengths.min() < 1 or lengths.max() > tokens.shape[1]):
            raise bad_field(BadRequest, "lengths", f"each length must be in [1, {tokens.shape[1]}]")
        return {"tokens": tokens, "lengths": lengths}

    def chunk_inputs(self, body: bytes, content_type: str | None, carry: dict[str, Any]) -> Tensors:
        """A chunk's text continues the sequence: its token ids are fed after the previous ones."""
        request = self.parse(body, content_type)
        if request.text is None:
            raise bad_field(InvalidInput, "text", 'a stream takes one text per chunk ({"text": "..."})')
        return {"tokens": self._encode(request.text, "text")[None]}

    def check_chunk_tensors(self, inputs: Tensors) -> Tensors:
        return {"tokens": self.check_tensors(inputs)["tokens"]}

    @classmethod
    def body_schema(cls) -> dict[str, Any]:
        """``text`` XOR ``texts`` (pydantic's own schema would allow both, or neither)."""
        return {
            "title": "SentimentRequest",
            "oneOf": [
                _TEXT,
                {
                    "type": "object",
                    "required": ["texts"],
                    "additionalProperties": False,
                    "properties": {"texts": {"type": "array", "minItems": 1, "items": _TEXT["properties"]["text"]}},
                },
            ],
        }

    @classmethod
    def chunk_schema(cls) -> dict[str, Any]:
        return _TEXT

    def example_inputs(self) -> Tensors:
        return self.preprocess(SentimentRequest(text="a good movie , not a bad one ."))

    def probe_inputs(self, rows: int, steps: int) -> Tensors:
        return {"tokens": np.ones((rows, steps), dtype=np.int64), "lengths": np.full(rows, steps, dtype=np.int64)}

    @classmethod
    def feeds(cls, examples: Sequence[np.ndarray] | np.ndarray) -> Tensors:
        """Token id sequences → right-padded ``tokens`` [B, T_max] + their ``lengths`` [B]."""
        tokens, lengths = pad_batch(list(examples))
        return {"tokens": tokens, "lengths": lengths}
