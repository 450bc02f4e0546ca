"""Where the kernels run: compiled on a CUDA GPU, or on CPU tensors through Triton's interpreter."""
from __future__ import annotations

import os

import torch

from lessons.checks import require_contiguous

HAS_CUDA = torch.cuda.is_available()
if not HAS_CUDA:
    # Must happen before any @triton.jit runs; setdefault respects a user who set it explicitly.
    os.environ.setdefault("TRITON_INTERPRET", "1")
INTERPRETED = os.environ.get("TRITON_INTERPRET") == "1"


def kernel_device() -> torch.device:
    """The device kernels' tensors must live on: cuda when compiled, cpu when interpreted."""
    return torch.device("cpu") if INTERPRETED else torch.device("cuda")


def require_kernel_device(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """`tensor` lives where the kernels run in this mode (cuda compiled, cpu interpreted); a clear error if not."""
    if not HAS_CUDA and not INTERPRETED:
        raise RuntimeError("No CUDA GPU is available and TRITON_INTERPRET is not 1: Triton cannot run. "
                           "Unset TRITON_INTERPRET (or set it to 1) before importing `kernels`.")
    expected = kernel_device()
    if tensor.device.type != expected.type:
        raise ValueError(f"`{name}` must be on {expected.type} ({'interpreter' if INTERPRETED else 'GPU'} mode), "
                         f"got a tensor on {tensor.device}.")
    return tensor


def check_launchable(name: str, tensor: torch.Tensor) -> None:
    """Raise a clear error if `tensor` cannot be handed to a kernel: not contiguous, or not on the kernel device.

    Contiguity first: it is the tensor's own property, so it is reported the same way compiled or interpreted."""
    require_contiguous(name, tensor)
    require_kernel_device(name, tensor)
