"""kernels.scan (first-order linear recurrence, real and complex) against lesson 04's loop, forward and backward.

On CPU the kernels run in Triton's interpreter, which costs about 0.1-0.5 ms per scanned element here, so
the sizes are small; the chunk-spanning cases use a small block_t to cross many chunks cheaply. Every tensor
is made on `kernels.kernel_device()`, so the same tests run compiled on a GPU.
"""
import math
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import triton
import triton.language as tl

import kernels
from kernels.scan import combine_exact_zeros, complex_combine_exact_zeros, complex_scan, complex_scan_parts, scan, \
    scan_reference
from lessons.scan import linear_scan

pytestmark = pytest.mark.kernel
DEVICE = kernels.kernel_device()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (batch, channels, T, block_t): T = 1, a prime, one full block, a long row, and rows spanning 7 and 3 chunks
SHAPES = [(1, 1, 1, None), (2, 3, 7, None), (1, 5, 64, None), (1, 1, 1000, None), (3, 2, 97, 16), (1, 3, 45, 16)]
# |error| ≤ tol·(1 + |expected|) against a float64 loop on the same rounded inputs: the kernel computes in
# float32, so what remains is rounding the result to the dtype (measured worst here: 5e-7, 7e-4, 1e-2)
TOLERANCES = {torch.float32: 5e-6, torch.float16: 3e-3, torch.bfloat16: 3e-2}


def random_inputs(batch, channels, length, dtype=torch.float64, seed=0):
    """Gates in [0.5, 0.95] (so h stays O(10)), tokens ~ N(0, 1); fresh for every test."""
    generator = torch.Generator().manual_seed(seed)
    gates = 0.5 + 0.45 * torch.rand(batch, channels, length, generator=generator, dtype=torch.float64)
    tokens = torch.randn(batch, channels, length, generator=generator, dtype=torch.float64)
    return gates.to(DEVICE, dtype), tokens.to(DEVICE, dtype)


def random_complex_inputs(batch, channels, length, dtype=torch.complex128, seed=0):
    """Gates with modulus in [0.5, 0.95] and any phase, tokens complex normal."""
    generator = torch.Generator().manual_seed(seed)
    radius = 0.5 + 0.45 * torch.rand(batch, channels, length, generator=generator, dtype=torch.float64)
    angle = 6.2832 * torch.rand(batch, channels, length, generator=generator, dtype=torch.float64)
    tokens = torch.randn(batch, channels, length, generator=generator, dtype=torch.complex128)
    return torch.polar(radius, angle).to(DEVICE, dtype), tokens.to(DEVICE, dtype)


def value_and_grads(fn, weights, *inputs):
    """fn(*inputs), and the gradient of Σ Re(weights·fn) with respect to each input (zeros where unused)."""
    leaves = [x.detach().clone().requires_grad_() for x in inputs]
    out = fn(*leaves)
    loss = (out * weights).real.sum()
    return out.detach(), torch.autograd.grad(loss, leaves, materialize_grads=True)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("batch,channels,length,block_t", SHAPES)
def test_scan_matches_the_loop_in_float64(batch, channels, length, block_t, reverse):
    gates, tokens = random_inputs(batch, channels, length, seed=length)
    weights = torch.randn_like(tokens)
    out, grads = value_and_grads(lambda a, b: scan(a, b, reverse, block_t=block_t), weights, gates, tokens)
    expected, expected_grads = value_and_grads(lambda a, b: scan_reference(a, b, reverse), weights, gates, tokens)
    assert out.dtype == torch.float64 and out.shape == (batch, channels, length)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
@pytest.mark.parametrize("batch,channels,length,block_t", [(1, 1, 1, None), (2, 3, 61, 16), (1, 1, 300, 32)])
def test_scan_low_precision_computes_in_float32(batch, channels, length, block_t, dtype):
    gates, tokens = random_inputs(batch, channels, length, dtype, seed=7 * length)
    weights = torch.randn(batch, channels, length, dtype=torch.float64, device=DEVICE)
    out, grads = value_and_grads(lambda a, b: scan(a, b, block_t=block_t), weights.to(dtype), gates, tokens)
    # the reference sees the same rounded inputs, in float64: only the kernel's own error remains
    expected, expected_grads = value_and_grads(scan_reference, weights.to(dtype).double(), gates.double(),
                                               tokens.double())
    assert out.dtype == dtype and all(g.dtype == dtype for g in grads)
    tolerance = TOLERANCES[dtype]
    torch.testing.assert_close(out.double(), expected, atol=tolerance, rtol=tolerance)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad.double(), expected_grad, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
