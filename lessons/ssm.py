"""Lesson 06: selectivity. Mamba's selective SSM is a linear RNN whose gate depends on the input.

For every channel d and state index n, with Δ_t, B_t and C_t computed from the input x_t:

    h_t[d, n] = exp(Δ_t[d]·A[d, n]) · h_{t−1}[d, n]  +  Δ_t[d]·B_t[n] · u_t[d]       (the recurrence)
    y_t[d]    = Σ_n C_t[n]·h_t[d, n]  +  D[d]·u_t[d],   then  y_t[d] ← y_t[d]·silu(z_t[d])

`selective_scan` has the signature, shapes and semantics of mamba_ssm's `selective_scan_fn` /
`selective_scan_ref` (mamba_ssm/ops/selective_scan_interface.py), so a fused kernel (lesson 07)
can replace it. Shapes are mamba's, channel-first: u, Δ, z are (batch, dim, L); A is (dim, N).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lessons.checks import require_bool, require_int, require_positive_int, require_tensor
from lessons.memory_traffic import DTYPE_BYTES, sequence_bytes
from lessons.scan import linear_scan

# ---------------------------------------------------------------------------------------------
# Input validation: every error names the argument and the shape it expected
# ---------------------------------------------------------------------------------------------


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
    """`value` must be a real floating (batch, dim, L) tensor of exactly `shape`."""
    require_tensor(name, value)
    if value.is_complex():
        raise TypeError(f"`{name}` must be real, got dtype {value.dtype}.")
    if _shape(value) != shape:
        raise ValueError(f"`{name}` must be (batch, dim, L) = {shape}, like `u`; got {_shape(value)}.")


def _check_channel_vector(name: str, value, dim: int) -> None:
    """`value` must be None or a real floating (dim,) tensor."""
    if value is None:
        return
    require_tensor(name, value)
    if value.is_complex() or _shape(value) != (dim,):
        raise ValueError(f"`{name}` must be a real (dim,) = ({dim},) tensor; got shape {_shape(value)}, "
                         f"dtype {value.dtype}.")


def _check_projection(name: str, value, shapes: ScanShapes) -> None:
    """B or C: (dim, N) time-invariant, (batch, N, L) or grouped (batch, G, N, L) input-dependent."""
    require_tensor(name, value)
    b, d, n, length = shapes.batch, shapes.dim, shapes.state, shapes.length
    packed = shapes.complex_a and not value.is_complex() and value.ndim >= 3   # mamba: real (…, N, 2L)
    want_l = 2 * length if packed else length
    expected = (f"(dim, N) = {(d, n)} or (batch, N, L) = {(b, n, want_l)}"
                + (" (complex A: real and imaginary parts interleaved along L, as mamba packs them)" if packed else ""))
    if value.is_complex() and not shapes.complex_a:
        raise TypeError(f"`{name}` is complex ({value.dtype}) but `A` is real; make A complex too, or pass a real {name}.")
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
    require_tensor("u", u, ndim=3)
    if u.is_complex():
        raise TypeError(f"`u` must be real, got dtype {u.dtype}.")
    batch, dim, length = u.shape
    _check_sequence_arg("delta", delta, (batch, dim, length))
    require_tensor("A", A, ndim=2)
    if A.shape[0] != dim:
        hint = " — did you pass (N, dim)? Use A.T." if A.shape[1] == dim else ""
        raise ValueError(f"`A` must be (dim, N) with dim = {dim} (u is (batch, dim, L) = {_shape(u)}); "
                         f"got {_shape(A)}{hint}")
    if length < 1 or A.shape[1] < 1:
        raise ValueError(f"need L ≥ 1 and N ≥ 1; got u {_shape(u)} and A {_shape(A)}.")
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


# ---------------------------------------------------------------------------------------------
# Shared preparation: Δ, Ā = exp(ΔA), B and C as (batch, dim, N, L) or (dim, N)
# ---------------------------------------------------------------------------------------------


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
# Rung 1: the loop (a readable transcription of mamba_ssm's selective_scan_ref)
# ---------------------------------------------------------------------------------------------


def _in_compute_dtype(shapes: ScanShapes, u, delta, A, B, C, delta_bias, delta_softplus):
    """u, Δ (bias and softplus applied), A, B, C in the compute dtype, shaped as both rungs use them."""
    real = shapes.compute
    delta = prepare_delta(delta, delta_bias, delta_softplus, real)               # (batch, dim, L)
    A = A.to(_complex_dtype(real) if shapes.complex_a else real)                 # (dim, N)
    return u.to(real), delta, A, _as_projection(B, shapes), _as_projection(C, shapes)


def selective_scan_loop(u, delta, A, B, C, D=None, z=None, delta_bias=None, delta_softplus=False,
                        return_last_state=False):
    """The selective scan as a Python loop over time: mamba_ssm's selective_scan_ref, written plainly."""
    shapes, dtype_in = check_selective_scan_inputs(u, delta, A, B, C, D, z, delta_bias), u.dtype
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


