"""Lesson 02: the loop, the matrix powers and the eigenbasis agree; the SVD and Jordan facts hold."""
import pytest
import torch

from lessons import linear_rnn as lr


def random_problem(H: int, T: int, B: int, seed: int, dtype=torch.float64):
    """W with spectral radius about 0.9, inputs x (B, T, H) and h0 (B, H), all fresh random."""
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(H, H, generator=g, dtype=dtype) * 0.9 / H**0.5
    return W, torch.randn(B, T, H, generator=g, dtype=dtype), torch.randn(B, H, generator=g, dtype=dtype)


@pytest.mark.parametrize("H,T,B", [(1, 1, 1), (2, 7, 3), (5, 13, 1), (8, 31, 2)])
def test_three_ways_agree(H, T, B):
    W, x, h0 = random_problem(H, T, B, seed=H * 100 + T)
    loop = lr.linear_rnn_loop(W, x, h0)
    assert loop.shape == (B, T, H)
    torch.testing.assert_close(lr.linear_rnn_powers(W, x, h0), loop, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(lr.linear_rnn_eigenbasis(W, x, h0), loop, rtol=1e-8, atol=1e-8)


def test_float32_eigenbasis_within_float32_tolerance():
    W, x, _ = random_problem(6, 20, 2, seed=3, dtype=torch.float32)
    out = lr.linear_rnn_eigenbasis(W, x)
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, lr.linear_rnn_loop(W, x), rtol=1e-4, atol=1e-4)


def test_eigendecomposition_is_consistent():
    W, _, _ = random_problem(7, 1, 1, seed=11)
    P, eigenvalues, P_inv = lr.eigendecompose(W)
    assert P.dtype == torch.complex128
    torch.testing.assert_close(P @ torch.diag(eigenvalues) @ P_inv, W.to(P.dtype), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(P_inv @ P, torch.eye(7, dtype=P.dtype), rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(lr.matrix_power_via_eigenbasis(W, 9), torch.linalg.matrix_power(W, 9))


def test_worked_example_numbers():
    ex = lr.worked_2x2_example(n=5)
    torch.testing.assert_close(ex["eigenvalues"], torch.tensor([1.0, 0.5], dtype=torch.float64))
    W, P, P_inv = ex["W"], ex["P"], ex["P_inv"]
    for i, lam in enumerate(ex["eigenvalues"]):
        torch.testing.assert_close(W @ P[:, i], lam * P[:, i])      # columns of P are eigenvectors
    torch.testing.assert_close(P_inv @ W @ P, torch.diag(ex["eigenvalues"]))  # P⁻¹ W P is diagonal
    torch.testing.assert_close(ex["W^n (P diag(λ^n) P^-1)"], ex["W^n (matrix_power)"])
    expected = torch.tensor([[0.6, 0.6], [0.4, 0.4]], dtype=torch.float64) \
        + 0.5**5 * torch.tensor([[0.4, -0.6], [-0.4, 0.6]], dtype=torch.float64)   # by hand
    torch.testing.assert_close(ex["W^n (matrix_power)"], expected)


def test_stacking_needs_the_nonlinearity():
    g = torch.Generator().manual_seed(5)
    weights = [torch.randn(3, 3, generator=g, dtype=torch.float64) * 0.5 for _ in range(3)]
    x1, x2 = torch.randn(2, 1, 9, 3, generator=g, dtype=torch.float64)
    linear = lr.superposition_defect(lambda x: lr.stacked_linear_rnn(x, weights), x1, x2)
    nonlinear = lr.superposition_defect(lambda x: lr.stacked_linear_rnn(x, weights, torch.tanh), x1, x2)
    assert linear < 1e-12 and nonlinear > 0.01


def test_svd_does_not_diagonalise_a_non_normal_matrix():
    g = torch.Generator().manual_seed(2)
    A = torch.randn(4, 4, generator=g, dtype=torch.float64)
    assert not lr.is_normal(A)
    non_normal = lr.svd_square_error(A)
    assert non_normal["off-diagonal"] > 0.1 and non_normal["relative error"] > 0.1
    psd = lr.svd_square_error(A @ A.T)
    assert lr.is_normal(A @ A.T) and psd["relative error"] < 1e-10
    torch.testing.assert_close(psd["VhU"], torch.eye(4, dtype=torch.float64))
    assert lr.svd_square_error(A + A.T)["off-diagonal"] < 1e-10   # symmetric, indefinite: VᵀU = diag(±1)


def test_jordan_block_is_defective_and_perturbation_fixes_it_badly():
    J = lr.jordan_block(0.9)
    _eigenvalues, P = torch.linalg.eig(J)
    assert torch.linalg.matrix_rank(P) < 2            # only one independent eigenvector
    rows = lr.perturbed_jordan_conditioning(0.9, [1e-2, 1e-4, 1e-6])
    for eps, gap, cond in rows:
        assert gap == pytest.approx(2 * eps**0.5, rel=1e-6)
        assert cond == pytest.approx(1 / eps**0.5, rel=0.05)


@pytest.mark.parametrize("W,x,message", [
    (torch.zeros(3, 4), torch.zeros(1, 2, 3), "square"),
    (torch.zeros(3, 3), torch.zeros(2, 3), "3 dimensions"),
    (torch.zeros(3, 3), torch.zeros(1, 2, 4), r"`x` must have shape \(batch, time, H\) .*, got \(1, 2, 4\)"),
    (torch.zeros(3, 3, dtype=torch.int64), torch.zeros(1, 2, 3), "floating-point"),
])
def test_bad_input_is_named(W, x, message):
    with pytest.raises((TypeError, ValueError), match=message):
        lr.linear_rnn_loop(W, x)


def test_bad_h0_is_named():
    with pytest.raises(ValueError, match="h0"):
        lr.linear_rnn_eigenbasis(torch.eye(3), torch.zeros(2, 4, 3), torch.zeros(3, 3))


@pytest.mark.parametrize("dtype,tolerance", [(torch.complex64, 1e-4), (torch.complex128, 1e-10)])
def test_complex_inputs_stay_complex(dtype, tolerance):
    """Complex W and x are handled explicitly: every rung returns the input's complex dtype and agrees."""
    g = torch.Generator().manual_seed(9)
    W = (torch.randn(4, 4, generator=g, dtype=torch.float64) * 0.4).to(dtype)
    x = torch.randn(2, 9, 4, generator=g, dtype=torch.float64).to(dtype) * (1 + 0.5j)
    loop = lr.linear_rnn_loop(W, x)
    for rung in (lr.linear_rnn_powers, lr.linear_rnn_eigenbasis):
        out = rung(W, x)
        assert out.dtype == dtype
        torch.testing.assert_close(out, loop, rtol=tolerance, atol=tolerance)
