"""Lesson 05: a stable parameterisation of the eigenvalues (the Linear Recurrent Unit, LRU).

Orvieto et al., *Resurrecting Recurrent Neural Networks for Long Sequences* (ICML 2023):

    λ = exp(−exp(ν) + i·exp(θ)),   so |λ| = exp(−exp(ν)) ∈ (0, 1) for every real ν;
    h_t = λ ⊙ h_{t−1} + γ ⊙ (B x_t),   γ = √(1 − |λ|²);      y_t = Re(C h_t) + D ⊙ x_t.

Shapes are batch-first: x is (B, L, H) real (H = d_model), the state h is (B, L, N) complex (N = d_state).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from lessons.scan import linear_scan
from lessons.tasks import recall_first_task
from lessons.training import accuracy, fit
from lessons.checks import require_in_range, require_tensor

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
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"`n` must be a positive int (the number of eigenvalues), got {n!r}.")
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
    """

    def __init__(self, d_model: int, d_state: int, r_min: float = 0.0, r_max: float = 1.0,
                 max_phase: float = 2 * math.pi, normalise: bool = True, generator: torch.Generator | None = None):
        super().__init__()
        for name, value in (("d_model", d_model), ("d_state", d_state)):
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"`{name}` must be a positive int, got {value!r}.")
        nu, theta = ring_init(d_state, r_min, r_max, max_phase, generator)
        self.nu = nn.Parameter(nu)                                                          # (N,)
        self.theta = nn.Parameter(theta)                                                    # (N,)
        self.B_re = nn.Parameter(torch.randn(d_state, d_model, generator=generator) / math.sqrt(2 * d_model))
        self.B_im = nn.Parameter(torch.randn(d_state, d_model, generator=generator) / math.sqrt(2 * d_model))
        self.C_re = nn.Parameter(torch.randn(d_model, d_state, generator=generator) / math.sqrt(d_state))
        self.C_im = nn.Parameter(torch.randn(d_model, d_state, generator=generator) / math.sqrt(d_state))
        self.D = nn.Parameter(torch.randn(d_model, generator=generator))                    # (H,)
        self.normalise = normalise

    def eigenvalues(self) -> torch.Tensor:
        """λ (N,) complex64 from the learned ν and θ."""
        return lru_eigenvalues(self.nu, self.theta)

    def input_scale(self) -> torch.Tensor:
        """γ (N,) when normalising, else ones."""
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


def _check_sequence(x: torch.Tensor, d_model: int) -> None:
    """x must be a real (B, L, d_model) tensor."""
    require_tensor("x", x, ndim=3)
    if x.is_complex() or x.shape[-1] != d_model:
        raise ValueError(f"`x` must be real (batch, length, d_model={d_model}), got shape {tuple(x.shape)} "
                         f"and dtype {x.dtype}.")


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
        with torch.random.fork_rng():  # Linear/Embedding draw from the global generator: seed it, then restore it
            torch.manual_seed(seed)
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
        if self.takes_tokens and (x.ndim != 2 or x.dtype != torch.long):
            raise ValueError(f"this model takes token ids, a (batch, length) long tensor; got shape "
                             f"{tuple(x.shape)} and dtype {x.dtype}.")
        if not self.takes_tokens and (x.ndim != 3 or x.shape[-1] != self.encoder.in_features):
            raise ValueError(f"this model takes floats (batch, length, {self.encoder.in_features}); "
                             f"got shape {tuple(x.shape)}.")


