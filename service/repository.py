"""The model repository: every ``<task>-<cell>/`` package loaded, checked and warmed up.

A package that cannot be served (missing file, bad model.json, sha256 mismatch, corrupt ONNX,
I/O that differs from model.json, warm-up failure) does not stop the server: its
:class:`LoadedModel` stays not ready, one log line says why, and the reason is in its metadata.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from service.errors import ModelNotFound, ModelNotReady
from service.package import META_FILE, MODEL_FILE, ModelPackage, read_package
from service.runtime import ModelRunner
from service.settings import Settings
from service.stats import ModelStats
from service.tasks import TaskPipeline, pipeline_for

log = logging.getLogger("rnn_serve.repository")

NAME_RE = re.compile(r"^(sentiment|keywords|forecast)-(lstm|gru)$")


@dataclass
class LoadedModel:
    """One model folder and what became of it; ``ready`` only after a successful warm-up."""

    name: str
    folder: Path
    package: ModelPackage | None = None
    runner: ModelRunner | None = None
    pipeline: TaskPipeline | None = None
    error: str | None = None
    load_ms: float = 0.0
    stats: ModelStats = field(default_factory=ModelStats)

    @property
    def ready(self) -> bool:
        return self.error is None and self.runner is not None and self.pipeline is not None

    @property
    def task(self) -> str:
        return self.package.task if self.package else self.name.split("-")[0]

    def metadata(self) -> dict[str, Any]:
        """What ``GET /v1/models`` lists: the package's public fields plus state."""
        out: dict[str, Any] = {"name": self.name, "ready": self.ready, "error": self.error}
        if self.package is not None:
            p = self.package
            out.update(
                task=p.task, cell=p.cell, version=p.version, description=p.description,
                inputs=[s.model_dump() for s in p.inputs], outputs=[s.model_dump() for s in p.outputs],
                labels=p.labels, metrics=p.metrics, parameter_count=p.parameter_count,
                onnx_sha256=p.onnx_sha256, onnx_bytes=p.onnx_bytes,
                preprocessing=p.preprocessing.model_dump(exclude={"feature_mean", "feature_std", "mean", "std"}),
            )
        out["load_ms"] = self.load_ms
        if self.runner is not None:
            out["runtime"] = self.runner.runtime_info()
        return out


def load_model(folder: Path, settings: Settings) -> LoadedModel:
    """Read, verify, open, check and warm up one package; never raises."""
    model = LoadedModel(name=folder.name, folder=folder)
    started = time.perf_counter()
    try:
        package = read_package(folder, verify_sha256=settings.verify_sha256)
        model.package = package
        if package.name != folder.name:
            raise ValueError(f"model.json name {package.name!r} differs from the folder name {folder.name!r}")
        runner = ModelRunner.load(folder.name, folder / MODEL_FILE, package, settings, recorder=model.stats)
        pipeline = pipeline_for(package, folder, settings.max_batch_size)
        runner.warm_up(pipeline.example_inputs(), settings.warmup_runs)
        model.runner, model.pipeline = runner, pipeline
    except Exception as exc:  # any failure makes this one model unavailable, never the server
        model.error = f"{type(exc).__name__}: {exc}".strip()
        log.error("model %s NOT READY: %s", folder.name, model.error)
    model.load_ms = round((time.perf_counter() - started) * 1000, 3)
    if model.ready:
        log.info("model %s ready (%s, loaded and warmed up in %.1f ms)", model.name, folder, model.load_ms)
    return model


class ModelRepository:
    """All models of one repository folder, by name."""

    def __init__(self, root: Path, models: dict[str, LoadedModel]) -> None:
        self.root = root
        self.models = models

    @classmethod
    def load(cls, settings: Settings) -> ModelRepository:
        root = Path(settings.model_repository)
        models: dict[str, LoadedModel] = {}
        if not root.is_dir():
            log.error("model repository %s does not exist: serving no models", root)
            return cls(root, models)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not ((folder / META_FILE).exists() or (folder / MODEL_FILE).exists()):
                continue
            if not NAME_RE.match(folder.name):
                log.warning("skipping %s: folder name is not <task>-<cell>", folder)
                continue
            models[folder.name] = load_model(folder, settings)
        log.info("%d/%d models ready from %s", sum(m.ready for m in models.values()), len(models), root)
        return cls(root, models)

    def get(self, name: str) -> LoadedModel:
        try:
            return self.models[name]
        except KeyError:
            known = ", ".join(self.models) or "none"
            raise ModelNotFound(f"unknown model {name!r}; served models: {known}", field="model") from None

    def get_ready(self, name: str) -> LoadedModel:
        model = self.get(name)
        if not model.ready:
            raise ModelNotReady(f"model {name!r} is not ready: {model.error}", field="model")
        return model

    def for_task(self, task: str) -> list[LoadedModel]:
        """The task's models, LSTM first (``/v1/compare``)."""
        order = {"lstm": 0, "gru": 1}
        found = [m for m in self.models.values() if m.name.split("-")[0] == task]
        return sorted(found, key=lambda m: order.get(m.name.split("-")[1], 9))

    @property
    def all_ready(self) -> bool:
        return all(m.ready for m in self.models.values())

    def close(self) -> None:
        for model in self.models.values():
            if model.runner is not None:
                model.runner.close()
