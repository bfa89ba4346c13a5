"""The model repository: every package loaded, checked and warmed up.

A package that cannot be served (missing file, bad model.json, sha256 mismatch, corrupt ONNX,
I/O that differs from model.json, warm-up failure) does not stop the server: its
:class:`LoadedModel` stays not ready, one log line gives the details, and clients see a stable
reason without server paths or file contents.
"""

from __future__ import annotations

import logging
import re
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from service.batching.policy import BatchPolicy
from service.errors import ModelNotFound, ModelNotReady
from service.package import META_FILE, MODEL_FILE, Cell, ModelPackage, PackageError, read_package
from service.runtime.runner import ModelRunner
from service.runtime.sessions import SessionConfig
from service.settings import Settings
from service.tasks import TASKS, Task, task_for
from service.v2.stats import ModelStats

log = logging.getLogger("rnn_serve.repository")

#: ``<task>-<cell>`` with an optional variant suffix (``sentiment-lstm-int8``)
NAME_RE = re.compile(rf"^({'|'.join(TASKS)})-({'|'.join(typing.get_args(Cell))})(-[a-z0-9_]+)*$")


@dataclass
class LoadedModel:
    """One model folder and what became of it; ``ready`` only after a successful warm-up."""

    name: str
    folder: Path
    package: ModelPackage | None = None
    runner: ModelRunner | None = None
    task: Task | None = None
    #: why the model is not ready, safe to show any client (details are in the log)
    error: str | None = None
    load_ms: float = 0.0
    stats: ModelStats = field(init=False)

    def __post_init__(self) -> None:
        self.stats = ModelStats(self.name)

    @property
    def ready(self) -> bool:
        return self.error is None and self.runner is not None and self.task is not None

    @property
    def version(self) -> str:
        return self.package.version if self.package else "1"

    def metadata(self) -> dict[str, Any]:
        """What ``GET /v1/models`` lists: the package's public fields plus state."""
        out: dict[str, Any] = {"name": self.name, "ready": self.ready, "error": self.error}
        if self.package is not None:
            p = self.package
            out.update(
                task=p.task,
                cell=p.cell,
                precision=p.precision,
                version=p.version,
                description=p.description,
                inputs=[s.model_dump() for s in p.inputs],
                outputs=[s.model_dump() for s in p.outputs],
                labels=p.labels,
                metrics=p.metrics,
                parameter_count=p.parameter_count,
                onnx_sha256=p.onnx_sha256,
                onnx_bytes=p.onnx_bytes,
                preprocessing=p.preprocessing.model_dump(exclude={"feature_mean", "feature_std", "mean", "std"}),
            )
        if self.task is not None:
            out["max_sequence_length"] = self.task.max_sequence_length
        out["load_ms"] = self.load_ms
        if self.runner is not None:
            out["runtime"] = self.runner.runtime_info()
        return out


#: onnxruntime's exceptions for a file it cannot load as a model
_ORT_LOAD_ERRORS = tuple(
    getattr(ort.capi.onnxruntime_pybind11_state, name)
    for name in ("Fail", "InvalidGraph", "InvalidProtobuf", "NoSuchFile", "NotImplemented", "RuntimeException")
)


def public_reason(exc: Exception) -> str:
    """A stable, path-free reason for a failed load (the exception's details go to the log)."""
    if isinstance(exc, PackageError):
        return exc.reason
    if isinstance(exc, _ORT_LOAD_ERRORS):
        return "onnxruntime cannot load the ONNX file"
    return f"loading failed ({type(exc).__name__})"


def load_model(folder: Path, settings: Settings) -> LoadedModel:
    """Read, verify, open, check and warm up one package; never raises."""
    model = LoadedModel(name=folder.name, folder=folder)
    started = time.perf_counter()
    try:
        package = read_package(folder, verify_sha256=settings.verify_sha256)
        model.package = package
        if package.name != folder.name:  # the name clients use is the folder's
            raise PackageError(f"{META_FILE} name differs from the folder name", f"{package.name!r} vs {folder.name!r}")
        task = task_for(package, folder, settings.max_request_rows)
        runner = ModelRunner.open(
            folder.name,
            folder / MODEL_FILE,
            {s.name: s.datatype for s in package.inputs},
            {s.name: s.datatype for s in package.outputs},
            SessionConfig.from_settings(settings),
            policy=BatchPolicy.resolve(settings, package.batching),
            recorder=model.stats,
            inline_max_us=settings.inline_max_us,
            pads=task.pads,
        )
        runner.warm_up(task.example_inputs(), settings.warmup_runs, probe=task.probe_inputs)
        model.runner, model.task = runner, task
    except Exception as exc:  # any failure makes this one model unavailable, never the server
        model.error = public_reason(exc)
        log.error("model %s NOT READY: %s (%s: %s)", folder.name, model.error, type(exc).__name__, exc)
    model.load_ms = round((time.perf_counter() - started) * 1000, 3)
    if model.ready:
        log.info("model %s ready (%s, loaded and warmed up in %.1f ms)", model.name, folder, model.load_ms)
    return model


class ModelRepository:
    """All models of one repository folder, by name."""

    def __init__(self, models: dict[str, LoadedModel]) -> None:
        self.models = models

    @classmethod
    def load(cls, settings: Settings) -> ModelRepository:
        root = Path(settings.model_repository)
        models: dict[str, LoadedModel] = {}
        if not root.is_dir():
            log.error("model repository %s does not exist: serving no models", root)
            return cls(models)
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            if not ((folder / META_FILE).exists() or (folder / MODEL_FILE).exists()):
                continue
            if not NAME_RE.match(folder.name):
                log.warning("skipping %s: folder name is not <task>-<cell>[-<variant>]", folder)
                continue
            models[folder.name] = load_model(folder, settings)
        log.info("%d/%d models ready from %s", sum(m.ready for m in models.values()), len(models), root)
        return cls(models)

    def get(self, name: str, version: str | None = None) -> LoadedModel:
        """The model ``name`` (at ``version``, when given: each model has exactly one)."""
        model = self.models.get(name)
        if model is None:
            known = ", ".join(self.models) or "none"
            raise ModelNotFound(f"unknown model {name!r}; served models: {known}", field="model")
        if version is not None and version != model.version:
            raise ModelNotFound(
                f"model {name!r} has no version {version!r}; versions: [{model.version!r}]", field="version"
            )
        return model

    def get_ready(self, name: str, version: str | None = None) -> LoadedModel:
        model = self.get(name, version)
        if not model.ready:
            raise ModelNotReady(f"model {name!r} is not ready: {model.error}", field="model")
        return model

    def for_task(self, task: str) -> list[LoadedModel]:
        """The task's plain ``<task>-<cell>`` models (no variants), in cell order, LSTM first."""
        names = [f"{task}-{cell}" for cell in typing.get_args(Cell)]
        return [self.models[n] for n in names if n in self.models]

    @property
    def all_ready(self) -> bool:
        return all(m.ready for m in self.models.values())

    def close(self) -> None:
        for m in self.models.values():
            if m.runner is not None:
                m.runner.close()
