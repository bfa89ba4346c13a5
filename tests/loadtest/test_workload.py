"""Workloads: held-out real data, the user's own file, and the synthetic fallback."""

from __future__ import annotations

import io
import json
import wave
from pathlib import Path

import numpy as np
import pytest

from loadtest import workload
from loadtest.workload import load_examples, task_of, v1_payloads, wav_bytes

from .conftest import SHARED_DATA

needs_data = pytest.mark.skipif(not SHARED_DATA.is_dir(), reason=f"real data not found at {SHARED_DATA}")


@needs_data
@pytest.mark.data
def test_held_out_examples_come_from_the_shared_data() -> None:
    sent = load_examples("sentiment", None, seed=0, max_items=100_000)
    dev_rows = (SHARED_DATA / "sentiment" / "sst2_glue" / "dev.tsv").read_text().count("\n") - 1
    assert not sent.synthetic and len(sent.items) == dev_rows
    kw = load_examples("keywords", None, seed=0, max_items=100_000)
    assert len(kw.items) == 6 * 10 * 5  # takes 5-9 of 6 speakers x 10 digits
    fc = load_examples("forecast", None, seed=0, max_items=100_000)
    assert all(w.shape == (96, 7) for w in fc.items) and "11520" in fc.source
    # Same seed → same sequence for every model in a comparison; another seed → another order.
    assert load_examples("sentiment", None, 0, 50).items == load_examples("sentiment", None, 0, 50).items
    assert load_examples("sentiment", None, 0, 50).items != load_examples("sentiment", None, 1, 50).items


def test_synthetic_fallback_is_flagged(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(workload, "SHARED_DATA", tmp_path / "absent")
    for task in ("sentiment", "keywords", "forecast"):
        ex = load_examples(task, None, seed=0, max_items=20)
        assert ex.synthetic and "synthetic" in ex.source and len(ex.items) == 20
        assert len(v1_payloads(ex)) == 20


def test_user_files_in_the_shared_formats(tmp_path: Path) -> None:
    tsv = tmp_path / "mine.tsv"
    tsv.write_text("sentence\tlabel\na fine film \t1\nawful \t0\n")
    ex = load_examples("sentiment", tsv, seed=0, max_items=10)
    assert sorted(ex.items) == ["a fine film", "awful"]
    bodies = sorted(json.loads(p.body)["text"] for p in v1_payloads(ex))
    assert bodies == ["a fine film", "awful"]
    wav = tmp_path / "clip.wav"
    wav.write_bytes(wav_bytes(np.arange(400, dtype=np.int16)))
    payload = v1_payloads(load_examples("keywords", wav, seed=0, max_items=10))[0]
    assert payload.content_type == "audio/wav"
    with wave.open(io.BytesIO(payload.body)) as w:
        assert (w.getframerate(), w.getnframes(), w.getsampwidth()) == (8000, 400, 2)


def test_task_comes_from_metadata_or_name() -> None:
    assert task_of("sentiment-gru") == "sentiment"
    assert task_of("custom", {"task": "forecast"}) == "forecast"
    with pytest.raises(ValueError):
        task_of("mystery-model")
