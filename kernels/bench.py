"""Benchmark of lesson 07's kernels against the reference, a naive PyTorch scan and the CUDA peers.

    python -m kernels.bench                        # the tables (GPU columns say "GPU required" without CUDA)
    python -m kernels.bench --record results/kernels_gpu.md   # also write the Markdown tables (GPU only)
    python -m kernels.bench --lengths 512 2048     # fewer lengths
    python -m kernels.bench --sweep                # GPU: time a few tile sizes of the fused kernels
    python -m kernels.bench --registers            # no GPU needed: compile for sm_90, print registers/spills

Selective scan: batch 8, dim 1536, N 16, B and C input-dependent, with D, z, delta_bias and softplus
(Mamba's layer), float32, L from 512 to 16384, forward and forward+backward, against
* `lessons.ssm.selective_scan` (lesson 06's reference, lesson 04's scan along L),
* a naive PyTorch scan that materialises Ā, ΔB·u and h as (batch, dim, L, N) tensors,
* mamba_ssm's CUDA `selective_scan_fn`, when it is installed.
First-order scan: (8, 1536, T) float32 against accelerated-scan's Triton and warp kernels when installed.

Bytes moved are the least any implementation must move (read every input once, write every output
once; see `lessons.memory_traffic`). GB/s = bytes / time, compared with the copy bandwidth measured in the
same run (the practical roofline) and the vendor's HBM figure.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import time
from typing import Callable

import torch
import torch.nn.functional as F

import kernels
from kernels.device import HAS_CUDA
from lessons.memory_traffic import ACCELERATORS, human_bytes, selective_scan_traffic

LENGTHS = (512, 1024, 2048, 4096, 8192, 16384)
BATCH, DIM, STATE = 8, 1536, 16
GPU_REQUIRED = "GPU required"


# ---------------------------------------------------------------------------------------------
# The contenders
# ---------------------------------------------------------------------------------------------


def naive_selective_scan(u, delta, A, B, C, D, z, delta_bias, delta_softplus=True):
    """Plain PyTorch that materialises Ā, ΔB·u and h as (batch, dim, L, N) tensors, then loops over L."""
    delta = F.softplus(delta + delta_bias[:, None]) if delta_softplus else delta + delta_bias[:, None]
    gates = torch.exp(torch.einsum("bdl,dn->bdln", delta, A))                     # (batch, dim, L, N)
    inputs = torch.einsum("bdl,bnl,bdl->bdln", delta, B, u)                       # (batch, dim, L, N)
    states = [inputs[:, :, 0]]
    for t in range(1, u.shape[-1]):
        states.append(gates[:, :, t] * states[-1] + inputs[:, :, t])
    h = torch.stack(states, dim=2)                                                # (batch, dim, L, N)
    y = torch.einsum("bdln,bnl->bdl", h, C) + D[:, None] * u
    return y * F.silu(z)


def mamba_selective_scan() -> Callable | None:
    """mamba_ssm's CUDA selective_scan_fn, if installed."""
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except Exception:   # ImportError, or a build that cannot load its CUDA extension
        return None
    return selective_scan_fn


def accelerated_scans() -> dict[str, Callable]:
    """accelerated-scan's first-order scans (Triton and CUDA warp versions), if installed."""
    import importlib

    peers = {}
    for module in ("triton", "warp"):
        try:
            peers[f"accelerated-scan ({module})"] = importlib.import_module(f"accelerated_scan.{module}").scan
        except Exception:   # not installed, or its CUDA extension does not load here
            continue
    return peers


class Skipped(Exception):
    """A contender that is not run at this size, and why."""


def selective_contenders(max_naive_length: int) -> dict[str, Callable]:
    """Name -> f(**inputs) for the selective-scan table; None marks 'not installed'."""
    def reference(**x):
        from lessons.ssm import selective_scan
        return selective_scan(**x)

    def naive(**x):
        if x["u"].shape[-1] > max_naive_length:
            raise Skipped(f"loop of L steps; runs up to L = {max_naive_length}")
        return naive_selective_scan(**x)

    return {"kernels.selective_scan": lambda **x: kernels.selective_scan(**x),
            "lessons reference": reference, "naive PyTorch": naive, "mamba_ssm CUDA": mamba_selective_scan()}


