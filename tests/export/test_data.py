"""Loaders and splits: formats, documented split sizes, determinism, no leakage between splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export import data
from service.package import KeywordsPreprocessing
from tests.export.conftest import DATA_ROOT, needs_data


def test_glue_tsv_strips_the_trailing_space(fixtures: dict[str, Path]) -> None:
    texts, labels = data.read_glue_tsv(fixtures["sst_unseen"])
    assert len(texts) == len(labels) == 50
    assert all(t == t.strip() and t for t in texts)
    assert set(labels.tolist()) <= {0, 1}


def test_glue_tsv_rejects_another_format(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("text,label\nhello,1\n")
    with pytest.raises(ValueError, match="GLUE header"):
        data.read_glue_tsv(bad)


def test_fsdd_folder_parses_names_and_skips_other_files(fixtures: dict[str, Path]) -> None:
    found = data.list_fsdd(fixtures["fsdd_unseen"])
    assert len(found) == 20  # 10 digits × 1 speaker × 2 takes; README.txt skipped
    assert {f[1] for f in found} == set(range(10)) and {f[2] for f in found} == {"carol"}
    feats, digits = data.keyword_folder(fixtures["fsdd_unseen"], KeywordsPreprocessing())
    assert feats.shape == (20, 98, 40) and feats.dtype == np.float32
    assert digits.tolist() == [f[1] for f in found]


def test_keyword_split_is_by_take_and_scaled_with_train_statistics(fixtures: dict[str, Path]) -> None:
    k = data.keyword_splits(fixtures["fsdd_dir"])
    # 2 speakers × 10 digits: takes 5–9 test, 10–14 validation, 15–20 train
    assert (len(k.test[0]), len(k.val[0]), len(k.train[0])) == (100, 100, 120)
    train = k.train[0]
    assert np.allclose(train.mean(axis=(0, 1)), 0, atol=1e-3)
    assert np.allclose(train.std(axis=(0, 1)), 1, atol=1e-2)


def test_ett_csv_reads_any_column_order(tmp_path: Path, fixtures: dict[str, Path]) -> None:
    rows = data.read_ett_csv(fixtures["ett_unseen"])
    lines = fixtures["ett_unseen"].read_text().splitlines()
    header = lines[0].split(",")
    order = [0] + list(range(len(header) - 1, 0, -1))  # date first, variables reversed
    shuffled = tmp_path / "reordered.csv"
    shuffled.write_text("\n".join(",".join(line.split(",")[i] for i in order) for line in lines) + "\n")
    assert np.array_equal(data.read_ett_csv(shuffled), rows)


def test_windows_pair_lookback_with_the_next_target_values() -> None:
    z = np.arange(300 * 7, dtype=np.float32).reshape(300, 7)
    x, y = data.windows(z, lookback=96, horizon=96, target_col=6)
    assert x.shape == (300 - 192 + 1, 96, 7) and y.shape == (109, 96)
    assert np.array_equal(x[5], z[5:101]) and np.array_equal(y[5], z[101:197, 6])
    with pytest.raises(ValueError, match="at least 192 rows"):
        data.windows(z[:100], 96, 96, 6)


@needs_data
@pytest.mark.data
def test_real_splits_have_the_documented_sizes_and_do_not_overlap() -> None:
    s = data.sentiment_splits()
    assert (len(s.train[0]), len(s.val[0]), len(s.test[0])) == (57583, 6735, 3031)
    assert data.sentiment_splits().test[0] == s.test[0]  # seeded: identical on every call
    k_files = data.list_fsdd(DATA_ROOT / "keyword_spotting" / "fsdd" / "recordings")
    assert len(k_files) == 2700
    f = data.forecast_splits()
    assert (len(f.train[0]), len(f.val[0]), len(f.test[0])) == (8449, 2785, 2785)
    # the last test target is row 14399; z-scoring used the train rows only
    rows = data.read_ett_csv(data.ETTH1_CSV)
    assert np.allclose(f.test[1][-1, -1] * f.cfg.std[6] + f.cfg.mean[6], rows[14399, 6], atol=1e-3)
    assert np.allclose(f.cfg.mean, rows[:8640].mean(axis=0))
