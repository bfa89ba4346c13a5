"""Data loaders and the documented, seeded splits for the three tasks. numpy only (no torch).

Every loader accepts any file or folder in the data set's own format, because parts of each data
set are deliberately absent from ``shared/data`` and a user must be able to score a model on data
it never saw (GLUE dev, FSDD takes 0–4, another ETT file) with ``rnn-serve evaluate``.

Splits (all fixed, so every seed and both cells see the same examples):

* sentiment: split by SENTENCE, 75/10/15 (seed 1234); train on the GLUE phrases of the train
  sentences that occur in no held-out sentence; validate and test on whole sentences
  (``export/sst.py`` says why: a row-level split leaks).
* keywords: by take index: 5–9 → test, 10–14 → validation, 15–49 → train (every speaker in all).
* forecast: ETTh1 rows 0–8639 train, 8640–11519 validation, 11520–14399 test; validation and test
  windows start ``lookback`` rows earlier so their first forecast has a full look-back.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.sst import sentiment_splits
from service.package import ForecastPreprocessing, KeywordsPreprocessing, SentimentPreprocessing
from service.preprocess.audio import decode_wav, log_mel
from service.preprocess.series import fit_stats, normalize
from service.preprocess.text import Vocabulary, tokenize

#: repo root / .. / shared / data — CI puts a copy of shared/ beside the clone.
DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def task_paths(root: Path) -> dict[str, Path]:
    """Each task's data under a folder laid out like ``shared/data`` (``rnn-serve models --data-root``)."""
    return {
        "sentiment": root / "sentiment",  # sst2_glue/ (training phrases) + sst2_sentences/
        "keywords": root / "keyword_spotting" / "fsdd" / "recordings",
        "forecast": root / "timeseries" / "ett" / "ETTh1.csv",
    }


DEFAULT_DATA = task_paths(DATA_ROOT)


def describe(path: Path | str) -> str:
    """``path`` as recorded in packages and reports: under the shared data, relative to its parent
    (``shared/data/...``), so a record made in one checkout matches another's; elsewhere as given."""
    resolved = Path(path).resolve()
    root = DATA_ROOT.resolve()
    return (
        str(Path(root.parent.name, root.name, resolved.relative_to(root)))
        if resolved.is_relative_to(root)
        else str(path)
    )


SENTIMENT_DIR, FSDD_DIR, ETTH1_CSV = DEFAULT_DATA["sentiment"], DEFAULT_DATA["keywords"], DEFAULT_DATA["forecast"]

KEYWORD_TEST_TAKES = range(5, 10)
KEYWORD_VAL_TAKES = range(10, 15)
ETT_VARIABLES = ["HUFL", "HULL", "MUFL", "MULL", "LUFL", "LULL", "OT"]
ETT_TARGET = "OT"
ETT_BORDERS = {"train": (0, 8640), "val": (8640, 11520), "test": (11520, 14400)}
DIGITS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]


# ---------------------------------------------------------------- sentiment (GLUE tsv + sentence file)


def encode_texts(texts: list[str], vocab: Vocabulary, max_tokens: int) -> list[np.ndarray]:
    """Token ids per text, truncated to ``max_tokens``; an empty text becomes one ``<unk>``."""
    out = []
    for text in texts:
        ids = vocab.encode(tokenize(text))[:max_tokens]
        out.append(ids if ids.size else np.array([vocab.index[Vocabulary.UNK]], dtype=np.int64))
    return out


# ---------------------------------------------------------------- keywords (FSDD wav folder)

_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9]+)_(\d+)\.wav$")


def list_fsdd(folder: Path) -> list[tuple[Path, int, str, int]]:
    """Every ``{digit}_{speaker}_{index}.wav`` in ``folder`` → (path, digit, speaker, take), sorted."""
    found = []
    for path in sorted(Path(folder).iterdir()):
        match = _FSDD_NAME.match(path.name)
        if match:
            found.append((path, int(match[1]), match[2], int(match[3])))
    if not found:
        raise ValueError(f"{folder}: no files named {{digit}}_{{speaker}}_{{index}}.wav")
    return found


def raw_log_mel(paths: list[Path], cfg: KeywordsPreprocessing) -> np.ndarray:
    """WAV files → ``(N, 98, 40)`` log-mel through the service's own decoder and front-end."""
    return np.stack([log_mel(decode_wav(p.read_bytes(), cfg, p.name), cfg) for p in paths])


@dataclass
class KeywordSplits:
    cfg: KeywordsPreprocessing  # with feature_mean/std fitted on train
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]


