"""A package that cannot load leaves the server up, that model not ready with the reason visible."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
import tritonclient.grpc as triton
from tritonclient.utils import InferenceServerException

from loadtest.servers import Server, run_server
from tests.service.tiny_models import build_tiny_repository
from tests.triton import triton_inputs


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = build_tiny_repository(tmp_path_factory.mktemp("broken") / "models")
    meta = root / "sentiment-lstm" / "model.json"  # sha256 no longer matches
    data = json.loads(meta.read_text())
    data["onnx_sha256"] = "0" * 64
    meta.write_text(json.dumps(data))
    onnx = root / "keywords-gru" / "model.onnx"  # corrupt ONNX with a matching sha256
    onnx.write_bytes(b"this is not an onnx model")
    data = json.loads((root / "keywords-gru" / "model.json").read_text())
    data["onnx_sha256"] = hashlib.sha256(onnx.read_bytes()).hexdigest()
    (root / "keywords-gru" / "model.json").write_text(json.dumps(data))
    (root / "forecast-gru" / "model.json").write_text("{not json")  # unreadable model.json
    shutil.copytree(root / "forecast-lstm", root / "forecast-xyz")  # not <task>-<cell>: skipped
    with run_server(root, grpc=True, log_dir=tmp_path_factory.mktemp("broken-logs")) as srv:
        yield srv


BROKEN = {"sentiment-lstm": "sha256", "keywords-gru": "onnx", "forecast-gru": "model.json"}


def test_server_up_broken_models_not_ready(broken: Server) -> None:
    with httpx.Client(base_url=broken.url) as c:
        assert c.get("/v2/health/live").status_code == 200
        ready = c.get("/v2/health/ready")
        assert ready.status_code == 503 and "not ready" in ready.json()["error"]
        models = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        assert set(models) == {f"{t}-{cell}" for t in ("sentiment", "keywords", "forecast") for cell in ("lstm", "gru")}
        for name, word in BROKEN.items():
            assert models[name]["ready"] is False and word in models[name]["error"]
            meta = c.get(f"/v2/models/{name}").json()
            assert meta["state"] == "UNAVAILABLE" and word in meta["error"]
            assert c.get(f"/v2/models/{name}/ready").status_code == 503
            resp = c.post(f"/v1/models/{name}/predict", json={"text": "x"})
            assert resp.status_code == 503 and word in resp.json()["error"]
        assert c.post("/v1/compare/sentiment", json={"text": "fun"}).status_code == 503
        ok = c.post("/v1/models/sentiment-gru/predict", json={"text": "fun"})
        assert ok.status_code == 200 and ok.json()["predictions"]
        assert models["forecast-lstm"]["ready"] is True
    log = broken.log()
    for name in BROKEN:
        assert f"model {name} NOT READY" in log


def test_grpc_not_ready_is_false_or_unavailable(broken: Server) -> None:
    """Over gRPC, as Triton answers: ServerReady and ModelReady say false (no error), metadata has
    the model, and an inference or its config is UNAVAILABLE with the reason."""
    client = triton.InferenceServerClient(broken.grpc_address or "")
    try:
        assert client.is_server_live() and not client.is_server_ready()
        assert client.is_model_ready("forecast-lstm")
        for name, word in BROKEN.items():
            assert not client.is_model_ready(name)
            assert client.get_model_metadata(name).name == name
            with pytest.raises(InferenceServerException) as exc:
                client.get_model_config(name)
            assert exc.value.status() == "StatusCode.UNAVAILABLE" and word in str(exc.value)
        history = triton_inputs(triton, {"history": np.zeros((1, 96, 7), np.float32)})
        with pytest.raises(InferenceServerException) as exc:
            client.infer("forecast-gru", history)
        assert exc.value.status() == "StatusCode.UNAVAILABLE" and "model.json" in str(exc.value)
    finally:
        client.close()
