"""Triton kernels against PyTorch references, compiled on CUDA and interpreted on CPU otherwise."""
import pytest
import torch

import kernels
from kernels.cumsum import cumsum_reference

TOLERANCES = {torch.float32: 1e-5, torch.float16: 2e-2, torch.bfloat16: 1e-1}  # atol on unit-variance rows


def test_interpreter_is_on_without_a_gpu():
    assert kernels.INTERPRETED == (not torch.cuda.is_available())


@pytest.mark.kernel
@pytest.mark.parametrize("rows,n", [(1, 1), (3, 37), (2, 1000), (1, 4096)])
@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
def test_cumsum_matches_reference(rows, n, dtype):
    x = torch.randn(rows, n, device=kernels.kernel_device()).to(dtype)
    out = kernels.cumsum(x)
    assert out.dtype == dtype and out.shape == x.shape
    # the sum of n unit-variance terms grows like √n, so the tolerance does too
    torch.testing.assert_close(out.float(), cumsum_reference(x).float(), atol=TOLERANCES[dtype] * n**0.5, rtol=1e-2)


@pytest.mark.parametrize("bad,message", [
    (torch.zeros(5), "2-D"),
    (torch.zeros(2, 3, dtype=torch.int32), "float32"),
    (torch.zeros(2, 5000), "length"),
])
def test_cumsum_rejects_bad_input_before_launch(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        kernels.cumsum(bad)


@pytest.mark.skipif(not kernels.INTERPRETED, reason="device mismatch is only testable in interpreter mode")
def test_cumsum_rejects_non_contiguous():
    with pytest.raises(ValueError, match="contiguous"):
        kernels.cumsum(torch.zeros(8, 4).T)
