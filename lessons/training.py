"""The one training loop of the course (`fit`), with its accuracy and parameter count: small, seeded, CPU.

A batch is (x, y, mask): the model's input x, targets y, and the positions that are scored, a bool mask of
shape (L,) or (B, L), or None for all of them. Classification is the default (logits (B, L, classes) against
long targets (B, L)); any other objective is a `loss(output, y, mask)` function, e.g. `masked_mse`.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

Batch = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]          # x, y, mask
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor | None], torch.Tensor]


def fit(model: nn.Module, make_batch: Callable[[int], Batch], steps: int, lr: float = 3e-3,
        clip: float | None = 1.0, log_every: int = 0, on_step: Callable[[int, nn.Module], None] | None = None,
        loss: Loss | None = None) -> dict[str, list[float]]:
    """Train `model` with Adam for `steps` steps on `make_batch(step)`; return the history, one entry per step.

    The model is called as model(x), or model(*x) when x is a tuple of inputs.

    loss=None: cross-entropy on the scored positions, and history {"loss": [...], "accuracy": [...]} (accuracy
    on that step's batch). Otherwise `loss(model(x), y, mask)` gives the scalar loss and history is {"loss": [...]}.
    Gradients are clipped to norm `clip` (None: off). Seed through `make_batch` (a torch.Generator) and the
    model's init; `log_every > 0` prints progress; `on_step(step, model)` runs after every update.
    """
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    history: dict[str, list[float]] = {"loss": []} if loss else {"loss": [], "accuracy": []}
    for step in range(steps):
        x, y, mask = make_batch(step)
        output = model(*x) if isinstance(x, tuple) else model(x)      # a tuple: several inputs
        if loss:
            value = loss(output, y, mask)
        else:
            logits, targets = _scored(output, y, mask)                  # (S, classes), (S,)
            value = nn.functional.cross_entropy(logits, targets)
            history["accuracy"].append((logits.argmax(-1) == targets).float().mean().item())
        optimiser.zero_grad()
        value.backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimiser.step()
        history["loss"].append(value.item())
        if on_step is not None:
            on_step(step, model)
        if log_every and (step % log_every == 0 or step == steps - 1):
            print(f"step {step:4d}  " + "  ".join(f"{k} {v[-1]:.4f}" for k, v in history.items()))
    return history


def masked_mse(output: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Mean squared error over the scored positions: output and y (B, L, …), mask (L,), (B, L) or None."""
    error = (output - y).pow(2)
    if mask is None:
        return error.mean()
    return (error[:, mask] if mask.ndim == 1 else error[mask]).mean()


def _scored(output: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The logits (S, classes) and targets (S,) at the scored positions; mask is (L,), (B, L) or None."""
    if mask is None:
        return output.reshape(-1, output.shape[-1]), y.reshape(-1)
    if mask.ndim == 1:
        return output[:, mask].reshape(-1, output.shape[-1]), y[:, mask].reshape(-1)
    return output[mask], y[mask]


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor | None,
             per_position: bool = False) -> float | list[float]:
    """Fraction of scored positions where the model's top logit is the target, in eval mode.

    per_position=True (mask (L,)): one accuracy per scored position instead, e.g. the 1st, 2nd, … symbol to copy.
    """
    was_training = model.training
    model.eval()
    logits = model(x)                                                   # (B, L, classes)
    model.train(was_training)
    if per_position:
        if mask is None or mask.ndim != 1:
            raise ValueError("`mask` must be an (L,) bool tensor for per_position=True (the same positions in "
                             "every row).")
        return (logits[:, mask].argmax(-1) == y[:, mask]).float().mean(0).tolist()
    logits, targets = _scored(logits, y, mask)
    return (logits.argmax(-1) == targets).float().mean().item()


def parameter_count(model: nn.Module) -> int:
    """Number of trainable numbers in a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
