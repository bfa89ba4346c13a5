"""Fixtures for the export tests: tiny data sets in each task's real format, written into tmp_path.

They are small on purpose (the folder runs in well under two minutes on 2 cores) but use the real
file formats, so the loaders and ``rnn-serve evaluate`` are exercised on data they never saw.
"""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from export.data import ETT_VARIABLES

REPO_ROOT = Path(__file__).resolve().parents[2]
DATA_ROOT = REPO_ROOT.parent / "shared" / "data"
MODELS_DIR = REPO_ROOT / "models"

needs_data = pytest.mark.skipif(not DATA_ROOT.is_dir(), reason=f"real data not found at {DATA_ROOT} (../shared/data)")

POSITIVE = ["great", "moving", "funny", "brilliant", "warm", "clever"]
NEGATIVE = ["dull", "awful", "boring", "tedious", "flat", "lifeless"]
FILLER = ["the", "film", "is", "a", "story", "with", "acting", "and", "plot"]


def write_glue_tsv(path: Path, n: int, seed: int) -> Path:
    """A GLUE-format tsv (header, trailing space before the tab) with learnable labels."""
    rng = np.random.default_rng(seed)
    lines = ["sentence\tlabel"]
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER, size=int(rng.integers(1, 8))))
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(POSITIVE if label else NEGATIVE)))
        lines.append(" ".join(words) + " \t" + str(label))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_sentences(n: int, seed: int) -> list[tuple[int, str]]:
    """Labelled 6–12-token sentences; the label decides which sentiment word one of them is."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        label = int(rng.integers(2))
        words = list(rng.choice(FILLER, size=int(rng.integers(5, 12))))
        words.insert(int(rng.integers(len(words) + 1)), str(rng.choice(POSITIVE if label else NEGATIVE)))
        out.append((label, " ".join(words)))
    return out


def write_sentiment_root(root: Path, n_sentences: int, seed: int) -> Path:
    """The shared-data layout in miniature: a ``<label> <sentence>`` file of parent sentences, and
    GLUE ``train.tsv``/``dev.tsv`` of their phrases (each whole sentence plus three random spans),
    plus phrases of no sentence at all, which the split must drop."""
    rng = np.random.default_rng(seed)
    sentences = make_sentences(n_sentences, seed)
    (root / "sst2_sentences").mkdir(parents=True)
    (root / "sst2_sentences" / "stsa.binary.train").write_text("".join(f"{y} {s}\n" for y, s in sentences))
    rows = []
    for label, text in sentences:
        tokens = text.split()
        rows.append((text, label))
        for _ in range(3):
            start = int(rng.integers(len(tokens)))
            rows.append((" ".join(tokens[start : start + int(rng.integers(1, 5))]), label))
    rows += [("an orphan phrase of no sentence", 1), ("zany unseen words", 0)]
    order = rng.permutation(len(rows))
    (root / "sst2_glue").mkdir()
    for name, part in (("train.tsv", order[: len(rows) * 9 // 10]), ("dev.tsv", order[len(rows) * 9 // 10 :])):
        lines = ["sentence\tlabel", *(f"{rows[i][0]} \t{rows[i][1]}" for i in part)]
        (root / "sst2_glue" / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm.tobytes())


def write_fsdd_folder(folder: Path, speakers: tuple[str, ...], takes: range, seed: int) -> Path:
    """``{digit}_{speaker}_{index}.wav`` clips: a tone whose pitch encodes the digit, plus noise."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for digit in range(10):
        for speaker in speakers:
            for take in takes:
                n = int(rng.integers(2400, 4000))
                t = np.arange(n) / 8000
                tone = 0.4 * np.sin(2 * np.pi * (300 + 300 * digit) * t) + 0.02 * rng.standard_normal(n)
                write_wav(folder / f"{digit}_{speaker}_{take}.wav", tone.astype(np.float32))
    (folder / "README.txt").write_text("not a clip; loaders must skip it")
    return folder


def write_ett_csv(path: Path, rows: int, seed: int) -> Path:
    """ETT-format csv: hourly ``date`` plus the 7 variables, daily cycles and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    cols = [5 + 3 * np.sin(2 * np.pi * (t + 3 * k) / 24) + 0.3 * rng.standard_normal(rows) for k in range(7)]
    start = np.datetime64("2016-07-01T00:00")
    lines = ["date," + ",".join(ETT_VARIABLES)]
    for i in range(rows):
        stamp = str(start + np.timedelta64(int(i), "h")).replace("T", " ") + ":00"
        lines.append(stamp + "," + ",".join(f"{c[i]:.3f}" for c in cols))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="session")
def fixtures(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Training-like data and separate never-seen evaluation data for each task."""
    root = tmp_path_factory.mktemp("export-data")
    unseen = root / "sst_unseen"
    unseen.mkdir()
    label_first = unseen / "more.txt"
    label_first.write_text("".join(f"{y} {s}\n" for y, s in make_sentences(30, seed=8)))
    return {
        "sst_dir": write_sentiment_root(root / "sst", 800, seed=1),
        "sst_unseen": write_glue_tsv(unseen / "unseen.tsv", 50, seed=3),
        "sst_unseen_label_first": label_first,
        "sst_unseen_folder": unseen,
        "fsdd_dir": write_fsdd_folder(root / "fsdd", ("alice", "bob"), range(5, 21), seed=4),
        "fsdd_unseen": write_fsdd_folder(root / "fsdd_unseen", ("carol",), range(0, 2), seed=5),
        "ett_csv": write_ett_csv(root / "ETTh1.csv", 14400, seed=6),
        "ett_unseen": write_ett_csv(root / "ETTh2.csv", 400, seed=7),
    }
