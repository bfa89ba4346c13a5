"""The service's preprocessing IS ``service.preprocess``: served answers equal running ORT by hand
on that module's output (no second implementation that could drift from training)."""

from __future__ import annotations

from pathlib import Path

import httpx
import numpy as np
import onnxruntime as ort
import pytest

import service.preprocess.audio as audio
import service.preprocess.series as series
import service.preprocess.text as text
from service.package import read_package
from service.tasks import forecast, keywords, sentiment
from tests.service.conftest import history, tone, wav_bytes


def _session(repo: Path, name: str) -> ort.InferenceSession:
    return ort.InferenceSession(str(repo / name / "model.onnx"), providers=["CPUExecutionProvider"])


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max())
    return e / e.sum()


def test_pipelines_import_the_shared_functions() -> None:
    assert sentiment.encode_text is text.encode_text and sentiment.pad_batch is text.pad_batch
    assert keywords.decode_wav is audio.decode_wav and keywords.log_mel is audio.log_mel
    assert forecast.normalize is series.normalize and forecast.denormalize_target is series.denormalize_target


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_sentiment_by_hand(client: httpx.Client, tiny_repo: Path, cell: str) -> None:
    name = f"sentiment-{cell}"
    pkg = read_package(tiny_repo / name)
    vocab = text.Vocabulary.load(tiny_repo / name / pkg.preprocessing.vocab_file)
    phrase = "This movie wasn't boring -- it's the best (really)!"
    ids = text.encode_text(
        phrase, vocab, max_tokens=pkg.preprocessing.max_tokens, max_chars=pkg.preprocessing.max_chars
    )
    tokens, lengths = text.pad_batch([ids])
    want = _softmax(_session(tiny_repo, name).run(None, {"tokens": tokens, "lengths": lengths})[0][0])
    got = client.post(f"/v1/models/{name}/predict", json={"text": phrase}).json()["predictions"][0]
    assert [got["probabilities"][lab] for lab in pkg.labels] == pytest.approx(want.tolist(), abs=1e-6)


def test_keywords_by_hand(client: httpx.Client, tiny_repo: Path) -> None:
    name = "keywords-gru"
    cfg = read_package(tiny_repo / name).preprocessing
    wav = wav_bytes(tone(7000, freq=900))
    feats = audio.log_mel(audio.decode_wav(wav, cfg), cfg)[None]
    want = _softmax(_session(tiny_repo, name).run(None, {"features": feats})[0][0])
    got = client.post(f"/v1/models/{name}/predict", content=wav, headers={"content-type": "audio/wav"}).json()
    assert list(got["predictions"][0]["probabilities"].values()) == pytest.approx(want.tolist(), abs=1e-5)


def test_forecast_by_hand(client: httpx.Client, tiny_repo: Path) -> None:
    name = "forecast-lstm"
    cfg = read_package(tiny_repo / name).preprocessing
    rows = history(seed=3)
    z = series.normalize(series.check_history(rows, cfg), cfg)[None]
    want = series.denormalize_target(_session(tiny_repo, name).run(None, {"history": z})[0], cfg)[0]
    got = client.post(f"/v1/models/{name}/predict", json={"history": rows}).json()["predictions"][0]
    assert got["forecast"] == pytest.approx(want.tolist(), abs=1e-4)
