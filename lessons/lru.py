"""Lesson 05: a stable parameterisation of the eigenvalues (the Linear Recurrent Unit, LRU).

Orvieto et al., *Resurrecting Recurrent Neural Networks for Long Sequences* (ICML 2023):

    λ = exp(−exp(ν) + i·exp(θ)),   so |λ| = exp(−exp(ν)) ∈ (0, 1) for every real ν;
    h_t = λ ⊙ h_{t−1} + γ ⊙ (B x_t),   γ = √(1 − |λ|²);      y_t = Re(C h_t) + D ⊙ x_t.

Shapes are batch-first: x is (B, L, H) real (H = d_model), the state h is (B, L, N) complex (N = d_state).
The long-range experiment (tanh RNN, LSTM and LRU on one task) is in lessons.experiments.lru.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lessons.checks import (require_in_range, require_int, require_one_of, require_positive_int, require_shape,
                            require_tensor)
from lessons.scan import linear_scan
from lessons.utils import seeded

NU_MAX = 10.0     # exp(−exp(10)) = 0 in every dtype: beyond this ν changes nothing, so clamp (no inf·0 = NaN)
THETA_MAX = 20.0  # a phase of exp(20) ≈ 5e8 radians is already meaningless; beyond it cos/sin would see inf
THETA_MIN = -30.0  # a phase of e^−30 ≈ 1e-13 radians is 0 for every purpose; keeps log(0) = −inf out


# ---------------------------------------------------------------------------------------------
# The parameterisation
# ---------------------------------------------------------------------------------------------
def nu_min(dtype: torch.dtype = torch.float32) -> float:
    """The smallest ν used: exp(ν) = 2·eps of `dtype`, so |λ| = exp(−2·eps) still rounds to a number < 1."""
    return math.log(2 * torch.finfo(dtype).eps)


def decay_rate(nu: torch.Tensor) -> torch.Tensor:
    """exp(ν) = −ln|λ|, with ν clamped to [nu_min(dtype), NU_MAX] so that |λ| = exp(−exp(ν)) stays below 1."""
    return torch.exp(nu.clamp(nu_min(nu.dtype), NU_MAX))


def lru_eigenvalues(nu: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """λ = exp(−exp(ν) + i·exp(θ)), elementwise: finite, with |λ| < 1, for every real ν and θ (even ±inf).

    ν is clamped to [nu_min(dtype), NU_MAX] and θ to [THETA_MIN, THETA_MAX]: the floor on ν is what
    floating point needs (exp(−tiny) rounds to exactly 1), the other bounds only keep inf and NaN out.
    """
    require_tensor("nu", nu)
    require_tensor("theta", theta)
    magnitude = torch.exp(-decay_rate(nu))                                    # |λ| ∈ (0, 1)
    phase = torch.exp(theta.clamp(THETA_MIN, THETA_MAX))                      # arg λ
    return torch.polar(magnitude, phase)


def lru_magnitude(nu: torch.Tensor) -> torch.Tensor:
    """|λ| = exp(−exp(ν)): the memory of each state, in [0, 1) (0 only once exp(ν) underflows it)."""
    return torch.exp(-decay_rate(nu))


def lru_gamma(nu: torch.Tensor) -> torch.Tensor:
    """γ = √(1 − |λ|²), computed as √(−expm1(−2·exp(ν))) so it stays accurate as |λ| → 1."""
    return torch.sqrt(-torch.expm1(-2 * decay_rate(nu)))


def nu_for_magnitude(radius) -> torch.Tensor:
    """The ν that gives |λ| = radius: ν = log(−log radius), for radius in (0, 1)."""
    radius = torch.as_tensor(radius, dtype=torch.float64)
    if not ((radius > 0) & (radius < 1)).all():
        raise ValueError(f"`radius` must lie strictly between 0 and 1, got {radius.tolist()}.")
    return torch.log(-torch.log(radius))


def theta_for_phase(phase) -> torch.Tensor:
    """The θ that gives arg λ = phase: θ = log(phase), for phase > 0."""
    phase = torch.as_tensor(phase, dtype=torch.float64)
    if not (phase > 0).all():
        raise ValueError(f"`phase` must be positive (θ = log phase), got {phase.tolist()}.")
    return torch.log(phase)


def ring_init(n: int, r_min: float = 0.0, r_max: float = 1.0, max_phase: float = 2 * math.pi,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(ν, θ), each (n,) float32, with λ uniform by area on the ring r_min ≤ |λ| ≤ r_max, arg λ ∈ [0, max_phase].

    |λ|² = u·(r_max² − r_min²) + r_min² with u ~ U[0, 1) is uniform, which is "uniform by area";
    then ν = log(−½·log|λ|²) and θ = log(max_phase·u′). Endpoints (|λ| = 0 or 1, phase 0) are clamped.
    """
    n = require_positive_int("n", n)                                          # the number of eigenvalues
    require_in_range("r_min", r_min, 0.0, 1.0)
    require_in_range("r_max", r_max, r_min, 1.0)
    require_in_range("max_phase", max_phase, 0.0, 2 * math.pi)
    u, u_phase = torch.rand(2, n, generator=generator, dtype=torch.float64)
    radius_squared = u * (r_max**2 - r_min**2) + r_min**2                     # uniform in [r_min², r_max²]
    nu = torch.log(-0.5 * torch.log(radius_squared)).clamp(nu_min(torch.float32), NU_MAX)
    theta = torch.log(max_phase * u_phase).clamp(THETA_MIN, THETA_MAX)
    return nu.float(), theta.float()


