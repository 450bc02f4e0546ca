"""Exercise checks that answer in plain words: right, or wrong with a hint. They never raise.

A check is a small function of the learner's answer (a prediction, a shape, or a function to call), wrapped in
`@exercise_check(expects=...)` or `@prediction(expects=...)`. Inside it, `call_learner` and the readers
(`read_number`, `read_complex`, `read_tensor`, `read_pair`, `read_shape`) turn whatever the learner wrote into the
value the check compares, or raise `NotYet` with a plain-words reason. The decorator turns `NotYet`, and any
surprise, into a "not yet" that says what a right answer looks like: a learner never sees a traceback.
"""
from __future__ import annotations

import cmath
import functools
import os
import numbers
import sysconfig
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lessons import checks


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
    result = CheckResult(False, f"✘ Not yet: {message}\n  Hint: {hint}")
    print(result.message)
    return result


class NotYet(Exception):
    """A wrong or unreadable answer, raised anywhere inside a check; the check's decorator reports it."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.message, self.hint = message, hint


def exercise_check(expects: str) -> Callable:
    """Decorator: the check answers in words whatever it is given. `expects` describes a right answer's form."""
    def decorate(check: Callable) -> Callable:
        @functools.wraps(check)
        def guarded(answer=None) -> CheckResult:
            try:
                return check(answer)
            except NotYet as verdict:
                return wrong(verdict.message, verdict.hint or f"the check expects {expects}.")
            except Exception as error:  # a surprising answer must still read as advice, never as a traceback
                return wrong(f"the check could not read your answer ({type(error).__name__}: {error}).",
                             f"the check expects {expects}.")
        guarded.expects = expects
        return guarded
    return decorate


def prediction(expects: str) -> Callable:
    """Decorator for a check of a predicted number: the check receives it as a Python int or float, and a
    missing, non-numeric or infinite prediction is answered here, naming `expects`."""
    def decorate(check: Callable) -> Callable:
        @exercise_check(expects)
        @functools.wraps(check)
        def reading(answer=None) -> CheckResult:
            if answer is None:
                raise NotYet("you haven't made a prediction.",
                             f"replace None with {expects}, then run the cell again.")
            number = read_number(answer, expects, what="your answer")
            return check(int(number) if number.is_integer() else number)
        return reading
    return decorate


# ------------------------------------------------------------------------------------------ calling the learner
_LIBRARIES = ("stdlib", "platstdlib", "purelib", "platlib")
_NOT_THE_LEARNERS = tuple({str(Path(__file__).parent) + os.sep, *(sysconfig.get_paths()[key] for key in _LIBRARIES),
                           "<frozen"})


def call_learner(fn: Callable, *args, hint: str):
    """fn(*args); NotYet (with `hint`) if fn is not a function, raises, or changes its input tensors in place."""
    if not callable(fn):
        raise NotYet(f"you passed {_short(fn)}, not a function.",
                     "pass the function itself, without calling it: check(my_function), not check(my_function()).")
    originals = [tensor.detach().clone() for tensor in _tensors_in(args)]
    try:
        value = fn(*args)
    except NotImplementedError:
        raise NotYet("your function still raises NotImplementedError: replace it with your code.", hint) from None
    except Exception as error:  # a learner's bug should read as advice, pointing at the learner's own line
        raise NotYet(f"your function raised {type(error).__name__}: {error}{_learner_line(error)}", hint) from None
    if any(not torch.equal(now, before) for now, before in zip(_tensors_in(args), originals, strict=True)):
        raise NotYet("your function changed its input tensors in place (as `a1 *= a2` or `a1.mul_(a2)` do).",
                     "return new tensors, don't modify inputs: write `a = a1 * a2`, not `a1 *= a2`.")
    return value


def _tensors_in(value) -> list[torch.Tensor]:
    """Every tensor in `value`, looking inside tuples and lists."""
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, tuple | list):
        return [tensor for item in value for tensor in _tensors_in(item)]
    return []


def _learner_line(error: Exception) -> str:
    """'\\n  at Cell In[5], line 3: return a1 / 0', the deepest line of the traceback in the learner's own code
    (not in lessons/, Python or a library); empty when there is none."""
    frames = traceback.extract_tb(error.__traceback__)[1:]  # [0] is call_learner itself
    own = [frame for frame in frames if not frame.filename.startswith(_NOT_THE_LEARNERS)]
    if not own:
        return ""
    frame = own[-1]
    code = f": {frame.line.strip()}" if frame.line else ""
    return f"\n  at {_file_name(frame.filename)}, line {frame.lineno}{code}"


def _file_name(filename: str) -> str:
    """'Cell In[5]' for a notebook cell (as IPython names it in tracebacks), else the file's name."""
    try:
        from IPython import get_ipython  # optional: present in notebooks, not needed elsewhere
        label = get_ipython().compile.format_code_name(filename)
    except Exception:  # not in IPython, or an IPython without this method: the plain name will do
        label = None
    return " ".join(label) if label else Path(filename).name