# ---------------------------------------------------------------------------------------------
# Inputs, bytes and timing
# ---------------------------------------------------------------------------------------------


def selective_inputs(batch: int, dim: int, length: int, state: int, device, dtype=torch.float32, seed: int = 0) -> dict:
    """Mamba-like inputs: Δ around softplus(−4..−2), A = −(1..N), input-dependent B and C, with D, z, bias."""
    g = torch.Generator(device=device).manual_seed(seed)
    make = lambda *shape: torch.randn(*shape, generator=g, device=device)         # noqa: E731
    x = {"u": make(batch, dim, length).to(dtype), "delta": (0.5 * make(batch, dim, length) - 4).to(dtype),
         "A": -torch.arange(1, state + 1, dtype=torch.float32).repeat(dim, 1).to(device),
         "B": make(batch, state, length).to(dtype), "C": make(batch, state, length).to(dtype),
         "D": make(dim), "z": make(batch, dim, length).to(dtype), "delta_bias": make(dim) * 0.1}
    return dict(x, delta_softplus=True)


def selective_bytes(batch: int, dim: int, length: int, state: int, element: int = 4) -> tuple[int, int]:
    """Least HBM bytes of (forward, forward + backward): every input read once and every output written once."""
    forward = selective_scan_traffic(batch, dim, length, state, {4: "float32", 2: "float16"}[element], fused=True).total
    sequence, projection = element * batch * dim * length, element * batch * state * length
    reads = 4 * sequence + 2 * projection                 # u, Δ, z, ∂L/∂out; B, C
    writes = 3 * sequence + 2 * 4 * batch * state * length  # ∂u, ∂Δ, ∂z; ∂B, ∂C summed in float32
    return forward, forward + reads + writes


def scan_bytes(batch: int, channels: int, length: int, element: int = 4) -> tuple[int, int]:
    """Least bytes of (forward, forward + backward) of a first-order scan: 3 then 5 more arrays."""
    size = element * batch * channels * length
    return 3 * size, 3 * size + 5 * size


def gpu_time_ms(fn: Callable[[], object]) -> float:
    """Median milliseconds of fn() on the GPU (Triton's do_bench: warm-up, cache flush, CUDA events)."""
    import triton.testing

    return triton.testing.do_bench(fn, warmup=5, rep=40, return_mode="median")


def copy_bandwidth(megabytes: int = 1024) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write), measured now: the practical roofline."""
    source = torch.empty(megabytes * 2**20 // 4, dtype=torch.float32, device="cuda")
    target = torch.empty_like(source)
    return 2 * source.numel() * 4 / (gpu_time_ms(lambda: target.copy_(source)) * 1e-3)


def forward_and_backward(fn: Callable, inputs: dict, differentiable: tuple[str, ...]) -> Callable[[], None]:
    """A closure that runs fn forward and backward through `differentiable` inputs."""
    leaves = {k: v.detach().requires_grad_() if k in differentiable else v for k, v in inputs.items()}

    def run():
        out = fn(**leaves)
        out = out[0] if isinstance(out, tuple) else out
        torch.autograd.grad(out.sum(), [leaves[k] for k in differentiable])
    return run


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def timed_cell(fn: Callable | None, run: Callable[[], Callable[[], None]]) -> str:
    """'1.23' ms for one contender, or why there is no number."""
    if fn is None:
        return "not installed"
    if not HAS_CUDA:
        return GPU_REQUIRED
    try:
        ms = gpu_time_ms(run())
    except Skipped as reason:
        return f"skipped ({reason})"
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return "out of memory"
    except Exception as error:        # one failing contender must not lose the rest of a GPU run
        return f"error: {type(error).__name__}: {str(error).splitlines()[0][:60]}"
    return f"{ms:.3f}"


def selective_table(lengths, max_naive_length: int = 2048) -> list[dict]:
    """One row per (L, pass): ms per contender, the least bytes, and the kernel's achieved GB/s."""
    contenders, rows = selective_contenders(max_naive_length), []
    differentiable = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
    for length in lengths:
        inputs = selective_inputs(BATCH, DIM, length, STATE, "cuda") if HAS_CUDA else {}
        for label, nbytes in zip(("forward", "fwd+bwd"), selective_bytes(BATCH, DIM, length, STATE)):
            row = {"L": length, "pass": label, "bytes": nbytes}
            for name, fn in contenders.items():
                maker = (lambda f=fn: (lambda: f(**inputs))) if label == "forward" else \
                        (lambda f=fn: forward_and_backward(f, inputs, differentiable))
                row[name] = timed_cell(fn, maker)
            rows.append(row)
    return rows


