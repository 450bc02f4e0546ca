"""Exercise checks that answer in plain words: right, or wrong with a hint. They never raise."""
from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Callable

import torch


@dataclass
class CheckResult:
    """The verdict of one check. It is truthy when the answer is right, so tests can assert on it."""

    passed: bool
    message: str

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return self.message


def right(message: str) -> CheckResult:
    """Report a correct answer."""
    result = CheckResult(True, f"✔ Right. {message}")
    print(result.message)
    return result


def wrong(message: str, hint: str) -> CheckResult:
    """Report a wrong answer with a hint towards the fix."""
    result = CheckResult(False, f"✘ Not yet. {message}\n  Hint: {hint}")
    print(result.message)
    return result


def not_a_number(answer) -> CheckResult | None:
    """A 'not yet' for a prediction that is missing or not a number; None when it is a number."""
    if answer is None:
        return wrong("you haven't made a prediction yet.", "replace None with your number and run the cell again.")
    if not isinstance(answer, (int, float)) or isinstance(answer, bool):
        return wrong(f"your answer {answer!r} is not a number.", "write a plain number, such as 42 or 0.5.")
    return None


def call_learner(fn: Callable, *args):
    """Call the learner's function; return (value, None) or (None, a one-line description of the error)."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "your function still raises NotImplementedError: replace it with your code."
    except Exception as error:  # a learner's bug should read as advice, not a traceback
        where = traceback.extract_tb(error.__traceback__)[-1]
        return None, f"your function raised {type(error).__name__}: {error} (line {where.lineno})."


def as_tensor(value) -> torch.Tensor | None:
    """Turn a learner's number or array into a float64 tensor, or None if that is impossible."""
    try:
        return torch.as_tensor(value, dtype=torch.float64)
    except (TypeError, ValueError, RuntimeError):
        return None


def close(value: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Same shape and allclose at the stated tolerances."""
    return value.shape == expected.shape and torch.allclose(value, expected, rtol=rtol, atol=atol)
