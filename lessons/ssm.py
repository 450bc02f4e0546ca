"""Lesson 06: selectivity. Mamba's selective SSM is a linear RNN whose gate depends on the input.

For every channel d and state index n, with Δ_t, B_t and C_t computed from the input x_t:

    h_t[d, n] = exp(Δ_t[d]·A[d, n]) · h_{t−1}[d, n]  +  Δ_t[d]·B_t[n] · u_t[d]       (the recurrence)
    y_t[d]    = Σ_n C_t[n]·h_t[d, n]  +  D[d]·u_t[d],   then  y_t[d] ← y_t[d]·silu(z_t[d])

`selective_scan` has the signature, shapes and semantics of mamba_ssm's `selective_scan_fn` /
`selective_scan_ref` (mamba_ssm/ops/selective_scan_interface.py), so a fused kernel (lesson 07)
can replace it. Shapes are mamba's, channel-first: u, Δ, z are (batch, dim, L); A is (dim, N).

Read top to bottom: the loop, the scan, their shared preparation, then input validation, discretisation,
the Mamba block, and what the notebook looks at. The experiment (selective copying) is in
lessons.experiments.ssm.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from lessons.checks import (require_bool, require_in_range, require_int, require_positive_int, require_shape,
                            require_tensor)
from lessons.scan import linear_scan
from lessons.tasks import FIRST_SYMBOL
from lessons.utils import seeded

# ---------------------------------------------------------------------------------------------
# Rung 1: the loop (a readable transcription of mamba_ssm's selective_scan_ref)
# ---------------------------------------------------------------------------------------------


def selective_scan_loop(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                        return_last_state=False):
    """The selective scan as a Python loop over time: mamba_ssm's selective_scan_ref, written plainly."""
    shapes, dtype_in = check_selective_scan_inputs(u, delta, A, B, C, D, z, delta_bias), u.dtype
    delta_softplus, return_last_state = check_flags(delta_softplus, return_last_state)
    u, delta, A, B, C = _in_compute_dtype(shapes, u, delta, A, B, C, delta_bias, delta_softplus)
    h = torch.zeros(shapes.batch, shapes.dim, shapes.state, dtype=A.dtype)      # (batch, dim, N)
    ys = []
    for t in range(shapes.length):
        B_t = B if B.ndim == 2 else B[..., t]                                    # (dim, N) or (batch, ·, N)
        C_t = C if C.ndim == 2 else C[..., t]
        gate = torch.exp(delta[:, :, t, None] * A)                               # Ā_t = exp(Δ_t A)
        h = gate * h + (delta[:, :, t] * u[:, :, t])[..., None] * B_t            # h_t = Ā_t h_{t−1} + Δ_t B_t u_t
        y = (h * C_t).sum(-1)                                                    # (batch, dim)
        ys.append(2 * y.real if y.is_complex() else y)                           # mamba's conjugate-pair 2·Re
    out = _finish(torch.stack(ys, dim=-1), u, D, z, dtype_in)                    # (batch, dim, L)
    return (out, h) if return_last_state else out


# ---------------------------------------------------------------------------------------------
# Rung 2: the same, with lesson 04's parallel scan along L
# ---------------------------------------------------------------------------------------------


def selective_scan(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                   return_last_state=False):
    """Mamba's selective scan with lessons.scan.linear_scan along L: same signature and results as the loop.

    u, delta: (batch, dim, L).  A: (dim, N), real or complex.  B, C: (dim, N) or (batch, N, L)
    (also mamba's grouped (batch, G, N, L), and for complex A its real (batch, N, 2L) packing).
    D, delta_bias: (dim,).  z: (batch, dim, L).  Returns out (batch, dim, L) in u's dtype, and with
    return_last_state also h_L (batch, dim, N) in the compute dtype. Computes in float32 (float64 if
    any input is float64, so tests can compare tightly).
    """
    shapes, dtype_in = check_selective_scan_inputs(u, delta, A, B, C, D, z, delta_bias), u.dtype
    delta_softplus, return_last_state = check_flags(delta_softplus, return_last_state)
    u, delta, A, B, C = _in_compute_dtype(shapes, u, delta, A, B, C, delta_bias, delta_softplus)
    gates = torch.exp(delta[:, :, None, :] * A[..., None])                       # (batch, dim, N, L) Ā_t
    B_t = B[..., None] if B.ndim == 2 else B                                     # (dim, N, 1) or (batch, ·, N, L)
    inputs = (delta * u)[:, :, None, :] * B_t                                    # (batch, dim, N, L) Δ_t B_t u_t
    h = linear_scan(gates, inputs.to(gates.dtype).expand_as(gates), dim=-1)      # (batch, dim, N, L)
    C_t = C[..., None] if C.ndim == 2 else C
    y = (h * C_t).sum(-2)                                                        # (batch, dim, L)
    y = 2 * y.real if y.is_complex() else y
    out = _finish(y, u, D, z, dtype_in)
    return (out, h[..., -1]) if return_last_state else out