def _by_name(scan_fn: Callable) -> Callable:
    """scan_fn(gates, tokens) called as f(gates=..., tokens=...), the way forward_and_backward calls."""
    return lambda **x: scan_fn(x["gates"], x["tokens"])


def scan_table(lengths) -> list[dict]:
    """First-order scan (8, 1536, T) float32: this project's kernel against accelerated-scan's."""
    contenders = {"kernels.scan": kernels.scan, **accelerated_scans()}
    contenders.setdefault("accelerated-scan (triton)", None)
    rows = []
    for length in lengths:
        gates = torch.rand(BATCH, DIM, length, device="cuda") * 0.5 + 0.5 if HAS_CUDA else None
        tokens = torch.randn(BATCH, DIM, length, device="cuda") if HAS_CUDA else None
        inputs = {"gates": gates, "tokens": tokens}
        for label, nbytes in zip(("forward", "fwd+bwd"), scan_bytes(BATCH, DIM, length)):
            row = {"L": length, "pass": label, "bytes": nbytes}
            for name, fn in contenders.items():
                maker = (lambda f=fn: (lambda: f(gates, tokens))) if label == "forward" else \
                        (lambda f=fn: forward_and_backward(_by_name(f), inputs, ("gates", "tokens")))
                row[name] = timed_cell(fn, maker)
            rows.append(row)
    return rows


def add_bandwidth(rows: list[dict], kernel: str, bandwidth: float | None) -> None:
    """Add achieved GB/s of `kernel` and its share of the measured copy bandwidth to each row."""
    for row in rows:
        try:
            achieved = row["bytes"] / (float(row[kernel]) * 1e-3)
        except ValueError:
            row["GB/s"] = row["% of copy"] = GPU_REQUIRED if not HAS_CUDA else "-"
            continue
        row["GB/s"] = f"{achieved / 1e9:.0f}"
        row["% of copy"] = f"{100 * achieved / bandwidth:.0f}" if bandwidth else "-"


def markdown(rows: list[dict]) -> str:
    """Rows as a Markdown table; bytes in readable units, times in ms."""
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        cells = [human_bytes(row[c]) if c == "bytes" else str(row[c]) for c in columns]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Without a GPU: a sanity row in the interpreter, and register counts from an offline compile
# ---------------------------------------------------------------------------------------------


def cpu_sanity_row(batch: int = 1, dim: int = 3, length: int = 40, state: int = 4) -> str:
    """Run both kernels once on tiny CPU inputs through the interpreter; report error and time."""
    inputs = selective_inputs(batch, dim, length, state, "cpu")
    start = time.perf_counter()
    out = kernels.selective_scan(**inputs)
    seconds = time.perf_counter() - start
    from lessons.ssm import selective_scan

    error = (out - selective_scan(**inputs)).abs().max().item()
    gates, tokens = torch.rand(batch, dim, length) * 0.5 + 0.5, torch.randn(batch, dim, length)
    from kernels.scan import scan_reference

    scan_error = (kernels.scan(gates, tokens) - scan_reference(gates, tokens)).abs().max().item()
    return (f"CPU sanity (Triton interpreter): selective_scan ({batch}, {dim}, {length}, N={state}) max error "
            f"{error:.1e} vs lessons, {seconds:.2f} s; scan max error {scan_error:.1e} vs the loop.")


