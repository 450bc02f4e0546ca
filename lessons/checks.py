"""The one home of input validation, for `lessons/` and `kernels/` alike.

Every function takes the argument's name as the user spelled it and raises a clear error that names it and
says what was expected, then returns the (normalised) value, so a call reads `n = require_positive_int("n", n)`.
"""
from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable

import torch


def require_tensor(name: str, value, *, ndim: int | None = None, floating: bool = True,
                   dtypes: Iterable[torch.dtype] | None = None) -> torch.Tensor:
    """A torch.Tensor (of rank `ndim`; floating or complex unless floating=False; with a dtype from `dtypes`)."""
    if not isinstance(value, torch.Tensor):
        hint = " (a NumPy array? wrap it with torch.as_tensor)" if type(value).__module__ == "numpy" else ""
        raise TypeError(f"`{name}` must be a torch.Tensor, got {type(value).__name__}{hint}.")
    if ndim is not None and value.ndim != ndim:
        raise ValueError(f"`{name}` must have {ndim} dimensions, got shape {tuple(value.shape)}.")
    if floating and not (value.is_floating_point() or value.is_complex()):
        raise TypeError(f"`{name}` must be a floating-point tensor, got dtype {value.dtype}; "
                        f"convert it with `.float()`.")
    if dtypes is not None:
        allowed = tuple(dtypes)
        if value.dtype not in allowed:
            names = ", ".join(str(dtype).removeprefix("torch.") for dtype in allowed)
            raise TypeError(f"`{name}` must have dtype in ({names}), got {str(value.dtype).removeprefix('torch.')}.")
    return value


def require_shape(name: str, value: torch.Tensor, expected: tuple, *, meaning: str = "") -> torch.Tensor:
    """`value.shape` equals `expected`, where None matches any size; `meaning` names the axes, e.g. "(batch, L)"."""
    shape = tuple(value.shape)
    fits = len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected, strict=True))
    if not fits:
        wanted = tuple("any" if e is None else e for e in expected)
        raise ValueError(f"`{name}` must have shape {meaning + ' = ' if meaning else ''}{wanted}, got {shape}.")
    return value


def require_int(name: str, value, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """A whole number (Python or NumPy int, or a 0-d integer tensor; never a bool or a float) in [minimum, maximum]."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_floating_point() and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"`{name}` must be an int, got {value!r} ({type(value).__name__}).")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        low = "-∞" if minimum is None else minimum
        high = "∞" if maximum is None else maximum
        raise ValueError(f"`{name}` must be an int in [{low}, {high}], got {value}.")
    return value


def require_positive_int(name: str, value) -> int:
    """A whole number ≥ 1."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral | torch.Tensor):
        raise TypeError(f"`{name}` must be a positive int, got {value!r} ({type(value).__name__}).")
    return require_int(name, value, minimum=1)


def require_power_of_two(name: str, value, low: int = 1, high: int | None = None) -> int:
    """A power of two in [low, high]."""
    value = require_int(name, value)
    if value < 1 or value & (value - 1) or value < low or (high is not None and value > high):
        raise ValueError(f"`{name}` must be a power of two in [{low}, {high if high is not None else '∞'}], "
                         f"got {value}.")
    return value


def require_bool(name: str, value) -> bool:
    """True or False, nothing truthy."""
    if not isinstance(value, bool):
        raise TypeError(f"`{name}` must be True or False, got {value!r}.")
    return value


def require_number(name: str, value) -> float:
    """A real finite number: Python, NumPy or a 0-d real tensor."""
    if isinstance(value, torch.Tensor) and value.ndim == 0 and not value.is_complex():
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"`{name}` must be a real number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"`{name}` must be finite, got {value}.")
    return value


def require_in_range(name: str, value, low: float, high: float) -> float:
    """A real number in [low, high]."""
    value = require_number(name, value)
    if not low <= value <= high:
        raise ValueError(f"`{name}` must lie in [{low}, {high}], got {value}.")
    return value


def require_no_inf(name: str, value: torch.Tensor, why: str = "") -> torch.Tensor:
    """A tensor with no ±inf entry (NaN passes, as through any torch op); `why` ends the error with the reason."""
    infinite = value.isinf()
    if bool(infinite.any()):
        index = tuple(int(i) for i in infinite.nonzero()[0])
        raise ValueError(f"`{name}` must not contain ±inf, got {value[index].item()} at index {index}."
                         + (f" {why}" if why else ""))
    return value


def require_dim(name: str, value, ndim: int) -> int:
    """An axis index for a tensor of rank `ndim`, as a non-negative int (negative counts from the end)."""
    value = require_int(name, value)
    if not -ndim <= value < ndim:
        raise ValueError(f"`{name}` must be an axis in [{-ndim}, {ndim - 1}] for a {ndim}-d tensor, got {value}.")
    return value % ndim


def require_one_of(name: str, value, options: Iterable):
    """One of `options` (names or values); a misspelt name gets the closest option as a hint."""
    options = list(options)
    if value in options:
        return value
    hint = ""
    if isinstance(value, str):
        close = difflib.get_close_matches(value, [o for o in options if isinstance(o, str)], n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"`{name}` must be one of {options}, got {value!r}.{hint}")


def require_same_device(name: str, value: torch.Tensor, reference_name: str, reference: torch.Tensor) -> None:
    """`value` lives where `reference` does."""
    if value.device != reference.device:
        raise ValueError(f"`{name}` must be on {reference_name}'s device {reference.device}, got {value.device}.")


def require_contiguous(name: str, value: torch.Tensor) -> torch.Tensor:
    """A contiguous tensor (kernels index raw memory)."""
    if not value.is_contiguous():
        raise ValueError(f"`{name}` must be contiguous; call `.contiguous()` first.")
    return value
