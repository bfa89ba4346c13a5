"""service/preprocess/text.py: tokens, vocabularies, encoding limits and padding, against literal
expectations written by hand."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from service.preprocess.errors import PreprocessError
from service.preprocess.text import Vocabulary, encode_text, pad_batch, tokenize


def test_tokenize_lower_cases_by_default_and_splits_ptb_style() -> None:
    assert tokenize("She'd've SAID (no)") == ["she", "'d", "'ve", "said", "-lrb-", "no", "-rrb-"]
    assert tokenize("I'm HERE, you'll see; we're ok") == [
        "i",
        "'m",
        "here",
        ",",
        "you",
        "'ll",
        "see",
        ";",
        "we",
        "'re",
        "ok",
    ]
    assert tokenize("didn't") == ["did", "n't"]


def test_tokenize_keeps_case_when_asked_and_still_splits() -> None:
    # the contraction rules are written for lower-case text: upper-case ones stay one word
    assert tokenize("DIDN'T {Stop}", lowercase=False) == ["DIDN'T", "-lcb-", "Stop", "-rcb-"]
    assert tokenize("It's [OK]", lowercase=False) == ["It", "'s", "-lsb-", "OK", "-rsb-"]


def test_vocabulary_must_start_with_pad_and_unk() -> None:
    for bad in (["<unk>", "<pad>", "a"], ["<pad>"], ["a", "b", "c"], ["<pad>", "x", "<unk>"]):
        with pytest.raises(ValueError, match=r"^a vocabulary starts with <pad>, <unk>$"):
            Vocabulary(bad)
    vocab = Vocabulary(("<pad>", "<unk>", "x"))  # any sequence
    assert (
        len(vocab) == 3
        and vocab.tokens == ["<pad>", "<unk>", "x"]
        and vocab.index
        == {
            "<pad>": 0,
            "<unk>": 1,
            "x": 2,
        }
    )


def test_build_keeps_frequent_tokens_most_frequent_first_ties_alphabetical() -> None:
    texts = ["b a c c", "c b d", "a e", "b"]  # counts: b 3, c 3, a 2, d 1, e 1
    assert Vocabulary.build(texts).tokens == ["<pad>", "<unk>", "b", "c", "a"]
    assert Vocabulary.build(texts, min_freq=3).tokens == ["<pad>", "<unk>", "b", "c"]
    assert Vocabulary.build(texts, min_freq=1).tokens == ["<pad>", "<unk>", "b", "c", "a", "d", "e"]
    # max_size counts <pad> and <unk>
    assert Vocabulary.build(texts, max_size=4).tokens == ["<pad>", "<unk>", "b", "c"]
    assert Vocabulary.build(texts, min_freq=1, max_size=5).tokens == ["<pad>", "<unk>", "b", "c", "a"]
    # texts are tokenised: case and contractions fold together
    assert Vocabulary.build(["Can't", "CAN'T", "can't"], min_freq=3).tokens == ["<pad>", "<unk>", "ca", "n't"]


def test_save_writes_one_token_a_line_and_load_reads_it_back(tmp_path: Path) -> None:
    path = tmp_path / "vocab.txt"
    Vocabulary(["<pad>", "<unk>", "café", "n't"]).save(path)
    assert path.read_bytes() == "<pad>\n<unk>\ncafé\nn't\n".encode()
    assert Vocabulary.load(path).tokens == ["<pad>", "<unk>", "café", "n't"]
    path.write_bytes(b"<pad>\n<unk>\nwarm\n")
    assert Vocabulary.load(path).index == {"<pad>": 0, "<unk>": 1, "warm": 2}


def test_encode_maps_unknown_tokens_to_one() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "good", "bad"])
    ids = vocab.encode(["bad", "ugly", "good", "<pad>"])
    assert ids.dtype == np.int64 and ids.tolist() == [3, 1, 2, 0]
    assert vocab.encode([]).tolist() == []


VOCAB = Vocabulary(["<pad>", "<unk>", "a", "b"])


def test_encode_text_limits_are_inclusive() -> None:
    assert encode_text("a b a", VOCAB, max_tokens=3, max_chars=5).tolist() == [2, 3, 2]
    with pytest.raises(PreprocessError) as info:
        encode_text("a b a", VOCAB, max_tokens=3, max_chars=4)
    assert (info.value.field, info.value.rule) == ("text", "text has 5 characters; at most 4 allowed")
    with pytest.raises(PreprocessError) as info:
        encode_text("a b a", VOCAB, max_tokens=2, max_chars=100, field="texts[3]")
    assert (info.value.field, info.value.rule) == ("texts[3]", "text has 3 tokens; at most 2 allowed")


def test_encode_text_needs_a_token() -> None:
    for empty in ("", "  \n\t"):
        with pytest.raises(PreprocessError) as info:
            encode_text(empty, VOCAB, max_tokens=3, max_chars=10)
        assert str(info.value) == "text: text must contain at least one word or punctuation token"
    assert encode_text("?", VOCAB, max_tokens=1, max_chars=1).tolist() == [1]


def test_pad_batch_right_pads_and_reports_lengths() -> None:
    tokens, lengths = pad_batch([np.array([5, 6, 7]), np.array([8]), np.array([9, 10])])
    assert tokens.tolist() == [[5, 6, 7], [8, 0, 0], [9, 10, 0]] and tokens.dtype == np.int64
    assert lengths.tolist() == [3, 1, 2] and lengths.dtype == np.int64
    tokens, _ = pad_batch([np.array([1]), np.array([2, 3])], pad_id=7)
    assert tokens.tolist() == [[1, 7], [2, 3]]


def test_pad_batch_of_single_tokens_and_of_nothing() -> None:
    tokens, lengths = pad_batch([np.array([4]), np.array([5])])
    assert tokens.tolist() == [[4], [5]] and lengths.tolist() == [1, 1]
    tokens, lengths = pad_batch([])
    assert tokens.shape == (0, 1) and lengths.shape == (0,)


def _pad_batch_general(sequences: list[np.ndarray], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """pad_batch without its one-sequence fast path (the reference it must equal)."""
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    tokens = np.full((len(sequences), int(lengths.max(initial=1))), pad_id, dtype=np.int64)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = seq
    return tokens, lengths


@pytest.mark.parametrize(
    "seq",
    [
        np.array([7], dtype=np.int64),
        np.array([5, 0, 9, 1], dtype=np.int64),
        np.arange(64, dtype=np.int64),
        np.arange(20, dtype=np.int64)[::3],  # not contiguous
        np.array([], dtype=np.int64),
        np.array([3, 4], dtype=np.int32),
        np.array([2.0, 3.0]),
    ],
)
@pytest.mark.parametrize("pad_id", [0, 7])
def test_pad_batch_of_one_sequence_equals_the_general_path(seq: np.ndarray, pad_id: int) -> None:
    tokens, lengths = pad_batch([seq], pad_id=pad_id)
    want_tokens, want_lengths = _pad_batch_general([seq], pad_id=pad_id)
    assert tokens.dtype == want_tokens.dtype == np.int64 and lengths.dtype == want_lengths.dtype == np.int64
    assert tokens.shape == want_tokens.shape and tokens.tolist() == want_tokens.tolist()
    assert lengths.shape == want_lengths.shape and lengths.tolist() == want_lengths.tolist()
    assert tokens.flags.c_contiguous and not np.shares_memory(tokens, seq)
    if seq.size:
        tokens[0, 0] += 1  # a copy, like the general path's: the caller's array is not aliased
        assert tokens[0, 0] != seq[0]


def test_tokenize_skips_the_contraction_passes_only_when_they_cannot_match() -> None:
    def reference(text: str) -> list[str]:
        text = re.sub(r"(\w)n't\b", r"\1 n't", text.lower())
        text = re.sub(r"(\w)'(s|re|ve|ll|d|m)\b", r"\1 '\2", text)
        return [
            {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}.get(t, t)
            for t in re.findall(r"n't|'(?:s|re|ve|ll|d|m)\b|-[a-z]{3}-|--|\w+(?:[-']\w+)*|[^\w\s]", text)
        ]

    for text in ["Doesn't work!", "a good movie", "it's (not) bad", "we'd've", "no apostrophe here -- (x)", "'", "n't"]:
        assert tokenize(text) == reference(text)
