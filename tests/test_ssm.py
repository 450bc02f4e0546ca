"""Lesson 06: the selective scan against a plain loop of the equations, its two implementations against each
other (forward and backward, awkward shapes), clear errors, the Mamba block's causality, ZOH against Euler,
the tasks, and a short seeded training run on selective copying."""
import inspect
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

from lessons import ssm, tasks
from lessons.exercises import ssm as checks
from lessons.experiments import ssm as experiments
from lessons.solutions import ssm as solutions
from lessons.ssm import (MambaBlock, MambaModel, a_log_init, causal_convolution, check_selective_scan_inputs,
                         discretise_euler, discretise_zoh, dt_bias_init, final_state_weights, lti_kernel,
                         selective_scan, selective_scan_inputs, selective_scan_loop, ssm_matrix, toeplitz_gap,
                         zoh_euler_gap)
from lessons.training import accuracy, fit
from lessons.widgets import ssm as widget
from lessons.widgets.ssm import HAND_SET, SelectivityExplorer
from tests.test_widgets import PNG_MAGIC, control_settings, drawn_values_are_finite

IMPLEMENTATIONS = [selective_scan, selective_scan_loop]
TOL = {"rtol": 1e-9, "atol": 1e-10}        # float64 against float64


# ---------------------------------------------------------------------------------------------
# A third, independent reference: the equations, one scalar at a time
# ---------------------------------------------------------------------------------------------
def projection_at(P, b: int, d: int, n: int, t: int, dim: int, complex_a: bool):
    """P[n] at time t for batch b, channel d, from any layout mamba accepts, as a Python number."""
    if P.ndim == 2:
        return P[d, n].item()
    if P.ndim == 3:
        P = P[:, None]                                                   # (batch, 1, N, L')
    group = d // (dim // P.shape[1])
    if complex_a and not P.is_complex():                                 # real/imaginary interleaved along L
        return complex(P[b, group, n, 2 * t].item(), P[b, group, n, 2 * t + 1].item())
    return P[b, group, n, t].item()


def equations_loop(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False):
    """y and the last state from h ← exp(ΔA)·h + Δ·B·u, y = Σ_n C·h (2·Re if complex) + D·u, y·silu(z)."""
    batch, dim, length = u.shape
    y = torch.zeros(batch, dim, length, dtype=torch.float64)
    last = torch.zeros(batch, dim, A.shape[1], dtype=torch.complex128 if A.is_complex() else torch.float64)
    for b, d, n in itertools.product(range(batch), range(dim), range(A.shape[1])):
        h = 0.0
        for t in range(length):
            step = delta[b, d, t].item() + (delta_bias[d].item() if delta_bias is not None else 0.0)
            step = math.log1p(math.exp(step)) if delta_softplus else step
            a = A[d, n].item()
            gate = complex(math.e) ** (step * a) if isinstance(a, complex) else math.exp(step * a)
            h = gate * h + step * projection_at(B, b, d, n, t, dim, A.is_complex()) * u[b, d, t].item()
            out = projection_at(C, b, d, n, t, dim, A.is_complex()) * h
            y[b, d, t] += 2 * out.real if A.is_complex() else out
        last[b, d, n] = h
    if D is not None:
        y += D[:, None] * u
    if z is not None:
        y *= z * torch.sigmoid(z)
    return y, last


def random_inputs(batch, dim, length, state, complex_a=False, b_form="input", c_form="input", groups=1,
                  extras=True, packed=True, seed=0, dtype=torch.float64):
    """lessons.ssm.selective_scan_inputs with every tensor in `dtype` (float64 by default, to compare tightly),
    plus the layouts it doesn't build: complex A, and B or C "fixed" (dim, N) or "grouped" (batch, G, N, L)."""
    args = selective_scan_inputs(batch, dim, length, state, layer=extras, dtype=torch.float64, seed=seed)
    args = {k: v.to(dtype) if isinstance(v, torch.Tensor) else v for k, v in args.items()}
    g = torch.Generator().manual_seed(seed + 1)
    rand = lambda *shape: torch.randn(*shape, generator=g, dtype=dtype)          # noqa: E731
    if complex_a:
        args["A"] = torch.complex(args["A"], rand(dim, state))

    def projection(form):
        if form == "fixed":
            return torch.complex(rand(dim, state), rand(dim, state)) if complex_a else rand(dim, state)
        steps = 2 * length if complex_a and packed else length
        shape = (batch, state, steps) if form == "input" else (batch, groups, state, steps)
        P = rand(*shape)
        return torch.complex(P, rand(*shape)) if complex_a and not packed else P

    for name, form in (("B", b_form), ("C", c_form)):
        if complex_a or form != "input":
            args[name] = projection(form)
    return args


