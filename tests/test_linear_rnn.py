"""Lesson 02: the loop, the matrix powers and the eigenbasis agree; the SVD and Jordan facts hold."""
import pytest
import torch

from lessons import linear_rnn as lr
from lessons.experiments import linear_rnn as ex


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


def test_eigenvalues_decide_the_long_run_not_the_way_there():
    """A Jordan block at |λ| = 1 grows like n; a defective or non-normal W with |λ| < 1 grows before it decays."""
    jordan = lr.jordan_block(1.0)
    assert lr.long_run(jordan).startswith("grows without bound, like n")
    norms = lr.power_norms(jordan, 30)
    assert norms[30] > 30 and lr.eigenvector_condition(jordan) == float("inf")
    for W in (lr.jordan_block(0.9) * torch.tensor([[1.0, 1.2], [1.0, 1.0]], dtype=torch.float64),   # defective
              torch.tensor([[0.9, 1.2], [0.0, 0.7]], dtype=torch.float64)):                           # non-normal
        assert lr.long_run(W) == "decays to 0"
        norms = lr.power_norms(W, 200)
        assert norms.max() > 1.5 and norms[200] < 1e-6           # grows first, then decays
    rotation = torch.tensor([[0.0, -1.0], [1.0, 0.0]], dtype=torch.float64)
    assert lr.long_run(rotation).startswith("stays bounded") and lr.eigenvector_condition(rotation) == \
        pytest.approx(1.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cond_P_bounds_the_transient(seed):
    """‖Wⁿ‖₂ ≤ cond(P)·max|λ|ⁿ for every n, and a non-normal W gets close to using the room it allows."""
    g = torch.Generator().manual_seed(seed)
    W = torch.triu(torch.randn(5, 5, generator=g, dtype=torch.float64)) * 0.5
    W.diagonal().copy_(torch.rand(5, generator=g, dtype=torch.float64) * 0.9)
    norms = lr.power_norms(W, 60)
    radius, condition = lr.spectral_radius(W), lr.eigenvector_condition(W)
    bound = condition * radius ** torch.arange(61, dtype=torch.float64)
    assert (norms <= bound * (1 + 1e-9)).all()
    reference = torch.stack([torch.linalg.matrix_norm(torch.linalg.matrix_power(W, n), ord=2) for n in range(61)])
    torch.testing.assert_close(norms, reference)


@pytest.mark.parametrize("T,batch,complex_lam", [(1, 1, False), (37, 3, False), (23, 2, True)])
def test_closed_form_is_a_convolution(T, batch, complex_lam):
    """y = K * x with K_k = C Λᵏ B equals the recurrence, real or complex λ, T = 1 and primes."""
    g = torch.Generator().manual_seed(T)
    lam = torch.rand(5, generator=g, dtype=torch.float64) * 0.95
    if complex_lam:
        lam = torch.polar(lam, torch.rand(5, generator=g, dtype=torch.float64) * 3)
    B, C = torch.randn(5, 2, generator=g, dtype=torch.float64), torch.randn(3, 5, generator=g, dtype=torch.float64)
    x = torch.randn(batch, T, 2, generator=g, dtype=torch.float64)
    recurrence = lr.diagonal_rnn(lam, B, C, x)
    assert recurrence.shape == (batch, T, 3)
    torch.testing.assert_close(lr.causal_convolution(lr.diagonal_rnn_kernel(lam, B, C, T), x), recurrence)


def test_dense_kernel_is_the_diagonal_kernel_in_the_eigenbasis():
    """C Wᵏ B = (C P) Λᵏ (P⁻¹ B): the dense system and its diagonal form have one impulse response."""
    W, _, _ = random_problem(4, 1, 1, seed=21)
    g = torch.Generator().manual_seed(22)
    B, C = torch.randn(4, 1, generator=g, dtype=torch.float64), torch.randn(2, 4, generator=g, dtype=torch.float64)
    P, lam, P_inv = lr.eigendecompose(W)
    diagonal = lr.diagonal_rnn_kernel(lam, P_inv @ B.to(P.dtype), C.to(P.dtype) @ P, 15)
    dense = lr.dense_rnn_kernel(W, B, C, 15)                                   # (15, 2, 1)
    torch.testing.assert_close(diagonal.real, dense)
    x = torch.randn(3, 15, 1, generator=g, dtype=torch.float64)
    torch.testing.assert_close(lr.causal_convolution(dense, x), lr.linear_rnn_loop(W, x @ B.T) @ C.T)


def test_worked_example_slips_each_break_the_n_equals_1_check():
    """Only P Λⁿ P⁻¹ gives back W at n = 1; each slip gives its own wrong matrix, and the right one Wⁿ."""
    W = lr.worked_2x2_example()["W"]
    torch.testing.assert_close(lr.integer_eigenvectors(lr.worked_2x2_example()["P"]).abs(),
                               torch.tensor([[3.0, 1.0], [2.0, 1.0]], dtype=torch.float64))
    for n in (1, 5):
        slips = lr.worked_example_slips(n)
        torch.testing.assert_close(slips.pop("right: P Λⁿ P⁻¹"), torch.linalg.matrix_power(W, n))
        assert len(slips) == 4
        for name, value in slips.items():
            assert (value - torch.linalg.matrix_power(W, n)).abs().max() > 0.05, name
    torch.testing.assert_close(lr.worked_example_slips(3)["wrong order: P P⁻¹ Λⁿ (= Λⁿ)"],
                               torch.diag(torch.tensor([1.0, 0.125], dtype=torch.float64)))


def test_learned_diagonal_model_imitates_a_dense_W():
    """Λ, B, C learned from the dense system's input/output pairs reproduce its impulse response, and the model's
    convolution equals its own recurrence."""
    result = ex.fit_diagonal_to_dense(steps=150)
    target, learned = result["target kernel"], result["learned kernel"]
    assert result["loss"][-1] < result["loss"][0] / 100
    assert float((target - learned).norm() / target.norm()) < 0.05
    model = result["model"]
    x = torch.randn(2, 29, 1, generator=torch.Generator().manual_seed(8), dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), lr.diagonal_rnn(model.lam, model.B, model.C, x))