def registers_table() -> str:
    """Compile the kernels for sm_90 (H100/H200) without a GPU and list registers and spills per thread.

    Compiling needs real (not interpreted) kernels, so it runs in a subprocess with TRITON_INTERPRET=0.
    """
    import os
    import subprocess
    import sys

    command = [sys.executable, "-c", "from kernels.bench import print_registers; print_registers()"]
    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return done.stdout + (done.stderr[-3000:] if done.returncode else "")


def compile_for_sm90(kernel, pointer_type: str, constexprs: dict, num_warps: int) -> tuple[int, int]:
    """Compile one configuration of `kernel` for sm_90 with Triton's bundled ptxas; (registers, stack bytes)."""
    import inspect
    import os
    import re
    import subprocess
    import tempfile

    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    names = inspect.signature(kernel.fn).parameters
    signature = {k: "constexpr" if k in constexprs else pointer_type if k.endswith("_ptr") else "i32" for k in names}
    compiled = triton.compile(ASTSource(kernel, signature, constexprs), target=GPUTarget("cuda", 90, 32),
                              options={"num_warps": num_warps})
    cuobjdump = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as cubin:
        cubin.write(compiled.asm["cubin"])
        cubin.flush()
        usage = subprocess.run([cuobjdump, "-res-usage", cubin.name], capture_output=True, text=True).stdout
    found = re.search(r"REG:(\d+) STACK:(\d+)", usage)
    return (int(found[1]), int(found[2])) if found else (-1, -1)


