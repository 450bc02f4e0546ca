"""Benchmark of lesson 07's kernels against the real peers, mamba_ssm's CUDA kernel and accelerated-scan.

    python -m kernels.bench                        # the tables (GPU columns say "GPU required" without CUDA)
    python -m kernels.bench --record results/kernels_gpu.md   # also write the Markdown tables (GPU only)
    python -m kernels.bench --lengths 512 2048     # fewer lengths
    python -m kernels.bench --references           # also time lessons' reference and a naive PyTorch scan
    python -m kernels.bench --sweep                # GPU: time the fused kernel's chunk lengths, show autotune's picks
    python -m kernels.bench --ssd                  # GPU: lesson 08's SSD against mamba_ssm's Triton SSD
    python -m kernels.bench --registers            # no GPU needed: compile for sm_90, print registers/spills

Selective scan: batch 8, dim 1536, N 16, B and C input-dependent, with D, z, delta_bias and softplus (Mamba's
layer), float32 and bfloat16 inputs, L from 512 to 16384, forward and forward + backward, against mamba_ssm's CUDA
`selective_scan_fn` when it can be imported (`python -m kernels.peers` builds it on a GPU machine). Outputs and
every gradient are compared with mamba's. SSD (lesson 08, `--ssd`): batch 8, 48 heads of 64 (d_inner 3072), N 64
and 128, chunk 256, against mamba_ssm's Triton `mamba_chunk_scan_combined` and the Mamba-1 fused scan at the same
d_inner with N 16, with matmul TFLOP/s (lessons.ssd.ssd_flops). First-order scan: (8, 1536, T) float32 against
accelerated-scan's `scalar` (Triton) and `warp` (CUDA) kernels; complex scan against its `complex` kernel.

Contenders are interleaved: each round times every contender once, three rounds, and the best round counts
(do_bench medians). Bytes are the least any implementation must move (every input read once, every output written
once; see `lessons.memory_traffic`). GB/s = bytes / time, against the copy bandwidth measured in the same run.
"""
from __future__ import annotations

import argparse
import datetime
import importlib
import inspect
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version

import torch
import torch.nn.functional as F
import triton
import triton.language as tl
from triton.backends.compiler import GPUTarget
from triton.compiler import ASTSource

import kernels
from kernels.device import HAS_CUDA
from kernels.scan import scan_reference
from lessons.experiments.recorded import markdown_tables
from lessons.memory_traffic import ACCELERATORS, human_bytes, selective_scan_traffic
from lessons.ssm import selective_scan as lessons_selective_scan
from lessons.ssd import ssd_flops
from lessons.ssm import selective_scan_inputs

# The modules themselves (the package exports the functions `scan` and `selective_scan` under their names)
first_order = importlib.import_module("kernels.scan")
fused = importlib.import_module("kernels.selective_scan")

LENGTHS = (512, 2048, 4096, 8192, 16384)
SCAN_LENGTHS = (512, 4096, 16384, 65536)
SSD_LENGTHS, SSD_HEADS, SSD_HEAD_DIM, SSD_STATES, SSD_CHUNK = (1024, 4096, 16384), 48, 64, (64, 128), 256
BATCH, DIM, STATE = 8, 1536, 16
PRECISIONS = {"float32": torch.float32, "bfloat16": torch.bfloat16}
SELECTIVE_GRADS = ("u", "delta", "A", "B", "C", "D", "z", "delta_bias")
GPU_REQUIRED = "GPU required"
ROUNDS = 3


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


def optional(module: str, name: str) -> Callable | None:
    """module.name if it imports here, else None (not installed, or its CUDA extension does not load)."""
    try:
        return getattr(importlib.import_module(module), name)
    except Exception:   # ImportError, or a build that cannot load its CUDA extension
        return None


def mamba_selective_scan() -> Callable | None:
    """mamba_ssm's CUDA selective_scan_fn, if it can be imported."""
    return optional("mamba_ssm.ops.selective_scan_interface", "selective_scan_fn")


