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


def fit(model: nn.Module, make_batch: Callable[[int], tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
        steps: int, lr: float = 3e-3, clip: float | None = 1.0, log_every: int = 0,
        on_step: Callable[[int, nn.Module], None] | None = None) -> dict[str, list[float]]:
    """Train a sequence classifier with Adam and cross-entropy; return {"loss": [...], "accuracy": [...]}.

    Signature: fit(model, make_batch, steps, lr=3e-3, clip=1.0, log_every=0, on_step=None) -> history.
    `make_batch(step)` returns x (input to the model), y (B, L) long targets and a mask, (L,) or (B, L)
    bool, of the positions that are scored; `model(x)` must return logits (B, L, classes). History has
    one entry per step: the loss and the accuracy on the scored positions of that step's batch.
    Seed through `make_batch` (e.g. a torch.Generator) and the model's init; `log_every > 0` prints
    progress; `on_step(step, model)`, if given, runs after every update (e.g. to record parameters).
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"loss": [], "accuracy": []}
    for step in range(steps):
        x, y, mask = make_batch(step)
        logits, targets = _scored(model(x), y, mask)                        # (S, classes), (S,)
        loss = nn.functional.cross_entropy(logits, targets)
        optimiser.zero_grad()
        loss.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        history["loss"].append(loss.item())
        history["accuracy"].append((logits.argmax(-1) == targets).float().mean().item())
        if on_step is not None:
            on_step(step, model)
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {history['loss'][-1]:.4f}  accuracy {history['accuracy'][-1]:.3f}")
    return history


def _scored(logits: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits (S, classes) and targets (S,) at the masked positions; mask is (L,) or (B, L)."""
    if mask.ndim == 1:
        return logits[:, mask].reshape(-1, logits.shape[-1]), y[:, mask].reshape(-1)
    return logits[mask], y[mask]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> float:
    """Fraction of scored positions (mask (L,) or (B, L)) where the model's top logit is the target."""
    was_training = model.training
    model.eval()
    logits, targets = _scored(model(x), y, mask)
    model.train(was_training)
    return (logits.argmax(-1) == targets).float().mean().item()
