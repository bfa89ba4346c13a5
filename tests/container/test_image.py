"""The runtime image: healthy, serves every baked-in model, non-root, torch-free, overridable."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as triton

from tests.container.conftest import REPO_ROOT, Container, Engine, http_json
from tests.triton import triton_inputs

pytestmark = pytest.mark.container


def example_body(task: str) -> dict:
    """One valid task-level request body per task (shapes from the README contract)."""
    if task == "sentiment":
        return {"texts": ["a wonderful , moving film", "the plot was dull and the acting bad"]}
    if task == "keywords":
        samples = [0.3 * math.sin(2 * math.pi * 440 * i / 8000) for i in range(8000)]
        return {"samples": samples, "sample_rate": 8000}
    history = [[10 + math.sin(2 * math.pi * h / 24 + k) for k in range(7)] for h in range(96)]
    return {"history": history}


def check_predictions(task: str, body: dict, answer: dict, labels: list[str] | None) -> None:
    predictions = answer["predictions"]
    assert len(predictions) == len(body.get("texts", [None]))
    for prediction in predictions:
        if task == "forecast":
            assert len(prediction["forecast"]) == 96
            assert all(math.isfinite(x) for x in prediction["forecast"])
        else:
            assert 0.0 <= prediction["probability"] <= 1.0
            assert math.isclose(sum(prediction["probabilities"].values()), 1.0, rel_tol=1e-3)
            if labels:
                assert prediction["label"] in labels
    assert answer["timing"]["total_ms"] >= answer["timing"]["inference_ms"] >= 0


def committed_models() -> dict[str, dict]:
    """``models/<name>/model.json`` of the working tree: what the image must serve."""
    return {p.parent.name: json.loads(p.read_text()) for p in sorted(REPO_ROOT.glob("models/*/model.json"))}


def test_serves_every_baked_in_model(start_container) -> None:
    server: Container = start_container()
    status, listing = http_json(server.url + "/v1/models")
    assert status == 200
    served = {m["name"]: m for m in listing["models"]}
    expected = committed_models()
    assert set(served) == set(expected)
    for name, meta in expected.items():
        assert served[name]["ready"] is True, served[name]
        task = name.split("-")[0]
        body = example_body(task)
        status, answer = http_json(f"{server.url}/v1/models/{name}/predict", body)
        assert status == 200, (name, answer)
        check_predictions(task, body, answer, meta.get("labels"))
    status, _ = http_json(server.url + "/v2/health/ready")
    assert status == 200


def test_v2_grpc_on_8001_by_default(start_container) -> None:
    """The image serves KServe V2 over gRPC on its second exposed port with no flag: every baked-in
    model answers ``tritonclient.grpc`` with the shape its metadata promises."""
    server: Container = start_container()
    client = triton.InferenceServerClient(server.grpc_address)
    try:
        assert client.is_server_live() and client.is_server_ready()
        for name in committed_models():
            meta = client.get_model_metadata(name)
            arrays = {
                t.name: np.zeros(
                    [1, *(20 if d < 0 else d for d in t.shape[1:])], np.int64 if t.datatype == "INT64" else np.float32
                )
                for t in meta.inputs
            }
            result = client.infer(name, triton_inputs(triton, arrays))
            out = meta.outputs[0]
            assert result.as_numpy(out.name).shape == (1, *out.shape[1:]), name
    finally:
        client.close()


def test_runs_as_non_root_without_torch_or_compiler(engine: Engine, start_container, runtime_image: str) -> None:
    server: Container = start_container()
    # The serving process itself (PID 1, exec-form entrypoint) runs as the unprivileged user.
    status = engine.run("exec", server.name, "cat", "/proc/1/status").stdout
    uids = next(line.split()[1:] for line in status.splitlines() if line.startswith("Uid:"))
    assert uids and all(uid != "0" for uid in uids)
    cmdline = engine.run("exec", server.name, "cat", "/proc/1/cmdline").stdout.split("\0")
    assert any(part.endswith("rnn-serve") for part in cmdline) and "serve" in cmdline

    probe = (
        "import importlib.util as u, shutil, sys, onnxruntime;"
        "print(json.dumps({'torch': u.find_spec('torch') is not None,"
        " 'onnx': u.find_spec('onnx') is not None, 'ort': onnxruntime.__version__,"
        " 'cc': [c for c in ('gcc', 'cc', 'g++', 'clang') if shutil.which(c)],"
        " 'pip_in_venv': shutil.which('pip', path='/opt/venv/bin') is not None}))"
    )
    found = json.loads(engine.run("exec", server.name, "python", "-c", "import json;" + probe).stdout)
    assert found["ort"], "onnxruntime must import (else the torch check proves nothing)"
    assert found["torch"] is False and found["onnx"] is False
    assert found["cc"] == []
    assert found["pip_in_venv"] is False
    torch = engine.run("exec", server.name, "python", "-c", "import torch", check=False)
    assert torch.returncode != 0 and "No module named 'torch'" in torch.stderr

    # Go templates read the same fields on docker and podman (their JSON layouts differ).
    template = (
        '{"user": {{json .Config.User}}, "entrypoint": {{json .Config.Entrypoint}},'
        ' "healthcheck": {{json .Config.Healthcheck}}}'
    )
    config = json.loads(engine.run("image", "inspect", "--format", template, runtime_image).stdout)
    assert config["user"] not in ("", "0", "root")
    assert config["entrypoint"] == ["rnn-serve", "serve"], "exec form, so SIGTERM reaches the server"
    assert "/v2/health/ready" in " ".join(config["healthcheck"]["Test"])


def test_mounted_model_repository_overrides_the_baked_one(start_container, tmp_path: Path) -> None:
    from tests.service.tiny_models import build_tiny_repository

    names = ("sentiment-gru", "forecast-lstm")
    repo = build_tiny_repository(tmp_path / "repo", names=names)
    repo.chmod(0o755)
    server: Container = start_container("-v", f"{repo}:/models:ro", "-e", "RNN_SERVE_MODEL_REPOSITORY=/models")
    status, listing = http_json(server.url + "/v1/models")
    assert status == 200
    assert {m["name"] for m in listing["models"]} == set(names)
    for name in names:
        task = name.split("-")[0]
        body = example_body(task)
        status, answer = http_json(f"{server.url}/v1/models/{name}/predict", body)
        assert status == 200, answer
        check_predictions(task, body, answer, None)


def test_bad_input_is_a_4xx_not_a_crash(start_container) -> None:
    server: Container = start_container()
    name = next(iter(committed_models()))
    status, answer = http_json(f"{server.url}/v1/models/{name}/predict", {"nonsense": 1})
    assert 400 <= status < 500, answer
    status, _ = http_json(server.url + "/v2/health/ready")
    assert status == 200
