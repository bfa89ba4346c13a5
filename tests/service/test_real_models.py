"""The real trained packages in ``models/``, served: every model answers, and the answers match
the PyTorch outputs the exporter stored in each package (``reference.npz``) through V2 and, for
forecast and sentiment, through the task API from raw inputs rebuilt from those references."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from loadtest.servers import Server, run_server
from service.package import read_package
from service.runtime.sessions import SessionConfig, open_session
from tests.service.conftest import history, tone, wav_bytes

MODELS = Path(__file__).resolve().parents[2] / "models"
PRESENT = sorted(p.name for p in MODELS.glob("*-*") if (p / "model.json").is_file()) if MODELS.is_dir() else []
#: fp32 packages are held to PyTorch at their exporter parity tolerance; int8 ones to their own contract
FP32 = [n for n in PRESENT if read_package(MODELS / n, verify_sha256=False).precision == "fp32"]
INT8 = [n for n in PRESENT if n not in FP32]
BODIES = {
    "sentiment": ({"text": "A moving, beautifully acted film."}, None),
    "keywords": (wav_bytes(tone(8000, 300)), "audio/wav"),
    "forecast": None,  # built from the package's own mean so the input is in range
}

pytestmark = pytest.mark.skipif(not PRESENT, reason="no trained packages in models/ yet")


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with run_server(
        MODELS, log_dir=tmp_path_factory.mktemp("real-logs"), timeout=120, ready_path="/v2/health/ready"
    ) as srv:
        yield srv


def test_each_real_model_predicts(real: Server) -> None:
    with httpx.Client(base_url=real.url, timeout=30) as c:
        listing = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        for name in PRESENT:
            meta = listing[name]
            assert meta["ready"], f"{name}: {meta['error']}"
            task = name.split("-")[0]
            if task == "forecast":
                pre = meta["preprocessing"]
                resp = c.post(
                    f"/v1/models/{name}/predict", json={"history": history(pre["lookback"], len(pre["variables"]))}
                )
            elif task == "keywords":
                body, ctype = BODIES["keywords"]
                resp = c.post(f"/v1/models/{name}/predict", content=body, headers={"content-type": ctype})
            else:
                resp = c.post(f"/v1/models/{name}/predict", json=BODIES["sentiment"][0])
            assert resp.status_code == 200, f"{name}: {resp.text}"
            assert resp.json()["predictions"] and resp.json()["timing"]["inference_ms"] > 0


def test_v2_matches_exporter_reference(real: Server) -> None:
    """The exporter ships ``reference.npz`` (real inputs + PyTorch outputs); V2 infer must match it."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(real.url.removeprefix("http://"))
    checked = 0
    for name in FP32:
        ref_path = MODELS / name / "reference.npz"
        if not ref_path.is_file():
            continue
        package = read_package(MODELS / name)
        ref = np.load(ref_path)
        got = _infer_reference(triton, client, name, ref)
        tol = max(package.parity.tolerance if package.parity else 1e-4, 1e-5)
        np.testing.assert_allclose(got, ref["expected"], atol=tol, rtol=0, err_msg=name)
        checked += 1
    client.close()
    if checked == 0:
        pytest.skip("no reference.npz in the packages")


def _infer_reference(triton: Any, client: Any, name: str, ref: Any) -> np.ndarray:
    """The reference inputs as one binary V2 request; the first output."""
    package = read_package(MODELS / name)
    inputs = []
    for spec in package.inputs:
        arr = ref[spec.name]
        item = triton.InferInput(spec.name, list(arr.shape), spec.datatype)
        item.set_data_from_numpy(arr, binary_data=True)
        inputs.append(item)
    return client.infer(name, inputs).as_numpy(package.outputs[0].name)