def test_scan_passes_gradcheck_in_float64(reverse):
    gates, tokens = random_inputs(1, 2, 19, seed=3)                  # two chunks of 16
    inputs = (gates.requires_grad_(), tokens.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b: scan(a, b, reverse, block_t=16), inputs, fast_mode=True)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("batch,channels,length,block_t", [(1, 1, 1, None), (2, 3, 7, None), (1, 2, 64, None),
                                                           (1, 1, 1000, None), (2, 1, 53, 16)])
def test_complex_scan_matches_the_loop(batch, channels, length, block_t, reverse):
    gates, tokens = random_complex_inputs(batch, channels, length, seed=length)
    weights = torch.randn_like(tokens)
    out, grads = value_and_grads(lambda a, b: complex_scan(a, b, reverse, block_t=block_t), weights, gates, tokens)
    expected, expected_grads = value_and_grads(lambda a, b: scan_reference(a, b, reverse), weights, gates, tokens)
    assert out.dtype == torch.complex128
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, atol=1e-12, rtol=1e-12)


def test_complex64_scan_is_accurate_to_float32():
    gates, tokens = random_complex_inputs(2, 3, 77, torch.complex64, seed=1)
    weights = torch.randn_like(tokens)
    out, grads = value_and_grads(lambda a, b: complex_scan(a, b, block_t=32), weights, gates, tokens)
    expected, expected_grads = value_and_grads(scan_reference, weights.to(torch.complex128),
                                               gates.to(torch.complex128), tokens.to(torch.complex128))
    assert out.dtype == torch.complex64
    torch.testing.assert_close(out.to(torch.complex128), expected, atol=1e-4, rtol=1e-5)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad.to(torch.complex128), expected_grad, atol=1e-4, rtol=1e-5)


def test_complex_scan_passes_gradcheck():
    gates, tokens = random_complex_inputs(1, 1, 19, seed=5)
    inputs = (gates.requires_grad_(), tokens.requires_grad_())
    assert torch.autograd.gradcheck(lambda a, b: complex_scan(a, b, block_t=16), inputs, fast_mode=True)


@pytest.mark.parametrize("dtype", [torch.float64] + list(TOLERANCES), ids=str)
def test_complex_scan_parts_agree_with_complex_tensors(dtype):
    gates, tokens = random_complex_inputs(2, 2, 37, seed=11)
    parts = [p.to(dtype).contiguous() for z in (gates, tokens) for p in (z.real, z.imag)]
    weights = torch.randn_like(tokens)

    def from_parts(*p):
        h_real, h_imag = complex_scan_parts(*p, block_t=16)
        return torch.complex(h_real.double(), h_imag.double())
    out, grads = value_and_grads(from_parts, weights, *parts)
    rounded = [p.double() for p in parts]
    expected, expected_grads = value_and_grads(
        lambda gr, gi, tr, ti: scan_reference(torch.complex(gr, gi), torch.complex(tr, ti)), weights, *rounded)
    tolerance = 1e-12 if dtype == torch.float64 else TOLERANCES[dtype]
    torch.testing.assert_close(out, expected, atol=tolerance, rtol=tolerance)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        assert grad.dtype == dtype
        torch.testing.assert_close(grad.double(), expected_grad, atol=tolerance, rtol=tolerance)


# ---------------------------------------------------------------------------------------------
# Exact zeros stay exact: gate products that overflow never turn a zero into NaN
# ---------------------------------------------------------------------------------------------


def overflowing_gate(dtype: torch.dtype, huge: bool = False) -> float:
    """A gate whose products overflow the dtype after 39 steps (10 or 1e20), or after 2 (1e20 or 1e200)."""
    wide = dtype in (torch.float64, torch.complex128)
    return (1e200 if wide else 1e20) if huge else (1e20 if wide else 10.0)


def zero_state_through_overflow(length, dtype):
    """Overflowing gates, tokens 0: h is exactly 0, while the gate products overflow to inf."""
    return torch.full((1, 1, length), overflowing_gate(dtype), dtype=dtype), torch.zeros(1, 1, length, dtype=dtype)


def reset_then_growth(length, dtype):
    """Overflowing gates, then a reset (0) with a token 1 and gates 10 for the last 24 steps: h = 0, …, 0, then
    1, 10, …, 1e23."""
    gates, tokens = zero_state_through_overflow(length, dtype)
    gates[..., -24:], gates[..., -24], tokens[..., -24] = 10, 0, 1
    return gates, tokens


