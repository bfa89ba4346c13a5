"""service/tasks/sentiment.py ``check_tensors``: the one-row path (plain Python over the ids)
gives exactly what the general numpy path gives, for every kind of row."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from service.preprocess.text import Vocabulary
from service.tasks.sentiment import SentimentTask


def _task(pad_id: int = 0, unk_id: int = 1) -> SentimentTask:
    task = SentimentTask.__new__(SentimentTask)
    task.vocab = Vocabulary(["<pad>", "<unk>", *(f"w{i}" for i in range(8))])  # ids 0..9
    task.cfg = SimpleNamespace(pad_id=pad_id, unk_id=unk_id)  # type: ignore[assignment]
    return task


def _general(tokens: np.ndarray, pad_id: int, unk_id: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The general (any number of rows) rule, as it was written before the one-row path."""
    unknown = (tokens < 0) | (tokens >= size)
    if unknown.any():
        tokens = np.where(unknown, unk_id, tokens)
    real = tokens != pad_id
    after_last = tokens.shape[1] - np.argmax(real[:, ::-1], axis=1)
    return tokens, np.where(real.any(axis=1), after_last, 1).astype(np.int64)


ROWS = [
    [5, 7, 3],
    [5, 0, 0],
    [0, 0, 0],
    [0],
    [4],
    [0, 0, 4],
    [3, 0, 2, 0, 0],
    [-1, 4, 0],
    [12, 0, 0, 0],
    [0, 0, 99],
    [2, -5, 10, 9],
]


@pytest.mark.parametrize("row", ROWS)
@pytest.mark.parametrize("pad_id", [0, 2])
def test_one_row_equals_the_general_rule(row: list[int], pad_id: int) -> None:
    task = _task(pad_id=pad_id)
    tokens = np.array([row], dtype=np.int64)
    out = task.check_tensors({"tokens": tokens})
    want_tokens, want_lengths = _general(tokens, pad_id, 1, 10)
    assert out["tokens"].dtype == want_tokens.dtype and out["tokens"].tolist() == want_tokens.tolist()
    assert out["lengths"].dtype == want_lengths.dtype == np.int64
    assert out["lengths"].shape == (1,) and out["lengths"].tolist() == want_lengths.tolist()


def test_several_rows_still_take_the_general_rule() -> None:
    tokens = np.array([r + [0] * (5 - len(r)) for r in ROWS if len(r) <= 5], dtype=np.int64)
    out = _task().check_tensors({"tokens": tokens})
    want_tokens, want_lengths = _general(tokens, 0, 1, 10)
    assert out["tokens"].tolist() == want_tokens.tolist() and out["lengths"].tolist() == want_lengths.tolist()


def test_given_lengths_are_checked_not_derived() -> None:
    task = _task()
    out = task.check_tensors({"tokens": np.array([[3, 0, 0]]), "lengths": np.array([2])})
    assert out["lengths"].tolist() == [2]
    with pytest.raises(Exception, match="each length must be in"):
        task.check_tensors({"tokens": np.array([[3, 0, 0]]), "lengths": np.array([4])})