ScanFunction = Callable[..., torch.Tensor]


# ---------------------------------------------------------------------------------------------
# Shared preparation: Δ, Ā = exp(ΔA), B and C as (batch, dim, N, L) or (dim, N)
# ---------------------------------------------------------------------------------------------


def _in_compute_dtype(shapes: ScanShapes, u, delta, A, B, C, delta_bias, delta_softplus):
    """u, Δ (bias and softplus applied), A, B, C in the compute dtype, shaped as both rungs use them."""
    real = shapes.compute
    delta = prepare_delta(delta, delta_bias, delta_softplus, real)               # (batch, dim, L)
    A = A.to(_complex_dtype(real) if shapes.complex_a else real)                 # (dim, N)
    return u.to(real), delta, A, _as_projection(B, shapes), _as_projection(C, shapes)


def prepare_delta(delta: torch.Tensor, delta_bias=None, delta_softplus: bool = False,
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Δ (batch, dim, L) as the scan uses it: softplus(Δ + bias) if asked, in `dtype`."""
    delta = delta.to(dtype)
    if delta_bias is not None:
        delta = delta + delta_bias.to(dtype)[:, None]
    return F.softplus(delta) if delta_softplus else delta


def _complex_dtype(real: torch.dtype) -> torch.dtype:
    return torch.complex128 if real == torch.float64 else torch.complex64


def _as_projection(value: torch.Tensor, shapes: ScanShapes) -> torch.Tensor:
    """B or C in the compute dtype: (dim, N), or (batch, dim, N, L) with groups spread over channels."""
    real = shapes.compute
    if shapes.complex_a and not value.is_complex() and value.ndim >= 3:          # mamba's packed (…, N, 2L)
        value = torch.view_as_complex(value.to(real).unflatten(-1, (-1, 2)).contiguous())
    value = value.to(_complex_dtype(real) if shapes.complex_a else real)
    if value.ndim == 3:                                                          # (batch, N, L)
        return value[:, None]                                                    # (batch, 1, N, L)
    if value.ndim == 4:                                                          # (batch, G, N, L)
        return value.repeat_interleave(shapes.dim // value.shape[1], dim=1)      # (batch, dim, N, L)
    return value                                                                 # (dim, N)


def _finish(y, u, D, z, dtype_in):
    """y (batch, dim, L) real: add the D skip, gate with silu(z), return in the input dtype."""
    if D is not None:
        y = y + u * D.to(y.dtype)[:, None]
    if z is not None:
        y = y * F.silu(z.to(y.dtype))
    return y.to(dtype_in)


# ---------------------------------------------------------------------------------------------
# Input validation: every error names the argument and the shape it expected (built on lessons.checks)
# ---------------------------------------------------------------------------------------------
REAL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


@dataclass(frozen=True)
class ScanShapes:
    """The sizes a selective scan runs with, and how B and C vary (their tensors as mamba lays them out)."""

    batch: int
    dim: int
    length: int
    state: int              # N
    complex_a: bool
    compute: torch.dtype    # float32, or float64 when an input is float64 (complex64/128 when A is complex)


def _shape(x: torch.Tensor) -> tuple[int, ...]:
    return tuple(x.shape)


def _check_sequence_arg(name: str, value, shape: tuple[int, int, int]) -> None:
    """`value` must be a real floating (batch, dim, L) tensor of exactly `shape`, like u."""
    require_tensor(name, value, dtypes=REAL_DTYPES)
    require_shape(name, value, shape, meaning="(batch, dim, L)")


def _check_channel_vector(name: str, value, dim: int) -> None:
    """`value` must be None or a real floating (dim,) tensor."""
    if value is not None:
        require_tensor(name, value, dtypes=REAL_DTYPES)
        require_shape(name, value, (dim,), meaning="(dim,)")


def _check_projection(name: str, value, shapes: ScanShapes) -> None:
    """B or C: (dim, N) time-invariant, (batch, N, L) or grouped (batch, G, N, L) input-dependent."""
    require_tensor(name, value)
    b, d, n, length = shapes.batch, shapes.dim, shapes.state, shapes.length
    packed = shapes.complex_a and not value.is_complex() and value.ndim >= 3   # mamba: real (…, N, 2L)
    want_l = 2 * length if packed else length
    expected = (f"(dim, N) = {(d, n)} or (batch, N, L) = {(b, n, want_l)}"
                + (" (complex A: real and imaginary parts interleaved along L, as mamba packs them)" if packed else ""))
    if value.is_complex() and not shapes.complex_a:
        raise TypeError(f"`{name}` is complex ({value.dtype}) but `A` is real; make A complex too, "
                        f"or pass a real {name}.")
    if value.ndim == 2 and _shape(value) == (d, n):
        return
    if value.ndim == 3 and _shape(value) == (b, n, want_l):
        return
    if value.ndim == 4 and value.shape[0] == b and value.shape[2:] == (n, want_l) and d % value.shape[1] == 0:
        return
    hint = ""
    if value.ndim == 3 and _shape(value) == (b, want_l, n):
        hint = f" — did you pass (batch, L, N)? Use {name}.transpose(1, 2)."
    elif value.ndim == 2 and _shape(value) == (n, d):
        hint = f" — did you pass (N, dim)? Use {name}.T."
    elif value.ndim == 4:
        expected += f" or grouped (batch, G, N, L) = ({b}, G, {n}, {want_l}) with G dividing dim = {d}"
    raise ValueError(f"`{name}` must be {expected}; got {_shape(value)}{hint}")


def check_selective_scan_inputs(u, delta, A, B, C, D=None, z=None, delta_bias=None) -> ScanShapes:
    """Validate selective_scan's arguments with errors a learner can act on; return the sizes."""
    require_tensor("u", u, ndim=3, dtypes=REAL_DTYPES)
    batch, dim, length = u.shape
    require_int("L = u.shape[2]", length, minimum=1)
    _check_sequence_arg("delta", delta, (batch, dim, length))
    require_tensor("A", A, ndim=2)
    if A.shape[0] != dim:
        hint = " — did you pass (N, dim)? Use A.T." if A.shape[1] == dim else ""
        raise ValueError(f"`A` must be (dim, N) with dim = {dim} (u is (batch, dim, L) = {_shape(u)}); "
                         f"got {_shape(A)}{hint}")
    require_int("N = A.shape[1]", A.shape[1], minimum=1)
    wide = any(x is not None and x.dtype in (torch.float64, torch.complex128) for x in (u, delta, A, B, C))
    compute = torch.float64 if wide else torch.float32
    shapes = ScanShapes(batch, dim, length, A.shape[1], A.is_complex(), compute)
    _check_projection("B", B, shapes)
    _check_projection("C", C, shapes)
    _check_channel_vector("D", D, dim)
    _check_channel_vector("delta_bias", delta_bias, dim)
    if z is not None:
        _check_sequence_arg("z", z, (batch, dim, length))
    return shapes


def check_block_input(x, in_proj: nn.Linear) -> None:
    """A MambaBlock's input: (batch, L ≥ 1, d_model) in the dtype of its weights."""
    require_tensor("x", x, ndim=3, dtypes=(in_proj.weight.dtype,))
    require_shape("x", x, (None, None, in_proj.in_features), meaning="(batch, L, d_model)")
    require_int("L = x.shape[1]", x.shape[1], minimum=1)


def check_scan_function(scan) -> None:
    """`scan` must be callable like selective_scan (checks.py has no callable check yet)."""
    if not callable(scan):
        raise TypeError(f"`scan` must be a function with selective_scan's signature, such as lessons.ssm."
                        f"selective_scan or kernels.selective_scan; got {scan!r}.")


def check_flags(delta_softplus, return_last_state) -> tuple[bool, bool]:
    """selective_scan's two switches must be True or False (a string such as 'yes' is not)."""
    return require_bool("delta_softplus", delta_softplus), require_bool("return_last_state", return_last_state)


# ---------------------------------------------------------------------------------------------
# Random Mamba-like inputs: the one builder used by tests, notebooks and benchmarks
# ---------------------------------------------------------------------------------------------


def selective_scan_inputs(batch: int, dim: int, length: int, state: int, *, varying: bool = True, layer: bool = True,
                          device="cpu", dtype: torch.dtype = torch.float32, seed: int = 0) -> dict:
    """Random arguments for `selective_scan(**x)`, distributed as in a trained Mamba layer.

    u (batch, dim, L); A = −[1, 2, …, N] in every channel, (dim, N) real float32; B, C (batch, N, L) when
    `varying` (input-dependent), else (dim, N). With `layer` (the arguments a MambaBlock passes): D (dim,),
    z (batch, dim, L), delta_bias (dim,) ~ 0.1·randn, delta_softplus=True and raw Δ ~ 0.5·randn − 4, so the scan's
    step softplus(Δ + bias) lies around softplus(−4..−2) ≈ 0.02..0.13. Without `layer`: D, z, delta_bias None,
    delta_softplus False, and Δ is that step already (softplus applied here). Sequences u, Δ, B, C, z come in
    `dtype`; A, D and delta_bias stay float32, as mamba keeps parameters. Draws from its own generator, seeded
    with `seed`, never from the global random stream.
    """
    sizes = {name: require_positive_int(name, value)
             for name, value in (("batch", batch), ("dim", dim), ("length", length), ("state", state))}
    batch, dim, length, state = sizes.values()
    varying, layer = require_bool("varying", varying), require_bool("layer", layer)
    generator = torch.Generator(device=device).manual_seed(require_int("seed", seed))
    draw = lambda *shape: torch.randn(*shape, generator=generator, device=device)   # noqa: E731  float32
    u = draw(batch, dim, length)
    delta = 0.5 * draw(batch, dim, length) - 4                                       # before softplus
    projection = (batch, state, length) if varying else (dim, state)
    B, C = draw(*projection), draw(*projection)
    A = -torch.arange(1, state + 1, dtype=torch.float32, device=device).repeat(dim, 1)   # (dim, N)
    if layer:
        D, z, delta_bias = draw(dim), draw(batch, dim, length).to(dtype), 0.1 * draw(dim)
    else:
        D = z = delta_bias = None
        delta = F.softplus(delta)
    return {"u": u.to(dtype), "delta": delta.to(dtype), "A": A, "B": B.to(dtype), "C": C.to(dtype), "D": D, "z": z,
            "delta_bias": delta_bias, "delta_softplus": layer}


# ---------------------------------------------------------------------------------------------
# Discretisation: from the continuous (A, B) and a step Δ to the recurrence's (Ā, B̄)
# ---------------------------------------------------------------------------------------------


def _expm1_over_x(x: torch.Tensor) -> torch.Tensor:
    """(exp(x) − 1)/x elementwise, equal to 1 at x = 0 (a series near 0 avoids 0/0)."""
    small = x.abs() < 1e-4
    safe = torch.where(small, torch.ones_like(x), x)
    return torch.where(small, 1 + x / 2 + x * x / 6, torch.expm1(safe) / safe)


def discretise_zoh(delta, A, B) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-order hold for diagonal A: Ā = exp(ΔA), B̄ = (ΔA)⁻¹(exp(ΔA) − I)·ΔB. Elementwise, broadcasting."""
    delta_A = delta * A
    return torch.exp(delta_A), _expm1_over_x(delta_A) * delta * B


def discretise_euler(delta, A, B) -> tuple[torch.Tensor, torch.Tensor]:
    """What mamba's reference code does: the exact Ā = exp(ΔA), and the Euler step B̄ = ΔB."""
    return torch.exp(delta * A), delta * B


def zoh_euler_gap(delta, A) -> torch.Tensor:
    """Relative difference |B̄_euler − B̄_zoh| / |B̄_zoh| = |ΔA/(exp(ΔA) − 1) − 1|, ≈ |ΔA|/2 for small ΔA."""
    as_tensor = lambda x: x if isinstance(x, torch.Tensor) else torch.tensor(x, dtype=torch.float64)  # noqa: E731
    return (1 / _expm1_over_x(as_tensor(delta) * as_tensor(A)) - 1).abs()


# ---------------------------------------------------------------------------------------------
# The Mamba block and a tiny stacked model
# ---------------------------------------------------------------------------------------------


DT_LOWEST = 1e-12       # Δ must be positive: its log is drawn uniformly


def dt_bias_init(d_inner: int, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4) -> torch.Tensor:
    """The dt bias (d_inner,) such that softplus(bias) = Δ drawn log-uniformly in [dt_min, dt_max] (mamba's init)."""
    d_inner = require_positive_int("d_inner", d_inner)
    dt_max = require_in_range("dt_max", dt_max, DT_LOWEST, math.inf)
    dt_min = require_in_range("dt_min", dt_min, DT_LOWEST, dt_max)            # a range: dt_min ≤ dt_max
    log_dt = torch.rand(d_inner) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
    dt = torch.exp(log_dt).clamp(min=floor)
    return dt + torch.log(-torch.expm1(-dt))                 # the inverse of softplus: softplus(this) = dt


def a_log_init(d_inner: int, d_state: int) -> torch.Tensor:
    """A_log (d_inner, N) with A = −exp(A_log) = −[1, 2, …, N] in every channel (S4D-real init)."""
    return torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1)