# ------------------------------------------------------------------------------------------ reading an answer
def _short(value, limit: int = 60) -> str:
    """repr(value) on one line, cut to `limit` characters."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _one_element(value):
    """A one-element tensor or NumPy array as its Python number; anything else unchanged."""
    if isinstance(value, torch.Tensor) and value.numel() == 1 and value.ndim <= 1:
        return value.reshape(()).item()
    if isinstance(value, np.ndarray | np.generic) and value.size == 1 and value.ndim <= 1:
        return value.item()
    return value


def read_number(value, expects: str, what: str = "your function's result") -> float:
    """A real, finite number (Python, NumPy, or a one-element tensor) as a float, or NotYet naming `expects`."""
    if value is None:
        raise NotYet(f"{what} is None; expected {expects}.", "did you forget `return`?")
    try:
        return checks.require_number("answer", _one_element(value))
    except TypeError:
        raise NotYet(f"{what} {_short(value)} is not a number; expected {expects}.", _A_NUMBER) from None
    except ValueError:
        raise NotYet(f"{what} {value} is not a finite number; expected {expects}.", _A_NUMBER) from None


_A_NUMBER = "write a plain number such as 42 or 0.5; a NumPy number or a 0-d tensor will do too."


def read_complex(value, what: str) -> complex:
    """A finite Python, NumPy or one-element tensor number (real or complex) as a complex, or NotYet."""
    number = _one_element(value)
    if isinstance(number, bool) or not isinstance(number, numbers.Complex) or not cmath.isfinite(number):
        raise NotYet(f"{what} is {_short(value)}; expected a finite complex number.",
                     "return a number such as cmath.rect(r, θ) or a 0-d complex tensor.")
    return complex(number)


def read_pair(value, names: str) -> tuple:
    """The learner's two results, e.g. names="(a, b)": a tuple, list or a tensor with two rows; else NotYet."""
    if isinstance(value, str | bytes) or value is None:
        raise NotYet(f"you returned {_short(value)}; expected a pair {names}.", f"return {names.strip('()')}")
    try:
        first, second = value
    except (TypeError, ValueError):
        raise NotYet(f"you returned {_short(value)}; expected a pair {names}.", f"return {names.strip('()')}") from None
    return first, second


def read_tensor(value, shape: tuple | None, what: str, *, dtype: torch.dtype = torch.float64,
                hint: str | None = None) -> torch.Tensor:
    """A real tensor, NumPy array or nested list as a `dtype` tensor of `shape` (None: any), or NotYet.

    With dtype=torch.bool the answer must already be boolean: a 0/1 integer tensor is not a mask.
    """
    wanted = f"{'a bool' if dtype is torch.bool else 'a real'} tensor" + (f" of shape {shape}" if shape else "")
    try:
        tensor = torch.as_tensor(value)  # no dtype yet, so that complex, bool and strings can be told apart
    except (TypeError, ValueError, RuntimeError):
        raise NotYet(f"{what} is {_short(value)}, not a tensor; expected {wanted}.", hint) from None
    found = f"{what} has shape {tuple(tensor.shape)} and dtype {str(tensor.dtype).removeprefix('torch.')}"
    if tensor.is_complex() or (dtype is torch.bool) != (tensor.dtype is torch.bool):
        raise NotYet(f"{found}; expected {wanted}.", hint)
    if shape is not None and tuple(tensor.shape) != tuple(shape):
        raise NotYet(f"{found}; expected {wanted}.", hint)
    return tensor.to(dtype)


def read_shape(value) -> tuple[int, ...]:
    """A shape written as a tuple, list, torch.Size or integer tensor of whole numbers, or NotYet."""
    if value is None:
        raise NotYet("you haven't answered yet.", "replace None with a tuple, e.g. (1, 2, 3).")
    try:
        if isinstance(value, str | bytes):
            raise TypeError("a string is not a shape")
        return tuple(checks.require_int("size", size, minimum=0) for size in value)
    except (TypeError, ValueError):
        raise NotYet(f"{_short(value)} is not a shape: a shape is a tuple of whole numbers.",
                     "write a tuple of whole numbers, e.g. (1, 2, 3).") from None


# ------------------------------------------------------------------------------------------ comparing
_RELATIVE_TOLERANCE = {64: 1e-9, 32: 1e-5, 16: 1e-2}  # by bits per real number


def tolerance(value) -> float:
    """The relative tolerance the precision of the learner's value allows: 1e-9 for Python numbers and 64-bit
    floats, 1e-5 for float32/complex64, 1e-2 for 16-bit floats; the loosest over a tuple or list."""
    if isinstance(value, tuple | list):
        return max((tolerance(item) for item in value), default=_RELATIVE_TOLERANCE[64])
    dtype = getattr(value, "dtype", None)
    if isinstance(dtype, torch.dtype) and (dtype.is_floating_point or dtype.is_complex):
        return _RELATIVE_TOLERANCE.get(torch.finfo(dtype).bits, _RELATIVE_TOLERANCE[64])
    if isinstance(dtype, np.dtype) and dtype.kind in "fc":
        return _RELATIVE_TOLERANCE.get(np.finfo(dtype).bits, _RELATIVE_TOLERANCE[64])
    return _RELATIVE_TOLERANCE[64]


def close(value: torch.Tensor, expected: torch.Tensor, rtol: float = 1e-6, atol: float = 1e-9) -> bool:
    """Same shape and allclose at the stated tolerances."""
    return value.shape == expected.shape and torch.allclose(value, expected, rtol=rtol, atol=atol)