def accelerated_scans() -> dict[str, Callable | None]:
    """accelerated-scan 0.3.1's first-order scans: `scalar` (Triton) and `warp` (CUDA, compiled at import)."""
    return {"accelerated-scan triton": optional("accelerated_scan.scalar", "scan"),
            "accelerated-scan warp": optional("accelerated_scan.warp", "scan")}


class Skipped(Exception):
    """A contender that is not run at this size, and why."""


def selective_contenders(max_naive_length: int = 2048, references: bool = False) -> dict[str, Callable | None]:
    """Name -> f(**inputs) for the selective-scan table; None marks 'not installed'."""
    def naive(**x):
        if x["u"].shape[-1] > max_naive_length:
            raise Skipped(f"loop of L steps; runs up to L = {max_naive_length}")
        return naive_selective_scan(**x)

    contenders = {"kernels.selective_scan": kernels.selective_scan, "mamba_ssm CUDA": mamba_selective_scan()}
    if references:
        contenders |= {"lessons reference": lessons_selective_scan, "naive PyTorch": naive}
    return contenders


# ---------------------------------------------------------------------------------------------
# Bytes and timing
# ---------------------------------------------------------------------------------------------


def selective_bytes(batch: int, dim: int, length: int, state: int, element: int = 4) -> tuple[int, int]:
    """Least HBM bytes of (forward, forward + backward): every input read once and every output written once."""
    dtype = {4: "float32", 2: "float16"}[element]
    forward = selective_scan_traffic(batch, dim, length, state, dtype, fused=True).total
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
    return triton.testing.do_bench(fn, warmup=10, rep=50, return_mode="median")


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
        total = out.sum()
        total = total.real + total.imag if total.is_complex() else total
        torch.autograd.grad(total, [leaves[k] for k in differentiable])
    return run


def outputs_and_grads(fn: Callable, inputs: dict, differentiable: tuple[str, ...], seed: int = 1):
    """fn's output and the gradients of Σ w·out (random w) with respect to `differentiable`."""
    leaves = {k: v.detach().requires_grad_() if k in differentiable else v for k, v in inputs.items()}
    out = fn(**leaves)
    weights = torch.randn(out.shape, generator=torch.Generator(out.device).manual_seed(seed), device=out.device)
    grads = torch.autograd.grad((out.float() * weights).sum(), [leaves[k] for k in differentiable])
    return out.detach(), dict(zip(differentiable, grads, strict=True))


def relative_difference(x: torch.Tensor, reference: torch.Tensor) -> float:
    """max |x − ref| / max |ref|: one number per tensor, insensitive to where the values are small."""
    wide = torch.complex64 if x.is_complex() else torch.float32
    x, reference = x.to(wide), reference.to(wide)
    return ((x - reference).abs().max() / reference.abs().max().clamp_min(1e-30)).item()


def agreement(fn: Callable, peer: Callable, inputs: dict, differentiable: tuple[str, ...]) -> str:
    """'out 3.0e-07; grads max 1.8e-06 (∂B)': fn against peer, output and every gradient."""
    out, grads = outputs_and_grads(fn, inputs, differentiable)
    peer_out, peer_grads = outputs_and_grads(peer, inputs, differentiable)
    worst = max(differentiable, key=lambda k: relative_difference(grads[k], peer_grads[k]))
    return (f"out {relative_difference(out, peer_out):.1e}; grads max "
            f"{relative_difference(grads[worst], peer_grads[worst]):.1e} (∂{worst})")


