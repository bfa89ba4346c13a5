"""The tokenizer against literal expected tokens, written by hand from the PTB conventions SST-2 uses.

The other tests compare the service with training, which share ``tokenize``: a change to both
(say, no longer lower-casing) would pass them. These cannot be passed by changing the code.
"""

from __future__ import annotations

import pytest

from service.preprocess.text import Vocabulary, encode_text, tokenize

CASES = [
    ("Doesn't WORK (at all)!", ["does", "n't", "work", "-lrb-", "at", "all", "-rrb-", "!"]),
    ("SHOUTING isn't HELPFUL", ["shouting", "is", "n't", "helpful"]),
    ("I've seen better; they're worse.", ["i", "'ve", "seen", "better", ";", "they", "'re", "worse", "."]),
    ('It\'s a "great" film -- really.', ["it", "'s", "a", '"', "great", '"', "film", "--", "really", "."]),
    ("won't can't", ["wo", "n't", "ca", "n't"]),
    ("[brackets] {braces}", ["-lsb-", "brackets", "-rsb-", "-lcb-", "braces", "-rcb-"]),
    ("a well-made, 2-hour film", ["a", "well-made", ",", "2-hour", "film"]),
    ("Café DÉJÀ-vu, naïve!", ["café", "déjà-vu", ",", "naïve", "!"]),
    ("...wait?!", [".", ".", ".", "wait", "?", "!"]),
    # already tokenised SST-2 text comes back unchanged: one tokenisation for training and serving
    ("does n't -lrb- ok -rrb- 's", ["does", "n't", "-lrb-", "ok", "-rrb-", "'s"]),
    ("   \t\n ", []),
]


@pytest.mark.parametrize(("text", "tokens"), CASES)
def test_tokenize_literal(text: str, tokens: list[str]) -> None:
    assert tokenize(text) == tokens


def test_case_is_kept_only_when_asked() -> None:
    assert tokenize("Great FILM", lowercase=False) == ["Great", "FILM"]


def test_encode_maps_unknown_words_to_unk_and_counts_tokens_not_characters() -> None:
    vocab = Vocabulary(["<pad>", "<unk>", "great", "film", "!"])
    assert encode_text("GREAT Film!!", vocab, max_tokens=4, max_chars=100).tolist() == [2, 3, 4, 4]
    assert encode_text("great gadget", vocab, max_tokens=4, max_chars=100).tolist() == [2, 1]