@dataclass
class Selection:
    """What a MambaBlock computed from its input before the scan, all channel-first like selective_scan."""

    u: torch.Tensor          # (batch, d_inner, L) the scan's input: silu(causal conv(x))
    delta: torch.Tensor      # (batch, d_inner, L) Δ_t = softplus(dt_proj(x_t) + bias), as the scan uses it
    A: torch.Tensor          # (d_inner, N) = −exp(A_log)
    B: torch.Tensor          # (batch, N, L)
    C: torch.Tensor          # (batch, N, L)
    z: torch.Tensor          # (batch, d_inner, L) the gate's input


class MambaBlock(nn.Module):
    """Mamba's mixer: in-projection to x and z, causal depthwise conv, SiLU, x-dependent Δ, B, C, the
    selective scan, gating by silu(z), out-projection. (batch, L, d_model) -> (batch, L, d_model).

    `scan` is any function with selective_scan's signature (e.g. lesson 07's Triton kernel).
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 dt_rank: int | None = None, dt_min: float = 1e-3, dt_max: float = 0.1,
                 scan: ScanFunction = selective_scan):
        super().__init__()
        d_model, d_state = require_positive_int("d_model", d_model), require_positive_int("d_state", d_state)
        d_conv, expand = require_positive_int("d_conv", d_conv), require_positive_int("expand", expand)
        dt_rank = math.ceil(d_model / 16) if dt_rank is None else require_positive_int("dt_rank", dt_rank)
        check_scan_function(scan)
        d_inner, self.dt_rank, self.d_state = expand * d_model, dt_rank, d_state
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)                     # -> x, z
        self.conv1d = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)       # -> dt (low rank), B, C
        self.dt_proj = nn.Linear(self.dt_rank, d_inner)                                # dt rank -> Δ per channel
        nn.init.uniform_(self.dt_proj.weight, -self.dt_rank ** -0.5, self.dt_rank ** -0.5)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt_bias_init(d_inner, dt_min, dt_max))
        self.A_log = nn.Parameter(a_log_init(d_inner, d_state))                       # (d_inner, N)
        self.D = nn.Parameter(torch.ones(d_inner))                                     # (d_inner,)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)
        self.scan = scan

    def select(self, x: torch.Tensor) -> Selection:
        """Everything the scan needs, computed from x (batch, L, d_model): this is where selectivity lives."""
        length = x.shape[1]
        x, z = self.in_proj(x).transpose(1, 2).chunk(2, dim=1)                        # 2 × (batch, d_inner, L)
        u = F.silu(self.conv1d(x)[..., :length])                                       # causal: drop the look-ahead
        dt, B, C = self.x_proj(u.transpose(1, 2)).split([self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt)).transpose(1, 2)                           # (batch, d_inner, L)
        # contiguous, so that a kernel with the same signature (lesson 07's kernels.selective_scan) can be swapped in
        return Selection(u.contiguous(), delta.contiguous(), -torch.exp(self.A_log), B.transpose(1, 2).contiguous(),
                         C.transpose(1, 2).contiguous(), z.contiguous())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, L, d_model) -> (batch, L, d_model)."""
        check_block_input(x, self.in_proj)
        s = self.select(x)
        y = self.scan(s.u, s.delta, s.A, s.B, s.C, self.D, z=s.z)                    # (batch, d_inner, L)
        return self.out_proj(y.transpose(1, 2))