def interleaved(runs: dict[str, Callable[[], Callable[[], None]] | None]) -> dict[str, str]:
    """Time every contender once per round, ROUNDS rounds, keep each one's best round: 'ms' or why not."""
    best: dict[str, float] = {}
    cells = {name: "not installed" for name, make in runs.items() if make is None}
    closures = {}
    for name, make in runs.items():
        if make is None:
            continue
        try:
            closures[name] = make()
        except Skipped as reason:
            cells[name] = f"skipped ({reason})"
    for _ in range(ROUNDS):
        for name, run in list(closures.items()):
            try:
                best[name] = min(best.get(name, float("inf")), gpu_time_ms(run))
            except torch.cuda.OutOfMemoryError:
                torch.cuda.empty_cache()
                cells[name] = "out of memory"
                del closures[name]
            except Skipped as reason:
                cells[name] = f"skipped ({reason})"
                del closures[name]
            except Exception as error:    # one failing contender must not lose the rest of a GPU run
                cells[name] = f"error: {type(error).__name__}: {str(error).splitlines()[0][:60]}"
                del closures[name]
            torch.cuda.synchronize()
    return cells | {name: f"{ms:.3f}" for name, ms in best.items() if name not in cells}


# ---------------------------------------------------------------------------------------------
# Tables
# ---------------------------------------------------------------------------------------------


def timed_run(fn: Callable | None, inputs: dict, label: str, differentiable: tuple[str, ...]):
    """What `interleaved` times for one contender and pass: a maker of the closure, or None (not installed)."""
    if fn is None:
        return None
    if label == "forward":
        return lambda: (lambda: fn(**inputs))
    return lambda: forward_and_backward(fn, inputs, differentiable)


def by_name(scan_fn: Callable | None) -> Callable | None:
    """scan_fn(gates, tokens) called as f(gates=..., tokens=...), the way the timing closures call."""
    return None if scan_fn is None else (lambda **x: scan_fn(x["gates"], x["tokens"]))


def speed_up(row: dict, ours: str, peers: list[str]) -> str:
    """Fastest peer's time / ours, or '-' when there is no number to compare."""
    try:
        peer = min(float(row[name]) for name in peers if _is_number(row.get(name)))
        return f"{peer / float(row[ours]):.2f}"
    except ValueError:
        return "-"


def _is_number(cell) -> bool:
    try:
        float(cell)
    except (TypeError, ValueError):
        return False
    return True


def selective_table(lengths, precisions=tuple(PRECISIONS), references: bool = False,
                    max_naive_length: int = 2048) -> list[dict]:
    """One row per (L, dtype, pass): ms per contender, the speed-up over mamba, agreement with mamba, bytes."""
    contenders, rows = selective_contenders(max_naive_length, references), []
    mamba = contenders["mamba_ssm CUDA"]
    for length in lengths:
        for precision in precisions:
            dtype = PRECISIONS[precision]
            inputs = selective_scan_inputs(BATCH, DIM, length, STATE, device="cuda", dtype=dtype) if HAS_CUDA else {}
            element = torch.finfo(dtype).bits // 8
            passes = zip(("forward", "fwd+bwd"), selective_bytes(BATCH, DIM, length, STATE, element), strict=True)
            for label, nbytes in passes:
                row = {"L": length, "dtype": precision, "pass": label, "bytes": nbytes}
                if HAS_CUDA:
                    row |= interleaved({name: timed_run(fn, inputs, label, SELECTIVE_GRADS)
                                        for name, fn in contenders.items()})
                else:
                    row |= {k: GPU_REQUIRED if fn is not None else "not installed" for k, fn in contenders.items()}
                row["speed-up vs mamba"] = speed_up(row, "kernels.selective_scan", ["mamba_ssm CUDA"])
                row["vs mamba (max rel. diff)"] = ("-" if not (HAS_CUDA and mamba and label == "forward") else
                                                   agreement(kernels.selective_scan, mamba, inputs, SELECTIVE_GRADS))
                rows.append(row)
            del inputs
    return rows


