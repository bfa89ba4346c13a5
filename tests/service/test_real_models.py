"""Smoke test on the real trained packages in ``models/`` (skipped until they exist)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.servers import run_server
from tests.service.conftest import history, tone, wav_bytes

MODELS = Path(__file__).resolve().parents[2] / "models"
PRESENT = sorted(p.name for p in MODELS.glob("*-*") if (p / "model.json").is_file()) if MODELS.is_dir() else []
BODIES = {
    "sentiment": ({"text": "A moving, beautifully acted film."}, None),
    "keywords": (wav_bytes(tone(8000, 300)), "audio/wav"),
    "forecast": None,  # built from the package's own mean so the input is in range
}

pytestmark = pytest.mark.skipif(not PRESENT, reason="no trained packages in models/ yet")


def test_each_real_model_predicts(tmp_path: Path) -> None:
    with run_server(MODELS, log_dir=tmp_path, timeout=120) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        listing = {m["name"]: m for m in c.get("/v1/models").json()["models"]}
        for name in PRESENT:
            meta = listing[name]
            assert meta["ready"], f"{name}: {meta['error']}"
            task = name.split("-")[0]
            if task == "forecast":
                pre = meta["preprocessing"]
                resp = c.post(f"/v1/models/{name}/predict", json={"history": history(pre["lookback"], len(pre["variables"]))})
            elif task == "keywords":
                body, ctype = BODIES["keywords"]
                resp = c.post(f"/v1/models/{name}/predict", content=body, headers={"content-type": ctype})
            else:
                resp = c.post(f"/v1/models/{name}/predict", json=BODIES["sentiment"][0])
            assert resp.status_code == 200, f"{name}: {resp.text}"
            assert resp.json()["predictions"] and resp.json()["timing"]["inference_ms"] > 0


def test_v2_matches_exporter_reference(tmp_path: Path) -> None:
    """The exporter ships ``reference.npz`` (real inputs + PyTorch outputs); V2 infer must match it."""
    import numpy as np
    import tritonclient.http as triton

    from service.package import read_package

    with run_server(MODELS, log_dir=tmp_path, timeout=120) as srv:
        client = triton.InferenceServerClient(srv.url.removeprefix("http://"))
        checked = 0
        for name in PRESENT:
            ref_path = MODELS / name / "reference.npz"
            if not ref_path.is_file():
                continue
            package = read_package(MODELS / name)
            ref = np.load(ref_path)
            inputs = []
            for spec in package.inputs:
                arr = ref[spec.name]
                item = triton.InferInput(spec.name, list(arr.shape), spec.datatype)
                item.set_data_from_numpy(arr, binary_data=True)
                inputs.append(item)
            out = package.outputs[0].name
            got = client.infer(name, inputs).as_numpy(out)
            tol = max(package.parity.tolerance if package.parity else 1e-4, 1e-5)
            np.testing.assert_allclose(got, ref["expected"], atol=tol, rtol=0, err_msg=name)
            checked += 1
        client.close()
    if checked == 0:
        pytest.skip("no reference.npz in the packages")