# ---------------------------------------------------------------------------------------------
# The layer and the model
# ---------------------------------------------------------------------------------------------
class LRU(nn.Module):
    """One LRU layer: complex diagonal recurrence h_t = λ⊙h_{t−1} + γ⊙(B x_t), output Re(C h_t) + D⊙x_t.

    x (B, L, d_model) real -> (B, L, d_model) real. The recurrence runs with lessons.scan.linear_scan
    along dim=1. `normalise=False` switches γ off (γ = 1) so the lesson can show why it is there.
    `learn_gamma=True` does what the LRU paper's code does: γ becomes its own parameter `gamma_log`, initialised
    to log √(1 − |λ|²) and then trained freely; by default γ is recomputed from ν on every forward pass.
    """

    def __init__(self, d_model: int, d_state: int, r_min: float = 0.0, r_max: float = 1.0,
                 max_phase: float = 2 * math.pi, normalise: bool = True, generator: torch.Generator | None = None,
                 learn_gamma: bool = False):
        super().__init__()
        if learn_gamma and not normalise:
            raise ValueError("`learn_gamma=True` learns the normalisation γ, so it needs `normalise=True`.")
        d_model, d_state = require_positive_int("d_model", d_model), require_positive_int("d_state", d_state)
        nu, theta = ring_init(d_state, r_min, r_max, max_phase, generator)
        self.nu = nn.Parameter(nu)                                                          # (N,)
        self.theta = nn.Parameter(theta)                                                    # (N,)
        self.B_re = nn.Parameter(torch.randn(d_state, d_model, generator=generator) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(d_state, d_model, generator=generator) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, d_state, generator=generator) / math.sqrt(d_state))
        self.C_im = nn.Parameter(torch.randn(d_model, d_state, generator=generator) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model, generator=generator))                    # (H,)
        self.normalise = normalise
        self.gamma_log = nn.Parameter(torch.log(lru_gamma(nu))) if learn_gamma else None           # (N,) or None

    def eigenvalues(self) -> torch.Tensor:
        """λ (N,) complex64 from the learned ν and θ."""
        return lru_eigenvalues(self.nu, self.theta)

    def input_scale(self) -> torch.Tensor:
        """γ (N,): exp(gamma_log) when learned, √(1 − |λ|²) from ν when normalising, else ones."""
        if self.gamma_log is not None:
            return torch.exp(self.gamma_log)
        return lru_gamma(self.nu) if self.normalise else torch.ones_like(self.nu)

    def states(self, x: torch.Tensor) -> torch.Tensor:
        """The complex states h (B, L, N) for x (B, L, d_model)."""
        _check_sequence(x, self.D.shape[0])
        B = torch.complex(self.B_re, self.B_im)                                             # (N, H)
        inputs = (x.to(B.dtype) @ B.T) * self.input_scale()                                 # (B, L, N)
        gates = self.eigenvalues().expand_as(inputs)                                        # (B, L, N)
        return linear_scan(gates, inputs, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """y (B, L, d_model) = Re(C h_t) + D ⊙ x_t."""
        C = torch.complex(self.C_re, self.C_im)                                             # (H, N)
        return (self.states(x) @ C.T).real + self.D * x


REAL_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_sequence(x: torch.Tensor, d_model: int) -> None:
    """x must be a real (B, L, d_model) tensor with L ≥ 1."""
    require_tensor("x", x, ndim=3, dtypes=REAL_DTYPES)
    require_shape("x", x, (None, None, d_model), meaning="(batch, L, d_model)")
    require_int("x.shape[1] (the length L)", x.shape[1], minimum=1)


def lru_loop_reference(layer: LRU, x: torch.Tensor) -> torch.Tensor:
    """The same output as layer(x), computed with a plain Python loop over time: the test's reference."""
    lam, gamma = layer.eigenvalues(), layer.input_scale()                                   # (N,), (N,)
    B = torch.complex(layer.B_re, layer.B_im)
    C = torch.complex(layer.C_re, layer.C_im)
    h = torch.zeros(x.shape[0], lam.shape[0], dtype=lam.dtype)                              # (B, N)
    outputs = []
    for t in range(x.shape[1]):
        h = lam * h + gamma * (x[:, t].to(B.dtype) @ B.T)
        outputs.append((h @ C.T).real + layer.D * x[:, t])
    return torch.stack(outputs, dim=1)                                                      # (B, L, H)


class GLU(nn.Module):
    """Per-token gated MLP: Linear(H, 2H) -> a·sigmoid(b) -> Linear(H, H). Mixes channels, not time."""

    def __init__(self, d_model: int):
        super().__init__()
        self.expand = nn.Linear(d_model, 2 * d_model)
        self.project = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(nn.functional.glu(self.expand(x), dim=-1))


class LRUBlock(nn.Module):
    """norm -> LRU -> residual, then norm -> GLU -> residual."""

    def __init__(self, d_model: int, d_state: int, **lru_options):
        super().__init__()
        self.norm_time, self.lru = nn.LayerNorm(d_model), LRU(d_model, d_state, **lru_options)
        self.norm_token, self.glu = nn.LayerNorm(d_model), GLU(d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.lru(self.norm_time(x))                                                 # mixes time
        return x + self.glu(self.norm_token(x))                                             # mixes channels


class LRUModel(nn.Module):
    """Embedding (tokens) or linear in (floats), n_layers LRU blocks, norm, linear head to d_output logits.

    forward((B, L) long, or (B, L, d_input) float) -> (B, L, d_output).
    """

    def __init__(self, d_output: int, d_model: int = 64, d_state: int = 64, n_layers: int = 2,
                 vocab_size: int | None = None, d_input: int | None = None, r_min: float = 0.0,
                 r_max: float = 1.0, max_phase: float = 2 * math.pi, normalise: bool = True, seed: int = 0):
        super().__init__()
        if (vocab_size is None) == (d_input is None):
            raise ValueError("give exactly one of `vocab_size` (token inputs) or `d_input` (float inputs).")
        generator = torch.Generator().manual_seed(seed)
        with seeded(seed):  # Linear/Embedding draw from the global generator: seed it, then restore it
            self.encoder = nn.Embedding(vocab_size, d_model) if vocab_size else nn.Linear(d_input, d_model)
            self.blocks = nn.ModuleList(
                LRUBlock(d_model, d_state, r_min=r_min, r_max=r_max, max_phase=max_phase, normalise=normalise,
                         generator=generator) for _ in range(n_layers))
            self.norm, self.head = nn.LayerNorm(d_model), nn.Linear(d_model, d_output)
        self.takes_tokens = vocab_size is not None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input(x)
        h = self.encoder(x)                                                                 # (B, L, d_model)
        for block in self.blocks:
            h = block(h)
        return self.head(self.norm(h))                                                      # (B, L, d_output)

    def lru_layers(self) -> list[LRU]:
        """The model's LRU layers, in order (for looking at their eigenvalues)."""
        return [block.lru for block in self.blocks]

    def _check_input(self, x: torch.Tensor) -> None:
        """Token ids (batch, L) long, or floats (batch, L, d_input), with L ≥ 1."""
        if self.takes_tokens:
            require_tensor("x", x, ndim=2, floating=False, dtypes=(torch.long,))
        else:
            require_tensor("x", x, ndim=3, dtypes=(self.encoder.weight.dtype,))          # nn.Linear's dtype
            require_shape("x", x, (None, None, self.encoder.in_features), meaning="(batch, L, d_input)")
        require_int("x.shape[1] (the length L)", x.shape[1], minimum=1)


# ---------------------------------------------------------------------------------------------
# Why not train λ directly? Gradients near |λ| = 1
# ---------------------------------------------------------------------------------------------
def scalar_state(lam: torch.Tensor, x: torch.Tensor, gamma: torch.Tensor | float = 1.0) -> torch.Tensor:
    """h_T of h_t = λ·h_{t−1} + γ·x_t for a batch x (B, T) of real inputs: (B,), via linear_scan."""
    gates = lam.expand_as(x)                                                   # (B, T)
    return linear_scan(gates, gamma * x, dim=1)[:, -1]


def gradient_sizes(radius: float, length: int = 1000, batch: int = 256, seed: int = 0) -> dict[str, float]:
    """RMS over white-noise sequences of ∂h_T/∂p for p = λ (trained directly), p = ν, and p = ν with γ."""
    x = torch.randn(batch, length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)  # (B, T)
    lam = torch.full((batch, 1), radius, dtype=torch.float64, requires_grad=True)  # one copy per sequence,
    nu = nu_for_magnitude(radius).expand(batch, 1).clone().requires_grad_(True)    # so grads are per sequence
    states = {"λ directly": (lam, scalar_state(lam, x)),
              "through ν": (nu, scalar_state(lru_magnitude(nu), x)),
              "through ν, with γ": (nu, scalar_state(lru_magnitude(nu), x, lru_gamma(nu)))}
    sizes = {}
    for key, (parameter, h_last) in states.items():
        (grad,) = torch.autograd.grad(h_last.sum(), parameter)                     # (B, 1): ∂h_T,b/∂p_b
        sizes[key] = float(grad.pow(2).mean().sqrt())
    return sizes


def state_variance(radius: float, normalise: bool, length: int = 4000, batch: int = 512, seed: int = 0) -> float:
    """Var(h_T) for white-noise input through h_t = λ h_{t−1} + γ x_t (γ = √(1 − λ²) if normalise, else 1)."""
    x = torch.randn(batch, length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)  # (B, T)
    lam = torch.tensor(radius, dtype=torch.float64)
    gamma = torch.sqrt(1 - lam**2) if normalise else 1.0
    return float(scalar_state(lam, x, gamma).var())


def fit_one_eigenvalue(parameterisation: str, start: float = 0.99, target: float = 0.999, steps: int = 30,
                       lr: float = 1e-3, length: int = 1000, batch: int = 64, seed: int = 0,
                       optimiser: str = "sgd") -> list[float]:
    """Learn one real λ so that h_T matches a teacher with λ = target; return |λ| per step.

    parameterisation "λ" trains λ itself; "ν" trains ν with λ = exp(−exp(ν)). Same loss, same lr. optimiser
    "sgd" steps by lr·gradient, so a huge gradient throws λ far; "adam" steps by about lr whatever the gradient's
    size. The list stops early (with inf) once the loss is no longer finite: the state has exploded.
    """
    require_one_of("parameterisation", parameterisation, ("λ", "ν"))
    optimisers = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
    require_one_of("optimiser", optimiser, optimisers)
    generator = torch.Generator().manual_seed(seed)
    raw = torch.tensor(start if parameterisation == "λ" else float(nu_for_magnitude(start)),
                       dtype=torch.float64, requires_grad=True)
    to_lambda = (lambda p: p) if parameterisation == "λ" else lru_magnitude
    step = optimisers[optimiser]([raw], lr=lr)
    radii = [start]
    for _ in range(steps):
        x = torch.randn(batch, length, generator=generator, dtype=torch.float64)       # (B, T)
        target_state = scalar_state(torch.tensor(target, dtype=torch.float64), x)
        loss = (scalar_state(to_lambda(raw), x) - target_state).pow(2).mean()
        if not torch.isfinite(loss):
            radii.append(math.inf)
            break
        step.zero_grad()
        loss.backward()
        step.step()
        radii.append(abs(float(to_lambda(raw.detach()))))
    return radii
