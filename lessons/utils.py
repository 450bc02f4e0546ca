"""Small helpers every lesson uses: seeding, input validation with learner-friendly errors, showing source."""
from __future__ import annotations

import inspect
import random

import numpy as np
import torch


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch, and return a torch.Generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def require_tensor(name: str, value, *, ndim: int | None = None, floating: bool = True) -> torch.Tensor:
    """Check that `value` is a tensor (of rank `ndim`, floating or complex); raise a clear error otherwise."""
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}.")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions, got shape {tuple(value.shape)}.")
    if floating and not (value.is_floating_point() or value.is_complex()):
        raise TypeError(f"`{name}` must be a floating-point tensor, got dtype {value.dtype}; "
                        f"convert it with `.float()`.")
    return value


def require_in_range(name: str, value: float, low: float, high: float) -> float:
    """Check that a number lies in [low, high]; raise a clear error otherwise."""
    if not (low <= value <= high):
        raise ValueError(f"`{name}` must lie in [{low}, {high}], got {value}.")
    return value


def show_source(obj) -> None:
    """Display the source of a function or class from `lessons/` as a highlighted code block."""
    from IPython.display import Markdown, display

    display(Markdown(f"```python\n{inspect.getsource(obj)}```"))


def results_path(name: str):
    """Path of a recorded results file, `results/<name>` at the repository root (wherever the notebook runs)."""
    from pathlib import Path

    return Path(__file__).resolve().parent.parent / "results" / name


def show_results(name: str) -> None:
    """Display a recorded Markdown results file from `results/`, or say plainly that it is missing."""
    from IPython.display import Markdown, display

    path = results_path(name)
    display(Markdown(path.read_text() if path.exists() else f"*No recorded results yet: `results/{name}` is missing.*"))
