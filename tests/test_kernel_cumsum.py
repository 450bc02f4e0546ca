"""Triton kernels against PyTorch references, compiled on CUDA and interpreted on CPU otherwise.

Every tensor is made on `kernels.kernel_device()`, so the same tests run in both modes.
"""
import numpy as np
import pytest
import torch

import kernels
from kernels.cumsum import cumsum_reference

DEVICE = kernels.kernel_device()
TOLERANCES = {torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 1e-1}  # atol on unit-variance rows


def test_interpreter_is_on_without_a_gpu():
    assert kernels.INTERPRETED == (not torch.cuda.is_available())


def assert_close_to_cumsum(out: torch.Tensor, expected: torch.Tensor, n: int) -> None:
    """Agreement at the dtype's tolerance; the sum of n unit-variance terms grows like √n, so the tolerance does."""
    assert out.dtype == expected.dtype and out.shape == expected.shape
    torch.testing.assert_close(out.float(), expected.float(), atol=TOLERANCES[out.dtype] * n**0.5, rtol=1e-2)


@pytest.mark.kernel
@pytest.mark.parametrize("rows,n", [(1, 1), (3, 37), (2, 1000), (1, 4096)])
@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
def test_cumsum_matches_reference(rows, n, dtype):
    x = torch.randn(rows, n, device=DEVICE).to(dtype)
    assert_close_to_cumsum(kernels.cumsum(x), cumsum_reference(x), n)


@pytest.mark.kernel
@pytest.mark.parametrize("rows,n", [(1, 1), (3, 37), (2, 1000)])
@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
def test_cumsum_gradient_is_a_reversed_cumsum(rows, n, dtype):
    """∂L/∂x for L = Σ w·cumsum(x), against PyTorch's autograd through its own cumsum (in float32)."""
    x = torch.randn(rows, n, device=DEVICE).to(dtype).requires_grad_()
    weights = torch.randn(rows, n, device=DEVICE).to(dtype)
    out = kernels.cumsum(x)
    assert out.grad_fn is not None
    (grad,) = torch.autograd.grad((out * weights).sum(), x)
    x_reference = x.detach().float().requires_grad_()
    (expected,) = torch.autograd.grad((x_reference.cumsum(dim=-1) * weights.float()).sum(), x_reference)
    assert_close_to_cumsum(grad, expected.to(dtype), n)


@pytest.mark.parametrize("bad,error,message", [
    (np.zeros((4, 100), dtype=np.float32), TypeError, "`x` must be a torch.Tensor, got ndarray"),
    (torch.zeros(5, device=DEVICE), ValueError, "`x` must have 2 dimensions"),
    (torch.zeros(2, 3, dtype=torch.int32, device=DEVICE), TypeError, "floating-point"),
    (torch.zeros(2, 3, dtype=torch.float64, device=DEVICE), TypeError, "float32, float16, bfloat16"),
    (torch.zeros(2, 5000, device=DEVICE), ValueError, r"row length n\)` must be an int in \[1, 4096\], got 5000"),
    (torch.zeros(2, 0, device=DEVICE), ValueError, r"row length n\)` must be an int in \[1, 4096\], got 0"),
    (torch.zeros(8, 4, device=DEVICE).T, ValueError, "`x` must be contiguous"),
    (torch.zeros(2, 3, device="meta"), ValueError, "`x` must be on"),
])
def test_cumsum_rejects_bad_input_before_launch(bad, error, message):
    with pytest.raises(error, match=message):
        kernels.cumsum(bad)