def scan_table(lengths, complex_values: bool = False) -> list[dict]:
    """First-order scan (8, 1536, T): this project's kernel against accelerated-scan's, real or complex64."""
    if complex_values:
        ours, peers = kernels.complex_scan, {"accelerated-scan complex": optional("accelerated_scan.complex", "scan")}
    else:
        ours, peers = kernels.scan, accelerated_scans()
    name = "kernels.complex_scan" if complex_values else "kernels.scan"
    contenders, rows = {name: ours, **peers}, []
    element = 8 if complex_values else 4
    for length in lengths:
        inputs = random_scan_inputs(length, complex_values) if HAS_CUDA else {}
        for label, nbytes in zip(("forward", "fwd+bwd"), scan_bytes(BATCH, DIM, length, element), strict=True):
            row = {"T": length, "pass": label, "bytes": nbytes}
            if HAS_CUDA:
                row |= interleaved({k: timed_run(by_name(fn), inputs, label, ("gates", "tokens"))
                                    for k, fn in contenders.items()})
            else:
                row |= {k: GPU_REQUIRED if fn is not None else "not installed" for k, fn in contenders.items()}
            row["speed-up vs best peer"] = speed_up(row, name, list(peers))
            row["vs peers (max rel. diff)"] = ("-" if not (HAS_CUDA and label == "forward") else "; ".join(
                f"{k.split()[-1]} {relative_difference(fn(inputs['gates'], inputs['tokens']), ours(**inputs)):.1e}"
                for k, fn in peers.items() if fn is not None) or "-")
            rows.append(row)
    return rows


def mamba_ssd() -> Callable | None:
    """mamba_ssm's own Triton SSD (pure Triton: none of its CUDA extensions), if it can be imported."""
    return optional("mamba_ssm.ops.triton.ssd_combined", "mamba_chunk_scan_combined")


def ssd_inputs(length: int, state: int, dtype: torch.dtype, seed: int = 0) -> dict:
    """Mamba-2-like inputs at the benchmark's sizes: x, dt (softplus of dt + bias), A < 0, B, C (one group), D."""
    g = torch.Generator("cuda").manual_seed(seed)
    draw = lambda *shape: torch.randn(*shape, generator=g, device="cuda")        # noqa: E731
    heads, p = SSD_HEADS, SSD_HEAD_DIM
    return {"x": draw(BATCH, length, heads, p).to(dtype), "dt": (0.5 * draw(BATCH, length, heads) - 4).to(dtype),
            "A": -torch.rand(heads, device="cuda", generator=g) * 4 - 1, "B": draw(BATCH, length, 1, state).to(dtype),
            "C": draw(BATCH, length, 1, state).to(dtype), "chunk_size": SSD_CHUNK, "D": draw(heads),
            "dt_bias": 0.1 * draw(heads), "dt_softplus": True}


def ssd_table(lengths, states=SSD_STATES, precisions=tuple(PRECISIONS)) -> list[dict]:
    """Forward and forward + backward of kernels.ssd_combined and mamba_ssm's Triton SSD, with matmul TFLOP/s;
    the Mamba-1 fused scan at the same d_inner (N 16) for scale."""
    contenders = {"kernels.ssd_combined": kernels.ssd_combined, "mamba_ssm Triton SSD": mamba_ssd()}
    differentiable = ("x", "dt", "A", "B", "C", "D", "dt_bias")
    rows = []
    for length in lengths:
        for state in states:
            for precision in precisions:
                inputs = ssd_inputs(length, state, PRECISIONS[precision]) if HAS_CUDA else {}
                flops = ssd_flops(BATCH, length, SSD_HEADS, SSD_HEAD_DIM, state, SSD_CHUNK)["total"]["matmul"]
                for label in ("forward", "fwd+bwd"):
                    row = {"L": length, "N": state, "dtype": precision, "pass": label}
                    if HAS_CUDA:
                        row |= interleaved({k: timed_run(fn, inputs, label, differentiable)
                                            for k, fn in contenders.items()})
                    else:
                        row |= {k: GPU_REQUIRED if fn is not None else "not installed" for k, fn in contenders.items()}
                    row["speed-up vs mamba"] = speed_up(row, "kernels.ssd_combined", ["mamba_ssm Triton SSD"])
                    ours = row["kernels.ssd_combined"]
                    row["matmul TFLOP/s"] = (f"{flops / (float(ours) * 1e-3) / 1e12:.0f}"
                                             if label == "forward" and _is_number(ours) else "-")
                    rows.append(row)
                del inputs
        if HAS_CUDA:    # Mamba-1 at the same d_inner, N 16: what the SSD is compared with in lesson 08
            mamba1 = selective_scan_inputs(BATCH, SSD_HEADS * SSD_HEAD_DIM, length, STATE, device="cuda")
            cell = interleaved({"Mamba-1": timed_run(kernels.selective_scan, mamba1, "forward", SELECTIVE_GRADS)})
            rows.append({"L": length, "N": STATE, "dtype": "float32", "pass": "forward",
                         "kernels.ssd_combined": f"Mamba-1 kernels.selective_scan: {cell['Mamba-1']}",
                         "mamba_ssm Triton SSD": "-", "speed-up vs mamba": "-", "matmul TFLOP/s": "-"})
    return rows


