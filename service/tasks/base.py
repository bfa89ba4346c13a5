"""The interface every task pipeline implements, and the helpers they share."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from service.errors import UnsupportedMediaType
from service.package import ModelPackage
from service.runtime import Tensors

JSON_TYPES = ("application/json",)


def media_type(content_type: str | None) -> str:
    """``"Application/JSON; charset=utf-8"`` → ``"application/json"`` ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(content_type: str | None) -> bool:
    """JSON is the default: no Content-Type, ``application/json`` or any ``+json`` type."""
    kind = media_type(content_type)
    return kind in ("", *JSON_TYPES) or kind.endswith("+json")


def require_json(content_type: str | None, accepted: str = "application/json") -> None:
    if not is_json(content_type):
        raise UnsupportedMediaType(
            f"Content-Type: {media_type(content_type)!r} is not supported; send {accepted}",
            field="Content-Type", rule=accepted,
        )


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def classify(logits: np.ndarray, labels: list[str]) -> list[dict[str, Any]]:
    """Logits ``[B, C]`` → one ``{"label", "probability", "probabilities"}`` per row."""
    probs = softmax(logits.astype(np.float64))
    out = []
    for row in probs:
        best = int(row.argmax())
        out.append({
            "label": labels[best],
            "index": best,
            "probability": float(row[best]),
            "probabilities": {label: float(p) for label, p in zip(labels, row, strict=True)},
        })
    return out


class TaskPipeline:
    """parse (bytes → request) → preprocess (request → tensors) → postprocess (tensors → answers).

    ``check_tensors`` is the V2 path's hook: task rules the generic tensor check cannot know
    (token ids within the vocabulary, lengths within the padded axis).
    """

    task: ClassVar[str]

    def __init__(self, package: ModelPackage, folder: Path, max_batch_size: int) -> None:
        self.package = package
        self.folder = folder
        self.max_batch_size = max_batch_size

    def parse(self, body: bytes, content_type: str | None) -> Any:
        raise NotImplementedError

    def preprocess(self, request: Any) -> tuple[Tensors, Any]:
        raise NotImplementedError

    def postprocess(self, outputs: Tensors, context: Any) -> list[dict[str, Any]]:
        raise NotImplementedError

    def check_tensors(self, inputs: Tensors) -> Tensors:
        return inputs

    def example_inputs(self) -> Tensors:
        """A realistic batch-of-1 input for warm-up (exercises the real preprocessing)."""
        raise NotImplementedError
