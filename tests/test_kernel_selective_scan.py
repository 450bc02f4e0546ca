"""kernels.selective_scan (the fused kernel) against lesson 06's `lessons.ssm.selective_scan`, forward,
last state and every gradient; bad input; the benchmark script; and an offline compile for an H200.

On CPU the kernels run in Triton's interpreter, whose cost is per scanned element (batch·dim·N·L, padded
to powers of two), so the sizes are small and odd; small block sizes make them span several chunks.
"""
import os
import subprocess
import sys
import textwrap

import pytest
import torch

import kernels
from kernels.bench import main as bench_main
from kernels.selective_scan import selective_scan, selective_scan_reference

pytestmark = pytest.mark.kernel
DEVICE = kernels.kernel_device()
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TENSORS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")


def random_inputs(batch, dim, length, state, *, b_varies=True, c_varies=True, skip=False, gate=False,
                  bias=False, softplus=False, dtype=torch.float64, seed=0) -> dict:
    """Fresh Mamba-like inputs (A < 0, Δ > 0 without softplus), with the optional arguments asked for."""
    g = torch.Generator().manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)   # noqa: E731
    inputs = {"u": make(batch, dim, length),
              "delta": make(batch, dim, length) if softplus else 0.05 + 0.5 * make(batch, dim, length).abs(),
              "A": -(0.5 + torch.rand(dim, state, generator=g, dtype=torch.float64)),
              "B": make(batch, state, length) if b_varies else make(dim, state),
              "C": make(batch, state, length) if c_varies else make(dim, state),
              "D": make(dim) if skip else None, "z": make(batch, dim, length) if gate else None,
              "delta_bias": 0.3 * make(dim) if bias else None}
    parameters = torch.float64 if dtype == torch.float64 else torch.float32      # A, D, delta_bias: as mamba keeps them
    inputs = {k: None if v is None else v.to(DEVICE, parameters if k in ("A", "D", "delta_bias") else dtype)
              for k, v in inputs.items()}
    return dict(inputs, delta_softplus=softplus)


def outputs_and_grads(fn, inputs: dict, weights: tuple, **options):
    """(out, h_L) and the gradient of Σ w₁·out + Σ w₂·h_L with respect to every tensor input."""
    leaves = {k: v.detach().clone().requires_grad_() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    out, last = fn(**leaves, return_last_state=True, **options)
    loss = (out.double() * weights[0]).sum() + (last.double() * weights[1]).sum()
    names = [k for k in TENSORS if leaves[k] is not None]
    grads = torch.autograd.grad(loss, [leaves[k] for k in names])
    return out.detach(), last.detach(), dict(zip(names, grads, strict=True))


def random_weights(inputs: dict, seed: int = 1):
    """Weights for the loss: one per output element and one per last-state element."""
    g = torch.Generator().manual_seed(seed)
    (batch, dim, _), state = inputs["u"].shape, inputs["A"].shape[1]
    return (torch.randn(inputs["u"].shape, generator=g, dtype=torch.float64).to(DEVICE),
            torch.randn(batch, dim, state, generator=g, dtype=torch.float64).to(DEVICE))


# (batch, dim, L, N), input options, launcher blocks: every optional argument on and off, both kinds of
# B and C, odd and prime sizes, N and dim not powers of two (masked lanes), several chunks and channel blocks
CASES = [
    ((2, 3, 13, 5), dict(skip=True, gate=True, bias=True, softplus=True), {}),
    ((1, 5, 37, 3), dict(b_varies=False, c_varies=False), {"block_l": 16}),
    ((2, 3, 20, 4), dict(c_varies=False, skip=True, softplus=True), {"block_l": 8}),
    ((1, 1, 1, 1), dict(b_varies=False, gate=True), {}),
    ((3, 7, 31, 2), dict(b_varies=False, skip=True, bias=True), {"block_d": 4, "block_l": 16}),
    ((1, 2, 5, 17), dict(gate=True, softplus=True), {}),
]


def case_id(case) -> str:
    """'2x3x13xN5 B(t) C(t) D z bias softplus': the sizes, how B and C vary, and the options that are on."""
    (batch, dim, length, state), options, _ = case
    varying = [f"{x}{'(t)' if options.get(f'{x.lower()}_varies', True) else '(fixed)'}" for x in "BC"]
    names = {"skip": "D", "gate": "z", "bias": "bias", "softplus": "softplus"}
    return " ".join([f"{batch}x{dim}x{length}xN{state}", *varying] + [v for k, v in names.items() if options.get(k)])


@pytest.mark.parametrize("sizes,options,blocks", CASES, ids=[case_id(c) for c in CASES])
def test_selective_scan_matches_lessons_in_float64(sizes, options, blocks):
    inputs = random_inputs(*sizes, **options, seed=sum(sizes))
    weights = random_weights(inputs)
    out, last, grads = outputs_and_grads(selective_scan, inputs, weights, **blocks)
    expected_out, expected_last, expected_grads = outputs_and_grads(selective_scan_reference, inputs, weights)
    assert out.shape == inputs["u"].shape and last.shape == (*sizes[:2], sizes[3])
    torch.testing.assert_close(out, expected_out, atol=1e-11, rtol=1e-10)
    torch.testing.assert_close(last, expected_last, atol=1e-11, rtol=1e-10)
    assert grads.keys() == expected_grads.keys()
    for name, grad in grads.items():
        assert grad.shape == inputs[name].shape and grad.dtype == inputs[name].dtype, name
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-10, rtol=1e-9, msg=f"∂L/∂{name} differs")


