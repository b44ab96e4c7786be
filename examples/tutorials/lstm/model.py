"""The sentiment LSTM: embedding → LSTM → linear → sigmoid, read at each review's last word."""

import torch
from torch import nn


class LSTMClassifier(nn.Module):
    def __init__(self, embedding_dim: int, hidden_dim: int, vocab_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=0)
        self.lstm = nn.LSTM(embedding_dim, hidden_dim)
        self.dense = nn.Linear(in_features=hidden_dim, out_features=1)
        self.sig = nn.Sigmoid()
        self.word_dict = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: one row per review, [length, word_1, ..., word_n] (words padded with 0)
        x = x.t()
        lengths = x[0, :]
        reviews = x[1:, :]
        embeds = self.embedding(reviews)
        lstm_out, _ = self.lstm(embeds)
        out = self.dense(lstm_out)
        out = out[lengths - 1, range(len(lengths))]
        return self.sig(out.squeeze())
