"""One network per task, parametrised by ``cell`` ∈ {lstm, gru} and identical otherwise.

Every net is a uni-directional recurrent layer stack feeding a linear head, from the last layer's
final hidden state (sentiment, forecast) or its time-mean (keywords, see there); ``export/step.py``
exports a step variant of each that carries the state across requests (streaming sessions).
``torch.nn.LSTM``/``GRU`` export to the native ONNX ``LSTM``/``GRU`` operators, which is why there
are no hand-written cells here.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


def make_rnn(cell: str, input_size: int, hidden: int, layers: int, dropout: float) -> nn.Module:
    """``nn.LSTM`` or ``nn.GRU`` with the same arguments: the only thing the cell changes."""
    kinds: dict[str, type[nn.LSTM] | type[nn.GRU]] = {"lstm": nn.LSTM, "gru": nn.GRU}
    if cell not in kinds:
        raise ValueError(f"cell must be one of {sorted(kinds)}; got {cell!r}")
    return kinds[cell](input_size, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0)


def last_hidden(state: torch.Tensor | tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    """Top layer's final hidden state ``(B, H)``; an LSTM also returns its cell state, dropped here."""
    h_n = state[0] if isinstance(state, tuple) else state
    return h_n[-1]


class SentimentNet(nn.Module):
    """tokens ``(B, T)`` + lengths ``(B,)`` → logits ``(B, 2)``.

    The packed sequence makes the RNN stop at each row's own length, so a right-padded batch gives
    exactly what each row gives alone; the legacy exporter turns it into the ONNX ``sequence_lens``.
    ``word_dropout`` replaces that share of the training tokens by ``<unk>`` (id 1): sentences never
    seen in training are full of rare or unknown words, and the net should not hinge on any one word.
    It acts in training only, so the exported graphs (which call ``embed`` directly) do not see it.
    """

    def __init__(
        self,
        cell: str,
        vocab_size: int,
        embed_dim: int,
        hidden: int,
        layers: int,
        dropout: float,
        word_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.word_dropout = word_dropout
        self.embed = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.rnn = make_rnn(cell, embed_dim, hidden, layers, dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 2)

    def forward(self, tokens: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        if self.training and self.word_dropout > 0:
            tokens = tokens.masked_fill((torch.rand(tokens.shape) < self.word_dropout) & (tokens > 0), 1)
        x = self.drop(self.embed(tokens))
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, state = self.rnn(packed)
        logits: torch.Tensor = self.head(self.drop(last_hidden(state)))
        return logits


class KeywordNet(nn.Module):
    """log-mel features ``(B, 98, 40)`` → digit logits ``(B, 10)``, from the time-mean of the outputs.

    Why not the last state: FSDD clips are ~0.4 s, so the 1-s window ends in ~60 frames of padding
    and the final state of either cell had forgotten the word (training stalled at chance, loss
    2.30). Averaging the per-frame outputs gives every frame a gradient; a stream can keep it as a
    running sum.
    """

    def __init__(self, cell: str, n_mels: int, hidden: int, layers: int, dropout: float) -> None:
        super().__init__()
        self.rnn = make_rnn(cell, n_mels, hidden, layers, dropout)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, 10)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        outputs, _ = self.rnn(features)
        logits: torch.Tensor = self.head(self.drop(outputs.mean(dim=1)))
        return logits


class ForecastNet(nn.Module):
    """z-scored history ``(B, 96, 7)`` → z-scored next ``horizon`` target values ``(B, 96)``.

    Each window is shifted by its own FIRST row before the RNN, and the head predicts the change
    from the last observed target (a RevIN-style level removal, standard on ETT): ETTh1's test
    months sit at levels the training year rarely saw, and the level-predicting RNN scored ~5×
    worse than repeating the last value (test MSE 0.35–0.44 vs 0.07; with the shift 0.06–0.08).
    Why the first row and not the last (the original choice): with the last row, every RNN input
    depended on a row not yet seen, so the state could not be carried across streamed chunks; the
    first row is known once the stream starts (``export/step.py``). The output stays anchored to
    the last observed target.
    """

    def __init__(
        self, cell: str, n_vars: int, horizon: int, hidden: int, layers: int, dropout: float, target_col: int = -1
    ) -> None:
        super().__init__()
        self.rnn = make_rnn(cell, n_vars, hidden, layers, dropout)
        self.head = nn.Linear(hidden, horizon)
        self.target_col = target_col

    def forward(self, history: torch.Tensor) -> torch.Tensor:
        level = history[:, :1, :]  # (B, 1, V): each window's first row (known from the first step on)
        _, state = self.rnn(history - level)
        change: torch.Tensor = self.head(last_hidden(state))
        return history[:, -1:, self.target_col] + change


def parameter_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