def random_scan_inputs(length: int, complex_values: bool) -> dict:
    """Gates of modulus 0.5 … 1 (rotating when complex) and Gaussian tokens, (BATCH, DIM, T) on the GPU."""
    shape = (BATCH, DIM, length)
    modulus = torch.rand(shape, device="cuda") * 0.5 + 0.5
    if complex_values:
        angle = torch.rand(shape, device="cuda") * 0.2
        tokens = torch.randn(shape, device="cuda", dtype=torch.complex64)
        return {"gates": torch.polar(modulus, angle), "tokens": tokens}
    return {"gates": modulus, "tokens": torch.randn(shape, device="cuda")}


def add_bandwidth(rows: list[dict], kernel: str, bandwidth: float | None) -> None:
    """Add achieved GB/s of `kernel` and its share of the measured copy bandwidth to each row."""
    for row in rows:
        if not _is_number(row[kernel]):
            row["GB/s"] = row["% of copy"] = GPU_REQUIRED if not HAS_CUDA else "-"
            continue
        achieved = row["bytes"] / (float(row[kernel]) * 1e-3)
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
    inputs = selective_scan_inputs(batch, dim, length, state)
    start = time.perf_counter()
    out = kernels.selective_scan(**inputs)
    seconds = time.perf_counter() - start
    error = (out - lessons_selective_scan(**inputs)).abs().max().item()
    gates, tokens = torch.rand(batch, dim, length) * 0.5 + 0.5, torch.randn(batch, dim, length)
    scan_error = (kernels.scan(gates, tokens) - scan_reference(gates, tokens)).abs().max().item()
    return (f"CPU sanity (Triton interpreter): selective_scan ({batch}, {dim}, {length}, N={state}) max error "
            f"{error:.1e} vs lessons, {seconds:.2f} s; scan max error {scan_error:.1e} vs the loop.")


def registers_table() -> str:
    """Compile the kernels for sm_90 (H100/H200) without a GPU and list registers and spills per thread.

    Compiling needs real (not interpreted) kernels, so it runs in a subprocess with TRITON_INTERPRET=0.
    """
    command = [sys.executable, "-c", "from kernels.bench import print_registers; print_registers()"]
    env = {**os.environ, "TRITON_INTERPRET": "0", "TRITON_DEFAULT_FP_FUSION": "1"}
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    return done.stdout + (done.stderr[-3000:] if done.returncode else "")


def sm90_cubin(kernel, pointer_type: str, constexprs: dict, num_warps: int, aligned: bool = False) -> bytes:
    """Compile one configuration of `kernel` for sm_90 (H100/H200) without a GPU; the machine code (cubin).
    `aligned` tells the compiler what a real launch tells it: pointers and the sizes dim and L are multiples of 16
    (so loads can be vectorised), as they are in the benchmark."""
    names = list(inspect.signature(kernel.fn).parameters)
    signature = {k: "constexpr" if k in constexprs else pointer_type if k.endswith("_ptr") else "i32" for k in names}
    attrs = {(i,): [["tt.divisibility", 16]] for i, k in enumerate(names) if k.endswith("_ptr") or k in ("dim", "L")}
    source = ASTSource(kernel, signature, constexprs, attrs if aligned else None)
    return triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps}).asm["cubin"]