def keyword_splits(folder: Path = FSDD_DIR) -> KeywordSplits:
    """Split by take index; fit per-band mean/std on the train features and scale all three."""
    files = list_fsdd(folder)
    base = KeywordsPreprocessing()
    feats = raw_log_mel([f[0] for f in files], base)
    digits = np.array([f[1] for f in files], dtype=np.int64)
    takes = np.array([f[3] for f in files])
    is_test, is_val = np.isin(takes, KEYWORD_TEST_TAKES), np.isin(takes, KEYWORD_VAL_TAKES)
    is_train = ~(is_test | is_val)
    mean = feats[is_train].mean(axis=(0, 1))
    std = feats[is_train].std(axis=(0, 1)) + 1e-5
    cfg = base.model_copy(update={"feature_mean": mean.tolist(), "feature_std": std.tolist()})
    scaled = ((feats - np.asarray(cfg.feature_mean, np.float32)) / np.asarray(cfg.feature_std, np.float32)).astype(
        np.float32
    )

    def part(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return scaled[mask], digits[mask]

    return KeywordSplits(cfg, part(is_train), part(is_val), part(is_test))


def keyword_folder(folder: Path, cfg: KeywordsPreprocessing) -> tuple[np.ndarray, np.ndarray]:
    """Any FSDD-format folder → scaled features and digits, with the package's own config."""
    files = list_fsdd(folder)
    feats = np.stack([log_mel(decode_wav(f[0].read_bytes(), cfg, f[0].name), cfg) for f in files])
    return feats.astype(np.float32), np.array([f[1] for f in files], dtype=np.int64)


# ---------------------------------------------------------------- forecast (ETT-format csv)


def read_ett_csv(path: Path) -> np.ndarray:
    """ETT csv (``date`` + the 7 variables, any column order) → ``(rows, 7)`` float64 in ETT order."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        missing = [v for v in ETT_VARIABLES if v not in header]
        if missing:
            raise ValueError(f"{path}: missing columns {missing}; expected date,{','.join(ETT_VARIABLES)}")
        cols = [header.index(v) for v in ETT_VARIABLES]
        rows = [[float(r[c]) for c in cols] for r in reader if r]
    return np.asarray(rows, dtype=np.float64)


def windows(z: np.ndarray, lookback: int, horizon: int, target_col: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (look-back window, next ``horizon`` target values) pair, stride 1, float32."""
    n = len(z) - lookback - horizon + 1
    if n <= 0:
        raise ValueError(f"need at least {lookback + horizon} rows for one window; got {len(z)}")
    idx = np.arange(n)[:, None]
    x = z[idx + np.arange(lookback)[None, :]]
    y = z[idx + lookback + np.arange(horizon)[None, :], target_col]
    return x.astype(np.float32), y.astype(np.float32)


@dataclass
class ForecastSplits:
    cfg: ForecastPreprocessing  # mean/std fitted on the train rows
    train: tuple[np.ndarray, np.ndarray]
    val: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]


def forecast_config(train_rows: np.ndarray, lookback: int = 96, horizon: int = 96) -> ForecastPreprocessing:
    """Preprocessing config with z-score statistics from the training rows only."""
    mean, std = fit_stats(train_rows)
    return ForecastPreprocessing(
        variables=ETT_VARIABLES,
        target=ETT_TARGET,
        lookback=lookback,
        horizon=horizon,
        mean=mean,
        std=std,
        target_unit="°C",
    )


def forecast_splits(path: Path = ETTH1_CSV, lookback: int = 96, horizon: int = 96) -> ForecastSplits:
    """The standard chronological ETTh1 split (12/4/4 months), z-scored with train statistics."""
    rows = read_ett_csv(path)
    cfg = forecast_config(rows[slice(*ETT_BORDERS["train"])], lookback, horizon)
    z = normalize(rows, cfg)
    target = ETT_VARIABLES.index(ETT_TARGET)

    def part(name: str) -> tuple[np.ndarray, np.ndarray]:
        start, end = ETT_BORDERS[name]
        lo = start if name == "train" else start - lookback
        return windows(z[lo:end], lookback, horizon, target)

    return ForecastSplits(cfg, part("train"), part("val"), part("test"))


# ---------------------------------------------------------------- one entry point per task

TASKS = ("sentiment", "keywords", "forecast")


@dataclass
class TaskData:
    """Train/val/test for one task plus what the package must carry to preprocess like training.

    Sentiment inputs are lists of id arrays (ragged); the others are dense float32 arrays.
    """

    task: str
    preprocessing: SentimentPreprocessing | KeywordsPreprocessing | ForecastPreprocessing
    train: tuple[Any, np.ndarray]
    val: tuple[Any, np.ndarray]
    test: tuple[Any, np.ndarray]
    vocab: Vocabulary | None = None
    target_std: float = 1.0


def load_task(task: str, path: Path | None = None, min_freq: int = 2) -> TaskData:
    """Load and split one task's data (``path`` = the folder/file, default ``shared/data``)."""
    path = Path(path) if path else DEFAULT_DATA[task]
    if task == "sentiment":
        s = sentiment_splits(path)
        vocab = Vocabulary.build(s.train[0], min_freq=min_freq)
        pre = SentimentPreprocessing()

        def enc(part: tuple[list[str], np.ndarray]) -> tuple[list[np.ndarray], np.ndarray]:
            return encode_texts(part[0], vocab, pre.max_tokens), part[1]

        return TaskData(task, pre, enc(s.train), enc(s.val), enc(s.test), vocab=vocab)
    if task == "keywords":
        k = keyword_splits(path)
        return TaskData(task, k.cfg, k.train, k.val, k.test)
    if task == "forecast":
        f = forecast_splits(path)
        std = f.cfg.std[f.cfg.variables.index(f.cfg.target)]
        return TaskData(task, f.cfg, f.train, f.val, f.test, target_std=std)
    raise ValueError(f"task must be one of {TASKS}; got {task!r}")