def huge_gates_one_token(length, dtype):
    """Huge gates (products overflow after two steps), tokens 0 but the last: h = 0, …, 0, 1."""
    gates = torch.full((1, 1, length), overflowing_gate(dtype, huge=True), dtype=dtype)
    tokens = torch.zeros(1, 1, length, dtype=dtype)
    tokens[..., -1] = 1
    return gates, tokens


def state_then_reset(length, dtype):
    """Overflowing gates with tokens 1 for three steps, a reset, then tokens 0: a nonzero state before the reset,
    then an exact zero through overflowing products (a parallel scan may group the reset with them either way)."""
    gates, tokens = zero_state_through_overflow(length, dtype)
    tokens[..., :3], gates[..., 3] = 1, 0
    return gates, tokens


OVERFLOW_CASES = [zero_state_through_overflow, reset_then_growth, huge_gates_one_token, state_then_reset]


def in_scan_order(case, length, dtype, reverse):
    """The case's (1, 1, length) gates and tokens on the kernel device, flipped for a reverse scan so that
    the scan meets them in the order the case describes."""
    gates, tokens = case(length, dtype)
    if reverse:
        gates, tokens = gates.flip(-1), tokens.flip(-1)
    return gates.to(DEVICE), tokens.to(DEVICE)


# the interpreter's NumPy warns of the overflows these tests make on purpose
OVERFLOWS_ON_PURPOSE = pytest.mark.filterwarnings("ignore::RuntimeWarning:triton.runtime.interpreter")


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("length,block_t", [(64, None), (100, 16)], ids=["one-chunk", "seven-chunks"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64], ids=str)
@pytest.mark.parametrize("case", OVERFLOW_CASES, ids=lambda case: case.__name__)
@OVERFLOWS_ON_PURPOSE
def test_exact_zeros_survive_overflowing_gate_products(case, dtype, length, block_t, reverse):
    """The loop never multiplies gates together and stays finite here; the kernel must agree, not return NaN."""
    gates, tokens = in_scan_order(case, length, dtype, reverse)
    run = complex_scan if dtype.is_complex else scan
    out = run(gates, tokens, reverse, block_t=block_t)
    expected = scan_reference(gates, tokens, reverse)
    assert torch.isfinite(expected).all()
    assert torch.isfinite(out).all(), f"{int((~torch.isfinite(out)).sum())} non-finite values"
    torch.testing.assert_close(out, expected, atol=0, rtol=1e-5)


@pytest.mark.parametrize("reverse", [False, True], ids=["forward", "reverse"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.complex64], ids=str)
@OVERFLOWS_ON_PURPOSE
def test_gradient_stays_finite_through_overflowing_gate_products(dtype, reverse):
    """Gates 10 over 128 steps, tokens only in the last 30 and a loss on the first 20: h and ∂L/∂h stay finite
    in the loop, while the backward scan's gate products over the chunk of steps 0-63 overflow (10⁶⁴) where
    ∂L/∂h = 0 is carried in from the steps after it."""
    gates, _ = in_scan_order(zero_state_through_overflow, 128, dtype, reverse)
    steps = torch.arange(128, device=DEVICE)
    tokens = torch.randn_like(gates) * (steps >= 98)                             # h ≤ 10³⁰
    weights = torch.randn_like(gates) * (steps < 20)                             # ∂L/∂b ≤ 10²⁰
    if reverse:
        tokens, weights = tokens.flip(-1), weights.flip(-1)
    run = complex_scan if dtype.is_complex else scan
    out, grads = value_and_grads(lambda a, b: run(a, b, reverse, block_t=64), weights, gates, tokens)
    expected, expected_grads = value_and_grads(lambda a, b: scan_reference(a, b, reverse), weights, gates, tokens)
    for got, want in zip((out, *grads), (expected, *expected_grads), strict=True):
        assert torch.isfinite(want).all() and torch.isfinite(got).all()
        torch.testing.assert_close(got, want, atol=0, rtol=1e-5)


def test_a_nan_gate_makes_h_nan_from_there_on_as_in_the_loop():
    """Exact zeros must not hide a NaN input: where a NaN gate meets a nonzero state, h is NaN from there on."""
    gates, tokens = random_inputs(1, 2, 100, torch.float32, seed=4)
    gates[..., 37] = math.nan
    out, expected = scan(gates, tokens, block_t=16), scan_reference(gates, tokens)
    assert expected[..., 37:].isnan().all() and not expected[..., :37].isnan().any()
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5, equal_nan=True)


