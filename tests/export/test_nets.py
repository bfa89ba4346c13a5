"""Word dropout in the sentiment net: it acts in training only, and replaces tokens by <unk>, never padding."""

from __future__ import annotations

import torch

from export.nets import SentimentNet

TOKENS = torch.tensor([[5, 9, 2, 7], [6, 3, 0, 0]])  # right-padded
LENGTHS = torch.tensor([4, 2])


def _net(word_dropout: float) -> SentimentNet:
    torch.manual_seed(0)
    return SentimentNet("gru", vocab_size=12, embed_dim=4, hidden=6, layers=1, dropout=0.0, word_dropout=word_dropout)


def test_word_dropout_is_off_in_eval_mode() -> None:
    plain, dropping = _net(0.0).eval(), _net(1.0).eval()
    assert torch.equal(plain(TOKENS, LENGTHS), dropping(TOKENS, LENGTHS))


def test_word_dropout_replaces_every_real_token_by_unk_when_it_is_one() -> None:
    dropping = _net(1.0).train()
    all_unk = torch.where(TOKENS > 0, torch.ones_like(TOKENS), TOKENS)  # padding stays 0
    assert torch.allclose(dropping(TOKENS, LENGTHS), _net(0.0).train()(all_unk, LENGTHS))
    assert not torch.allclose(dropping(TOKENS, LENGTHS), _net(0.0).train()(TOKENS, LENGTHS))
