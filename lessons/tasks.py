"""Synthetic sequence tasks, generated on the fly (no downloads), shared by the lessons."""
from __future__ import annotations

import torch


def delay_task(batch: int, length: int, delay: int, generator: torch.Generator | None = None):
    """Echo the input `delay` steps later: y_t = x_{t-delay}.

    Returns x (B, T, 1) of standard normal noise, y (B, T, 1), and a mask (T,) that is True where
    t ≥ delay, the steps that have something to recall. Predicting 0 gives a loss of 1 on those steps.
    """
    if not 0 <= delay < length:
        raise ValueError(f"`delay` must lie in [0, length-1] = [0, {length - 1}], got {delay}.")
    x = torch.randn(batch, length, 1, generator=generator)
    y = torch.zeros_like(x)
    y[:, delay:] = x[:, : length - delay]
    mask = torch.arange(length) >= delay
    return x, y, mask


def recall_first_task(batch: int, length: int, n_classes: int = 8, n_distractors: int = 8,
                      generator: torch.Generator | None = None):
    """Remember the first token through L − 1 distractors, and name it at the last step.

    Tokens 0..n_classes−1 are the classes; the first token is one of them. Tokens n_classes..
    n_classes+n_distractors−1 are distractors and fill the other L − 1 steps at random. Returns
    x (B, L) long, y (B, L) long (the first token, repeated), and a mask (L,) that is True only at the
    last step, the one that is scored. Vocabulary size: n_classes + n_distractors. Chance: 1/n_classes.
    """
    if length < 1:
        raise ValueError(f"`length` must be at least 1, got {length}.")
    if n_classes < 2 or n_distractors < 1:
        raise ValueError(f"need `n_classes` ≥ 2 and `n_distractors` ≥ 1, got {n_classes} and {n_distractors}.")
    first = torch.randint(0, n_classes, (batch, 1), generator=generator)                        # (B, 1)
    distractors = torch.randint(n_classes, n_classes + n_distractors, (batch, length - 1), generator=generator)
    x = torch.cat([first, distractors], dim=1)                                                   # (B, L)
    y = first.expand(batch, length).clone()                                                      # (B, L)
    mask = torch.arange(length) == length - 1
    return x, y, mask