class MambaModel(nn.Module):
    """Embedding, n_layers × (x + MambaBlock(RMSNorm(x))), RMSNorm, linear head.

    (batch, L) long -> (batch, L, d_output)."""

    def __init__(self, vocab_size: int, d_output: int, d_model: int = 32, d_state: int = 16, n_layers: int = 2,
                 d_conv: int = 4, expand: int = 2, seed: int = 0, scan: ScanFunction = selective_scan):
        super().__init__()
        with seeded(seed):  # seed the init without disturbing the caller's random stream
            self.embedding = nn.Embedding(vocab_size, d_model)
            self.norms = nn.ModuleList(nn.RMSNorm(d_model) for _ in range(n_layers))
            self.blocks = nn.ModuleList(MambaBlock(d_model, d_state, d_conv, expand, scan=scan)
                                        for _ in range(require_positive_int("n_layers", n_layers)))
            self.norm, self.head = nn.RMSNorm(d_model), nn.Linear(d_model, d_output)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (batch, L, d_output) for tokens (batch, L)."""
        return self.head(self.norm(self.hidden_states(tokens)[-1]))

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream (batch, L, d_model) entering each block, and leaving the last one."""
        require_tensor("tokens", tokens, ndim=2, floating=False, dtypes=(torch.long,))    # (batch, L) token ids
        require_int("L = tokens.shape[1]", tokens.shape[1], minimum=1)
        h = self.embedding(tokens)                                                     # (batch, L, d_model)
        states = [h]
        for norm, block in zip(self.norms, self.blocks, strict=True):
            h = h + block(norm(h))
            states.append(h)
        return states

    @torch.no_grad()
    def selections(self, tokens: torch.Tensor) -> list[Selection]:
        """What each block selected (Δ, B, C, …) for these tokens (batch, L)."""
        states = self.hidden_states(tokens)
        return [block.select(norm(h)) for norm, block, h in zip(self.norms, self.blocks, states[:-1], strict=True)]


