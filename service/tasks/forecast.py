"""Forecast: raw look-back rows → z-scores (``service.preprocess.series``) → horizon in °C.

A streaming chunk is ``{"rows": [[7 raw values], ...]}``: new hourly rows (HUFL … OT, raw units),
z-scored with the package statistics; the answer is the forecast from the current state, anchored
to the last observed OT. After 96 rows it equals ``/predict`` on those 96 rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from pydantic import Field

from service.errors import InvalidInput, bad_field
from service.package import ForecastPreprocessing, ModelPackage
from service.preprocess.series import check_history, check_rows, denormalize_target, normalize
from service.tasks.base import RequestModel, Task, Tensors, parse_json, require_json, validate


class ForecastRequest(RequestModel):
    """The look-back window: rows of raw variable values (HUFL, HULL, MUFL, MULL, LUFL, LULL, OT)."""

    history: list[list[float]] | list[float] = Field(
        description="lookback rows (96) of 7 values each, oldest first; a flat list only for a univariate model"
    )


class ForecastTask(Task):
    name = "forecast"
    request_model = ForecastRequest
    examples: ClassVar[dict[str, Any]] = {}
    chunk_examples: ClassVar[dict[str, Any]] = {
        "forecast (new hourly rows, raw units)": {"rows": [[5.8, 2.0, 1.6, 0.46, 4.2, 1.34, 30.5]]}
    }

    def __init__(self, package: ModelPackage, folder: Path, max_request_rows: int) -> None:
        super().__init__(package, folder, max_request_rows)
        assert isinstance(package.preprocessing, ForecastPreprocessing)
        self.cfg = package.preprocessing
        self.input_name = package.inputs[0].name
        self.output_name = package.outputs[0].name

    @property
    def max_sequence_length(self) -> int:
        return max(self.cfg.lookback, self.cfg.max_chunk_rows)

    def parse(self, body: bytes, content_type: str | None) -> np.ndarray:
        """JSON body → validated ``(lookback, V)`` raw rows.

        The shape rules (rows of 7, exactly 96 rows, finite) are the shared preprocessing's,
        checked once with its messages; pydantic only reports a body that is not ``{"history": ...}``.
        """
        require_json(content_type)
        data = parse_json(body)
        if not (isinstance(data, dict) and list(data) == ["history"]):
            validate(ForecastRequest, data)
        return check_history(data["history"], self.cfg)

    def preprocess(self, rows: np.ndarray) -> Tensors:
        return self.feeds([normalize(rows, self.cfg, field="history")])

    def postprocess(self, outputs: Tensors) -> list[dict[str, Any]]:
        values = denormalize_target(outputs[self.output_name], self.cfg, field="history")
        return [{"forecast": row.tolist(), "unit": self.cfg.target_unit} for row in values]

    def chunk_inputs(self, body: bytes, content_type: str | None, carry: dict[str, Any]) -> Tensors:
        require_json(content_type)
        data = parse_json(body)
        if not (isinstance(data, dict) and "rows" in data):
            raise bad_field(InvalidInput, "rows", 'send {"rows": [[HUFL, HULL, MUFL, MULL, LUFL, LULL, OT], ...]}')
        rows = check_rows(data["rows"], self.cfg)
        return {self.input_name: normalize(rows, self.cfg, field="rows")[None]}

    @classmethod
    def chunk_schema(cls) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["rows"],
            "additionalProperties": False,
            "properties": {
                "rows": {"type": "array", "minItems": 1, "items": {"type": "array", "items": {"type": "number"}}}
            },
        }

    def example_inputs(self) -> Tensors:
        return self.preprocess(check_history([list(self.cfg.mean)] * self.cfg.lookback, self.cfg))

    def probe_inputs(self, rows: int, steps: int) -> Tensors:
        return {self.input_name: np.zeros((rows, self.cfg.lookback, len(self.cfg.variables)), dtype=np.float32)}

    @classmethod
    def feeds(cls, examples: Sequence[np.ndarray] | np.ndarray) -> Tensors:
        """Z-scored windows [lookback, V] → ``history`` [B, lookback, V]."""
        return {
            "history": np.ascontiguousarray(
                np.stack(list(examples)) if not isinstance(examples, np.ndarray) else examples, dtype=np.float32
            )
        }
