"""Triton kernels for the course, with launchers, references and (from lesson 07) autograd wrappers.

On a machine without CUDA the kernels run on CPU tensors through Triton's interpreter. The interpreter
must be switched on before any `@triton.jit` function is defined, so this package does it first, before
importing its kernel modules.
"""
from kernels.device import INTERPRETED, kernel_device

from kernels.cumsum import cumsum  # noqa: E402  (after the interpreter switch, on purpose)
from kernels.scan import complex_scan, complex_scan_parts, scan  # noqa: E402
from kernels.selective_scan import selective_scan  # noqa: E402
from kernels.ssd import ssd_combined  # noqa: E402

__all__ = ["INTERPRETED", "kernel_device", "cumsum", "scan", "complex_scan", "complex_scan_parts", "selective_scan",
           "ssd_combined"]