def dt_bias_init(d_inner: int, dt_min: float = 1e-3, dt_max: float = 0.1, floor: float = 1e-4) -> torch.Tensor:
    """The dt bias (d_inner,) such that softplus(bias) = Δ drawn log-uniformly in [dt_min, dt_max] (mamba's init)."""
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
        for name, value in (("d_model", d_model), ("d_state", d_state), ("d_conv", d_conv), ("expand", expand)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        d_inner, self.dt_rank, self.d_state = expand * d_model, dt_rank or math.ceil(d_model / 16), d_state
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
        require_tensor("x", x, ndim=3)
        s = self.select(x)
        y = self.scan(s.u, s.delta, s.A, s.B, s.C, self.D, z=s.z)                    # (batch, d_inner, L)
        return self.out_proj(y.transpose(1, 2))


class MambaModel(nn.Module):
    """Embedding, n_layers × (x + MambaBlock(RMSNorm(x))), RMSNorm, linear head. (batch, L) long -> (batch, L, d_output)."""

    def __init__(self, vocab_size: int, d_output: int, d_model: int = 32, d_state: int = 16, n_layers: int = 2,
                 d_conv: int = 4, expand: int = 2, seed: int = 0, scan: ScanFunction = selective_scan):
        super().__init__()
        with torch.random.fork_rng():  # seed the init without disturbing the caller's random stream
            torch.manual_seed(seed)
            self.embedding = nn.Embedding(vocab_size, d_model)
            self.norms = nn.ModuleList(nn.RMSNorm(d_model) for _ in range(n_layers))
            self.blocks = nn.ModuleList(MambaBlock(d_model, d_state, d_conv, expand, scan=scan) for _ in range(n_layers))
            self.norm, self.head = nn.RMSNorm(d_model), nn.Linear(d_model, d_output)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Logits (batch, L, d_output) for tokens (batch, L)."""
        return self.head(self.norm(self.hidden_states(tokens)[-1]))

    def hidden_states(self, tokens: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream (batch, L, d_model) entering each block, and leaving the last one."""
        if not isinstance(tokens, torch.Tensor) or tokens.ndim != 2 or tokens.dtype != torch.long:
            raise ValueError(f"`tokens` must be a (batch, L) long tensor of token ids; got "
                             f"{getattr(tokens, 'shape', type(tokens).__name__)} {getattr(tokens, 'dtype', '')}.")
        h = self.embedding(tokens)                                                     # (batch, L, d_model)
        states = [h]
        for norm, block in zip(self.norms, self.blocks):
            h = h + block(norm(h))
            states.append(h)
        return states

    @torch.no_grad()
    def selections(self, tokens: torch.Tensor) -> list[Selection]:
        """What each block selected (Δ, B, C, …) for these tokens (batch, L)."""
        states = self.hidden_states(tokens)
        return [block.select(norm(h)) for norm, block, h in zip(self.norms, self.blocks, states)]


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


def state_size_cost(batch: int, dim: int, state: int, length: int, dtype: str = "float32") -> dict[str, int]:
    """Bytes of the scan's inputs/outputs against its states, for a (batch, dim, L) scan with state size N.

    "inputs and outputs": u, Δ, z, y and B, C (lessons.memory_traffic.sequence_bytes). "all states": h for every
    step, batch·dim·N·L, what a naive scan writes to memory. "one state": h for one step.
    """
    element = DTYPE_BYTES[dtype]
    return {"inputs and outputs": sequence_bytes(batch, dim, length, state, dtype),
            "all states": batch * dim * state * length * element,
            "one state": batch * dim * state * element}


# ---------------------------------------------------------------------------------------------
# Why a fixed λ can't select: hand-set Δ against a constant Δ on the same tokens
# ---------------------------------------------------------------------------------------------
HAND_SET_A = -torch.tensor([[0.5, 1.0, 2.0, 4.0]])        # (dim=1, N=4): four decay rates to look at


def hand_set_deltas(tokens: torch.Tensor, symbol_delta: float = 1.0, other_delta: float = 0.01) -> torch.Tensor:
    """Δ_t (L,) a hand-set selective SSM would choose: large on symbols (write, forget the old), tiny elsewhere."""
    from lessons.selective_tasks import FIRST_SYMBOL

    return torch.where(tokens >= FIRST_SYMBOL, symbol_delta, other_delta).to(torch.float64)


def symbol_share(weights: torch.Tensor, tokens: torch.Tensor) -> float:
    """Fraction of Σ|final-state weight| (…, L) that sits on symbol tokens: 1 = only symbols survive."""
    from lessons.selective_tasks import FIRST_SYMBOL

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


def lti_kernel(delta: float, A: torch.Tensor, B: torch.Tensor, C: torch.Tensor, length: int) -> torch.Tensor:
    """K_k = Σ_n C[n]·exp(ΔA[n])^k·ΔB[n], k < length: a fixed-Δ SSM is the causal convolution y = K ∗ u."""
    powers = torch.exp(delta * A)[:, None] ** torch.arange(length, dtype=A.dtype)  # (N, L)
    return (C[:, None] * powers * delta * B[:, None]).sum(0)                      # (L,)


def causal_convolution(u: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """y_t = Σ_{k≤t} K_k·u_{t−k} for u (..., L) and K (L,), via F.conv1d."""
    length = u.shape[-1]
    padded = F.pad(u.reshape(-1, 1, length), (length - 1, 0))                      # (R, 1, 2L − 1)
    return F.conv1d(padded, kernel.flip(0)[None, None]).reshape(u.shape)


# ---------------------------------------------------------------------------------------------
# The experiment: selective copying, a time-invariant LRU against the selective Mamba model
# ---------------------------------------------------------------------------------------------
SELECTIVE, TIME_INVARIANT = "Mamba (selective)", "LRU (time-invariant)"
COPYING = {"region": 24, "n_memorize": 4, "n_symbols": 8, "steps": 250, "batch": 16, "lr": 1e-2, "d_model": 32}
COPYING_FULL = {"region": 64, "n_memorize": 8, "n_symbols": 8, "steps": 1500, "batch": 32, "lr": 5e-3, "d_model": 32}


def make_copying_model(name: str, n_symbols: int, d_model: int = 32, seed: int = 0) -> nn.Module:
    """The two contestants, two layers each, d_model wide: Mamba (N = 16) or the LRU of lesson 05 (N = 2·d_model)."""
    from lessons.lru import LRUModel
    from lessons.selective_tasks import vocab_size

    vocab = vocab_size(n_symbols)
    if name == SELECTIVE:
        return MambaModel(vocab, vocab, d_model=d_model, d_state=16, n_layers=2, seed=seed)
    if name == TIME_INVARIANT:
        return LRUModel(vocab, d_model=d_model, d_state=2 * d_model, n_layers=2, vocab_size=vocab, r_min=0.5, seed=seed)
    raise ValueError(f"`name` must be {SELECTIVE!r} or {TIME_INVARIANT!r}, got {name!r}.")


@dataclass
class CopyingRun:
    """One model trained on selective copying: test accuracy (per output position too), history, the model."""

    name: str
    accuracy: float
    per_position: list[float]
    history: dict
    model: nn.Module
    parameters: int
    seconds: float


def train_on_copying(name: str, region: int = 24, n_memorize: int = 4, n_symbols: int = 8, steps: int = 250,
                     batch: int = 16, lr: float = 1e-2, d_model: int = 32, seed: int = 0, log_every: int = 0) -> CopyingRun:
    """Train one model with lessons.training.fit on fresh selective-copying batches; test on 512 new ones."""
    import time

    from lessons.selective_tasks import selective_copying
    from lessons.training import fit

    model = make_copying_model(name, n_symbols, d_model, seed)
    generator = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    history = fit(model, lambda _: selective_copying(batch, n_memorize, region, n_symbols, generator), steps,
                  lr=lr, log_every=log_every)
    seconds = time.perf_counter() - start
    x, y, mask = selective_copying(512, n_memorize, region, n_symbols, torch.Generator().manual_seed(seed + 10_000))
    per_position = position_accuracy(model, x, y, mask)
    return CopyingRun(name, sum(per_position) / len(per_position), per_position, history, model,
                      sum(p.numel() for p in model.parameters()), seconds)


@torch.no_grad()
def position_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, mask: torch.Tensor) -> list[float]:
    """Accuracy at each scored position (mask (L,)): for copying, the 1st, 2nd, … symbol to output."""
    was_training = model.training
    model.eval()
    hits = model(x)[:, mask].argmax(-1) == y[:, mask]                              # (batch, n_scored)
    model.train(was_training)
    return hits.float().mean(0).tolist()


def copying_experiment(names=(TIME_INVARIANT, SELECTIVE), verbose: bool = True, **config) -> list[CopyingRun]:
    """Both models on the same task, steps, batch and learning rate (config overrides COPYING)."""
    runs = []
    for name in names:
        runs.append(train_on_copying(name, **{**COPYING, **config}))
        if verbose:
            run = runs[-1]
            print(f"{name:<22} {run.parameters:>6} parameters  test accuracy {run.accuracy:.3f}  "
                  f"({run.seconds:.1f} s)", flush=True)
    return runs


def smoothed(values: list[float], window: int = 10) -> list[float]:
    """Running mean over the last `window` values (shorter at the start)."""
    return [sum(values[max(0, i - window + 1): i + 1]) / (i + 1 - max(0, i - window + 1)) for i in range(len(values))]


def plot_copying_runs(runs: list[CopyingRun], ax_loss, ax_position, chance: float) -> None:
    """Training loss (smoothed) per model, and test accuracy at each output position, with chance dashed."""
    for run in runs:
        ax_loss.plot(smoothed(run.history["loss"]), label=run.name)
        ax_position.plot(range(1, len(run.per_position) + 1), run.per_position, marker="o", label=run.name)
    ax_loss.set(xlabel="training step", ylabel="loss (smoothed)", title="training loss")
    ax_position.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    ax_position.set(xlabel="which symbol (1st, 2nd, …)", ylabel="test accuracy", ylim=(0, 1.05),
                    title="test accuracy per output")
    ax_loss.legend()
    ax_position.legend()


@torch.no_grad()
def selection_by_token_kind(model: MambaModel, x: torch.Tensor) -> list[dict[str, dict[str, float]]]:
    """Per layer, the mean of Δ_t (over channels), ‖B_t‖ and ‖C_t‖ on symbol, noise and go tokens of x (batch, L).

    This is how the trained model's selection depends on what the token is: compare the columns."""
    from lessons.selective_tasks import FIRST_SYMBOL, GO, NOISE

    kinds = {"symbol": x >= FIRST_SYMBOL, "noise": x == NOISE, "go": x == GO}
    result = []
    for s in model.selections(x):
        quantities = {"Δ": s.delta.mean(1), "‖B‖": s.B.norm(dim=1), "‖C‖": s.C.norm(dim=1)}      # each (batch, L)
        result.append({q: {k: float(v[w].mean()) for k, w in kinds.items() if w.any()} for q, v in quantities.items()})
    return result


def selection_table(by_kind: list[dict[str, dict[str, float]]]) -> str:
    """selection_by_token_kind as text: one row per (layer, quantity), one column per token kind."""
    kinds = ["symbol", "noise", "go"]
    lines = [f"{'layer':>5} {'':>4} " + " ".join(f"{k:>8}" for k in kinds) + "   symbol/noise"]
    for layer, quantities in enumerate(by_kind, start=1):
        for q, means in quantities.items():
            ratio = means["symbol"] / means["noise"] if means.get("noise") else float("nan")
            lines.append(f"{layer:>5} {q:>4} " + " ".join(f"{means.get(k, float('nan')):>8.4f}" for k in kinds)
                         + f"   {ratio:>12.2f}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The notation table: SSM names against the linear-RNN view, each pointing at its line of code
# ---------------------------------------------------------------------------------------------
NOTATION = [  # (SSM notation, linear-RNN view, a piece of the line that implements it)
    ("A = −exp(A_log), init −[1..N]", "log-eigenvalues: λ_t = exp(Δ_t·A)", "self.A_log = nn.Parameter(a_log_init"),
    ("Ā = exp(ΔA)", "the gate λ_t (lesson 05's λ = exp(Δ·a))", "gates = torch.exp(delta[:, :, None, :] * A[..., None])"),
    ("B (B_t = linear in x_t)", "input projection", "inputs = (delta * u)[:, :, None, :] * B_t"),
    ("C (C_t = linear in x_t)", "output projection", "y = (h * C_t).sum(-2)"),
    ("D", "skip connection", "y = y + u * D.to(y.dtype)[:, None]"),
    ("Δ = softplus(dt_proj(x) + bias)", "step size, gate", "delta = F.softplus(self.dt_proj(dt))"),
    ("state size N", "expansion factor: N numbers per channel (16)", "self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state"),
    ("the scan", "h_t = λ_t ⊙ h_{t−1} + b_t (lesson 04)", "h = linear_scan(gates, inputs.to(gates.dtype)"),
]


def notation_table() -> str:
    """NOTATION as text, with the file and line number where each piece lives in lessons/ssm.py."""
    import inspect

    lines = inspect.getsource(inspect.getmodule(notation_table)).splitlines()
    rows = [f"{'SSM notation':<32} {'linear-RNN view':<44} code"]
    for ssm_name, rnn_name, snippet in NOTATION:
        number = next(i + 1 for i, line in enumerate(lines) if snippet in line and "NOTATION" not in line
                      and not line.lstrip().startswith("("))
        rows.append(f"{ssm_name:<32} {rnn_name:<44} lessons/ssm.py:{number}  {lines[number - 1].strip()[:60]}")
    return "\n".join(rows)
