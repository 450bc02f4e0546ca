"""Triton kernels for the course, with launchers, references and (from lesson 07) autograd wrappers.

On a machine without CUDA the kernels run on CPU tensors through Triton's interpreter. The interpreter
must be switched on before any `@triton.jit` function is defined, so this package does it first, before
importing its kernel modules.
"""
from kernels.device import INTERPRETED, kernel_device

from kernels.cumsum import cumsum  # noqa: E402  (after the interpreter switch, on purpose)

__all__ = ["INTERPRETED", "kernel_device", "cumsum"]