def test_softplus_above_its_threshold_matches_pytorch():
    """F.softplus returns x itself above 20; the kernel must too, forward and backward."""
    inputs = random_inputs(1, 2, 9, 3, skip=True, bias=True, softplus=True, seed=6)
    inputs["delta"] = inputs["delta"] * 15                                         # many Δ + bias beyond ±20
    inputs["A"] = inputs["A"] / 40                                                 # keep exp(ΔA) away from 0
    assert (inputs["delta"] + inputs["delta_bias"][:, None] > 20).any()
    weights = random_weights(inputs)
    out, last, grads = outputs_and_grads(selective_scan, inputs, weights)
    expected_out, expected_last, expected_grads = outputs_and_grads(selective_scan_reference, inputs, weights)
    torch.testing.assert_close(out, expected_out, atol=1e-11, rtol=1e-10)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-10, rtol=1e-9, msg=f"∂L/∂{name} differs")


def test_selective_scan_without_last_state_returns_only_out():
    inputs = random_inputs(1, 3, 9, 2, skip=True, seed=4)
    out = selective_scan(**inputs)
    assert isinstance(out, torch.Tensor)
    torch.testing.assert_close(out, selective_scan_reference(**inputs), atol=1e-12, rtol=1e-11)


# |error| ≤ tol·(1 + |expected|) against float64 on the same rounded inputs: the kernel computes in float32,
# so what remains is rounding to the dtype (measured worst here: 9e-7, 7e-4, 6e-3)
TOLERANCES = {torch.float32: 5e-6, torch.float16: 3e-3, torch.bfloat16: 3e-2}


@pytest.mark.parametrize("dtype", TOLERANCES, ids=str)
def test_selective_scan_low_precision_computes_in_float32(dtype):
    inputs = random_inputs(2, 3, 23, 4, skip=True, gate=True, bias=True, softplus=True, dtype=dtype, seed=9)
    weights = random_weights(inputs)
    out, last, grads = outputs_and_grads(selective_scan, inputs, weights, block_l=16)
    wide = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    expected_out, expected_last, expected_grads = outputs_and_grads(selective_scan_reference, wide, weights)
    assert out.dtype == dtype and last.dtype == torch.float32
    tolerance = TOLERANCES[dtype]
    torch.testing.assert_close(out.double(), expected_out, atol=tolerance, rtol=tolerance)
    torch.testing.assert_close(last.double(), expected_last, atol=tolerance, rtol=tolerance)
    for name, grad in grads.items():
        assert grad.dtype == inputs[name].dtype, name
        torch.testing.assert_close(grad.double(), expected_grads[name], atol=tolerance, rtol=tolerance,
                                   msg=f"∂L/∂{name} differs")


def test_selective_scan_passes_gradcheck():
    inputs = random_inputs(1, 2, 7, 2, skip=True, gate=True, bias=True, softplus=True, seed=3)
    names = [k for k in TENSORS if inputs[k] is not None]

    def run(*tensors):
        changed = dict(inputs, **dict(zip(names, tensors, strict=True)))
        out, last = selective_scan(**changed, return_last_state=True, block_l=4)
        return out, last
    leaves = tuple(inputs[k].clone().requires_grad_() for k in names)
    assert torch.autograd.gradcheck(run, leaves, fast_mode=True)


# ---------------------------------------------------------------------------------------------
# Bad input is refused in Python, before any launch
# ---------------------------------------------------------------------------------------------


