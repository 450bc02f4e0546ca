"""Lesson 07: the bytes a selective scan moves, why a fused kernel makes a 16× state nearly free in bytes, and the
ceilings (bytes, exps, instructions) that set its time.

Byte counts for one forward pass of mamba's selective scan with u, delta, z of shape (batch, dim, L),
A of shape (dim, N), input-dependent B, C of shape (batch, N, L), and output y (batch, dim, L):

* **fused** (one kernel, the state h (batch, dim, N) lives in SRAM/registers): read every input once,
  write y once. The state never touches HBM.
* **naive** (PyTorch ops that materialise): ΔA = exp(Δ⊗A) and ΔB·u are built as (batch, dim, L, N) float32
  tensors, a scan reads both and writes h (batch, dim, L, N), and y = ⟨C, h⟩ reads h again: each of the three
  (batch, dim, L, N) tensors is written once and read once, on top of reading the inputs and writing y.

A time on the roofline is bytes / HBM bandwidth: the fastest any kernel can be if it moves those bytes.

Bytes are one ceiling. With h in registers the fused kernel moves few bytes, and another ceiling comes first: the
GPU must *issue* the kernel's instructions (an SM issues at most 128 thread-instructions per clock: 4 schedulers ×
32 lanes) and evaluate its exps (the special-function unit: 16 per SM per clock, 1/8 of the FMA rate).
`time_ceilings` gives the three times for one forward pass; the largest is the bound.
"""
from __future__ import annotations

from dataclasses import dataclass

from lessons.checks import require_in_range, require_one_of, require_positive_int

DTYPE_BYTES = {"float32": 4, "float16": 2, "bfloat16": 2}
STATE_BYTES = 4                    # the state and the (…, N) intermediates are float32 in every implementation
FLOPS_PER_STATE_ELEMENT = 7        # exp(ΔA), Δ·u·B (2), A·h + Bu (2), C·h accumulated (2): per (b, d, t, n)
ISSUE_PER_SM_PER_CLOCK = 128       # thread-instructions: 4 warp schedulers × 32 lanes (Ampere, Ada, Hopper)
EXPS_PER_SM_PER_CLOCK = 16         # the special-function unit (MUFU.EX2): 4 per scheduler per clock


@dataclass(frozen=True)
class Accelerator:
    """Vendor figures of one GPU: HBM size and bandwidth, on-chip memory per SM, peak FLOP/s, SMs and clock."""

    name: str
    hbm_bytes: float               # HBM capacity (vendor figure, decimal bytes)
    hbm_bytes_per_s: float         # peak HBM bandwidth (vendor figure)
    sram_bytes_per_sm: int         # shared memory / L1 per streaming multiprocessor
    registers_bytes_per_sm: int    # register file per SM
    fp32_flops: float              # peak non-tensor-core FP32 FLOP/s (vendor figure)
    sm_count: int                  # streaming multiprocessors
    clock_hz: float                # SM clock under load (boost)
    tensor_bf16_flops: float       # peak dense bfloat16 tensor-core FLOP/s, float32 accumulate (vendor figure)


ACCELERATORS = {
    "NVIDIA H200": Accelerator("NVIDIA H200", 141e9, 4.8e12, 228 * 1024, 256 * 1024, 67e12, 132, 1.98e9, 989e12),
    "NVIDIA A100 80GB": Accelerator("NVIDIA A100 80GB", 80e9, 2.039e12, 164 * 1024, 256 * 1024, 19.5e12, 108, 1.41e9,
                                    312e12),
    "NVIDIA RTX 4090": Accelerator("NVIDIA RTX 4090", 24e9, 1.008e12, 100 * 1024, 256 * 1024, 82.6e12, 128, 2.52e9,
                                   165.2e12),
}


@dataclass(frozen=True)
class Traffic:
    """Bytes read from and written to HBM by one forward pass."""

    reads: int
    writes: int

    @property
    def total(self) -> int:
        return self.reads + self.writes


def _element_bytes(batch: int, dim: int, length: int, state: int, dtype: str) -> int:
    """Check the sizes (positive ints, lessons.checks) and the dtype's name; return its bytes per element."""
    for name, value in (("batch", batch), ("dim", dim), ("length", length), ("state", state)):
        require_positive_int(name, value)
    return DTYPE_BYTES[require_one_of("dtype", dtype, sorted(DTYPE_BYTES))]


