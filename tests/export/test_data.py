"""Loaders and splits: formats, documented split sizes, determinism, no leakage between splits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from export import data, sst
from service.package import KeywordsPreprocessing
from service.preprocess.text import tokenize
from tests.export.conftest import DATA_ROOT, needs_data


def test_glue_tsv_strips_the_trailing_space(fixtures: dict[str, Path]) -> None:
    texts, labels = sst.read_glue_tsv(fixtures["sst_unseen"])
    assert len(texts) == len(labels) == 50
    assert all(t == t.strip() and t for t in texts)
    assert set(labels.tolist()) <= {0, 1}


def test_glue_tsv_rejects_another_format(tmp_path: Path) -> None:
    bad = tmp_path / "bad.tsv"
    bad.write_text("text,label\nhello,1\n")
    with pytest.raises(ValueError, match="GLUE header"):
        sst.read_glue_tsv(bad)
    with pytest.raises(ValueError, match=r"bad.tsv:1: expected '<0\|1> <sentence>'"):
        sst.read_sentences(bad)  # no GLUE header, so it is read as label-first lines, and is not


def test_sentences_in_either_format_and_folders_of_them(fixtures: dict[str, Path], tmp_path: Path) -> None:
    label_first = tmp_path / "stsa.binary.test"
    label_first.write_text("1 a moving , warm film .\n\n0 it does n't work -lrb- at all -rrb- .\n")
    texts, labels = sst.read_sentences(label_first)
    assert texts == ["a moving , warm film .", "it does n't work -lrb- at all -rrb- ."] and labels.tolist() == [1, 0]
    glue_texts, glue_labels = sst.read_sentences(fixtures["sst_unseen"])
    assert glue_texts == sst.read_glue_tsv(fixtures["sst_unseen"])[0] and len(glue_texts) == 50
    (tmp_path / "README.md").write_text("# documentation, skipped\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "glue.tsv").write_bytes(fixtures["sst_unseen"].read_bytes())
    folder_texts, folder_labels = sst.read_sentences(tmp_path)
    assert folder_texts == texts + glue_texts  # sorted paths: stsa.binary.test < sub/glue.tsv
    assert folder_labels.tolist() == [1, 0, *glue_labels.tolist()]
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.md").write_text("nothing to read\n")
    with pytest.raises(ValueError, match="no sentence files"):
        sst.read_sentences(tmp_path / "empty")


def test_phrase_index_matches_whole_tokens_only() -> None:
    index = sst.PhraseIndex([["the", "cat", "sat"], ["a", "dog", "the", "end"]])
    assert ["cat", "sat"] in index and ["the"] in index and ["dog", "the", "end"] in index
    assert ["he"] not in index and ["at", "sat"] not in index and ["sat", "a"] not in index  # no crossing sentences
    assert ["cat", "the"] not in index and [] not in index


def test_sentence_split_never_trains_on_a_phrase_of_a_held_out_sentence(fixtures: dict[str, Path]) -> None:
    s = sst.sentiment_splits(fixtures["sst_dir"])
    assert (len(s.val[0]), len(s.test[0])) == (80, 120)  # 10 % and 15 % of 800 sentences
    held_out = [f" {' '.join(tokenize(t))} " for t in s.val[0] + s.test[0]]
    parents = [f" {' '.join(tokenize(t))} " for t in sst.held_out_sentences(fixtures["sst_dir"])[0][0]]
    for phrase in s.train[0]:  # brute force on strings, independent of the token index
        padded = f" {' '.join(tokenize(phrase))} "
        assert not any(padded in h for h in held_out) and any(padded in p for p in parents)
    assert s.phrases_orphan == 2 and s.phrases_held_out > 0
    assert len(s.train[0]) + s.phrases_held_out + s.phrases_orphan == s.phrases_total == 800 * 4 + 2
    again = sst.sentiment_splits(fixtures["sst_dir"])
    assert again.train[0] == s.train[0] and again.test[0] == s.test[0]  # seeded: identical on every call
    assert set(s.val[0]).isdisjoint(s.test[0])


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
    s = sst.sentiment_splits(data.SENTIMENT_DIR)
    assert (len(s.val[0]), len(s.test[0])) == (692, 1038)  # 10 % / 15 % of the 6,920 sentences
    assert (len(s.train[0]), s.phrases_held_out, s.phrases_orphan) == (48371, 18436, 542)
    held_out = sst.PhraseIndex([tokenize(t) for t in s.val[0] + s.test[0]])
    assert not any(tokenize(t) in held_out for t in s.train[0])
    k_files = data.list_fsdd(DATA_ROOT / "keyword_spotting" / "fsdd" / "recordings")
    assert len(k_files) == 2700
    f = data.forecast_splits()
    assert (len(f.train[0]), len(f.val[0]), len(f.test[0])) == (8449, 2785, 2785)
    # the last test target is row 14399; z-scoring used the train rows only
    rows = data.read_ett_csv(data.ETTH1_CSV)
    assert np.allclose(f.test[1][-1, -1] * f.cfg.std[6] + f.cfg.mean[6], rows[14399, 6], atol=1e-3)
    assert np.allclose(f.cfg.mean, rows[:8640].mean(axis=0))
