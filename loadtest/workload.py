"""Workload: the sequence of request bodies a load test sends, built from real held-out data.

Latency depends on the input (a 50-word review runs more LSTM steps than a 3-word one), so the
workload uses each task's real held-out examples, and every model in a comparison gets the SAME
example sequence. Bodies are serialised once, up front, so the send loop costs almost no CPU.
"""

from __future__ import annotations

import io
import json
import wave
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.data import DATA_ROOT, ETT_BORDERS, KEYWORD_TEST_TAKES, list_fsdd, read_ett_csv
from export.sst import read_glue_tsv

#: ``../shared/data`` next to the repository (CI puts a copy of ``shared/`` beside the clone).
SHARED_DATA = DATA_ROOT
TASKS = ("sentiment", "keywords", "forecast")
LOOKBACK = 96


@dataclass(frozen=True)
class Examples:
    """Raw task inputs (texts, int16 waveforms or (96, 7) windows) and where they came from."""

    task: str
    items: list[Any]
    source: str
    synthetic: bool = False


@dataclass(frozen=True)
class Payload:
    """One pre-serialised request body (headers built once too: the send loop only sends)."""

    body: bytes
    content_type: str
    #: more request headers (the V2 binary extension's ``Inference-Header-Content-Length``)
    extra: tuple[tuple[str, str], ...] = ()

    @property
    def headers(self) -> dict[str, str]:
        return {"Content-Type": self.content_type, **dict(self.extra)}


def task_of(model: str, info: dict[str, Any] | None = None) -> str:
    """A model's task: from the server's metadata when it says, else from the ``<task>-<cell>`` name."""
    if info and info.get("task") in TASKS:
        return str(info["task"])
    prefix = model.split("-", 1)[0]
    if prefix not in TASKS:
        raise ValueError(f"cannot tell the task of model {model!r}: expected a name like sentiment-gru")
    return prefix


def _read_wav_int16(path: Path) -> np.ndarray:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").copy()


def _read_wavs(paths: list[Path]) -> list[np.ndarray]:
    return [_read_wav_int16(p) for p in sorted(paths)]


def _read_ett_windows(path: Path, rows: tuple[int, int] | None) -> list[np.ndarray]:
    """Look-back windows every 24 h; ``rows`` limits them to a split (starting one look-back early)."""
    table = read_ett_csv(path)
    lo, hi = (max(0, rows[0] - LOOKBACK), min(len(table), rows[1])) if rows else (0, len(table))
    return [table[s : s + LOOKBACK] for s in range(lo, hi - LOOKBACK + 1, 24)]


def _shared_examples(task: str) -> Examples | None:
    if task == "sentiment":
        path = SHARED_DATA / "sentiment" / "sst2_glue" / "dev.tsv"
        return Examples(task, read_glue_tsv(path)[0], str(path)) if path.is_file() else None
    if task == "keywords":
        folder = SHARED_DATA / "keyword_spotting" / "fsdd" / "recordings"
        if not folder.is_dir():
            return None
        held_out = [path for path, _, _, take in list_fsdd(folder) if take in KEYWORD_TEST_TAKES]
        return Examples(task, _read_wavs(held_out), f"{folder} (test takes 5-9)") if held_out else None
    path = SHARED_DATA / "timeseries" / "ett" / "ETTh1.csv"
    if not path.is_file():
        return None
    return Examples(task, _read_ett_windows(path, ETT_BORDERS["test"]), f"{path} (test rows 11520-14399)")


def _file_examples(task: str, path: Path) -> Examples:
    """A user's own data in the shared formats: SST-2 TSV, a WAV file or folder, an ETT CSV."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"--data {path}: no such file or folder")
    if task == "sentiment":
        items: list[Any] = read_glue_tsv(path)[0]
    elif task == "keywords":
        items = _read_wavs([path] if path.is_file() else list(path.glob("*.wav")))
    else:
        items = _read_ett_windows(path, None)
    if not items:
        raise ValueError(f"--data {path}: no {task} examples found in it")
    return Examples(task, items, str(path))


def _synthetic_examples(task: str, seed: int) -> Examples:
    """A small deterministic workload for when ``../shared/data`` is absent (e.g. in a container)."""
    rng = np.random.default_rng(seed)
    source = "synthetic (built-in; ../shared/data absent)"
    if task == "sentiment":
        words = [
            "a",
            "the",
            "film",
            "movie",
            "is",
            "was",
            "very",
            "not",
            "good",
            "bad",
            "great",
            "boring",
            "funny",
            "moving",
            "dull",
            "plot",
            "acting",
        ]
        texts = [" ".join(rng.choice(words, size=int(rng.integers(3, 40)))) for _ in range(200)]
        return Examples(task, texts, source, synthetic=True)
    if task == "keywords":
        clips = []
        for _ in range(50):
            n = int(rng.integers(2000, 8000))
            t = np.arange(n) / 8000.0
            tone = 0.3 * np.sin(2 * np.pi * rng.uniform(200, 1200) * t) + 0.02 * rng.standard_normal(n)
            clips.append((tone * 32767).astype("<i2"))
        return Examples(task, clips, source, synthetic=True)
    hours = np.arange(LOOKBACK * 40)
    base = np.stack([np.sin(2 * np.pi * hours / 24 + k) * (k + 1) + 10 for k in range(7)], axis=1)
    windows = [base[s : s + LOOKBACK] + 0.1 * rng.standard_normal((LOOKBACK, 7)) for s in range(0, 39 * LOOKBACK, 96)]
    return Examples(task, windows, source, synthetic=True)


def load_examples(task: str, data: Path | None, seed: int, max_items: int) -> Examples:
    """Held-out examples for ``task``: ``data`` if given, else ../shared/data, else synthetic.

    The order is a seeded shuffle (cut to ``max_items``), so long and short inputs mix evenly
    through time and every model in a comparison sees exactly the same sequence.
    """
    ex = _file_examples(task, data) if data is not None else _shared_examples(task) or _synthetic_examples(task, seed)
    order = np.random.default_rng(seed).permutation(len(ex.items))[:max_items]
    return Examples(ex.task, [ex.items[i] for i in order], ex.source, ex.synthetic)


def wav_bytes(samples: np.ndarray, sample_rate: int = 8000) -> bytes:
    """16-bit mono PCM WAV, the body the keywords ``predict`` route accepts as ``audio/wav``."""
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(sample_rate)
        wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buf.getvalue()


def v1_payloads(examples: Examples) -> list[Payload]:
    """Bodies for ``POST /v1/models/{name}/predict`` (task-level API)."""
    if examples.task == "sentiment":
        return [Payload(json.dumps({"text": t}).encode(), "application/json") for t in examples.items]
    if examples.task == "keywords":
        return [Payload(wav_bytes(s), "audio/wav") for s in examples.items]
    return [
        Payload(json.dumps({"history": np.round(w, 6).tolist()}).encode(), "application/json") for w in examples.items
    ]