def sequence_bytes(batch: int, dim: int, length: int, state: int, dtype: str = "float32", gated: bool = True) -> int:
    """Bytes of the per-token tensors: u, delta (and z) in and y out, (batch, dim, L); B, C in, (batch, N, L)."""
    element = _element_bytes(batch, dim, length, state, dtype)
    return element * ((4 if gated else 3) * batch * dim * length + 2 * batch * state * length)


def input_bytes(batch: int, dim: int, length: int, state: int, dtype: str = "float32", gated: bool = True) -> int:
    """Bytes of the inputs: the per-token tensors except y, plus A (dim, N) and D, delta_bias (dim,) in float32."""
    output = DTYPE_BYTES[dtype] * batch * dim * length
    return sequence_bytes(batch, dim, length, state, dtype, gated) - output + STATE_BYTES * (dim * state + 2 * dim)


def selective_scan_traffic(batch: int, dim: int, length: int, state: int, dtype: str = "float32", *,
                           fused: bool, gated: bool = True) -> Traffic:
    """HBM bytes moved by one forward selective scan, fused or naive (see the module docstring)."""
    element = _element_bytes(batch, dim, length, state, dtype)
    reads, writes = input_bytes(batch, dim, length, state, dtype, gated), element * batch * dim * length  # y
    if not fused:
        expanded = STATE_BYTES * batch * dim * length * state       # one (batch, dim, L, N) float32 tensor
        reads, writes = reads + 3 * expanded, writes + 3 * expanded  # ΔA, ΔB·u, h: each written once, read once
    return Traffic(reads, writes)