@triton.jit
def load_row(x_ptr, row, n, BLOCK: tl.constexpr):
    """Row `row` of a (rows, n) float32 matrix, as a block of BLOCK ≥ n lanes."""
    j = tl.arange(0, BLOCK)
    return tl.load(x_ptr + row * n + j, mask=j < n, other=0.0)


@triton.jit
def store_row(out_ptr, row, n, value, BLOCK: tl.constexpr):
    """Write `value` to row `row` of a (rows, n) float32 matrix."""
    j = tl.arange(0, BLOCK)
    tl.store(out_ptr + row * n + j, value, mask=j < n)


@triton.jit
def combine_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """Column j of out (2, n) = combine_exact_zeros of column j of x (4, n) = (a₁, b₁, a₂, b₂)."""
    a1, b1 = load_row(x_ptr, 0, n, BLOCK), load_row(x_ptr, 1, n, BLOCK)
    a2, b2 = load_row(x_ptr, 2, n, BLOCK), load_row(x_ptr, 3, n, BLOCK)
    a, b = combine_exact_zeros(a1, b1, a2, b2)
    store_row(out_ptr, 0, n, a, BLOCK)
    store_row(out_ptr, 1, n, b, BLOCK)


@triton.jit
def complex_combine_kernel(x_ptr, out_ptr, n, BLOCK: tl.constexpr):
    """The same for complex pairs: x (8, n) holds the (re, im) parts of a₁, b₁, a₂, b₂, out (4, n) those of a, b."""
    ar1, ai1 = load_row(x_ptr, 0, n, BLOCK), load_row(x_ptr, 1, n, BLOCK)
    br1, bi1 = load_row(x_ptr, 2, n, BLOCK), load_row(x_ptr, 3, n, BLOCK)
    ar2, ai2 = load_row(x_ptr, 4, n, BLOCK), load_row(x_ptr, 5, n, BLOCK)
    br2, bi2 = load_row(x_ptr, 6, n, BLOCK), load_row(x_ptr, 7, n, BLOCK)
    ar, ai, br, bi = complex_combine_exact_zeros(ar1, ai1, br1, bi1, ar2, ai2, br2, bi2)
    store_row(out_ptr, 0, n, ar, BLOCK)
    store_row(out_ptr, 1, n, ai, BLOCK)
    store_row(out_ptr, 2, n, br, BLOCK)
    store_row(out_ptr, 3, n, bi, BLOCK)


INF = math.inf
# (a₁, b₁, a₂, b₂) -> (a₁a₂, a₂b₁ + b₂) with 0·(±inf) = 0, where inf stands for a gate product that overflowed.
# A parallel scan may form any of these pairs; the interpreter scans left to right, so some meet only on a GPU.
COMBINE_CASES = {
    "ordinary": ((2, 3, 4, 5), (8, 17)),
    "zero state through an overflowed product": ((10, 0, INF, 0), (INF, 0)),
    "reset after an overflowed product": ((INF, 0, 0, 1), (0, 1)),
    "reset before an overflowed product": ((0, 0, -INF, 2), (0, 2)),
    "reset forgets a state": ((-INF, 5, 0, 1), (0, 1)),
    "nonzero state overflows, as in the loop": ((0, 1, INF, 0), (0, INF)),
}
# the same for complex numbers; None: any value (a complex product of infinities has NaN parts)
COMPLEX_COMBINE_CASES = {
    "ordinary": ((1 + 2j, 3 - 1j, 2 - 1j, 1 + 1j), (4 + 3j, 6 - 4j)),
    "zero state through an overflowed product": ((10j, 0, complex(INF, INF), 0), (None, 0)),
    "reset after an overflowed product": ((complex(INF, -INF), 0, 0, 1 + 1j), (0, 1 + 1j)),
    "reset before an overflowed product": ((0, 0, complex(-INF, INF), 2j), (0, 2j)),
    "reset forgets a state": ((complex(INF, INF), 5 + 5j, 0, 1), (0, 1)),
}


def mismatches(cases: dict, results: list[tuple]) -> list[str]:
    """The cases whose result differs from the expected one (None matches anything)."""
    return [f"{name}: got {got}, expected {want}" for (name, (_, want)), got in zip(cases.items(), results, strict=True)
            if any(w is not None and w != g for w, g in zip(want, got, strict=True))]


