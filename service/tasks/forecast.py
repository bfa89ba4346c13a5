"""Forecast: raw look-back rows → z-scores (``service.preprocess.series``) → horizon in °C."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from service.package import ForecastPreprocessing, ModelPackage
from service.preprocess.series import check_history, denormalize_target, normalize
from service.runtime import Tensors
from service.schemas import ForecastRequest, parse_json, validate
from service.tasks.base import TaskPipeline, require_json


class ForecastPipeline(TaskPipeline):
    task = "forecast"

    def __init__(self, package: ModelPackage, folder: Path, max_batch_size: int) -> None:
        super().__init__(package, folder, max_batch_size)
        assert isinstance(package.preprocessing, ForecastPreprocessing)
        self.cfg = package.preprocessing
        self.input_name = package.inputs[0].name
        self.output_name = package.outputs[0].name

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

    def preprocess(self, rows: np.ndarray) -> tuple[Tensors, None]:
        return {self.input_name: normalize(rows, self.cfg)[None]}, None

    def postprocess(self, outputs: Tensors, context: Any) -> list[dict[str, Any]]:
        values = denormalize_target(outputs[self.output_name], self.cfg)
        return [{"forecast": row.tolist(), "unit": self.cfg.target_unit} for row in values]

    def example_inputs(self) -> Tensors:
        rows = check_history([list(self.cfg.mean)] * self.cfg.lookback, self.cfg)
        return self.preprocess(rows)[0]