def projection_reread_bytes(batch: int, dim: int, length: int, state: int, dtype: str = "float32",
                            channels_per_program: int = 1) -> int:
    """Bytes of B and C (batch, N, L) read by a fused kernel whose programs each hold `channels_per_program`
    channels: every program reads all of its batch element's B and C, so they are read dim / channels times
    (mostly from L2, not HBM; `selective_scan_traffic` counts them once)."""
    element = _element_bytes(batch, dim, length, state, dtype)
    require_positive_int("channels_per_program", channels_per_program)
    return -(-dim // channels_per_program) * element * batch * 2 * state * length


def first_order_scan_bytes(batch: int, channels: int, length: int, dtype: str = "float32") -> int:
    """HBM bytes of one first-order scan forward h_t = a_t h_{t−1} + b_t: read a, b and write h, (batch, channels, L)
    each."""
    return 3 * batch * channels * length * _element_bytes(batch, channels, length, 1, dtype)


def state_size_cost(batch: int, dim: int, state: int, length: int, dtype: str = "float32") -> dict[str, int]:
    """Bytes of the scan's inputs/outputs against its states, for a (batch, dim, L) scan with state size N.

    "inputs and outputs": u, Δ, z, y and B, C (sequence_bytes). "all states": h for every step,
    batch·dim·N·L, what a naive scan writes to memory. "one state": h for one step.
    """
    element = _element_bytes(batch, dim, length, state, dtype)
    return {"inputs and outputs": sequence_bytes(batch, dim, length, state, dtype),
            "all states": batch * dim * state * length * element,
            "one state": batch * dim * state * element}


def roofline_seconds(traffic: Traffic, accelerator: Accelerator) -> float:
    """The least time to move `traffic` at the accelerator's peak HBM bandwidth."""
    return traffic.total / accelerator.hbm_bytes_per_s


def arithmetic_intensity(batch: int, dim: int, length: int, state: int, dtype: str = "float32", *,
                         fused: bool) -> float:
    """FLOPs per HBM byte. Below the accelerator's fp32_flops / bandwidth ratio a kernel is memory-bound."""
    flops = FLOPS_PER_STATE_ELEMENT * batch * dim * length * state
    return flops / selective_scan_traffic(batch, dim, length, state, dtype, fused=fused).total


def state_expansion_cost(batch: int, dim: int, length: int, dtype: str = "float32",
                         state: int = 16) -> dict[str, float]:
    """How much more traffic a state of size N costs than N = 1, naive against fused: the '16× for free' claim."""
    ratio = {}
    for fused in (False, True):
        big = selective_scan_traffic(batch, dim, length, state, dtype, fused=fused).total
        small = selective_scan_traffic(batch, dim, length, 1, dtype, fused=fused).total
        ratio["fused" if fused else "naive"] = big / small
    return ratio


def sram_per_block(block_dim: int, chunk: int, state: int, dtype: str = "float32") -> int:
    """On-chip bytes one fused-kernel block holds: h (block_dim, N) in float32, tiles of u, delta, z, y
    (block_dim, chunk) and of B, C (N, chunk)."""
    element = _element_bytes(1, block_dim, chunk, state, dtype)
    return STATE_BYTES * block_dim * state + element * (4 * block_dim * chunk + 2 * state * chunk)


def fits_on_chip(block_dim: int, chunk: int, state: int, accelerator: Accelerator, dtype: str = "float32") -> bool:
    """Whether one block's working set fits in the SM's shared memory plus registers."""
    require_in_range("state", state, 1, 4096)
    on_chip = accelerator.sram_bytes_per_sm + accelerator.registers_bytes_per_sm
    return sram_per_block(block_dim, chunk, state, dtype) <= on_chip


def human_bytes(count: float) -> str:
    """1536 -> '1.5 KiB', 3.2e9 -> '3.0 GiB'."""
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if count < 1024 or unit == "TiB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1024
    raise AssertionError("unreachable")


def human_seconds(seconds: float) -> str:
    """Seconds in the most readable unit: '12.3 µs', '4.5 ms', '1.2 s'."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    return f"{seconds * 1e3:.2f} ms" if seconds < 1 else f"{seconds:.2f} s"


# ---------------------------------------------------------------------------------------------
# Three ceilings: bytes, exps, instructions
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ceilings:
    """The least time of one fused forward pass under each limit, in seconds; the largest one binds."""

    bytes: float               # the kernel's HBM bytes at the copy bandwidth
    exps: float                # one exp per (b, d, t, n) on the special-function units
    instructions: float        # `instructions_per_element` per (b, d, t, n) at the peak issue rate

    @property
    def bound(self) -> str:
        """'bytes', 'exps' or 'instructions': the ceiling that binds."""
        return max(("bytes", "exps", "instructions"), key=lambda name: getattr(self, name))

    @property
    def floor(self) -> float:
        """The largest of the three: no kernel with these instructions can be faster."""
        return getattr(self, self.bound)


def time_ceilings(batch: int, dim: int, length: int, state: int, accelerator: Accelerator, *,
                  copy_bytes_per_s: float, instructions_per_element: float, dtype: str = "float32") -> Ceilings:
    """The three ceilings of the fused selective scan's forward pass (see the module docstring).

    `copy_bytes_per_s` is a measured device-to-device copy (the practical byte roofline, below the vendor's
    figure); `instructions_per_element` is what the compiled loop over the state index issues per (b, d, t, n)
    (`kernels.bench.inner_loop_instructions` counts it in the machine code). Work done once per (b, d, t), outside
    that loop, is left out: it is 1/N of the rest.
    """
    require_in_range("copy_bytes_per_s", copy_bytes_per_s, 1e6, 1e15)
    require_in_range("instructions_per_element", instructions_per_element, 1, 1e4)
    elements = batch * dim * length * state
    per_second = accelerator.sm_count * accelerator.clock_hz
    return Ceilings(bytes=selective_scan_traffic(batch, dim, length, state, dtype, fused=True).total / copy_bytes_per_s,
                    exps=elements / (EXPS_PER_SM_PER_CLOCK * per_second),
                    instructions=elements * instructions_per_element / (ISSUE_PER_SM_PER_CLOCK * per_second))


def bound_changes_at(batch: int, dim: int, length: int, accelerator: Accelerator, *, copy_bytes_per_s: float,
                     instructions_per_element: float, dtype: str = "float32", largest: int = 256) -> int | None:
    """The smallest state size N at which the fused forward stops being bound by bytes (None up to `largest`)."""
    for state in range(1, largest + 1):
        ceilings = time_ceilings(batch, dim, length, state, accelerator, copy_bytes_per_s=copy_bytes_per_s,
                                 instructions_per_element=instructions_per_element, dtype=dtype)
        if ceilings.bound != "bytes":
            return state
    return None