def good(**changes) -> dict:
    """Valid float32 inputs of (2, 3, 5) with N = 4, with some arguments replaced."""
    inputs = random_inputs(2, 3, 5, 4, skip=True, gate=True, bias=True, dtype=torch.float32)
    return dict(inputs, **changes)


@pytest.mark.parametrize("changes,error,message", [
    ({"u": torch.ones(2, 3)}, ValueError, "`u` must have 3 dimensions"),
    ({"delta": torch.ones(2, 3, 6)}, ValueError, "`delta` must have shape \\(batch, dim, L\\)"),
    ({"A": torch.ones(4, 3)}, ValueError, "did you pass \\(N, dim\\)"),
    ({"B": torch.ones(2, 5, 4)}, ValueError, "did you pass \\(batch, L, N\\)"),
    ({"C": torch.ones(3, 5)}, ValueError, "`C` must be"),
    ({"D": torch.ones(4)}, ValueError, "`D` must have shape \\(dim,\\)"),
    ({"z": torch.ones(2, 3, 4)}, ValueError, "`z` must have shape"),
    ({"u": torch.ones(2, 3, 5, dtype=torch.int64)}, TypeError, "`u` must be a floating-point tensor"),
    ({"A": -torch.ones(3, 4, dtype=torch.complex64), "B": torch.ones(3, 4, dtype=torch.complex64),
      "C": torch.ones(3, 4, dtype=torch.complex64)}, NotImplementedError, "real `A`"),
    ({"B": torch.ones(2, 1, 4, 5)}, NotImplementedError, "grouped `B`"),
    ({"A": -torch.ones(3, 300), "B": torch.ones(3, 300), "C": torch.ones(3, 300)}, ValueError,
     r"the state size N\)` must be an int in \[1, 256\]"),
    ({"u": torch.ones(2, 5, 3).transpose(1, 2)}, ValueError, "`u` must be contiguous"),
    ({"B": torch.ones(2, 5, 4).transpose(1, 2)}, ValueError, "`B` must be contiguous"),
    ({"z": torch.ones(2, 3, 5, device="meta")}, ValueError, "`z` must be on"),
    ({"delta_softplus": 1}, TypeError, "`delta_softplus` must be True or False"),
])
def test_selective_scan_rejects_bad_input(changes, error, message):
    on_device = {k: v.to(DEVICE) if isinstance(v, torch.Tensor) and v.device.type != "meta" else v
                 for k, v in changes.items()}       # `.to` keeps a transposed tensor's strides
    with pytest.raises(error, match=message):
        selective_scan(**good(**on_device))


@pytest.mark.parametrize("blocks,message", [({"block_l": 24}, "`block_l` must be a power of two"),
                                            ({"block_d": 0}, "`block_d` must be a power of two")])
def test_selective_scan_rejects_bad_blocks(blocks, message):
    with pytest.raises(ValueError, match=message):
        selective_scan(**good(), **blocks)


def test_worst_bad_inputs_raise_instead_of_crashing():
    """Inputs that would read out of bounds if launched: each must raise, and the process must live."""
    code = textwrap.dedent("""
        import functools, torch, kernels
        ones = functools.partial(torch.ones, device=kernels.kernel_device())
        b, d, l, n = 2, 3, 64, 4
        ok = dict(u=ones(b, d, l), delta=ones(b, d, l), A=-ones(d, n), B=ones(b, n, l), C=ones(b, n, l),
                  D=ones(d), z=ones(b, d, l), delta_bias=ones(d))
        cases = {"short delta": dict(delta=ones(b, d, 3)), "short B": dict(B=ones(b, n, 3)),
                 "small A": dict(A=-ones(1, n)), "short z": dict(z=ones(1, d, l)),
                 "short D": dict(D=ones(1)), "strided u": dict(u=ones(b, d, 2 * l)[..., ::2]),
                 "B batch 1": dict(B=ones(1, n, l))}
        for name, change in cases.items():
            try:
                kernels.selective_scan(**dict(ok, **change))
                print(name, "NOT REFUSED")
            except (TypeError, ValueError) as error:
                print(name, "refused:", type(error).__name__)
        print("still alive")
    """)
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "NOT REFUSED" not in result.stdout and result.stdout.count("refused:") == 7, result.stdout
    assert "still alive" in result.stdout