# ---------------------------------------------------------------------------------------------
# What the notebook and the explorer look at
# ---------------------------------------------------------------------------------------------


def final_state_weights(delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor | None = None) -> torch.Tensor:
    """∂h_L[d, n]/∂u_s[d] = Δ_s·B_s[n]·exp(A[d, n]·Σ_{t>s} Δ_t): how much of each input is in the final state.

    delta (batch, dim, L), A (dim, N), B (batch, N, L) or None (B = 1). Returns (batch, dim, N, L).
    The factor exp(A·Σ_{t>s}Δ_t) is what the later gates left of it; Δ_s is how strongly it was written.
    """
    later = delta.flip(-1).cumsum(-1).flip(-1) - delta                          # Σ_{t>s} Δ_t, (batch, dim, L)
    kept = torch.exp(later[:, :, None, :] * A[..., None])                        # (batch, dim, N, L)
    weights = delta[:, :, None, :] * kept
    return weights if B is None else weights * B[:, None]


def lti_gate(delta: float, A: torch.Tensor) -> torch.Tensor:
    """The fixed eigenvalue λ = exp(ΔA) of a time-invariant recurrence with constant step Δ."""
    return torch.exp(delta * A)


KEEP_ABOVE, RESET_BELOW = 0.95, 0.05   # a decay exp(ΔA) above KEEP_ABOVE keeps the state, below RESET_BELOW resets it


