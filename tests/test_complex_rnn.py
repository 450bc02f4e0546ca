"""Lesson 03: rotations, spirals, the conjugate-pair trick and the Hermitian question."""
import cmath
import math

import pytest
import torch

from lessons import complex_rnn as cr
from lessons.linear_rnn import eigendecompose, linear_rnn_loop


@pytest.mark.parametrize("r,theta", [(0.9, math.pi / 6), (1.0, 2.0), (0.3, 0.01)])
def test_rotation_eigenvalues_are_r_e_plus_minus_i_theta(r, theta):
    eigenvalues = torch.linalg.eigvals(cr.rotation_matrix(r, theta))
    expected = torch.tensor([cmath.rect(r, theta), cmath.rect(r, -theta)], dtype=torch.complex128)
    assert torch.allclose(eigenvalues[eigenvalues.imag.argsort()],
                          expected[expected.imag.argsort()], atol=1e-12)


def test_rotation_has_no_real_eigenvector():
    _eigenvalues, P = torch.linalg.eig(cr.rotation_matrix(1.0, math.pi / 2))
    assert (P.imag.abs().sum(dim=0) > 1e-6).all()   # every eigenvector has an imaginary part


@pytest.mark.parametrize("lam", [0.9 * cmath.exp(0.4j), 1.0 + 0j, 1.1 * cmath.exp(2j), 1.5, 0j])
def test_impulse_response_is_finite_and_exact_below_the_cap(lam):
    values, capped = cr.impulse_response(lam, 2000)
    assert values.dtype == torch.complex128 and torch.isfinite(values).all()
    assert capped == (abs(lam) > 1)
    exact = torch.tensor([lam**t for t in range(40)], dtype=torch.complex128)
    small = exact.abs() < cr.DRAW_CAP
    assert torch.allclose(values[:40][small], exact[small], rtol=1e-9, atol=1e-12)


def test_half_life_doubling_and_turns():
    assert cr.half_life(0.5) == pytest.approx(1.0)
    assert 0.99 ** cr.half_life(0.99) == pytest.approx(0.5)
    assert cr.half_life(1.0) == math.inf and cr.half_life(1.2) == math.inf
    assert 1.05 ** cr.doubling_time(1.05) == pytest.approx(2.0) and cr.doubling_time(0.9) == math.inf
    assert cr.steps_per_turn(cmath.rect(0.9, math.pi / 6)) == pytest.approx(12.0)
    assert cr.steps_per_turn(0.7) == math.inf


@pytest.mark.parametrize("seed,W_kind", [(0, "pairs"), (1, "random"), (2, "random")])
def test_conjugate_pair_trick_matches_the_full_computation(seed, W_kind):
    g = torch.Generator().manual_seed(seed)
    if W_kind == "pairs":
        W = cr.block_rotation_matrix([0.9, 0.7, 0.99], [0.3, 1.3, 2.9])
    else:
        W = torch.randn(7, 7, generator=g, dtype=torch.float64) * 0.35
    x = torch.randn(2, 13, W.shape[0], generator=g, dtype=torch.float64)
    C = torch.randn(3, W.shape[0], generator=g, dtype=torch.float64)
    reference = linear_rnn_loop(W, x) @ C.T                               # (B, T, O), all real arithmetic
    torch.testing.assert_close(cr.linear_rnn_outputs_full(W, x, C), reference, rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(cr.linear_rnn_outputs_half(W, x, C), reference, rtol=1e-9, atol=1e-9)


def test_hermitian_is_the_inverse_only_for_unitary_P():
    normal_W = cr.block_rotation_matrix([0.9, 0.5], [0.4, 1.1])           # normal: orthonormal eigenvectors
    assert cr.hermitian_inverse_error(eigendecompose(normal_W)[0]) < 1e-12
    g = torch.Generator().manual_seed(4)
    general_W = torch.randn(4, 4, generator=g, dtype=torch.float64)
    assert cr.hermitian_inverse_error(eigendecompose(general_W)[0]) > 0.1


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="`C`"):
        cr.linear_rnn_outputs_half(torch.eye(3), torch.zeros(1, 2, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match="same length"):
        cr.block_rotation_matrix([0.9], [0.1, 0.2])
    with pytest.raises(ValueError, match="steps"):
        cr.impulse_response(0.5, 0)
    with pytest.raises(TypeError, match="floating-point"):
        cr.linear_rnn_outputs_full(torch.eye(2, dtype=torch.int64), torch.zeros(1, 2, 2), torch.zeros(1, 2))


def random_block_pair(g: torch.Generator):
    """A random general 2×2 gate and 2-vector, as nested lists."""
    return torch.randn(2, 2, generator=g).tolist(), torch.randn(2, generator=g).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_two_by_two_block_combine_is_associative(seed):
    """A 2×2-block gate scans as well as a scalar one: (x∘y)∘z = x∘(y∘z) for general real blocks."""
    g = torch.Generator().manual_seed(seed)
    x, y, z = (random_block_pair(g) for _ in range(3))
    left, right = cr.block_combine(cr.block_combine(x, y), z), cr.block_combine(x, cr.block_combine(y, z))
    for a, b in zip(left, right, strict=True):
        torch.testing.assert_close(torch.tensor(a, dtype=torch.float64), torch.tensor(b, dtype=torch.float64))


def test_rotation_blocks_combine_like_complex_numbers_at_more_cost():
    """On scaled-rotation blocks both combines give the same numbers; counted, the block costs 12 multiplies and
    8 adds (a 2×2 product 8 + 4, a matrix-vector 4 + 2, a vector add 2) against 8 and 6 for the complex one."""
    g = torch.Generator().manual_seed(5)
    lams = [cmath.rect(float(r), float(t)) for r, t in torch.rand(2, 2, generator=g)]
    states = torch.randn(2, 2, generator=g, dtype=torch.float64).tolist()
    blocks = [(cr.rotation_block(lam), s) for lam, s in zip(lams, states, strict=True)]
    complexes = [((lam.real, lam.imag), tuple(s)) for lam, s in zip(lams, states, strict=True)]
    (A, b), (a, c) = cr.block_combine(*blocks), cr.complex_combine(*complexes)
    torch.testing.assert_close(torch.tensor(A), torch.tensor(cr.rotation_block(complex(*a))))
    torch.testing.assert_close(torch.tensor(b), torch.tensor(c))
    assert cr.count_operations(cr.block_combine, *blocks) == {"multiplies": 12, "adds": 8}
    assert cr.count_operations(cr.complex_combine, *complexes) == {"multiplies": 8, "adds": 6}
    assert cr.count_numbers(blocks[0][0]) == 4 and cr.count_numbers(complexes[0][0]) == 2   # numbers per gate


def test_hermitian_needs_orthonormal_eigenvectors_not_only_a_normal_W():
    """Rescaling the eigenvectors of a normal W keeps them eigenvectors, but Pᴴ is no longer P⁻¹."""
    P, _, _ = eigendecompose(cr.block_rotation_matrix([0.9, 0.5], [0.4, 1.1]))
    assert cr.hermitian_inverse_error(P) < 1e-12
    scaled = P * torch.tensor([2.0, 1.0, 0.5, 1.0], dtype=torch.float64)
    assert cr.hermitian_inverse_error(scaled) > 0.1
