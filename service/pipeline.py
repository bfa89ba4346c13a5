"""The request path of one prediction: parse → preprocess → infer → postprocess, timed.

Both APIs go through here: ``/v1`` with raw task inputs (:func:`predict`), V2 with ready-made
tensors (:func:`infer_tensors`). Stats and Prometheus histograms are recorded in one place.
"""

from __future__ import annotations

from typing import Any

from service.errors import ServiceError
from service.metrics import Metrics
from service.repository import LoadedModel
from service.runtime import Tensors
from service.timing import Timing, now_ns


async def infer_tensors(model: LoadedModel, inputs: Tensors, timing: Timing) -> Tensors:
    """Run the model through its runner (the batching seam); fills queue/inference times."""
    assert model.runner is not None
    result = await model.runner.infer(inputs)
    outputs, queue_ns, inference_ns = result
    timing.queue_ns += queue_ns
    timing.inference_ns += inference_ns
    timing.batch_size = getattr(result, "batch_size", 0)
    return outputs


def record(model: LoadedModel, metrics: Metrics, timing: Timing, batch: int) -> None:
    model.stats.record_success(timing, batch)
    metrics.observe(model.name, timing)


async def predict(
    model: LoadedModel, body: bytes, content_type: str | None, metrics: Metrics, timing: Timing
) -> dict[str, Any]:
    """Raw task input → ``{"model", "predictions", "timing"}``; raises ServiceError/PreprocessError."""
    pipeline = model.pipeline
    assert pipeline is not None
    try:
        started = now_ns()
        request = pipeline.parse(body, content_type)
        inputs, context = pipeline.preprocess(request)
        timing.preprocess_ns = now_ns() - started
        outputs = await infer_tensors(model, inputs, timing)
        started = now_ns()
        predictions = pipeline.postprocess(outputs, context)
        timing.postprocess_ns = now_ns() - started
    except (ServiceError, ValueError):
        model.stats.record_failure(now_ns() - timing.start_ns)
        raise
    timing.finish()
    record(model, metrics, timing, batch=len(predictions))
    return {"model": model.name, "predictions": predictions, "timing": timing.as_dict()}
