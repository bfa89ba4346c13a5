"""Per-task request handling: parse → preprocess → (model) → postprocess.

Each task module turns a raw request into the model's ONNX tensors with the very functions
training used (``service.preprocess.*``), and the model's outputs back into answers. The routes
never see a task detail; :func:`pipeline_for` picks the pipeline from the package.
"""

from __future__ import annotations

from pathlib import Path

from service.package import ModelPackage
from service.tasks.base import TaskPipeline
from service.tasks.forecast import ForecastPipeline
from service.tasks.keywords import KeywordsPipeline
from service.tasks.sentiment import SentimentPipeline

PIPELINES: dict[str, type[TaskPipeline]] = {
    "sentiment": SentimentPipeline,
    "keywords": KeywordsPipeline,
    "forecast": ForecastPipeline,
}


def pipeline_for(package: ModelPackage, folder: Path, max_batch_size: int) -> TaskPipeline:
    return PIPELINES[package.task](package, folder, max_batch_size)


__all__ = ["PIPELINES", "TaskPipeline", "pipeline_for"]
