"""Streaming on the real trained packages with real inputs: N native chunks == one ``/predict``.

Skipped when ``models/`` has no packages with step models, or ``../shared/data`` is absent.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from loadtest.servers import run_server
from service.package import read_package
from tests.service.conftest import one_process

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "models"
DATA = REPO.parent / "shared" / "data"
NAMES = [f"{t}-{c}" for t in ("sentiment", "keywords", "forecast") for c in ("lstm", "gru")]
STREAMABLE = [n for n in NAMES if (MODELS / n / "model.json").is_file() and read_package(MODELS / n, False).streaming]

pytestmark = [
    one_process,
    pytest.mark.skipif(len(STREAMABLE) < len(NAMES), reason="models/ lacks packages with step models (make models)"),
    pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA} (../shared/data)"),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    with (
        run_server(MODELS, log_dir=tmp_path_factory.mktemp("real-stream"), timeout=120) as srv,
        httpx.Client(base_url=srv.url, timeout=30) as client,
    ):
        yield client


def _stream(client: httpx.Client, model: str, bodies: list[dict]) -> dict:
    sid = client.post(f"/v1/models/{model}/sessions").json()["session_id"]
    for body in bodies:
        r = client.post(f"/v1/models/{model}/sessions/{sid}/chunks", json=body)
        assert r.status_code == 200, r.text
    assert client.delete(f"/v1/models/{model}/sessions/{sid}").status_code == 200
    return r.json()


def _probs(answer: dict) -> list[float]:
    return list(answer["predictions"][0]["probabilities"].values())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_real_sentences_word_by_word(real: httpx.Client, cell: str) -> None:
    with open(DATA / "sentiment" / "sst2_glue" / "dev.tsv", encoding="utf-8") as fh:
        rows = [line.split("\t")[0].strip() for line in fh.readlines()[1:40]]
    for text in [r for r in rows if len(r.split()) >= 6][:5]:
        words = text.split()
        streamed = _stream(real, f"sentiment-{cell}", [{"text": w} for w in words])
        one_shot = real.post(f"/v1/models/sentiment-{cell}/predict", json={"text": " ".join(words)}).json()
        np.testing.assert_allclose(_probs(streamed), _probs(one_shot), atol=1e-5)


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_real_recordings_in_sample_chunks(real: httpx.Client, cell: str) -> None:
    import wave

    files = sorted((DATA / "keyword_spotting" / "fsdd" / "recordings").glob("*_theo_5.wav"))[:4]
    assert files
    for path in files:
        with wave.open(str(path)) as w:
            audio = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        window = np.zeros(8000, dtype=np.float32)  # /predict pads to the 1-s window; send the same 8,000
        window[: min(8000, audio.size)] = audio[:8000]
        bounds = [0, 333, 1000, 1001, 4567, 8000]
        chunks = [{"samples": window[a:b].tolist(), "sample_rate": 8000} for a, b in zip(bounds, bounds[1:])]
        streamed = _stream(real, f"keywords-{cell}", chunks)
        one_shot = real.post(
            f"/v1/models/keywords-{cell}/predict", json={"samples": window.tolist(), "sample_rate": 8000}
        ).json()
        np.testing.assert_allclose(_probs(streamed), _probs(one_shot), atol=1e-5)
        assert streamed["predictions"][0]["digit"] == one_shot["predictions"][0]["digit"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_real_hours_in_chunks(real: httpx.Client, cell: str) -> None:
    with open(DATA / "timeseries" / "ett" / "ETTh1.csv", encoding="utf-8") as fh:
        rows = [[float(v) for v in r[1:]] for r in list(csv.reader(fh))[11_601:11_697]]
    streamed = _stream(
        real, f"forecast-{cell}", [{"rows": rows[a:b]} for a, b in ((0, 1), (1, 24), (24, 90), (90, 96))]
    )
    one_shot = real.post(f"/v1/models/forecast-{cell}/predict", json={"history": rows}).json()
    np.testing.assert_allclose(
        streamed["predictions"][0]["forecast"], one_shot["predictions"][0]["forecast"], atol=1e-3
    )  # °C; 1e-5 in z-score units × OT std
