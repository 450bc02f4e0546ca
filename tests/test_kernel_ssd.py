"""kernels.ssd (Mamba-2's chunked SSD, forward in Triton with tl.dot) against the recurrence run one step at a
time (lessons.ssd.ssd_loop, wrapped in mamba_chunk_scan_combined's Δ, D and z below), forward, final state and
every gradient; bad input; and an offline compile of the kernels for an H200.

On CPU the kernels run in Triton's interpreter, whose cost is per padded tile element, so sizes are small and
awkward: L not a multiple of the chunk, P and N not powers of two, groups 1 and 3.
"""
import functools
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F

import kernels
from kernels.ssd import ssd_combined, ssd_combined_reference
from lessons.ssd import ssd_loop

pytestmark = pytest.mark.kernel
DEVICE = kernels.kernel_device()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSORS = ("x", "dt", "A", "B", "C", "D", "z", "dt_bias")


def layer_by_loop(x, dt, A, B, C, chunk_size, D=None, z=None, dt_bias=None, dt_softplus=False,
                  return_final_states=False):
    """mamba_chunk_scan_combined's semantics around the step-by-step recurrence (chunk_size is not used)."""
    heads = x.shape[2]
    delta = dt + (0 if dt_bias is None else dt_bias)                               # (batch, L, heads)
    delta = F.softplus(delta) if dt_softplus else delta
    B, C = (t.repeat_interleave(heads // t.shape[2], dim=2) for t in (B, C))       # (batch, L, heads, N)
    y, final = ssd_loop(x * delta[..., None], delta * A, B, C)
    if D is not None:
        y = y + x * (D if D.ndim == 2 else D[:, None])
    if z is not None:
        y = y * F.silu(z)
    return (y, final) if return_final_states else y


def random_inputs(batch, length, heads, head_dim, groups, state, *, skip=None, gate=False, bias=False,
                  softplus=False, dtype=torch.float64, seed=0) -> dict:
    """Fresh Mamba-2-like inputs (A < 0; Δ > 0 without softplus); skip is None, "head" (heads,) or "channel"
    (heads, P)."""
    g = torch.Generator().manual_seed(seed)
    make = functools.partial(torch.randn, generator=g, dtype=torch.float64)
    dt = make(batch, length, heads) if softplus else 0.05 + 0.5 * make(batch, length, heads).abs()
    inputs = {"x": make(batch, length, heads, head_dim), "dt": dt,
              "A": -(0.2 + torch.rand(heads, generator=g, dtype=torch.float64)),
              "B": make(batch, length, groups, state), "C": make(batch, length, groups, state),
              "D": {None: None, "head": make(heads), "channel": make(heads, head_dim)}[skip],
              "z": make(batch, length, heads, head_dim) if gate else None,
              "dt_bias": 0.3 * make(heads) if bias else None}
    parameters = torch.float64 if dtype == torch.float64 else torch.float32        # dt, A, D, dt_bias: as mamba
    inputs = {k: None if v is None else v.to(DEVICE, parameters if k in ("dt", "A", "D", "dt_bias") else dtype)
              for k, v in inputs.items()}
    return dict(inputs, dt_softplus=softplus)


def outputs_and_grads(fn, inputs: dict, chunk_size: int, weights: tuple):
    """(y, final state) and the gradient of Σ w₁·y + Σ w₂·final with respect to every tensor input."""
    leaves = {k: v.detach().clone().requires_grad_() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    y, final = fn(**leaves, chunk_size=chunk_size, return_final_states=True)
    loss = (y.double() * weights[0]).sum() + (final.double() * weights[1]).sum()
    names = [k for k in TENSORS if leaves[k] is not None]
    grads = torch.autograd.grad(loss, [leaves[k] for k in names])
    return y.detach(), final.detach(), dict(zip(names, grads, strict=True))


def random_weights(inputs: dict, seed: int = 1):
    """Loss weights: one per output element and one per final-state element."""
    g = torch.Generator().manual_seed(seed)
    batch, _, heads, head_dim = inputs["x"].shape
    return (torch.randn(inputs["x"].shape, generator=g, dtype=torch.float64).to(DEVICE),
            torch.randn(batch, heads, head_dim, inputs["B"].shape[-1], generator=g, dtype=torch.float64).to(DEVICE))


# (batch, L, heads, P, groups, N), chunk, options: L = 1, L below one chunk, L not a multiple of the chunk and
# one that is, a chunk that is not a power of two, P and N not powers of two, groups 1, 2 and 3, every option
CASES = [
    ((2, 37, 3, 5, 1, 4), 16, dict(skip="head", gate=True, bias=True, softplus=True)),
    ((1, 100, 3, 16, 3, 16), 32, dict(skip="channel")),
    ((2, 1, 3, 5, 3, 4), 16, dict(gate=True, bias=True)),
    ((1, 37, 3, 16, 1, 16), 32, {}),
    ((1, 32, 3, 5, 3, 4), 16, dict(skip="channel", softplus=True)),
    ((1, 23, 3, 5, 1, 4), 10, dict(skip="head", gate=True)),
    ((1, 29, 4, 5, 2, 4), 16, dict(bias=True, softplus=True)),            # head h reads group h // 2, not h % 2
]


def case_id(case) -> str:
    """'2x37x3xP5 g1 N4 chunk16 D(head) z bias softplus'."""
    (batch, length, heads, head_dim, groups, state), chunk, options = case
    switches = [f"D({options['skip']})"] if options.get("skip") else []
    switches += [name for key, name in (("gate", "z"), ("bias", "bias"), ("softplus", "softplus")) if options.get(key)]
    return " ".join([f"{batch}x{length}x{heads}xP{head_dim} g{groups} N{state} chunk{chunk}", *switches])


@pytest.mark.parametrize("sizes,chunk,options", CASES, ids=[case_id(c) for c in CASES])
def test_ssd_combined_matches_the_recurrence_in_float64(sizes, chunk, options):
    inputs = random_inputs(*sizes, **options, seed=sum(sizes) + chunk)
    weights = random_weights(inputs)
    y, final, grads = outputs_and_grads(ssd_combined, inputs, chunk, weights)
    expected_y, expected_final, expected_grads = outputs_and_grads(layer_by_loop, inputs, chunk, weights)
    batch, _, heads, head_dim, _, state = sizes
    assert y.shape == inputs["x"].shape and final.shape == (batch, heads, head_dim, state)
    torch.testing.assert_close(y, expected_y, atol=1e-11, rtol=1e-10)
    torch.testing.assert_close(final, expected_final, atol=1e-11, rtol=1e-10)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        assert grad.shape == inputs[name].shape and grad.dtype == inputs[name].dtype, name
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-10, rtol=1e-9, msg=f"∂L/∂{name} differs")


def test_the_pytorch_reference_matches_the_recurrence():
    """The chunked PyTorch form the backward differentiates is itself the recurrence (one rung down)."""
    inputs = random_inputs(2, 45, 3, 5, 3, 4, skip="channel", gate=True, bias=True, softplus=True, seed=11)
    y, final = ssd_combined_reference(**inputs, chunk_size=16, return_final_states=True)
    expected_y, expected_final = layer_by_loop(**inputs, chunk_size=16, return_final_states=True)
    torch.testing.assert_close(y, expected_y, atol=1e-12, rtol=1e-11)
    torch.testing.assert_close(final, expected_final, atol=1e-12, rtol=1e-11)


def test_without_final_states_returns_only_y_and_differentiates_some_inputs():
    """The common call: y alone, gradients for only x and dt (the others frozen)."""
    inputs = random_inputs(1, 20, 3, 5, 1, 4, skip="head", seed=5)
    x, dt = inputs["x"].clone().requires_grad_(), inputs["dt"].clone().requires_grad_()
    y = ssd_combined(**dict(inputs, x=x, dt=dt), chunk_size=16)
    assert isinstance(y, torch.Tensor)
    expected = layer_by_loop(**inputs, chunk_size=16)
    torch.testing.assert_close(y, expected, atol=1e-12, rtol=1e-11)
    weights = random_weights(inputs)[0]
    grads = torch.autograd.grad((y * weights).sum(), [x, dt])
    leaves = [inputs["x"].clone().requires_grad_(), inputs["dt"].clone().requires_grad_()]
    expected_grads = torch.autograd.grad((layer_by_loop(**dict(inputs, x=leaves[0], dt=leaves[1]), chunk_size=16)
                                          * weights).sum(), leaves)
    for grad, expected_grad in zip(grads, expected_grads, strict=True):
        torch.testing.assert_close(grad, expected_grad, atol=1e-11, rtol=1e-10)


def test_the_package_exports_the_kernel():
    assert kernels.ssd_combined is ssd_combined


def test_long_decays_stay_finite():
    """Strong decay over many chunks (A·Δ summing to −400 inside a chunk): no inf − inf, no NaN."""
    inputs = random_inputs(1, 70, 3, 5, 1, 4, seed=7)
    inputs["dt"] = inputs["dt"] * 0 + 25.0                                          # exp(−25·A) per step
    y, final = ssd_combined(**inputs, chunk_size=32, return_final_states=True)
    expected_y, expected_final = layer_by_loop(**inputs, chunk_size=32, return_final_states=True)
    assert torch.isfinite(y).all() and torch.isfinite(final).all()
    torch.testing.assert_close(y, expected_y, atol=1e-10, rtol=1e-9)
    torch.testing.assert_close(final, expected_final, atol=1e-10, rtol=1e-9)


# |error| ≤ tol·(1 + |expected|) against float64 on the same rounded inputs; the interpreter computes bfloat16
# dots in float32, so what remains is rounding y to the dtype (and float32 accumulation)
TOLERANCES = {torch.float32: 1e-4, torch.float16: 3e-3, torch.bfloat16: 3e-2}


@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
def test_low_precision_inputs_accumulate_in_float32(dtype):
    inputs = random_inputs(2, 37, 3, 5, 3, 4, skip="head", gate=True, bias=True, softplus=True, dtype=dtype, seed=9)
    y, final = ssd_combined(**inputs, chunk_size=16, return_final_states=True)
    wide = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    expected_y, expected_final = layer_by_loop(**wide, chunk_size=16, return_final_states=True)
    assert y.dtype == dtype and final.dtype == torch.float32
    tolerance = TOLERANCES[dtype]
    torch.testing.assert_close(y.double(), expected_y, atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(final.double(), expected_final, atol=tolerance, rtol=tolerance)


# ---------------------------------------------------------------------------------------------
# Bad input is refused in Python, before any launch
# ---------------------------------------------------------------------------------------------


def good(**changes) -> dict:
    """Valid float32 inputs of (2, 5, 6, 4) with 2 groups and N = 3, with some arguments replaced."""
    inputs = random_inputs(2, 5, 6, 4, 2, 3, skip="head", gate=True, bias=True, dtype=torch.float32)
    return {**inputs, "chunk_size": 16, **changes}


@pytest.mark.parametrize("changes,error,message", [
    ({"x": torch.ones(2, 5, 6)}, ValueError, "`x` must have 4 dimensions"),
    ({"dt": torch.ones(2, 5, 4)}, ValueError, r"`dt` must have shape \(batch, L, heads\)"),
    ({"A": torch.ones(6, 1)}, ValueError, r"`A` must have shape \(heads,\)"),
    ({"B": torch.ones(2, 5, 4, 3)}, ValueError, "groups, which must divide the 6 heads"),
    ({"B": torch.ones(2, 4, 2, 3)}, ValueError, r"`B` must have shape \(batch, L, groups, N\)"),
    ({"C": torch.ones(2, 5, 2, 4)}, ValueError, r"`C` must have shape \(batch, L, groups, N\) of `B`"),
    ({"B": torch.ones(2, 5, 2, 300), "C": torch.ones(2, 5, 2, 300)}, ValueError, r"the state size N\)` must be"),
    ({"D": torch.ones(4)}, ValueError, r"`D` must have shape \(heads,\) = \(6,\) or \(heads, P\) = \(6, 4\)"),
    ({"z": torch.ones(2, 5, 6, 3)}, ValueError, "`z` must have shape"),
    ({"dt_bias": torch.ones(5)}, ValueError, "`dt_bias` must have shape"),
    ({"x": torch.ones(2, 5, 6, 4, dtype=torch.int64)}, TypeError, "`x` must be a floating-point tensor"),
    ({"B": torch.ones(2, 5, 2, 3, dtype=torch.float64)}, TypeError, "`B` must have dtype in \\(float32\\)"),
    ({"x": torch.ones(2, 0, 6, 4)}, ValueError, "the sequence length L"),
    ({"chunk_size": 0}, ValueError, "`chunk_size` must be an int in \\[1, 1024\\]"),
    ({"chunk_size": 16.0}, TypeError, "`chunk_size` must be an int"),
    ({"x": torch.ones(2, 6, 5, 4).transpose(1, 2)}, ValueError, "`x` must be contiguous"),
    ({"B": torch.ones(2, 3, 2, 5).transpose(1, 3)}, ValueError, "`B` must be contiguous"),
    ({"z": torch.ones(2, 5, 6, 4, device="meta")}, ValueError, "`z` must be on"),
    ({"dt_softplus": 1}, TypeError, "`dt_softplus` must be True or False"),
    ({"return_final_states": None}, TypeError, "`return_final_states` must be True or False"),
])
def test_ssd_combined_rejects_bad_input(changes, error, message):
    on_device = {k: v.to(DEVICE) if isinstance(v, torch.Tensor) and v.device.type != "meta" else v
                 for k, v in changes.items()}                  # `.to` keeps a transposed tensor's strides
    with pytest.raises(error, match=message):
        ssd_combined(**good(**on_device))


def test_worst_bad_inputs_raise_instead_of_crashing():
    """Inputs that would read out of bounds if launched: each must raise, and the process must live."""
    code = textwrap.dedent("""
        import functools, torch, kernels
        from kernels.ssd import ssd_combined
        ones = functools.partial(torch.ones, device=kernels.kernel_device())
        b, l, h, p, g, n = 2, 40, 4, 8, 2, 4
        ok = dict(x=ones(b, l, h, p), dt=ones(b, l, h), A=-ones(h), B=ones(b, l, g, n), C=ones(b, l, g, n),
                  chunk_size=16, D=ones(h), z=ones(b, l, h, p), dt_bias=ones(h))
        cases = {"short dt": dict(dt=ones(b, 3, h)), "short B": dict(B=ones(b, 3, g, n)),
                 "small A": dict(A=-ones(1)), "short z": dict(z=ones(1, l, h, p)), "short D": dict(D=ones(1)),
                 "strided x": dict(x=ones(b, l, h, 2 * p)[..., ::2]), "C batch 1": dict(C=ones(1, l, g, n)),
                 "bias of P": dict(dt_bias=ones(p))}
        for name, change in cases.items():
            try:
                ssd_combined(**dict(ok, **change))
                print(name, "NOT REFUSED")
            except (TypeError, ValueError) as error:
                print(name, "refused:", type(error).__name__)
        print("still alive")
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NOT REFUSED" not in result.stdout and result.stdout.count("refused:") == 8, result.stdout
    assert "still alive" in result.stdout


# ---------------------------------------------------------------------------------------------
# The kernels compiled for a real GPU (no GPU needed)
# ---------------------------------------------------------------------------------------------

COMPILE_SCRIPT = textwrap.dedent("""
    import inspect, re, sys
    import triton, triton.language as tl
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource
    from kernels.bench import cuobjdump
    from kernels import ssd

    COMPUTED = {"dt_out_ptr", "acs_ptr", "states_ptr", "final_ptr", "A_ptr", "bias_ptr", "D_ptr"}   # float32

    def resources(kernel, io, constexprs, warps):
        names = list(inspect.signature(kernel.fn).parameters)
        raw_dt = kernel is ssd.chunk_cumsum_kernel
        pointer = lambda k: "*fp32" if k in COMPUTED or (k == "dt_ptr" and not raw_dt) else io
        signature = {k: "constexpr" if k in constexprs else pointer(k) if k.endswith("_ptr") else "i32" for k in names}
        source = ASTSource(kernel, signature, constexprs)
        cubin = triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": warps}).asm["cubin"]
        found = re.search(r"REG:(\\d+) STACK:(\\d+)", cuobjdump(cubin, "-res-usage"))
        return int(found[1]), int(found[2])

    N = int(sys.argv[1])
    blocks = dict(BLOCK_M=ssd.GPU_BLOCKS["M"], BLOCK_K=ssd.GPU_BLOCKS["K"], BLOCK_P=ssd.GPU_BLOCKS["P"], BLOCK_N=N)
    for io, operand, precision in (("*bf16", tl.bfloat16, "ieee"), ("*fp32", tl.float32, ssd.FLOAT32_DOT)):
        dots = dict(OPERAND=operand, PRECISION=precision, COMPUTE=tl.float32)
        configs = [
            ("chunk_cumsum", ssd.chunk_cumsum_kernel,
             dict(HAS_BIAS=True, SOFTPLUS=True, BLOCK_Q=256, COMPUTE=tl.float32), 4),
            ("chunk_state", ssd.chunk_state_kernel,
             dict(BLOCK_P=blocks["BLOCK_P"], BLOCK_N=N, BLOCK_K=blocks["BLOCK_K"], **dots), ssd.MATMUL_WARPS),
            ("state_passing", ssd.state_passing_kernel, dict(BLOCK=1024), 4),
            ("chunk_scan", ssd.chunk_scan_kernel,
             dict(HAS_D=True, D_PER_CHANNEL=False, HAS_Z=True, **blocks, **dots), ssd.MATMUL_WARPS),
        ]
        for label, kernel, constexprs, warps in configs:
            registers, stack = resources(kernel, io, constexprs, warps)
            print(f"| {label} | {io[1:]} | N {N} | {warps} | {registers} | {stack} |")
""")


def test_kernels_compile_for_an_h200_without_a_gpu():
    """Lower every kernel to sm_90 machine code with Triton's bundled ptxas, at the tiles a GPU launch uses
    (N = 128, bfloat16 and float32): catches what the interpreter accepts but the compiler rejects, and register
    spills (with 4 warps the matmul kernels spilled; MATMUL_WARPS = 8 does not)."""
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    result = subprocess.run([sys.executable, "-c", COMPILE_SCRIPT, "128"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line.split("|")[1:-1] for line in result.stdout.splitlines() if line.startswith("| ")]
    assert len(rows) == 8, result.stdout
    for label, dtype, _state, _warps, registers, stack in rows:
        assert 0 < int(registers) <= 255 and int(stack) == 0, (label, dtype, registers, stack)


# ---------------------------------------------------------------------------------------------
# GPU only: compiled kernels at a realistic size
# ---------------------------------------------------------------------------------------------

# relative Frobenius error against float64: float32 products run as TF32 (10-bit mantissas), like mamba_ssm's
GPU_TOLERANCES = {torch.float32: 5e-3, torch.bfloat16: 2e-2}


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("dtype", GPU_TOLERANCES, ids=str)
def test_compiled_ssd_at_mamba2_sizes_on_gpu(dtype):
    """batch 2, L = 1000 (not a multiple of the chunk 256), 8 heads of 64, N = 128, one group; y, the final state
    and the gradients against the PyTorch form in float64."""
    inputs = random_inputs(2, 1000, 8, 64, 1, 128, skip="channel", gate=True, bias=True, softplus=True, dtype=dtype)
    wide = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    y, final = ssd_combined(**inputs, chunk_size=256, return_final_states=True)
    expected_y, expected_final = ssd_combined_reference(**wide, chunk_size=256, return_final_states=True)
    error = lambda got, want: ((got.double() - want).norm() / want.norm()).item()     # noqa: E731
    assert error(y, expected_y) < GPU_TOLERANCES[dtype] and error(final, expected_final) < GPU_TOLERANCES[dtype]
    weights = random_weights(inputs)
    _, _, grads = outputs_and_grads(ssd_combined, inputs, 256, weights)
    _, _, expected_grads = outputs_and_grads(ssd_combined_reference, wide, 256, weights)
    for name, grad in grads.items():
        assert error(grad, expected_grads[name]) < GPU_TOLERANCES[dtype], name
