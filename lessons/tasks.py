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