def decay_meaning(decay: float) -> str:
    """What one step with decay Ā = exp(ΔA) (the share of the old state kept) does: "keep", "blend" or "reset"."""
    return "keep" if decay > KEEP_ABOVE else "reset" if decay < RESET_BELOW else "blend"


# ---------------------------------------------------------------------------------------------
# Why a fixed λ can't select: hand-set Δ against a constant Δ on the same tokens
# ---------------------------------------------------------------------------------------------
HAND_SET_A = -torch.tensor([[0.5, 1.0, 2.0, 4.0]])        # (dim=1, N=4): four decay rates to look at


def hand_set_deltas(tokens: torch.Tensor, symbol_delta: float = 1.0, other_delta: float = 0.01) -> torch.Tensor:
    """Δ_t (L,) a hand-set selective SSM would choose: large on symbols (write, forget the old), tiny elsewhere."""
    return torch.where(tokens >= FIRST_SYMBOL, symbol_delta, other_delta).to(torch.float64)


def symbol_share(weights: torch.Tensor, tokens: torch.Tensor) -> float:
    """Fraction of Σ|final-state weight| (…, L) that sits on symbol tokens: 1 = only symbols survive."""
    per_token = weights.abs().reshape(-1, weights.shape[-1]).sum(0)                # (L,)
    total = float(per_token.sum())
    return float(per_token[tokens >= FIRST_SYMBOL].sum()) / total if total > 0 else 0.0