def test_step_timing_rows():
    rows = ex.time_dense_and_diagonal_steps([3, 17], batch=2, steps=4, repeats=1)
    assert [H for H, _, _ in rows] == [3, 17] and all(d > 0 and g > 0 for _, d, g in rows)


def test_peak_growth_takes_the_first_n_of_a_plateau_not_float_noise():
    """The worked example's ‖Wⁿ‖₂ rises monotonically to a limit: the peak is where it levels off, not n = 48."""
    norms = lr.power_norms(torch.tensor([[0.8, 0.3], [0.2, 0.7]], dtype=torch.float64), 50)
    peak, n = lr.peak_growth(norms)
    assert peak == pytest.approx(float(norms.max() / norms[0]))
    assert (norms[:n] < norms.max() * (1 - lr.PEAK_RTOL)).all() and n < 40
    assert lr.peak_is_a_limit(norms)
    rising, bump = lr.power_norms(lr.jordan_block(1.0), 30), torch.tensor([1.0, 2.0, 3.0, 2.5, 1.0])
    assert lr.peak_growth(rising)[1] == 30 and not lr.peak_is_a_limit(rising)    # still growing: not a limit
    assert lr.peak_growth(bump) == (3.0, 2) and not lr.peak_is_a_limit(bump)


def test_almost_every_nudge_splits_a_jordan_block():
    for seed in range(3):
        eigenvalues = lr.nudged_jordan_eigenvalues(0.9, size=4, scale=1e-8, seed=seed)
        assert eigenvalues.shape == (4,) and lr.smallest_gap(eigenvalues) > 1e-5
        assert (eigenvalues - 0.9).abs().max() < 0.1
    assert lr.smallest_gap(torch.tensor([1.0, 1.5, 3.0])) == pytest.approx(0.5)


def test_cost_of_powers_is_timed_for_every_route():
    cost = ex.time_matrix_power_and_eigenbasis(H=8, n=10, repeats=1)
    assert set(cost) == {"matrix_power", "eigendecompose", "scalar powers"} and all(t > 0 for t in cost.values())


def test_fraction_matrix_writes_the_worked_example_by_hand():
    P = torch.tensor([[3.0, -1.0], [2.0, 1.0]], dtype=torch.float64)
    assert ex.latex_fraction_matrix(P) == r"\begin{pmatrix}3 & -1 \\ 2 & 1\end{pmatrix}"
    assert ex.latex_fraction_matrix(torch.linalg.inv(P)) == \
        r"\begin{pmatrix}\tfrac{1}{5} & \tfrac{1}{5} \\ -\tfrac{2}{5} & \tfrac{3}{5}\end{pmatrix}"
