"""Per-task request handling; the only place that knows sentiment, keywords and forecast apart.

Each task module turns a raw request into the model's ONNX tensors with the very functions
training used (``service.preprocess.*``), and the model's outputs back into answers; see
:class:`~service.tasks.base.Task` for the whole contract. Adding a task means a module here, its
entry in :data:`TASKS`, and its training code in ``export/``.
"""

from __future__ import annotations

from pathlib import Path

from service.package import ModelPackage
from service.tasks.base import Task
from service.tasks.forecast import ForecastTask
from service.tasks.keywords import KeywordsTask
from service.tasks.sentiment import SentimentTask

TASKS: dict[str, type[Task]] = {t.name: t for t in (SentimentTask, KeywordsTask, ForecastTask)}


def task_for(package: ModelPackage, folder: Path, max_request_rows: int) -> Task:
    return TASKS[package.task](package, folder, max_request_rows)


__all__ = ["TASKS", "Task", "task_for"]