# ---------------------------------------------------------------------------------------------
# The benchmark script, and the kernels compiled for a real GPU (no GPU needed)
# ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU fallback of the benchmark")
def test_benchmark_runs_on_cpu_and_says_the_gpu_columns_need_a_gpu(capsys):
    text = bench_main(["--lengths", "512", "--scan-lengths", "512"])
    assert "GPU required" in text and "CPU sanity (Triton interpreter)" in text
    assert "| 512 | float32 | forward | 96.6 MiB |" in text          # the least bytes, computed without a GPU
    assert "| 512 | bfloat16 | forward | 48.4 MiB |" in text
    error = float(text.split("max error ")[1].split()[0])
    assert error < 1e-5
    with pytest.raises(SystemExit, match="needs a GPU"):
        bench_main(["--lengths", "512", "--scan-lengths", "512", "--record", os.devnull])
    ssd = bench_main(["--ssd", "--lengths", "1024", "--ssd-states", "64", "--dtypes", "float32"])
    assert "| 1024 | 64 | float32 | forward | GPU required |" in ssd


def test_every_benchmark_contender_computes_the_same_scan():
    """The benchmark times like with like: each contender (the naive loop included) gives lessons' result,
    and its forward+backward closure runs."""
    from kernels.bench import forward_and_backward, selective_contenders
    from lessons.ssm import selective_scan_inputs

    inputs = selective_scan_inputs(1, 3, 128, 4, device=DEVICE)     # mamba's restricted build: L a multiple of 128
    expected = selective_scan_reference(**inputs)
    for name, fn in selective_contenders(max_naive_length=128, references=True).items():
        if fn is None:
            continue                                                              # mamba_ssm is not installed
        torch.testing.assert_close(fn(**inputs), expected, atol=1e-5, rtol=1e-5, msg=name)
        forward_and_backward(fn, inputs, ("u", "delta", "A", "B", "C", "D", "z", "delta_bias"))()


def test_kernels_compile_for_an_h200_without_a_gpu():
    """Lower every kernel to sm_90 machine code with Triton's bundled ptxas: catches what the interpreter
    accepts but the compiler rejects (it caught two such bugs while this file was written)."""
    result = subprocess.run([sys.executable, "-m", "kernels.bench", "--registers"], cwd=ROOT, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| ") and "kernel |" not in line]
    rows = [line.split("|")[1:-1] for line in table]
    assert len(rows) == 7, result.stdout
    for label, _tile, _warps, registers, _stack in rows:
        assert 0 < int(registers) <= 255, (label, registers)


# ---------------------------------------------------------------------------------------------
# GPU only: compiled kernels at sizes the interpreter cannot afford
# ---------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("sizes,options", [((2, 64, 1000, 16), dict(skip=True, gate=True, bias=True, softplus=True)),
                                           ((1, 33, 4099, 16), dict(b_varies=False, c_varies=False)),
                                           ((3, 5, 77, 7), dict(c_varies=False, gate=True))])