@pytest.mark.parametrize("varying", [True, False], ids=["varying", "fixed"])
@pytest.mark.parametrize("layer", [True, False], ids=["layer", "bare"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_selective_scan_inputs_are_mamba_like_and_leave_the_global_stream_alone(varying, layer, dtype):
    before = torch.random.get_rng_state()
    x = selective_scan_inputs(2, 3, 200, 4, varying=varying, layer=layer, dtype=dtype, seed=5)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert x["u"].shape == x["delta"].shape == (2, 3, 200) and x["u"].dtype == x["delta"].dtype == dtype
    assert x["B"].shape == x["C"].shape == ((2, 4, 200) if varying else (3, 4)) and x["B"].dtype == dtype
    assert x["A"].dtype == torch.float32 and torch.equal(x["A"], -torch.arange(1.0, 5.0).repeat(3, 1))
    step = F.softplus(x["delta"].float() + x["delta_bias"][:, None]) if layer else x["delta"].float()
    assert 0.01 < float(step.median()) < 0.05 and float(step.min()) > 0                   # softplus(−4) ≈ 0.018
    assert x["delta_softplus"] is layer
    if layer:
        assert x["D"].shape == x["delta_bias"].shape == (3,) and x["z"].shape == (2, 3, 200) and x["z"].dtype == dtype
        assert x["D"].dtype == x["delta_bias"].dtype == torch.float32 and float(x["delta_bias"].abs().max()) < 0.5
    else:
        assert x["D"] is None and x["z"] is None and x["delta_bias"] is None
    assert selective_scan(**x).shape == (2, 3, 200)
    same, other = selective_scan_inputs(2, 3, 200, 4, seed=5), selective_scan_inputs(2, 3, 200, 4, seed=6)
    assert torch.equal(same["u"], selective_scan_inputs(2, 3, 200, 4, seed=5)["u"])
    assert not torch.equal(same["u"], other["u"])


def test_selective_scan_inputs_rejects_bad_sizes():
    with pytest.raises(ValueError, match="`length` must be"):
        selective_scan_inputs(2, 3, 0, 4)
    with pytest.raises(TypeError, match="`varying` must be True or False"):
        selective_scan_inputs(2, 3, 5, 4, varying="yes")


FORMS = ["fixed", "input", "grouped"]


@pytest.mark.parametrize("complex_a", [False, True], ids=["real A", "complex A"])
@pytest.mark.parametrize("b_form, c_form", list(itertools.product(FORMS, FORMS)))
@pytest.mark.parametrize("extras", [False, True], ids=["bare", "D z bias softplus"])
def test_both_implementations_match_the_equations(complex_a, b_form, c_form, extras):
    args = random_inputs(2, 4, 5, 3, complex_a, b_form, c_form, groups=2, extras=extras,
                         seed=hash((complex_a, b_form, c_form, extras)) % 1000)
    want_y, want_last = equations_loop(**args)
    for scan in IMPLEMENTATIONS:
        y, last = scan(**args, return_last_state=True)
        torch.testing.assert_close(y, want_y, **TOL, msg=scan.__name__)
        torch.testing.assert_close(last, want_last, **TOL, msg=scan.__name__)
        torch.testing.assert_close(scan(**args), want_y, **TOL)                 # and without the last state


def test_complex_projections_may_be_complex_tensors_or_mamba_packed_reals():
    packed = random_inputs(2, 3, 6, 4, complex_a=True, extras=True, packed=True, seed=3)
    unpacked = dict(packed)
    for name in "BC":   # (batch, N, 2L) real, (re, im) interleaved along L  ->  (batch, N, L) complex
        unpacked[name] = torch.view_as_complex(packed[name].unflatten(-1, (-1, 2)).contiguous())
    for scan in IMPLEMENTATIONS:
        torch.testing.assert_close(scan(**packed), scan(**unpacked), **TOL)


# ---------------------------------------------------------------------------------------------
# Loop against scan: forward and backward on awkward shapes
# ---------------------------------------------------------------------------------------------
AWKWARD = [  # (batch, dim, L, N)
    (1, 1, 1, 1), (1, 3, 1, 4), (1, 2, 37, 1), (2, 5, 13, 4), (1, 4, 31, 16), (3, 2, 64, 2)]


@pytest.mark.parametrize("shape", AWKWARD, ids=lambda s: "b{}-d{}-L{}-N{}".format(*s))
@pytest.mark.parametrize("complex_a", [False, True], ids=["real", "complex"])
@pytest.mark.parametrize("forms", [("input", "input"), ("fixed", "grouped")], ids=["input", "fixed+grouped"])
def test_scan_matches_loop_forward_and_backward(shape, complex_a, forms):
    batch, dim, length, state = shape
    groups = 1 if dim % 2 else 2
    args = random_inputs(batch, dim, length, state, complex_a, *forms, groups=groups, seed=sum(shape))
    leaves = {k: v.requires_grad_(True) for k, v in args.items() if isinstance(v, torch.Tensor)}
    results = []
    for scan in IMPLEMENTATIONS:
        y, last = scan(**args, return_last_state=True)
        weights = torch.linspace(-1, 1, y.numel(), dtype=y.dtype).reshape(y.shape)       # not all-ones
        loss = (weights * y).sum() + (last.abs() ** 2).sum()
        results.append((y, last, torch.autograd.grad(loss, list(leaves.values()))))
    (y1, last1, grads1), (y2, last2, grads2) = results
    torch.testing.assert_close(y1, y2, **TOL)
    torch.testing.assert_close(last1, last2, **TOL)
    for name, g1, g2 in zip(leaves, grads1, grads2, strict=False):
        torch.testing.assert_close(g1, g2, rtol=1e-8, atol=1e-9, msg=f"gradient of {name}")


def test_gradcheck_on_a_small_input_dependent_scan():
    args = random_inputs(1, 2, 5, 3, complex_a=False, extras=True, seed=11)
    names = ["u", "delta", "A", "B", "C", "D", "z", "delta_bias"]
    for name in names:
        args[name].requires_grad_(True)

    def scan(*tensors):
        return selective_scan(**{**args, **dict(zip(names, tensors, strict=False))})

    assert torch.autograd.gradcheck(scan, [args[n] for n in names])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_computes_in_float32_and_returns_the_input_dtype(dtype):
    args = random_inputs(2, 3, 9, 4, extras=True, seed=5, dtype=torch.float32)
    low = {k: v.to(dtype) if isinstance(v, torch.Tensor) else v for k, v in args.items()}
    for scan in IMPLEMENTATIONS:
        y, last = scan(**low, return_last_state=True)
        assert y.dtype == dtype and last.dtype == torch.float32
        upcast = {k: v.float() if isinstance(v, torch.Tensor) else v for k, v in low.items()}
        torch.testing.assert_close(y, scan(**upcast).to(dtype), rtol=0, atol=0)


def test_complex_last_state_and_real_output():
    args = random_inputs(2, 3, 7, 4, complex_a=True, seed=8, dtype=torch.float32)
    y, last = selective_scan(**args, return_last_state=True)
    assert y.dtype == torch.float32 and last.dtype == torch.complex64 and last.shape == (2, 3, 4)


# ---------------------------------------------------------------------------------------------
# Bad input: the error names the argument and the shape it expected
# ---------------------------------------------------------------------------------------------
def good(**changes):
    args = random_inputs(2, 4, 37, 16, extras=True, seed=1, dtype=torch.float32)
    args.update(changes)
    return args


BAD_INPUTS = {
    "u of rank 2": (dict(u=torch.randn(4, 37)), r"`u` must have 3 dimensions"),
    "delta with another L": (dict(delta=torch.rand(2, 4, 36)),
                             r"`delta` must have shape \(batch, dim, L\) = \(2, 4, 37\), got \(2, 4, 36\)"),
    "A with another dim": (dict(A=-torch.rand(5, 16)), r"`A` must be \(dim, N\) with dim = 4"),
    "A transposed": (dict(A=-torch.rand(16, 4)), r"did you pass \(N, dim\)\? Use A\.T"),
    "A of rank 1": (dict(A=-torch.rand(16)), r"`A` must have 2 dimensions"),
    "B as (batch, L, N)": (dict(B=torch.randn(2, 37, 16)),
                           r"`B` must be \(dim, N\) = \(4, 16\) or \(batch, N, L\) = \(2, 16, 37\); got \(2, 37, 16\)"
                           r" — did you pass \(batch, L, N\)\?"),
    "C as (batch, L, N)": (dict(C=torch.randn(2, 37, 16)), r"`C` must be .*did you pass \(batch, L, N\)"),
    "B with another N": (dict(B=torch.randn(4, 15)), r"`B` must be \(dim, N\) = \(4, 16\)"),
    "C with another L": (dict(C=torch.randn(2, 16, 30)),
                         r"`C` must be .*\(batch, N, L\) = \(2, 16, 37\); got \(2, 16, 30\)"),
    "B grouped with 3 groups for dim 4": (dict(B=torch.randn(2, 3, 16, 37)), r"G dividing dim = 4"),
    "B of rank 1": (dict(B=torch.randn(16)), r"`B` must be \(dim, N\)"),
    "integer u": (dict(u=torch.ones(2, 4, 37, dtype=torch.long)), r"`u` must be a floating-point tensor.*int64"),
    "integer delta": (dict(delta=torch.ones(2, 4, 37, dtype=torch.int32)), r"`delta` must be a floating-point"),
    "integer B": (dict(B=torch.ones(2, 16, 37, dtype=torch.long)), r"`B` must be a floating-point"),
    "complex B with real A": (dict(B=torch.randn(4, 16, dtype=torch.cfloat)), r"`B` is complex .* but `A` is real"),
    "D of the wrong size": (dict(D=torch.randn(3)), r"`D` must have shape \(dim,\) = \(4,\), got \(3,\)"),
    "delta_bias of the wrong size": (dict(delta_bias=torch.randn(4, 1)),
                                     r"`delta_bias` must have shape \(dim,\) = \(4,\), got \(4, 1\)"),
    "z with another batch": (dict(z=torch.randn(1, 4, 37)),
                             r"`z` must have shape \(batch, dim, L\) = \(2, 4, 37\), got \(1, 4, 37\)"),
    "u not a tensor": (dict(u=[[1.0]]), r"`u` must be a torch.Tensor"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
@pytest.mark.parametrize("scan", IMPLEMENTATIONS, ids=lambda f: f.__name__)
def test_bad_input_names_the_argument_and_the_expected_shape(case, scan):
    changes, message = BAD_INPUTS[case]
    with pytest.raises((ValueError, TypeError), match=message):
        scan(**good(**changes))


def test_complex_a_expects_packed_real_projections_of_length_2L():
    args = random_inputs(2, 4, 5, 3, complex_a=True, seed=2, dtype=torch.float32)
    with pytest.raises(ValueError, match=r"\(batch, N, L\) = \(2, 3, 10\) \(complex A: real and imaginary"):
        selective_scan(**{**args, "B": torch.randn(2, 3, 5)})


def test_check_reports_the_sizes():
    shapes = check_selective_scan_inputs(**{k: v for k, v in good().items() if k != "delta_softplus"})
    assert (shapes.batch, shapes.dim, shapes.length, shapes.state) == (2, 4, 37, 16)
    assert shapes.compute == torch.float32 and not shapes.complex_a


# ---------------------------------------------------------------------------------------------
# Discretisation: ZOH against Euler
# ---------------------------------------------------------------------------------------------
def test_zoh_matches_the_matrix_exponential_of_the_augmented_system():
    """exp([[A, B], [0, 0]]·Δ) = [[Ā, B̄], [0, 1]] for ZOH: an independent way to get B̄."""
    A = -torch.tensor([1.0, 2.5, 7.0], dtype=torch.float64)
    B = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    for delta in (1e-3, 0.1, 0.7):
        block = torch.zeros(4, 4, dtype=torch.float64)
        block[:3, :3], block[:3, 3] = torch.diag(A), B
        exact = torch.linalg.matrix_exp(block * delta)
        A_bar, B_bar = discretise_zoh(torch.tensor(delta, dtype=torch.float64), A, B)
        torch.testing.assert_close(A_bar, torch.diagonal(exact[:3, :3]), rtol=1e-12, atol=1e-14)
        torch.testing.assert_close(B_bar, exact[:3, 3], rtol=1e-12, atol=1e-14)


def test_zoh_and_euler_agree_as_delta_goes_to_zero_and_differ_at_typical_delta():
    A = -torch.arange(1, 17, dtype=torch.float64)                                 # Mamba's init, N = 16
    B = torch.randn(16, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gaps = []
    for delta in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5):
        d = torch.tensor(delta, dtype=torch.float64)
        (zoh_a, zoh_b), (euler_a, euler_b) = discretise_zoh(d, A, B), discretise_euler(d, A, B)
        assert torch.equal(zoh_a, euler_a)                                        # Ā is the same exp(ΔA)
        gap = float(((euler_b - zoh_b).abs() / zoh_b.abs()).max())
        torch.testing.assert_close(torch.tensor(gap, dtype=torch.float64), zoh_euler_gap(d, A).max(),
                                   rtol=1e-6, atol=1e-15)
        gaps.append(gap)
    assert all(later < earlier for earlier, later in zip(gaps, gaps[1:], strict=False))
    assert gaps[-1] < 1e-3
    for earlier, later in zip(gaps[1:], gaps[2:], strict=False):                    # first order: ÷10 per decade
        assert 9 < earlier / later < 11
    assert gaps[0] == pytest.approx(float(zoh_euler_gap(0.1, -16.0)), rel=1e-9)
    assert 0.95 < gaps[0] < 1.05   # Δ = 0.1, A = −16 (ΔA = −1.6): Euler's B̄ is about twice ZOH's
    assert float(zoh_euler_gap(1e-3, -1.0)) == pytest.approx(5e-4, rel=1e-3)      # ≈ |ΔA|/2 for small ΔA


def test_zoh_is_finite_and_continuous_at_a_zero():
    A = torch.tensor([0.0, 1e-9, -1e-9, 1e-3, -1.0], dtype=torch.float64)
    _, B_bar = discretise_zoh(torch.tensor(0.5, dtype=torch.float64), A, torch.ones_like(A))
    assert torch.isfinite(B_bar).all() and torch.allclose(B_bar[:3], torch.full((3,), 0.5, dtype=torch.float64))


def test_zoh_accepts_complex_a():
    A = torch.tensor([-1 + 2j, -0.5 - 1j], dtype=torch.complex128)
    delta = torch.tensor(0.3, dtype=torch.float64)
    _, B_bar = discretise_zoh(delta, A, torch.ones_like(A))
    torch.testing.assert_close(B_bar, (torch.exp(delta * A) - 1) / A)


# ---------------------------------------------------------------------------------------------
# The Mamba block and model
# ---------------------------------------------------------------------------------------------
def test_block_initialisation_follows_mamba():
    torch.manual_seed(0)
    block = MambaBlock(d_model=32, d_state=16)
    delta = F.softplus(block.dt_proj.bias)
    assert delta.min() >= 1e-3 * 0.999 and delta.max() <= 0.1 * 1.001
    assert delta.log().std() > 0.9   # log-uniform over [ln 1e-3, ln 0.1] has std 4.6/√12 ≈ 1.33
    torch.testing.assert_close(-torch.exp(block.A_log), -torch.arange(1.0, 17.0).repeat(64, 1))
    assert torch.equal(block.D, torch.ones(64)) and block.dt_rank == 2
    assert a_log_init(3, 2).shape == (3, 2) and dt_bias_init(10).shape == (10,)


@pytest.mark.parametrize("length", [1, 7, 23])
def test_block_is_causal(length):
    torch.manual_seed(1)
    block = MambaBlock(d_model=8, d_state=4).double()
    x = torch.randn(2, length, 8, dtype=torch.float64)
    before = block(x)
    for t in range(length):
        x2 = x.clone()
        x2[:, t] += torch.randn(2, 8, dtype=torch.float64)
        after = block(x2)
        torch.testing.assert_close(after[:, :t], before[:, :t], rtol=0, atol=0)   # the past never changes
        assert (after[:, t] - before[:, t]).abs().max() > 1e-6                     # the present does


def test_model_is_causal_and_shaped():
    model = MambaModel(vocab_size=10, d_output=7, d_model=8, d_state=4, n_layers=2)
    tokens = torch.randint(0, 10, (3, 12), generator=torch.Generator().manual_seed(0))
    logits = model(tokens)
    assert logits.shape == (3, 12, 7)
    changed = tokens.clone()
    changed[:, 5] = (changed[:, 5] + 1) % 10
    with torch.no_grad():
        torch.testing.assert_close(model(changed)[:, :5], logits[:, :5].detach(), rtol=0, atol=0)


def test_the_scan_can_be_swapped_behind_the_same_signature():
    tokens = torch.randint(0, 10, (2, 9), generator=torch.Generator().manual_seed(0))
    fast = MambaModel(10, 10, d_model=8, d_state=4, seed=3)
    slow = MambaModel(10, 10, d_model=8, d_state=4, seed=3, scan=selective_scan_loop)
    torch.testing.assert_close(fast(tokens), slow(tokens), rtol=1e-5, atol=1e-6)


def test_model_seeding_is_deterministic_and_leaves_the_global_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    a = MambaModel(10, 10, d_model=8, seed=4)
    assert torch.equal(torch.rand(1), expected)
    b = MambaModel(10, 10, d_model=8, seed=4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=False))


def test_model_rejects_float_input():
    with pytest.raises(TypeError, match=r"`tokens` must have dtype in \(int64\), got float32"):
        MambaModel(10, 10, d_model=8)(torch.randn(2, 5))


def test_block_rejects_bad_sizes():
    with pytest.raises(ValueError, match=r"`d_state` must be an int in \[1, ∞\], got 0"):
        MambaBlock(8, d_state=0)


# ---------------------------------------------------------------------------------------------
# What the notebook shows
# ---------------------------------------------------------------------------------------------
def test_final_state_weights_are_the_derivative_of_the_last_state():
    args = random_inputs(2, 3, 11, 4, b_form="input", extras=False, seed=9)
    u = args["u"].requires_grad_(True)
    _, last = selective_scan(**args, return_last_state=True)                       # (batch, dim, N)
    weights = final_state_weights(args["delta"], args["A"], args["B"])            # (batch, dim, N, L)
    for b, d, n in [(0, 0, 0), (1, 2, 3), (0, 1, 2)]:
        (grad,) = torch.autograd.grad(last[b, d, n], u, retain_graph=True)
        torch.testing.assert_close(grad[b, d], weights[b, d, n], **TOL)


def test_small_delta_keeps_the_state_and_large_delta_resets_it():
    A = -torch.ones(1, 1, dtype=torch.float64)
    delta = torch.tensor([[[1.0, 1e-4, 1e-4, 1e-4]]], dtype=torch.float64)       # write, then three skips
    weights = final_state_weights(delta, A)[0, 0, 0]
    assert weights[0] > 0.99 * math.exp(-3e-4) and weights[1:].max() < 1.1e-4
    delta = torch.tensor([[[1.0, 1e-4, 5.0, 1e-4]]], dtype=torch.float64)        # a big Δ at t = 2 resets
    weights = final_state_weights(delta, A)[0, 0, 0]
    assert weights[0] < 0.01 and weights[2] > 4.9


# ---------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------
def test_selective_copying_outputs_the_symbols_in_order():
    x, y, mask = tasks.selective_copying(64, n_memorize=4, region=12, n_symbols=5,
                                         generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (64, 16) and mask.tolist() == [False] * 12 + [True] * 4
    for row, target in zip(x, y, strict=False):
        symbols = row[:12][row[:12] != tasks.NOISE]
        assert torch.equal(symbols, target[12:]) and (row[12:] == tasks.GO).all()
        assert symbols.min() >= tasks.FIRST_SYMBOL and symbols.max() < tasks.vocab_size(5)
    assert tasks.decode(x[0]).count(">") == 4


def test_induction_heads_answer_is_the_token_after_the_first_trigger():
    x, y, mask = tasks.induction_heads(32, length=10, n_symbols=4, generator=torch.Generator().manual_seed(1))
    assert mask.sum() == 1 and mask[-1]
    for row, target in zip(x, y, strict=False):
        first = int((row == tasks.GO).nonzero()[0])
        assert first < 8 and (row == tasks.GO).sum() == 2 and target[-1] == row[first + 1]


def test_associative_recall_answer_is_the_asked_keys_value():
    x, y, mask = tasks.associative_recall(32, n_pairs=3, n_symbols=6, generator=torch.Generator().manual_seed(2))
    assert x.shape == (32, 8) and mask[-1] and mask.sum() == 1
    for row, target in zip(x, y, strict=False):
        pairs = dict(zip(row[:6:2].tolist(), row[1:6:2].tolist(), strict=False))
        assert len(pairs) == 3 and row[6] == tasks.GO and target[-1] == pairs[int(row[7])]


def test_encode_decode_round_trip_and_errors():
    assert tasks.decode(tasks.encode("..a.b >>")) == "..a.b>>"
    with pytest.raises(ValueError, match=r"unknown characters \['7'\]"):
        tasks.encode("a7")
    with pytest.raises(ValueError, match=r"`n_memorize` must be an int in \[1, 4\], got 5"):
        tasks.selective_copying(2, n_memorize=5, region=4)
    with pytest.raises(ValueError, match=r"`batch` must be an int in \[1, ∞\], got 0"):
        tasks.induction_heads(0)


# ---------------------------------------------------------------------------------------------
# Training: a short seeded run on selective copying improves the loss
# ---------------------------------------------------------------------------------------------
def test_training_on_selective_copying_improves_the_loss():
    torch.manual_seed(0)
    model = MambaModel(tasks.vocab_size(4), tasks.vocab_size(4), d_model=16, d_state=8, n_layers=2, seed=0)
    generator = torch.Generator().manual_seed(0)
    history = fit(model, lambda _: tasks.selective_copying(32, 2, 8, 4, generator), steps=80, lr=1e-2)
    start, end = sum(history["loss"][:5]) / 5, sum(history["loss"][-5:]) / 5
    assert start > 1.6                           # ≈ ln 6 = 1.79: a guess among the 6 outputs
    assert end < start - 0.5, (start, end)       # a margin, not just "lower"


# ---------------------------------------------------------------------------------------------
# Exercise checks: solutions pass, typical wrong answers get a hint
# ---------------------------------------------------------------------------------------------
def test_discretise_check():
    assert checks.check_discretise(solutions.discretise)
    cases = {
        "1 + ΔA": lambda d, A, B: (1 + d * A, d * B),
        "zero-order hold": lambda d, A, B: discretise_zoh(d, A, B),
        "B itself": lambda d, A, B: (torch.exp(d * A), B),
        "Ā is off": lambda d, A, B: (torch.exp(-d * A), d * B),
        "shapes": lambda d, A, B: (A.T, B.T),
        "NotImplementedError": lambda d, A, B: (_ for _ in ()).throw(NotImplementedError),
        "expected a pair": lambda d, A, B: 3.0,
    }
    for expected, fn in cases.items():
        verdict = checks.check_discretise(fn)
        assert not verdict and expected in verdict.message, (expected, verdict.message)


def test_gate_prediction_check():
    assert checks.check_gate_prediction(solutions.GATE_PREDICTION)
    for answer, expected in [(0.8, "1 + ΔA"), (-0.2, "ΔA itself"), (math.exp(-2), "left out Δ"),
                             (0.5, "not it"), (None, "haven't made a prediction"), ("0.82", "not a number")]:
        verdict = checks.check_gate_prediction(answer)
        assert not verdict and expected in verdict.message, (answer, verdict.message)


def test_state_shape_check():
    assert checks.check_state_shape(solutions.STATE_SHAPE)
    assert checks.check_state_shape(list(solutions.STATE_SHAPE))
    for answer, expected in [((4, 64), "one number per channel"), ((4, 16), "shares one state"),
                             ((4, 64, 100), "includes L"), ((4, 64, 16, 100), "includes L"), ((1, 2), "not it"),
                             (None, "haven't answered"), ("abc", "not a shape")]:
        verdict = checks.check_state_shape(answer)
        assert not verdict and expected in verdict.message, (answer, verdict.message)


# ---------------------------------------------------------------------------------------------
# The explorer (the lead adds it to tests/test_widgets.py's sweep too)
# ---------------------------------------------------------------------------------------------
def test_explorer_every_slider_changes_the_readout_in_every_mode():
    explorer = SelectivityExplorer(model=MambaModel(tasks.vocab_size(8), tasks.vocab_size(8), d_model=8, d_state=4))
    for mode in explorer.controls["mode"].options:
        explorer.update(mode=mode, delta_scale=1.0, a_scale=1.0)
        for name in ("delta_scale", "a_scale"):
            slider = explorer.controls[name]
            readouts = {explorer.update(**{name: value}) for value in (slider.min, slider.max, 1.0)}
            assert len(readouts) == 3, (mode, name, readouts)
            assert not any("nan" in r.lower() or "inf" in r.lower() for r in readouts)


def test_explorer_reports_selectivity_and_plain_errors():
    explorer = SelectivityExplorer()
    selective = explorer.update(text="..a.....b.........", mode=HAND_SET)
    fixed = explorer.update(mode=widget.TIME_INVARIANT)
    share = lambda text: int(text.split("symbols hold ")[1].split("%")[0])          # noqa: E731
    assert share(selective) > 80 > 30 > share(fixed)
    assert "unknown characters ['7']" in explorer.update(text="ab7")
    assert "type a sequence" in explorer.update(text="   ")
    assert "no symbols typed" in explorer.update(text="....>>")
    assert "symbols hold" in explorer.update(text="..A..")                         # capitals are read as symbols
    trained = SelectivityExplorer(model=MambaModel(tasks.vocab_size(2), tasks.vocab_size(2), d_model=8, d_state=4))
    assert "knows the symbols 'a'–'b' only" in trained.update(text="..c..", mode="trained Mamba, layer 1")


def test_explorer_survives_the_generic_sweep():
    explorer = SelectivityExplorer()
    for setting in control_settings(explorer, points=3):
        text = explorer.update(**setting)
        assert bytes(explorer.image.value).startswith(PNG_MAGIC) and "nan" not in text.lower()
        assert drawn_values_are_finite(explorer.draw(**explorer.values())[1]), setting


# ---------------------------------------------------------------------------------------------
# The notebook's helpers
# ---------------------------------------------------------------------------------------------
def test_fixed_delta_ssm_is_a_convolution_and_selective_one_is_not():
    g = torch.Generator().manual_seed(4)
    L, A = 13, -torch.rand(3, generator=g, dtype=torch.float64) - 0.1
    B, C = torch.randn(3, generator=g, dtype=torch.float64), torch.randn(3, generator=g, dtype=torch.float64)
    u = torch.randn(2, 4, L, generator=g, dtype=torch.float64)
    conv = causal_convolution(u, lti_kernel(0.3, A, B, C, L))
    scan = selective_scan(u, torch.full_like(u, 0.3), A.expand(4, 3), B.expand(4, 3), C.expand(4, 3))
    torch.testing.assert_close(conv, scan, **TOL)
    fixed = ssm_matrix(torch.full((L,), 0.3, dtype=torch.float64), A, B[:, None].expand(3, L), C[:, None].expand(3, L))
    assert toeplitz_gap(fixed) < 1e-12
    varying = torch.rand(L, generator=g, dtype=torch.float64)
    Bt, Ct = torch.randn(3, L, generator=g, dtype=torch.float64), torch.randn(3, L, generator=g, dtype=torch.float64)
    M = ssm_matrix(varying, A, Bt, Ct)
    assert toeplitz_gap(M) > 0.1
    by_scan = selective_scan(u[:1, :1], varying[None, None], A[None], Bt[None], Ct[None])[0, 0]
    torch.testing.assert_close(u[0, 0] @ M.T, by_scan, **TOL)


def test_notation_table_points_at_real_lines():
    lines = inspect.getsource(ssm).splitlines()
    table = experiments.notation_table().splitlines()
    assert len(table) == len(experiments.NOTATION) + 2                             # header and its rule
    for row, (_, _, snippet) in zip(table[2:], experiments.NOTATION, strict=True):
        number = int(row.split("lessons/ssm.py:")[1].split()[0])
        assert snippet in lines[number - 1]


def test_selection_by_token_kind_and_position_accuracy():
    model = MambaModel(tasks.vocab_size(4), tasks.vocab_size(4), d_model=8, d_state=4)
    x, y, mask = tasks.selective_copying(16, 3, 10, 4, generator=torch.Generator().manual_seed(0))
    by_kind = experiments.selection_by_token_kind(model, x)
    assert len(by_kind) == 2 and set(by_kind[0]) == {"Δ", "‖B‖", "‖C‖"}
    assert set(by_kind[0]["Δ"]) == {"symbol", "noise", "go"} and all(v > 0 for v in by_kind[0]["Δ"].values())
    assert "symbol/noise" in experiments.selection_table(by_kind)
    accuracies = accuracy(model, x, y, mask, per_position=True)
    assert len(accuracies) == 3 and all(0 <= a <= 1 for a in accuracies)
    assert sum(accuracies) / 3 == pytest.approx(accuracy(model, x, y, mask))


def test_copying_experiment_runs_both_models_on_a_tiny_budget():
    runs = experiments.copying_experiment(verbose=False, region=6, n_memorize=2, n_symbols=3, steps=2, batch=4,
                                          d_model=8)
    assert [run.name for run in runs] == [experiments.TIME_INVARIANT, experiments.SELECTIVE]
    assert all(len(run.history["loss"]) == 2 and len(run.per_position) == 2 for run in runs)
    with pytest.raises(ValueError, match="`name` must be"):
        experiments.make_copying_model("GRU", 3)


# ---------------------------------------------------------------------------------------------
# lessons.experiments.ssm: the notebook's tables and views, against independent arithmetic
# ---------------------------------------------------------------------------------------------
TOKENS = tasks.encode("..a....b.....c.")


def test_fixed_delta_table_reads_what_the_gates_left_of_the_first_symbol():
    rows = experiments.fixed_delta_table(TOKENS, deltas=(0.01, 1.0)).splitlines()[2:]
    A = -torch.tensor([0.5, 1.0, 2.0, 4.0], dtype=torch.float64)
    age = len(TOKENS) - 1 - 2                                              # 'a' sits at position 2
    for row, delta in zip(rows, (0.01, 1.0), strict=True):
        left = float(torch.exp(A * delta * age).mean())
        assert row.split("|")[-2].strip() == f"{left:.3f}"
    assert rows[0].split("|")[2].strip() == "20%"                         # a small Δ keeps everything: 3 of 15


def test_a_reset_on_every_symbol_keeps_the_last_symbol_and_forgets_the_earlier_ones():
    _, weights = ssm.hand_set_weights(TOKENS, selective=True)
    shares = dict(experiments.symbol_shares(weights, TOKENS))
    assert list(shares) == ["a", "b", "c"] and shares["a"] < shares["b"] < shares["c"]
    assert sum(shares.values()) == pytest.approx(ssm.symbol_share(weights, TOKENS), rel=1e-12)


def test_convolution_view_fixed_is_a_convolution_and_selective_is_not():
    view = experiments.convolution_view(TOKENS, fixed_delta=0.2, generator=torch.Generator().manual_seed(3))
    assert view.gap_fixed < 1e-12 and view.gap_selective > 0.1
    assert view.convolution_error < 1e-12 and view.matrix_error < 1e-12
    assert view.M_fixed.shape == view.M_selective.shape == (len(TOKENS), len(TOKENS))


def test_state_size_table_grows_with_n_only_where_all_states_are_written():
    table = experiments.state_size_table(batch=2, dim=8, length=100, states=(1, 16))
    rows = [[cell.strip() for cell in row.split("|")[1:-1]] for row in table.splitlines()[2:]]
    # float32: u, Δ, z, y are 4·(2·8·100) numbers and B, C 2·(2·N·100); h_t for all steps 2·8·N·100, for one 2·8·N
    assert rows[0] == ["1", "26.6 KiB", "6.2 KiB", "64 B"]                  # 4·(6400 + 400) B, 4·1600 B, 4·16 B
    assert rows[1] == ["16", "50.0 KiB", "100.0 KiB", "1.0 KiB"]            # 4·(6400 + 6400) B, 4·25600 B, 4·256 B


# ---------------------------------------------------------------------------------------------
# The ablation of selectivity: only Δ, or only B and C, depend on the input
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("parts", [("delta",), ("B", "C"), ("delta", "B", "C")], ids="+".join)
def test_partly_selective_blocks_keep_the_other_parts_constant_and_stay_causal(parts):
    block = experiments.PartlySelectiveBlock(8, 4, parts)
    x = torch.randn(2, 11, 8, generator=torch.Generator().manual_seed(4))
    s = block.select(x)
    assert (s.delta.std(dim=(0, 2)).max() > 1e-6) == ("delta" in parts)   # Δ varies only if selective
    assert s.B.shape == ((2, 4, 11) if "B" in parts else (8 * 2, 4))
    assert s.C.shape == ((2, 4, 11) if "C" in parts else (8 * 2, 4))
    changed = x.clone()
    changed[:, 7:] += 1.0
    torch.testing.assert_close(block(x)[:, :7], block(changed)[:, :7])
    with pytest.raises(ValueError, match="`selective` must name parts among"):
        experiments.PartlySelectiveBlock(8, 4, ("A",))


def test_the_ablation_runs_every_variant_on_a_tiny_budget():
    runs = experiments.copying_experiment(names=tuple(experiments.ABLATIONS), verbose=False, region=6, n_memorize=2,
                                          n_symbols=3, steps=2, batch=4, d_model=8)
    assert [run.name for run in runs] == list(experiments.ABLATIONS)
    only_delta, only_bc, full = (run.parameters for run in runs)
    d_inner, N = 16, 16
    assert only_bc == full and only_delta == full + 2 * 2 * d_inner * N      # constant B and C: (d_inner, N) per layer


def test_an_ssm_matrix_is_n_semiseparable_and_a_generic_lower_triangle_is_not():
    g = torch.Generator().manual_seed(6)
    L, N = 12, 3
    delta = torch.rand(L, generator=g, dtype=torch.float64) + 0.1
    A = -torch.rand(N, generator=g, dtype=torch.float64) - 0.5
    B, C = torch.randn(N, L, generator=g, dtype=torch.float64), torch.randn(N, L, generator=g, dtype=torch.float64)
    assert ssm.semiseparable_rank(ssm_matrix(delta, A, B, C)) == N
    assert ssm.semiseparable_rank(torch.randn(L, L, generator=g, dtype=torch.float64).tril()) == L // 2


def test_induction_experiment_runs_both_models_and_scores_the_last_step():
    runs = experiments.induction_experiment(verbose=False, length=8, n_symbols=3, steps=2, batch=4, d_model=8)
    assert [run.name for run in runs] == [experiments.TIME_INVARIANT, experiments.SELECTIVE]
    assert all(len(run.per_position) == 1 and run.accuracy == run.per_position[0] for run in runs)


def test_train_on_copying_is_train_on_task_with_the_copying_sizes():
    options = dict(region=6, n_memorize=2, n_symbols=3, steps=3, batch=4, d_model=8)
    a = experiments.train_on_copying(experiments.SELECTIVE, **options)
    b = experiments.train_on_task(experiments.SELECTIVE, "copying", **options)
    assert a.history == b.history and a.per_position == b.per_position


def test_decay_meaning_matches_the_thresholds():
    assert [ssm.decay_meaning(d) for d in (0.999, 0.96, 0.8187, 0.37, 0.04, 0.0)] == \
        ["keep", "keep", "blend", "blend", "reset", "reset"]
    assert ssm.decay_meaning(ssm.KEEP_ABOVE) == "blend" and ssm.decay_meaning(ssm.RESET_BELOW) == "blend"


def test_fixed_delta_measurements_agree_with_the_table():
    found = experiments.fixed_delta_measurements(TOKENS, deltas=(0.01, 3.0))
    rows = experiments.fixed_delta_table(TOKENS, measurements=found).splitlines()[2:]
    assert [row.split("|")[2].strip() for row in rows] == [f"{m['symbols hold']:.0%}" for m in found]
    assert found[0]["left of first"] > 0.5 and found[1]["last token holds"] > 0.5


def test_recorded_copying_run_is_read_from_the_results_file():
    from lessons.experiments.recorded import recorded_section, recorded_table

    rows = {row["model"]: row for row in recorded_table(experiments.FULL_RESULTS, "summary")}
    assert set(rows) == {experiments.TIME_INVARIANT, experiments.SELECTIVE}
    assert "learning rate" in recorded_section(experiments.FULL_RESULTS, "config")
    with pytest.raises(ValueError, match="exactly two"):
        recorded_section(experiments.FULL_RESULTS, "no such marker")
