"""A tiny, seeded, CPU training loop shared by the lessons that train models."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn


def train(model: nn.Module, loss_fn: Callable[[nn.Module, int], torch.Tensor], steps: int, lr: float = 1e-2,
          clip: float | None = 1.0, log_every: int = 0) -> list[float]:
    """Train `model` with Adam for `steps` steps and return the loss history.

    `loss_fn(model, step)` builds a batch and returns a scalar loss, so each lesson brings its own task.
    Gradients are clipped to norm `clip` (None turns it off); `log_every > 0` prints progress.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history = []
    for step in range(steps):
        loss = loss_fn(model, step)
        optimiser.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        history.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {history[-1]:.4f}")
    return history
