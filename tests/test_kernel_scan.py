"""kernels.scan (first-order linear recurrence, real and complex) against lesson 04's loop, forward and backward.

On CPU the kernels run in Triton's interpreter, which costs about 0.1-0.5 ms per scanned element here, so
the sizes are small; the chunk-spanning cases use a small block_t to cross many chunks cheaply.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import kernels
from kernels.scan import complex_scan, complex_scan_parts, scan, scan_reference

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
    for grad, expected_grad in zip(grads, expected_grads):
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
    for grad, expected_grad in zip(grads, expected_grads):
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
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad, expected_grad, atol=1e-12, rtol=1e-12)


def test_complex64_scan_is_accurate_to_float32():
    gates, tokens = random_complex_inputs(2, 3, 77, torch.complex64, seed=1)
    weights = torch.randn_like(tokens)
    out, grads = value_and_grads(lambda a, b: complex_scan(a, b, block_t=32), weights, gates, tokens)
    expected, expected_grads = value_and_grads(scan_reference, weights.to(torch.complex128),
                                               gates.to(torch.complex128), tokens.to(torch.complex128))
    assert out.dtype == torch.complex64
    torch.testing.assert_close(out.to(torch.complex128), expected, atol=1e-4, rtol=1e-5)
    for grad, expected_grad in zip(grads, expected_grads):
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
    for grad, expected_grad in zip(grads, expected_grads):
        assert grad.dtype == dtype
        torch.testing.assert_close(grad.double(), expected_grad, atol=tolerance, rtol=tolerance)


# ---------------------------------------------------------------------------------------------
# Bad input is refused in Python, before any launch
# ---------------------------------------------------------------------------------------------

GOOD = torch.ones(2, 3, 5)


@pytest.mark.parametrize("gates,tokens,kwargs,error,message", [
    ("not a tensor", GOOD, {}, TypeError, "`gates` must be a torch.Tensor"),
    (torch.ones(3, 5), torch.ones(3, 5), {}, ValueError, r"3-D \(batch, channels, T\)"),
    (GOOD, torch.ones(2, 3, 4), {}, ValueError, "`tokens` must have the shape of `gates`"),
    (GOOD, torch.ones(2, 3, 5, dtype=torch.float16), {}, TypeError, "dtype of `gates`"),
    (torch.ones(2, 3, 5, dtype=torch.int32), GOOD, {}, TypeError, "`gates` must have dtype in"),
    (torch.ones(2, 3, 5, dtype=torch.complex64), GOOD, {}, TypeError, "`gates` must have dtype in"),
    (torch.ones(2, 3, 0), torch.ones(2, 3, 0), {}, ValueError, "T ≥ 1"),
    (torch.ones(2, 5, 3).transpose(1, 2), GOOD, {}, ValueError, "contiguous"),
    (GOOD, GOOD, {"block_t": 24}, ValueError, "`block_t` must be a power of two"),
    (GOOD, GOOD, {"block_t": 8}, ValueError, "`block_t` must be a power of two"),
    (GOOD, GOOD, {"reverse": 1}, TypeError, "`reverse` must be True or False"),
])
def test_scan_rejects_bad_input(gates, tokens, kwargs, error, message):
    with pytest.raises(error, match=message):
        scan(gates, tokens, **kwargs)


@pytest.mark.parametrize("args,error,message", [
    ((GOOD, GOOD), TypeError, "`gates` must have dtype in"),
    ((GOOD.to(torch.complex64), GOOD.to(torch.complex128)), TypeError, "dtype of `gates`"),
    ((GOOD.to(torch.complex64).conj(), GOOD.to(torch.complex64)), ValueError, "resolve_conj"),
])
def test_complex_scan_rejects_bad_input(args, error, message):
    with pytest.raises(error, match=message):
        complex_scan(*args)


def test_complex_scan_parts_names_the_bad_part():
    with pytest.raises(ValueError, match="`tokens_imag` must have the shape of `gates_real`"):
        complex_scan_parts(GOOD, GOOD, GOOD, torch.ones(2, 3, 6))


def test_scan_rejects_a_tensor_on_the_wrong_device():
    other = torch.ones(2, 3, 5, device="meta")
    with pytest.raises(ValueError, match="must be on"):
        scan(other, other)


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter at the repository root (so a segfault cannot take pytest down)."""
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, **env})


def test_worst_bad_inputs_raise_instead_of_crashing():
    """Inputs that would read or write out of bounds if launched: each must raise, and the process must live."""
    result = run_python("""
        import torch, kernels
        cases = {
            "short tokens": lambda: kernels.scan(torch.ones(2, 3, 50), torch.ones(2, 3, 5)),
            "short batch": lambda: kernels.scan(torch.ones(4, 3, 50), torch.ones(1, 3, 50)),
            "transposed view": lambda: kernels.scan(torch.ones(50, 3, 2).transpose(0, 2), torch.ones(2, 3, 50)),
            "strided slice": lambda: kernels.scan(torch.ones(2, 3, 100)[..., ::2], torch.ones(2, 3, 50)),
            "empty sequence": lambda: kernels.scan(torch.ones(2, 3, 0), torch.ones(2, 3, 0)),
            "complex short": lambda: kernels.complex_scan(torch.ones(2, 3, 50, dtype=torch.complex64),
                                                          torch.ones(2, 3, 7, dtype=torch.complex64)),
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


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
@pytest.mark.parametrize("length", [1, 1000, 4099, 16384])
def test_compiled_scan_matches_the_loop_on_gpu(length, dtype):
    gates, tokens = random_inputs(4, 33, length, dtype, seed=length)
    weights = torch.randn(4, 33, length, dtype=dtype, device=DEVICE)
    out, grads = value_and_grads(scan, weights, gates, tokens)
    expected, expected_grads = value_and_grads(lambda a, b: kernels.scan(a, b),
                                               weights.double(), gates.double(), tokens.double())
    tolerance = TOLERANCES[dtype]
    torch.testing.assert_close(out.double(), expected, atol=tolerance, rtol=tolerance)
    for grad, expected_grad in zip(grads, expected_grads):
        torch.testing.assert_close(grad.double(), expected_grad, atol=tolerance, rtol=tolerance)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_float64_scan_matches_the_loop_on_gpu():
    gates, tokens = random_inputs(2, 3, 517, seed=2)
    torch.testing.assert_close(scan(gates, tokens), scan_reference(gates, tokens), atol=1e-10, rtol=1e-10)
    gates, tokens = random_complex_inputs(2, 3, 517, seed=2)
    torch.testing.assert_close(complex_scan(gates, tokens, True), scan_reference(gates, tokens, True),
                               atol=1e-10, rtol=1e-10)
