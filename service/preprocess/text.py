"""Text → token ids for the sentiment models.

SST-2 (GLUE) text is lower-cased and PTB-tokenised ("does n't", "-lrb-"). Raw user text is not,
so :func:`tokenize` splits contractions and punctuation the PTB way; applied to already-tokenised
SST-2 text it gives back the same tokens, so training and serving see one tokenisation.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import repeat
from pathlib import Path

import numpy as np

from service.preprocess.errors import PreprocessError

_CONTRACTION_NT = re.compile(r"(\w)n't\b")
_CONTRACTION = re.compile(r"(\w)'(s|re|ve|ll|d|m)\b")
_TOKEN = re.compile(r"n't|'(?:s|re|ve|ll|d|m)\b|-[a-z]{3}-|--|\w+(?:[-']\w+)*|[^\w\s]")
#: PTB spells brackets as words; SST-2 text uses these spellings.
_PTB_BRACKETS = {"(": "-lrb-", ")": "-rrb-", "[": "-lsb-", "]": "-rsb-", "{": "-lcb-", "}": "-rcb-"}


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """PTB-like word tokens: ``"Doesn't work!"`` → ``["does", "n't", "work", "!"]``."""
    if lowercase:
        text = text.lower()
    if "'" in text:  # both contraction patterns need one; most requests have none, so skip the scans
        text = _CONTRACTION_NT.sub(r"\1 n't", text)
        text = _CONTRACTION.sub(r"\1 '\2", text)
    return [_PTB_BRACKETS.get(tok, tok) for tok in _TOKEN.findall(text)]


class Vocabulary:
    """Token ↔ id map. Id 0 pads, id 1 stands for any unknown token."""

    PAD = "<pad>"
    UNK = "<unk>"

    def __init__(self, tokens: Sequence[str]) -> None:
        if list(tokens[:2]) != [self.PAD, self.UNK]:
            raise ValueError("a vocabulary starts with <pad>, <unk>")
        self.tokens = list(tokens)
        self.index = {tok: i for i, tok in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    @classmethod
    def build(cls, texts: Iterable[str], min_freq: int = 2, max_size: int | None = None) -> Vocabulary:
        """Vocabulary of the training split: tokens seen ≥ ``min_freq`` times, most frequent first."""
        counts = Counter(tok for text in texts for tok in tokenize(text))
        ranked = sorted((t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[: max_size - 2]
        return cls([cls.PAD, cls.UNK, *ranked])

    @classmethod
    def load(cls, path: Path) -> Vocabulary:
        return cls(Path(path).read_text(encoding="utf-8").split("\n")[:-1])

    def save(self, path: Path) -> None:
        Path(path).write_text("".join(tok + "\n" for tok in self.tokens), encoding="utf-8")

    def encode(self, tokens: Sequence[str]) -> np.ndarray:
        """Token ids (int64); unknown tokens map to 1 (``map`` over ``dict.get``: no Python frame per token)."""
        return np.fromiter(map(self.index.get, tokens, repeat(1)), dtype=np.int64, count=len(tokens))


def encode_text(text: str, vocab: Vocabulary, *, max_tokens: int, max_chars: int, field: str = "text") -> np.ndarray:
    """Validate and encode one text; raise :class:`PreprocessError` for empty or over-long text."""
    if len(text) > max_chars:
        raise PreprocessError(field, f"text has {len(text)} characters; at most {max_chars} allowed")
    tokens = tokenize(text)
    if not tokens:
        raise PreprocessError(field, "text must contain at least one word or punctuation token")
    if len(tokens) > max_tokens:
        raise PreprocessError(field, f"text has {len(tokens)} tokens; at most {max_tokens} allowed")
    return vocab.encode(tokens)


def pad_batch(sequences: Sequence[np.ndarray], pad_id: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Right-pad id sequences into ``tokens[B, T_max]`` and return ``lengths[B]`` (int64).

    One non-empty 1-D int64 array (a single-text request, the common case) needs no padding: it is
    copied into its one row directly, half the cost of the general path, with the same result.
    """
    if len(sequences) == 1:
        (seq,) = sequences
        if isinstance(seq, np.ndarray) and seq.ndim == 1 and seq.size and seq.dtype == np.int64:
            return np.array(seq, dtype=np.int64, ndmin=2), np.array([seq.size], dtype=np.int64)
    lengths = np.array([len(s) for s in sequences], dtype=np.int64)
    tokens = np.full((len(sequences), int(lengths.max(initial=1))), pad_id, dtype=np.int64)
    for row, seq in enumerate(sequences):
        tokens[row, : len(seq)] = seq
    return tokens, lengths