def hand_set_weights(tokens: torch.Tensor, selective: bool, delta_scale: float = 1.0,
                     a_scale: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(Δ (L,), final-state weights (N, L)) of the hand-set SSM on `tokens` (L,); the time-invariant one uses
    a constant Δ with the same total Σ_t Δ_t, so both forget equally much overall."""
    delta = hand_set_deltas(tokens) * delta_scale                                  # (L,)
    if not selective:
        delta = torch.full_like(delta, float(delta.mean()))
    weights = final_state_weights(delta[None, None], HAND_SET_A.double() * a_scale)   # (1, 1, N, L)
    return delta, weights[0, 0]


# ---------------------------------------------------------------------------------------------
# Time-varying parameters break the convolution view
# ---------------------------------------------------------------------------------------------


def ssm_matrix(delta: torch.Tensor, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor) -> torch.Tensor:
    """The (L, L) lower-triangular map u ↦ y of one channel: M[t, s] = Σ_n C_t[n]·exp(A[n]·Σ_{s<r≤t} Δ_r)·Δ_s·B_s[n].

    delta (L,), A (N,), B and C (N, L). A time-invariant SSM gives a Toeplitz M (a convolution)."""
    cumulative = delta.cumsum(0)                                                   # (L,)
    gaps = (cumulative[:, None] - cumulative[None, :]).tril()                      # Σ_{s<r≤t} Δ_r, (t, s)
    decay = torch.exp(gaps[None] * A[:, None, None]).tril()                        # (N, L, L)
    M = torch.einsum("nt,nts,ns->ts", C, decay, delta * B)
    return M.tril()


def state_contents(delta: torch.Tensor, A: torch.Tensor) -> torch.Tensor:
    """W (L, L): W[t, s] = Σ_n Δ_s·exp(A[n]·Σ_{s<r≤t} Δ_r), how much of token s is in the state after token t
    (B = C = 1). delta (L,), A (N,)."""
    ones = torch.ones(A.shape[0], delta.shape[0], dtype=delta.dtype)
    return ssm_matrix(delta, A, ones, ones)


def toeplitz_gap(M: torch.Tensor) -> float:
    """max over diagonals of (max − min) of that diagonal of M: 0 exactly when M is a convolution."""
    return max(float(M.diagonal(-k).max() - M.diagonal(-k).min()) for k in range(M.shape[0]))


def semiseparable_rank(M: torch.Tensor, tolerance: float = 1e-9) -> int:
    """The largest rank of a block M[t:, :t] strictly below the diagonal of a lower-triangular (L, L) M.

    An SSM with state size N gives at most N: every output after t sees the inputs before t only through the
    N numbers of h_t. Such an M is called N-semiseparable (lesson 08 builds on this)."""
    ranks = [int(torch.linalg.matrix_rank(M[t:, :t], atol=tolerance)) for t in range(1, M.shape[0])]
    return max(ranks, default=0)


def lti_kernel(delta: float, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, length: int) -> torch.Tensor:
    """K_k = Σ_n C[n]·exp(ΔA[n])^k·ΔB[n], k < length: a fixed-Δ SSM is the causal convolution y = K ∗ u."""
    powers = torch.exp(delta * A)[:, None] ** torch.arange(length, dtype=A.dtype)  # (N, L)
    return (C[:, None] * powers * delta * B[:, None]).sum(0)                      # (L,)


def causal_convolution(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """y_t = Σ_{k≤t} K_k·u_{t−k} for u (..., L) and K (L,), via F.conv1d."""
    length = u.shape[-1]
    padded = F.pad(u.reshape(-1, 1, length), (length - 1, 0))                      # (R, 1, 2L − 1)
    return F.conv1d(padded, kernel.flip(0)[None, None]).reshape(u.shape)
