"""V2 (Open Inference Protocol) request bodies: model tensors built with the shared preprocessing.

A V2 client sends tensors, not text or audio, so the load tester must turn each example into the
model's inputs exactly as the server would: it uses ``service.preprocess`` (the one implementation
training and serving share) and the package's preprocessing config. The config comes from the
local model package when ``--model-repository`` holds it, otherwise from the server's
``GET /v1/models`` metadata; the sentiment vocabulary is a package asset, so V2 sentiment needs
the package folder.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import TypeAdapter

from loadtest.workload import Examples, Payload
from service.package import META_FILE, Preprocessing, read_package
from service.preprocess.audio import log_mel
from service.preprocess.series import normalize
from service.preprocess.text import Vocabulary, encode_text
from service.tasks import TASKS

_PREPROCESSING = TypeAdapter(Preprocessing)


def fetch_models(url: str, timeout: float = 10.0) -> dict[str, dict[str, Any]]:
    """``GET /v1/models`` as ``{name: metadata}``; empty when the server has no such route."""
    try:
        with urllib.request.urlopen(f"{url}/v1/models", timeout=timeout) as resp:
            listing = json.loads(resp.read())
    except (urllib.error.URLError, TimeoutError, ValueError, ConnectionError):
        return {}
    entries = listing.get("models", []) if isinstance(listing, dict) else []
    return {str(e["name"]): e for e in entries if isinstance(e, dict) and "name" in e}


def _preprocessing(name: str, info: dict[str, Any] | None, repository: Path | None) -> tuple[object, Path | None]:
    folder = Path(repository) / name if repository else None
    if folder is not None and (folder / META_FILE).is_file():
        return read_package(folder, verify_sha256=False).preprocessing, folder
    raw = (info or {}).get("preprocessing")
    if raw is None:
        raise ValueError(
            f"V2 needs model {name!r}'s preprocessing config: the server's /v1/models does not "
            "show it; pass --model-repository DIR holding the package"
        )
    try:
        cfg = _PREPROCESSING.validate_python(raw)
        # The server hides fitted statistics; unscaled features would be the wrong tensors.
        if cfg.kind == "keywords" and cfg.feature_mean is None:
            raise ValueError("feature_mean/feature_std not exposed")
        return cfg, None
    except ValueError as exc:
        raise ValueError(
            f"the server's /v1/models preprocessing config of {name!r} is incomplete for building V2 "
            f"tensors ({exc.__class__.__name__}); pass --model-repository DIR holding the package"
        ) from None


def _tensor(name: str, array: np.ndarray) -> dict[str, Any]:
    datatype = {"float32": "FP32", "int64": "INT64", "int32": "INT32"}[array.dtype.name]
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": array.ravel().tolist()}


def v2_payloads(
    examples: Examples, name: str, info: dict[str, Any] | None, repository: Path | None, binary: bool = False
) -> tuple[list[Payload], str]:
    """Bodies for ``POST /v2/models/{name}/infer`` (one example per request, batch axis of 1), JSON
    or ``binary``, and where the preprocessing config came from (recorded in the results' metadata)."""
    cfg, folder = _preprocessing(name, info, repository)
    origin = f"package {folder}" if folder is not None else f"server metadata {name} (/v1/models)"
    feeds = TASKS[examples.task].feeds
    tensors: list[dict[str, np.ndarray]] = []
    if examples.task == "sentiment":
        if folder is None:
            raise ValueError(f"V2 sentiment needs the vocabulary of {name!r}: pass --model-repository DIR")
        vocab = Vocabulary.load(folder / cfg.vocab_file)  # type: ignore[attr-defined]
        for text in examples.items:
            ids = encode_text(text, vocab, max_tokens=cfg.max_tokens, max_chars=cfg.max_chars)  # type: ignore[attr-defined]
            tensors.append(feeds([ids]))
    elif examples.task == "keywords":
        for clip in examples.items:
            tensors.append(feeds([log_mel(np.asarray(clip, np.float32) / 32768.0, cfg)]))  # type: ignore[arg-type]
    else:
        for window in examples.items:
            tensors.append(feeds([normalize(np.asarray(window), cfg)]))  # type: ignore[arg-type]
    if binary:
        return [binary_payload(t) for t in tensors], origin
    bodies = [{"inputs": [_tensor(n, a) for n, a in t.items()]} for t in tensors]
    return [Payload(json.dumps(b).encode(), "application/json") for b in bodies], origin


def binary_payload(tensors: dict[str, np.ndarray]) -> Payload:
    """A V2 body in the ``binary_tensor_data`` extension: JSON header, then the raw tensors, with the
    output asked for in binary too (what tritonclient sends by default)."""
    raw = [np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"), copy=False).tobytes() for a in tensors.values()]
    header = json.dumps({
        "inputs": [{**{k: v for k, v in _tensor(n, a).items() if k != "data"},
                    "parameters": {"binary_data_size": len(r)}} for (n, a), r in zip(tensors.items(), raw, strict=True)],
        "parameters": {"binary_data_output": True},
    }).encode()
    return Payload(header + b"".join(raw), "application/octet-stream",
                   (("Inference-Header-Content-Length", str(len(header))),))