@OVERFLOWS_ON_PURPOSE
def test_combine_keeps_exact_zeros_whatever_the_grouping():
    columns = torch.tensor([pair for pair, _ in COMBINE_CASES.values()], device=DEVICE).T.contiguous()   # (4, n)
    out = torch.empty(2, len(COMBINE_CASES), device=DEVICE)
    combine_kernel[(1,)](columns, out, len(COMBINE_CASES), BLOCK=8)
    assert not mismatches(COMBINE_CASES, out.T.tolist())


@OVERFLOWS_ON_PURPOSE
def test_complex_combine_keeps_exact_zeros_whatever_the_grouping():
    pairs = torch.tensor([pair for pair, _ in COMPLEX_COMBINE_CASES.values()], dtype=torch.complex64)   # (n, 4)
    columns = torch.view_as_real(pairs).reshape(len(pairs), 8).T.contiguous().to(DEVICE)   # (8, n): re, im, …
    out = torch.empty(4, len(pairs), device=DEVICE)
    complex_combine_kernel[(1,)](columns, out, len(pairs), BLOCK=8)
    results = torch.view_as_complex(out.T.reshape(len(pairs), 2, 2).contiguous()).tolist()     # (n, 2): a, b
    assert not mismatches(COMPLEX_COMBINE_CASES, results)


# ---------------------------------------------------------------------------------------------
# Bad input is refused in Python, before any launch, with the fault named whatever machine runs the test
# ---------------------------------------------------------------------------------------------


def ones(*shape, dtype=torch.float32, device=DEVICE):
    """A tensor of ones on the kernel device (or `device`)."""
    return torch.ones(*shape, dtype=dtype, device=device)


GOOD = ones(2, 3, 5)


@pytest.mark.parametrize("gates,tokens,kwargs,error,message", [
    ("not a tensor", GOOD, {}, TypeError, "`gates` must be a torch.Tensor"),
    (ones(3, 5), ones(3, 5), {}, ValueError, "`gates` must have 3 dimensions"),
    (GOOD, ones(2, 3, 4), {}, ValueError, r"`tokens` must have shape \(batch, channels, T\) of `gates`"),
    (GOOD, ones(2, 3, 5, dtype=torch.float16), {}, TypeError, r"`tokens` must have dtype in \(float32\)"),
    (ones(2, 3, 5, dtype=torch.int32), GOOD, {}, TypeError, "`gates` must be a floating-point tensor"),
    (ones(2, 3, 5, dtype=torch.complex64), GOOD, {}, TypeError, "`gates` must have dtype in"),
    (ones(2, 3, 0), ones(2, 3, 0), {}, ValueError, "sequence length T"),
    (ones(2, 5, 3).transpose(1, 2), GOOD, {}, ValueError, "`gates` must be contiguous"),
    (GOOD, GOOD, {"block_t": 24}, ValueError, "`block_t` must be a power of two"),
    (GOOD, GOOD, {"block_t": 8}, ValueError, "`block_t` must be a power of two"),
    (GOOD, GOOD, {"block_t": 16.0}, TypeError, "`block_t` must be an int"),
    (GOOD, GOOD, {"reverse": 1}, TypeError, "`reverse` must be True or False"),
])
def test_scan_rejects_bad_input(gates, tokens, kwargs, error, message):
    with pytest.raises(error, match=message):
        scan(gates, tokens, **kwargs)


@pytest.mark.parametrize("args,error,message", [
    ((GOOD, GOOD), TypeError, "`gates` must have dtype in"),
    ((GOOD.to(torch.complex64), GOOD.to(torch.complex128)), TypeError, r"`tokens` must have dtype in \(complex64\)"),
    ((GOOD.to(torch.complex64).conj(), GOOD.to(torch.complex64)), ValueError, "resolve_conj"),
])
def test_complex_scan_rejects_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        complex_scan(*args)


def test_complex_scan_parts_names_the_bad_part():
    with pytest.raises(ValueError, match="`tokens_imag` must have shape"):
        complex_scan_parts(GOOD, GOOD, GOOD, ones(2, 3, 6))


def test_scan_rejects_a_tensor_on_the_wrong_device():
    with pytest.raises(ValueError, match="`gates` must be on"):
        scan(META, META)


META = ones(2, 3, 5, device="meta")                        # on the wrong device in both modes: neither cpu nor cuda