def register_configurations():
    """(label, kernel, pointer type, constexprs, num_warps) for every kernel at its default GPU tile."""
    import importlib

    import triton.language as tl

    # import_module, not `from kernels import scan`: the package exports the functions under the module names
    first_order, fused = importlib.import_module("kernels.scan"), importlib.import_module("kernels.selective_scan")

    common = dict(B_VARYING=True, C_VARYING=True, HAS_D=True, HAS_Z=True, HAS_BIAS=True, SOFTPLUS=True,
                  BLOCK_N=STATE, COMPUTE=tl.float32)
    (fd, fl), (bd, bl) = fused.GPU_FORWARD_TILE, fused.GPU_BACKWARD_TILE
    scan_options = dict(REVERSE=False, BLOCK_T=first_order.DEFAULT_MAX_BLOCK_T, COMPUTE=tl.float32)
    complex_options, warps = dict(scan_options, STRIDE=2), first_order.DEFAULT_MAX_BLOCK_T // 256
    return [
        ("scan forward", first_order.scan_forward_kernel, "*fp32", scan_options, warps),
        ("scan backward", first_order.scan_backward_kernel, "*fp32", scan_options, warps),
        ("complex scan forward", first_order.complex_scan_forward_kernel, "*fp32", complex_options, warps),
        ("complex scan backward", first_order.complex_scan_backward_kernel, "*fp32", complex_options, warps),
        ("selective scan forward", fused.selective_scan_forward_kernel, "*fp32",
         dict(common, WRITE_LAST_STATE=False, BLOCK_D=fd, BLOCK_L=fl), max(1, min(8, fd * fl // 128))),
        ("selective scan backward", fused.selective_scan_backward_kernel, "*fp32",
         dict(common, HAS_GRAD_LAST=False, BLOCK_D=bd, BLOCK_L=bl), max(1, min(8, bd * bl // 128))),
    ]


def print_registers() -> None:
    """(Run with TRITON_INTERPRET=0.) Print registers and stack (spills) per thread of each kernel on sm_90."""
    print("| kernel | tile | warps | registers/thread | stack (spills) bytes |\n|---|---|---|---|---|")
    for label, kernel, pointer, constexprs, warps in register_configurations():
        tile = constexprs.get("BLOCK_T") or (constexprs["BLOCK_D"], constexprs["BLOCK_L"])
        registers, stack = compile_for_sm90(kernel, pointer, constexprs, warps)
        print(f"| {label} | {tile} | {warps} | {registers} | {stack} |")


def sweep(length: int = 4096) -> str:
    """GPU only: time the fused kernel at a few tile sizes (block_d, block_l) used by both passes."""
    inputs = selective_inputs(BATCH, DIM, length, STATE, "cuda")
    differentiable = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
    lines = [f"| tile (block_d, block_l) at L = {length} | forward ms | fwd+bwd ms |", "|---|---|---|"]
    for block_d, block_l in ((1, 256), (1, 512), (1, 1024), (1, 2048), (2, 512), (2, 1024), (4, 256)):
        fn = lambda **x: kernels.selective_scan(**x, block_d=block_d, block_l=block_l)   # noqa: E731
        forward = gpu_time_ms(lambda: fn(**inputs))
        both = gpu_time_ms(forward_and_backward(fn, inputs, differentiable))
        lines.append(f"| ({block_d}, {block_l}) | {forward:.3f} | {both:.3f} |")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def package_version(name: str) -> str:
    """The installed version of a package, or 'not installed'."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def header(bandwidth: float | None) -> str:
    """Date, device and versions, and the two bandwidths the tables are compared with."""
    device = torch.cuda.get_device_name() if HAS_CUDA else f"no CUDA GPU ({platform.processor() or platform.machine()})"
    import triton

    lines = [f"Date: {datetime.date.today()}  Device: {device}",
             f"Versions: torch {torch.__version__}, triton {triton.__version__}, Python {platform.python_version()}, "
             f"mamba_ssm {package_version('mamba_ssm')}, accelerated-scan {package_version('accelerated-scan')}"]
    if bandwidth:
        spec = ACCELERATORS.get(device)
        lines.append(f"Measured copy bandwidth: {bandwidth / 1e9:.0f} GB/s"
                     + (f" (vendor HBM figure {spec.hbm_bytes_per_s / 1e9:.0f} GB/s)" if spec else ""))
    else:
        lines.append(f"Copy bandwidth: {GPU_REQUIRED}")
    return "\n".join(lines)


def main(argv=None) -> str:
    """Print (and with --record, write) the benchmark tables; return the Markdown text."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    parser.add_argument("--max-naive-length", type=int, default=2048, help="the naive loop is skipped above this L")
    parser.add_argument("--record", help="write the Markdown tables to this file (only with a GPU)")
    parser.add_argument("--registers", action="store_true", help="only compile for sm_90 and print registers")
    parser.add_argument("--sweep", action="store_true", help="GPU: only time the fused kernel at a few tile sizes")
    args = parser.parse_args(argv)
    if args.registers or args.sweep:
        if args.sweep and not HAS_CUDA:
            raise SystemExit(f"--sweep: {GPU_REQUIRED}.")
        text = registers_table() if args.registers else sweep()
        print(text)
        return text
    bandwidth = copy_bandwidth() if HAS_CUDA else None
    selective, first_order = selective_table(args.lengths, args.max_naive_length), scan_table(args.lengths)
    add_bandwidth(selective, "kernels.selective_scan", bandwidth)
    add_bandwidth(first_order, "kernels.scan", bandwidth)
    text = "\n\n".join([header(bandwidth),
                        f"### Selective scan, batch {BATCH}, dim {DIM}, N {STATE}, float32 (ms)", markdown(selective),
                        f"### First-order scan, ({BATCH}, {DIM}, T) float32 (ms)", markdown(first_order)])
    if not HAS_CUDA:
        text += "\n\n" + cpu_sanity_row()
    print(text)
    if args.record:
        if not HAS_CUDA:
            raise SystemExit("--record needs a GPU: the tables above have no GPU numbers to record.")
        with open(args.record, "w") as handle:
            handle.write(text + "\n")
    return text


if __name__ == "__main__":
    main()