def cuobjdump(cubin: bytes, flag: str) -> str:
    """Triton's bundled cuobjdump on `cubin`: '-res-usage' for registers, '-sass' for the machine code."""
    tool = os.path.join(os.path.dirname(triton.__file__), "backends", "nvidia", "bin", "cuobjdump")
    with tempfile.NamedTemporaryFile(suffix=".cubin") as file:
        file.write(cubin)
        file.flush()
        return subprocess.run([tool, flag, file.name], capture_output=True, text=True, check=True).stdout


def compile_for_sm90(kernel, pointer_type: str, constexprs: dict, num_warps: int) -> tuple[int, int]:
    """(registers, stack bytes) per thread of one configuration of `kernel` compiled for sm_90."""
    usage = cuobjdump(sm90_cubin(kernel, pointer_type, constexprs, num_warps), "-res-usage")
    found = re.search(r"REG:(\d+) STACK:(\d+)", usage)
    return (int(found[1]), int(found[2])) if found else (-1, -1)


def innermost_loop(sass: str) -> list[str]:
    """The instructions of the innermost loop in SASS text: the shortest span between a backward branch and its
    target. Each instruction line reads `/*0a30*/  OPCODE operands ;`."""
    code = [(int(m[1], 16), m[2].strip()) for m in re.finditer(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", sass)]
    loops = [(target, address) for address, text in code
             for target in [int(t, 16) for t in re.findall(r"BRA (0x[0-9a-f]+)", text)] if target < address]
    if not loops:
        raise ValueError("no loop found in the SASS")
    start, end = min(loops, key=lambda loop: loop[1] - loop[0])
    return [text for address, text in code if start <= address <= end]


def inner_loop_instructions(block_l: int | None = None, warps: int | None = None) -> dict[str, float]:
    """(Run with TRITON_INTERPRET=0.) The forward kernel's loop over the state index, compiled for sm_90 at the
    tile it runs with on a GPU without gradients: machine instructions per thread per trip, and per (b, d, t, n)
    element (a trip handles BLOCK_L / (32·warps) elements per thread), with its exps (MUFU.EX2) and warp shuffles."""
    block_l = block_l or fused.FORWARD_BLOCK_L
    warps = warps or 4
    constexprs = dict(B_VARYING=True, C_VARYING=True, HAS_D=True, HAS_Z=True, HAS_BIAS=True, SOFTPLUS=True,
                      BLOCK_N=STATE, COMPUTE=tl.float32, WRITE_LAST_STATE=False, SAVE_STATES=False,
                      BLOCK_D=1, BLOCK_L=block_l)
    loop = innermost_loop(cuobjdump(sm90_cubin(fused.selective_scan_forward_kernel, "*fp32", constexprs, warps,
                                               aligned=True), "-sass"))
    per_thread = block_l / (32 * warps)
    opcodes = [text.split()[1] if text.startswith("@") else text.split()[0] for text in loop]
    return {"block_l": block_l, "warps": warps, "instructions_per_trip": len(loop), "elements_per_thread": per_thread,
            "instructions_per_element": len(loop) / per_thread,
            "exps_per_element": sum(op.startswith("MUFU.EX2") for op in opcodes) / per_thread,
            "shuffles_per_element": sum(op.startswith("SHFL") for op in opcodes) / per_thread}


def compiled_inner_loop() -> dict[str, float]:
    """inner_loop_instructions() from a subprocess with TRITON_INTERPRET=0 (callable from an interpreted session)."""
    code = "import json; from kernels.bench import inner_loop_instructions as f; print(json.dumps(f()))"
    env = {**os.environ, "TRITON_INTERPRET": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    if done.returncode:
        raise RuntimeError(f"compiling for sm_90 failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.splitlines()[-1])


def read_recorded(path: str) -> dict[str, list[dict[str, str]]]:
    """The Markdown tables of a recorded benchmark (results/kernels_gpu.md), by the heading above each:
    {"Selective scan, …": [{"L": "512", "pass": "forward", …}, …], …}."""
    with open(path) as handle:
        tables = markdown_tables(handle.read())
    return {heading: rows for heading, rows in tables.items() if heading is not None}


def register_configurations():
    """(label, kernel, pointer type, constexprs, num_warps) for every kernel at a GPU tile it runs with."""
    common = dict(B_VARYING=True, C_VARYING=True, HAS_D=True, HAS_Z=True, HAS_BIAS=True, SOFTPLUS=True,
                  BLOCK_N=STATE, COMPUTE=tl.float32)
    forward_tile, training_tile = (1, fused.FORWARD_BLOCK_L), (1, fused.TRAINING_BLOCK_L)
    scan_options = dict(REVERSE=False, BLOCK_T=first_order.DEFAULT_MAX_BLOCK_T, COMPUTE=tl.float32)
    complex_options, warps = dict(scan_options, STRIDE=2), first_order.DEFAULT_MAX_BLOCK_T // 256
    tile = lambda block: dict(BLOCK_D=block[0], BLOCK_L=block[1])   # noqa: E731
    return [
        ("scan forward", first_order.scan_forward_kernel, "*fp32", scan_options, warps),
        ("scan backward", first_order.scan_backward_kernel, "*fp32", scan_options, warps),
        ("complex scan forward", first_order.complex_scan_forward_kernel, "*fp32", complex_options, warps),
        ("complex scan backward", first_order.complex_scan_backward_kernel, "*fp32", complex_options, warps),
        ("selective scan forward", fused.selective_scan_forward_kernel, "*fp32",
         dict(common, WRITE_LAST_STATE=False, SAVE_STATES=False, **tile(forward_tile)), fused.warps_for(*forward_tile)),
        ("selective scan forward, saving states", fused.selective_scan_forward_kernel, "*fp32",
         dict(common, WRITE_LAST_STATE=False, SAVE_STATES=True, **tile(training_tile)),
         fused.warps_for(*training_tile)),
        ("selective scan backward", fused.selective_scan_backward_kernel, "*fp32",
         dict(common, HAS_GRAD_LAST=False, **tile(training_tile)), fused.warps_for(*training_tile)),
    ]


def print_registers() -> None:
    """(Run with TRITON_INTERPRET=0.) Print registers and stack (spills) per thread of each kernel on sm_90."""
    print("| kernel | tile | warps | registers/thread | stack (spills) bytes |\n|---|---|---|---|---|")
    for label, kernel, pointer, constexprs, warps in register_configurations():
        tile = constexprs.get("BLOCK_T") or (constexprs["BLOCK_D"], constexprs["BLOCK_L"])
        registers, stack = compile_for_sm90(kernel, pointer, constexprs, warps)
        print(f"| {label} | {tile} | {warps} | {registers} | {stack} |")


def sweep(length: int = 4096) -> str:
    """GPU only: forward + backward at several training chunk lengths and the forward alone (no gradients) at
    several long ones, autotune picking the channels per program; then the configurations autotune chose."""
    inputs = selective_scan_inputs(BATCH, DIM, length, STATE, device="cuda")
    lines = [f"| chunk (block_l) at L = {length} | pass | ms |", "|---|---|---|"]
    for block_l, label in ((64, "fwd+bwd"), (128, "fwd+bwd"), (256, "fwd+bwd"),
                           (1024, "forward"), (2048, "forward"), (4096, "forward")):
        def fn(block=block_l, **x):
            return kernels.selective_scan(**x, block_l=block)
        run = forward_and_backward(fn, inputs, SELECTIVE_GRADS) if label == "fwd+bwd" else (lambda f=fn: f(**inputs))
        lines.append(f"| {block_l} | {label} | {gpu_time_ms(run):.3f} |")
    return "\n".join([*lines, "", autotune_choices()])


def autotune_choices() -> str:
    """What autotune picked in this process, per kernel, chunk length and (dim, L, N, …, dtypes) key."""
    lines = ["Autotune's choices (kernel, chunk length: dim, L, N, input dtype -> config):"]
    for (kernel, block_l), tuner in fused._TUNED.items():
        for key, config in tuner.cache.items():
            try:        # the cache's key layout is Triton's own: never lose a benchmark over it
                dtypes = [part for part in key if isinstance(part, str) and "float" in part][:1]
                lines.append(f"- {kernel.fn.__name__}, {block_l}: {key[0]}, {key[1]}, {key[2]}, {dtypes} -> "
                             f"BLOCK_D {config.kwargs['BLOCK_D']}, {config.num_warps} warps")
            except (IndexError, KeyError, TypeError, AttributeError):
                lines.append(f"- {kernel.fn.__name__}, {block_l}: {key} -> {config}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------


def package_version(name: str) -> str:
    """The installed version of a package, or 'not installed'."""
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed" if mamba_selective_scan() is None or name != "mamba_ssm" else "built from its sdist"


def header(bandwidth: float | None) -> str:
    """Date, device and versions, and the two bandwidths the tables are compared with."""
    device = torch.cuda.get_device_name() if HAS_CUDA else f"no CUDA GPU ({platform.processor() or platform.machine()})"
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
    parser.add_argument("--scan-lengths", type=int, nargs="+", default=list(SCAN_LENGTHS))
    parser.add_argument("--dtypes", nargs="+", default=list(PRECISIONS), choices=list(PRECISIONS))
    parser.add_argument("--references", action="store_true", help="also time lessons' reference and naive PyTorch")
    parser.add_argument("--max-naive-length", type=int, default=2048, help="the naive loop is skipped above this L")
    parser.add_argument("--record", help="write the Markdown tables to this file (only with a GPU)")
    parser.add_argument("--registers", action="store_true", help="only compile for sm_90 and print registers")
    parser.add_argument("--sweep", action="store_true", help="GPU: only time the fused kernel's chunk lengths")
    parser.add_argument("--ssd", action="store_true", help="only the SSD table (lesson 08)")
    parser.add_argument("--ssd-states", type=int, nargs="+", default=list(SSD_STATES))
    args = parser.parse_args(argv)
    if args.registers or args.sweep:
        if args.sweep and not HAS_CUDA:
            raise SystemExit(f"--sweep: {GPU_REQUIRED}.")
        text = registers_table() if args.registers else sweep()
        print(text)
        return text
    if args.record and not HAS_CUDA:
        raise SystemExit("--record needs a GPU: there would be no GPU numbers to record.")
    if args.ssd:
        lengths = args.lengths if args.lengths != list(LENGTHS) else list(SSD_LENGTHS)
        text = "\n\n".join([header(copy_bandwidth() if HAS_CUDA else None),
                             f"### SSD, batch {BATCH}, {SSD_HEADS} heads × {SSD_HEAD_DIM}, chunk {SSD_CHUNK} (ms)",
                             markdown(ssd_table(lengths, args.ssd_states, args.dtypes))])
        print(text)
        if args.record:
            with open(args.record, "w") as handle:
                handle.write(text + "\n")
        return text
    bandwidth = copy_bandwidth() if HAS_CUDA else None
    selective = selective_table(args.lengths, args.dtypes, args.references, args.max_naive_length)
    first_order, complex_rows = scan_table(args.scan_lengths), scan_table(args.scan_lengths, complex_values=True)
    add_bandwidth(selective, "kernels.selective_scan", bandwidth)
    add_bandwidth(first_order, "kernels.scan", bandwidth)
    add_bandwidth(complex_rows, "kernels.complex_scan", bandwidth)
    text = "\n\n".join([header(bandwidth),
                        f"### Selective scan, batch {BATCH}, dim {DIM}, N {STATE}, Mamba layer (ms)",
                        markdown(selective),
                        f"### First-order scan, ({BATCH}, {DIM}, T) float32 (ms)", markdown(first_order),
                        f"### Complex scan, ({BATCH}, {DIM}, T) complex64 (ms)", markdown(complex_rows)])
    text += "\n\n" + (autotune_choices() if HAS_CUDA else cpu_sanity_row())
    print(text)
    if args.record:
        with open(args.record, "w") as handle:
            handle.write(text + "\n")
    return text


if __name__ == "__main__":
    main()