@pytest.mark.parametrize("gates,kwargs,message", [
    (META, {"reverse": 1}, "`reverse` must be True or False"),
    (META, {"block_t": 24}, "`block_t` must be a power of two"),
    (ones(2, 5, 3, device="meta").transpose(1, 2), {}, "`gates` must be contiguous"),
])
def test_the_argument_at_fault_is_named_before_the_device(gates, kwargs, message):
    """A tensor on the wrong device and one more fault: the argument-specific error comes first, so the message
    is the same whether the kernels run compiled or interpreted."""
    with pytest.raises((TypeError, ValueError), match=message):
        scan(gates, META, **kwargs)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter at the repository root (so a segfault cannot take pytest down)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_worst_bad_inputs_raise_instead_of_crashing():
    """Inputs that would read or write out of bounds if launched: each must raise, and the process must live."""
    result = run_python("""
        import functools, torch, kernels
        ones = functools.partial(torch.ones, device=kernels.kernel_device())
        cases = {
            "short tokens": lambda: kernels.scan(ones(2, 3, 50), ones(2, 3, 5)),
            "short batch": lambda: kernels.scan(ones(4, 3, 50), ones(1, 3, 50)),
            "transposed view": lambda: kernels.scan(ones(50, 3, 2).transpose(0, 2), ones(2, 3, 50)),
            "strided slice": lambda: kernels.scan(ones(2, 3, 100)[..., ::2], ones(2, 3, 50)),
            "empty sequence": lambda: kernels.scan(ones(2, 3, 0), ones(2, 3, 0)),
            "complex short": lambda: kernels.complex_scan(ones(2, 3, 50, dtype=torch.complex64),
                                                          ones(2, 3, 7, dtype=torch.complex64)),
        }
        for name, case in cases.items():
            try:
                case()
                print(name, "NOT REFUSED")
            except (TypeError, ValueError) as error:
                print(name, "refused:", type(error).__name__)
        print("still alive")
    """)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NOT REFUSED" not in result.stdout and result.stdout.count("refused:") == 6, result.stdout
    assert "still alive" in result.stdout


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the message shown when no GPU and no interpreter")
def test_a_forced_off_interpreter_without_gpu_says_so():
    result = run_python("""
        import torch, kernels
        try:
            kernels.scan(torch.ones(1, 1, 4), torch.ones(1, 1, 4))
        except RuntimeError as error:
            print(error)
    """, TRITON_INTERPRET="0")
    assert "TRITON_INTERPRET" in result.stdout and "No CUDA GPU" in result.stdout, result.stdout + result.stderr


# ---------------------------------------------------------------------------------------------
# GPU only: compiled kernels at sizes the interpreter cannot afford
# ---------------------------------------------------------------------------------------------


# (batch, channels, T, dtype): odd sizes in every dtype, and the benchmark's largest size, Mamba's (8, 1536, 16384)
GPU_CASES = [(4, 33, length, dtype) for length in (1, 1000, 4099, 16384) for dtype in TOLERANCES]
GPU_CASES += [(8, 1536, 16384, torch.float32)]


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("batch,channels,length,dtype", GPU_CASES, ids=str)
def test_compiled_scan_matches_lesson_04_on_gpu(batch, channels, length, dtype):
    """Forward and backward against lesson 04's `linear_scan` (the rung below, itself checked against the loop)
    in float64, on the same rounded inputs."""
    gates, tokens = random_inputs(batch, channels, length, dtype, seed=length)
    weights = torch.randn(batch, channels, length, dtype=dtype, device=DEVICE)
    out, grads = value_and_grads(scan, weights, gates, tokens)
    expected, expected_grads = value_and_grads(linear_scan, weights.double(), gates.double(), tokens.double())
    tolerance = TOLERANCES[dtype]
    torch.testing.assert_close(out.double(), expected, atol=tolerance, rtol=tolerance)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad.double(), expected_grad, atol=tolerance, rtol=tolerance)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_float64_scan_matches_the_loop_on_gpu():
    gates, tokens = random_inputs(2, 3, 517, seed=2)
    torch.testing.assert_close(scan(gates, tokens), scan_reference(gates, tokens), atol=1e-10, rtol=1e-10)
    gates, tokens = random_complex_inputs(2, 3, 517, seed=2)
    torch.testing.assert_close(complex_scan(gates, tokens, True), scan_reference(gates, tokens, True),
                               atol=1e-10, rtol=1e-10)