@pytest.mark.skipif(not INT8, reason="no int8 packages in models/")
def test_v2_int8_keeps_its_declared_contract(real: Server) -> None:
    """An int8 package is held to the tolerance it declares (``quantization.tolerance``, measured
    against its fp32 source on the held-out inputs, with margin), not to 1e-4; and the server must
    answer what the int8 graph computes on that batch with the server's one intra-op thread
    (dynamic quantization is per batch, and the int8 kernels' answer moves with the thread count)."""
    import tritonclient.http as triton

    client = triton.InferenceServerClient(real.url.removeprefix("http://"))
    for name in INT8:
        package = read_package(MODELS / name)
        assert package.quantization is not None and package.reference is not None
        assert package.reference.tolerance == package.quantization.tolerance
        with np.load(MODELS / name / package.reference.file) as ref:
            got = _infer_reference(triton, client, name, ref)
            feeds = {k: ref[k] for k in ref.files if k != "expected"}
            expected = ref["expected"]
        assert np.max(np.abs(got - expected)) <= package.quantization.tolerance, name
        raw = open_session(MODELS / name / "model.onnx", SessionConfig(intra_op_threads=1))  # as served
        np.testing.assert_allclose(got, raw.run(None, feeds)[0], atol=1e-5, rtol=0, err_msg=name)
    client.close()


def _softmax(logits: np.ndarray) -> np.ndarray:
    e = np.exp(logits - logits.max())
    return e / e.sum()


@pytest.mark.parametrize("name", [n for n in FP32 if n.startswith("forecast-")])
def test_task_api_forecast_in_celsius_matches_pytorch(real: Server, name: str) -> None:
    """Raw rows rebuilt from the reference's z-scores (x · std + mean), through ``/v1``: the answer
    in °C is PyTorch's z-scored forecast mapped back the same way."""
    package = read_package(MODELS / name)
    pre = package.preprocessing
    mean, std = np.asarray(pre.mean), np.asarray(pre.std)  # type: ignore[union-attr]
    col = pre.variables.index(pre.target)  # type: ignore[union-attr]
    with np.load(MODELS / name / "reference.npz") as ref:
        windows, expected = ref["history"].astype(np.float64), ref["expected"].astype(np.float64)
    with httpx.Client(base_url=real.url, timeout=30) as c:
        for window, want_z in zip(windows[:6], expected[:6], strict=True):
            resp = c.post(f"/v1/models/{name}/predict", json={"history": (window * std + mean).tolist()})
            assert resp.status_code == 200, resp.text
            got = np.asarray(resp.json()["predictions"][0]["forecast"])
            np.testing.assert_allclose(got, want_z * std[col] + mean[col], atol=2e-3, rtol=0)


@pytest.mark.parametrize("name", [n for n in FP32 if n.startswith("sentiment-")])
def test_task_api_sentiment_matches_pytorch(real: Server, name: str) -> None:
    """Reference sentences rebuilt as text from their token ids (PTB tokens tokenize to
    themselves), through ``/v1``: label and probabilities are PyTorch's."""
    vocab = (MODELS / name / "vocab.txt").read_text(encoding="utf-8").split("\n")
    labels = read_package(MODELS / name).labels or ["negative", "positive"]
    with np.load(MODELS / name / "reference.npz") as ref:
        tokens, lengths, expected = ref["tokens"], ref["lengths"], ref["expected"]
    checked = 0
    with httpx.Client(base_url=real.url, timeout=30) as c:
        for row, n, logits in zip(tokens, lengths, expected, strict=True):
            ids = row[: int(n)]
            if (ids <= 1).any():  # <pad>/<unk> have no text to send
                continue
            resp = c.post(f"/v1/models/{name}/predict", json={"text": " ".join(vocab[i] for i in ids)})
            assert resp.status_code == 200, resp.text
            answer = resp.json()["predictions"][0]
            probs = _softmax(logits.astype(np.float64))
            assert answer["label"] == labels[int(probs.argmax())]
            np.testing.assert_allclose([answer["probabilities"][k] for k in labels], probs, atol=1e-4)
            checked += 1
    assert checked >= 5