def test_compiled_selective_scan_matches_lessons_on_gpu(sizes, options):
    inputs = random_inputs(*sizes, **options, seed=sum(sizes))
    weights = random_weights(inputs)
    out, last, grads = outputs_and_grads(selective_scan, inputs, weights)
    expected_out, expected_last, expected_grads = outputs_and_grads(selective_scan_reference, inputs, weights)
    torch.testing.assert_close(out, expected_out, atol=1e-9, rtol=1e-9)
    torch.testing.assert_close(last, expected_last, atol=1e-9, rtol=1e-9)
    for name, grad in grads.items():
        torch.testing.assert_close(grad, expected_grads[name], atol=1e-8, rtol=1e-8, msg=f"∂L/∂{name} differs")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_compiled_float32_selective_scan_at_mamba_sizes_on_gpu():
    inputs = random_inputs(2, 256, 2048, 16, skip=True, gate=True, bias=True, softplus=True, dtype=torch.float32)
    wide = {k: v.double() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    torch.testing.assert_close(selective_scan(**inputs).double(), selective_scan_reference(**wide),
                               atol=2e-4, rtol=2e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_autotuned_kernel_at_the_largest_benchmark_size_on_gpu(monkeypatch):
    """L = 16384, batch 8, dim 1536, N 16 (the benchmark's largest row), autotuned tiles, forward and backward.
    Channels are independent, so lessons' reference runs on 64 channels at each end and is compared there;
    ∂B and ∂C sum over channels, so they are compared on those 128 channels run alone."""
    from lessons.ssm import selective_scan_inputs

    monkeypatch.setenv("KERNELS_AUTOTUNE", "1")
    inputs = selective_scan_inputs(8, 1536, 16384, 16, device="cuda", seed=5)
    weights = torch.randn(8, 1536, 16384, device="cuda", generator=torch.Generator("cuda").manual_seed(6))
    names = ("u", "delta", "A", "D", "z", "delta_bias", "B", "C")

    def run(fn, x):
        leaves = {k: v.detach().requires_grad_() if k in names else v for k, v in x.items()}
        out = fn(**leaves)
        rows = weights[:, :out.shape[1]] if out.shape[1] == 1536 else torch.cat([weights[:, :64], weights[:, -64:]], 1)
        grads = torch.autograd.grad((out * rows).sum(), [leaves[k] for k in names])
        return out.detach(), dict(zip(names, grads, strict=True))

    out, grads = run(selective_scan, inputs)
    torch.cuda.synchronize()
    ends = torch.cat([torch.arange(64), torch.arange(1536 - 64, 1536)]).cuda()
    sliced = {k: (v.index_select(0 if k in ("A", "D", "delta_bias") else 1, ends)
                  if isinstance(v, torch.Tensor) and k not in ("B", "C") else v) for k, v in inputs.items()}
    expected_out, expected = run(selective_scan_reference, sliced)
    torch.testing.assert_close(out[:, ends], expected_out, atol=2e-4, rtol=2e-4)
    for name in ("u", "delta", "z"):
        torch.testing.assert_close(grads[name][:, ends], expected[name], atol=2e-3, rtol=2e-3, msg=name)
    for name in ("A", "D", "delta_bias"):
        torch.testing.assert_close(grads[name][ends], expected[name], atol=2e-3, rtol=2e-3, msg=name)
    _, alone = run(selective_scan, sliced)
    for name in ("B", "C"):
        torch.testing.assert_close(alone[name], expected[name], atol=2e-3, rtol=2e-3, msg=name)
        assert torch.isfinite(grads[name]).all()


def test_the_kernel_swaps_into_a_mamba_block():
    """lessons.ssm.MambaBlock takes any scan with mamba's signature: the fused kernel gives the same block output."""
    import copy

    from lessons.ssm import MambaBlock

    torch.manual_seed(0)
    block = MambaBlock(d_model=6, d_state=3).to(DEVICE)
    fused = copy.deepcopy(block)
    fused.scan = selective_scan
    x = torch.randn(2, 11, 6, device=DEVICE)                      # (batch, L, d_model)
    torch.testing.assert_close(fused(x), block(x), rtol=1e-4, atol=1e-5)


def test_the_forward_loop_is_counted_in_sm90_machine_code():
    """The lesson's instruction ceiling reads this count: compiled for sm_90 without a GPU, the forward's loop over
    the state index computes exactly one exp per (b, d, t, n) and issues a plausible number of instructions."""
    from kernels.bench import compiled_inner_loop

    loop = compiled_inner_loop()
    assert loop["exps_per_element"] == 1.0
    assert 10 <= loop["instructions_per_element"] <= 200
    assert loop["instructions_per_trip"] == loop["instructions_per_element"] * loop["elements_per_thread"]


def test_the_recorded_gpu_tables_are_consistent():
    """results/kernels_gpu.md as the lesson reads it: every selective-scan row has both times, and its speed-up
    column is mamba's time over ours."""
    from kernels.bench import read_recorded

    tables = read_recorded(os.path.join(ROOT, "results", "kernels_gpu.md"))
    rows = next(rows for heading, rows in tables.items() if heading.startswith("Selective scan"))
    assert {row["L"] for row in rows} >= {"512", "2048", "4096", "8192", "16384"}
    for row in rows:
        ours, mamba = float(row["kernels.selective_scan"]), float(row["mamba_ssm CUDA"])
        assert float(row["speed-up vs mamba"]) == pytest.approx(mamba / ours, abs=0.006), row


def test_the_readme_quotes_the_recorded_speed_ups():
    """The README's numbers are the recorded ones: re-recording the benchmark makes this fail until it is updated."""
    from kernels.bench import read_recorded

    tables = read_recorded(os.path.join(ROOT, "results", "kernels_gpu.md"))
    rows = next(rows for heading, rows in tables.items() if heading.startswith("Selective scan"))

    def span(dtype, pass_):
        values = [float(r["speed-up vs mamba"]) for r in rows if r["dtype"] == dtype and r["pass"] == pass_]
        return f"{min(values):.2f}–{max(values):.2f}×"

    readme = " ".join(open(os.path.join(ROOT, "README.md")).read().split())
    for quoted in (f"{span('float32', 'forward')} mamba_ssm's CUDA kernel forward",
                   f"{span('float32', 'fwd+bwd')} forward + backward in float32"):
        assert quoted in readme, quoted