# ---------------------------------------------------------------------------------------------
# The experiment: the same long-range task for a tanh RNN, an LSTM and the LRU
# ---------------------------------------------------------------------------------------------
class RecurrentClassifier(nn.Module):
    """Embedding -> one nn.RNN (tanh) or nn.LSTM layer -> linear head: the baselines. (B, L) -> (B, L, d_output)."""

    def __init__(self, cell: str, vocab_size: int, d_hidden: int, d_output: int, seed: int = 0):
        super().__init__()
        cells = {"tanh RNN": nn.RNN, "LSTM": nn.LSTM}
        if cell not in cells:
            raise ValueError(f"`cell` must be one of {sorted(cells)}, got {cell!r}.")
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            self.embed = nn.Embedding(vocab_size, d_hidden)
            self.rnn = cells[cell](d_hidden, d_hidden, batch_first=True)
            self.head = nn.Linear(d_hidden, d_output)
        _give_the_baseline_a_fair_start(self.rnn, d_hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        states, _ = self.rnn(self.embed(x))                                  # (B, L, d_hidden)
        return self.head(states)


@torch.no_grad()
def _give_the_baseline_a_fair_start(rnn: nn.Module, d_hidden: int) -> None:
    """The usual good practice: an orthogonal recurrent matrix (tanh RNN), a forget-gate bias of 1 (LSTM)."""
    if isinstance(rnn, nn.LSTM):
        rnn.bias_ih_l0[d_hidden: 2 * d_hidden] = 1.0       # gates are ordered (input, forget, cell, output)
        rnn.bias_hh_l0[d_hidden: 2 * d_hidden] = 0.0
    else:
        nn.init.orthogonal_(rnn.weight_hh_l0)


MODEL_NAMES = ("tanh RNN", "LSTM", "LRU")
DEFAULT_SETTINGS = {"lengths": (8, 32, 128), "steps": 150, "batch": 16}   # the notebook's run: seconds on a CPU
FULL_SETTINGS = {"lengths": (8, 32, 128, 512), "steps": 500, "batch": 32}  # FULL = True: minutes on a CPU
LRU_RING = {"r_min": 0.99, "r_max": 0.9999, "max_phase": math.pi / 10}  # memory of 70 to 7000 steps


def make_model(name: str, vocab_size: int, d_output: int, width: int = 32, seed: int = 0) -> nn.Module:
    """One of MODEL_NAMES for the long-range task: the LRU (2 layers) or a baseline with 2·width units."""
    if name == "LRU":
        return LRUModel(d_output, d_model=width, d_state=width, n_layers=2, vocab_size=vocab_size,
                        seed=seed, **LRU_RING)
    return RecurrentClassifier(name, vocab_size, 2 * width, d_output, seed)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable numbers in a model."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def eigenvalue_magnitudes(model: nn.Module) -> torch.Tensor:
    """|λ| of every LRU layer in `model`, concatenated into one (total N,) float tensor."""
    layers = [m for m in model.modules() if isinstance(m, LRU)]
    if not layers:
        raise ValueError("this model has no LRU layer, so no eigenvalues to show.")
    with torch.no_grad():
        return torch.cat([lru_magnitude(layer.nu) for layer in layers])


@dataclass
class RecallRun:
    """One trained model on the recall task: its test accuracy, history, and |λ| snapshots (LRU only)."""

    name: str
    length: int
    accuracy: float
    history: dict
    model: nn.Module
    magnitudes: dict[int, torch.Tensor] = field(default_factory=dict)   # step -> |λ| (N,), step −1 = init


def train_on_recall(name: str, length: int, steps: int = 150, batch: int = 16, lr: float = 1e-2,
                    width: int = 32, n_classes: int = 8, n_distractors: int = 8, seed: int = 0,
                    log_every: int = 0) -> RecallRun:
    """Train one model on recall_first_task at `length` and measure it on 512 fresh sequences."""
    vocab = n_classes + n_distractors
    model = make_model(name, vocab, n_classes, width, seed)
    generator = torch.Generator().manual_seed(seed)
    run = RecallRun(name, length, float("nan"), {}, model)
    record = name == "LRU"
    if record:
        run.magnitudes[-1] = eigenvalue_magnitudes(model)

    def snapshot(step: int, model: nn.Module) -> None:
        if record and (step + 1) % max(1, steps // 10) == 0:
            run.magnitudes[step] = eigenvalue_magnitudes(model)

    run.history = fit(model, lambda _: recall_first_task(batch, length, n_classes, n_distractors, generator),
                      steps, lr=lr, log_every=log_every, on_step=snapshot)
    test = recall_first_task(512, length, n_classes, n_distractors, torch.Generator().manual_seed(seed + 10_000))
    run.accuracy = accuracy(model, *test)
    return run


def long_range_experiment(lengths=(8, 32, 128), names=MODEL_NAMES, verbose: bool = True, **options) -> list[RecallRun]:
    """Every model at every length with the same budget (options go to train_on_recall); prints as it goes."""
    runs = []
    for length in lengths:
        for name in names:
            runs.append(train_on_recall(name, length, **options))
            if verbose:
                print(f"L = {length:4d}  {name:<9} test accuracy {runs[-1].accuracy:.3f}", flush=True)
    return runs


def accuracy_table(runs: list[RecallRun]) -> str:
    """A text table: one row per length, one column per model, test accuracies."""
    names = list(dict.fromkeys(run.name for run in runs))
    lengths = list(dict.fromkeys(run.length for run in runs))
    cell = {(run.name, run.length): run.accuracy for run in runs}
    lines = [f"{'L':>6} " + " ".join(f"{name:>9}" for name in names)]
    for length in lengths:
        lines.append(f"{length:>6} " + " ".join(f"{cell.get((name, length), float('nan')):>9.3f}" for name in names))
    return "\n".join(lines)


def plot_accuracy_against_length(runs: list[RecallRun], ax, chance: float | None = None) -> None:
    """Test accuracy against L (log scale), one line per model, with the chance level dashed."""
    for name in dict.fromkeys(run.name for run in runs):
        mine = [run for run in runs if run.name == name]
        ax.plot([run.length for run in mine], [run.accuracy for run in mine], marker="o", label=name)
    if chance is not None:
        ax.axhline(chance, color="grey", ls="--", lw=1, label="chance")
    ax.set(xscale="log", xlabel="L (distance to the token to recall)", ylabel="test accuracy", ylim=(0, 1.05))
    ax.set_xticks([run.length for run in runs], [str(run.length) for run in runs])
    ax.legend()


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


def gradient_table(radii=(0.9, 0.99, 0.999, 0.9999), length: int = 1000) -> str:
    """gradient_sizes for several |λ|, as a text table."""
    rows = [f"{'|λ|':>7} {'∂h/∂λ (λ directly)':>20} {'∂h/∂ν':>10} {'∂h/∂ν with γ':>13}"]
    for radius in radii:
        sizes = gradient_sizes(radius, length)
        rows.append(f"{radius:>7} {sizes['λ directly']:>20.3g} {sizes['through ν']:>10.3g} "
                    f"{sizes['through ν, with γ']:>13.3g}")
    return "\n".join(rows)


def state_variance(radius: float, normalise: bool, length: int = 4000, batch: int = 512, seed: int = 0) -> float:
    """Var(h_T) for white-noise input through h_t = λ h_{t−1} + γ x_t (γ = √(1 − λ²) if normalise, else 1)."""
    x = torch.randn(batch, length, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)  # (B, T)
    lam = torch.tensor(radius, dtype=torch.float64)
    gamma = torch.sqrt(1 - lam**2) if normalise else 1.0
    return float(scalar_state(lam, x, gamma).var())


def fit_one_eigenvalue(parameterisation: str, start: float = 0.99, target: float = 0.999, steps: int = 30,
                       lr: float = 1e-3, length: int = 1000, batch: int = 64, seed: int = 0) -> list[float]:
    """Learn one real λ with plain SGD so that h_T matches a teacher with λ = target; return |λ| per step.

    parameterisation "λ" trains λ itself; "ν" trains ν with λ = exp(−exp(ν)). Same loss, same lr. The
    list stops early (with inf) once the loss is no longer finite: the state has exploded.
    """
    if parameterisation not in ("λ", "ν"):
        raise ValueError(f"`parameterisation` must be 'λ' or 'ν', got {parameterisation!r}.")
    generator = torch.Generator().manual_seed(seed)
    raw = torch.tensor(start if parameterisation == "λ" else float(nu_for_magnitude(start)),
                       dtype=torch.float64, requires_grad=True)
    to_lambda = (lambda p: p) if parameterisation == "λ" else lru_magnitude
    radii = [start]
    for _ in range(steps):
        x = torch.randn(batch, length, generator=generator, dtype=torch.float64)       # (B, T)
        target_state = scalar_state(torch.tensor(target, dtype=torch.float64), x)
        loss = (scalar_state(to_lambda(raw), x) - target_state).pow(2).mean()
        if not torch.isfinite(loss):
            radii.append(math.inf)
            break
        (grad,) = torch.autograd.grad(loss, raw)
        with torch.no_grad():
            raw -= lr * grad
        radii.append(abs(float(to_lambda(raw.detach()))))
    return radii
