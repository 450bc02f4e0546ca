"""Lesson 06's experiments: what a fixed or hand-set Δ keeps, the convolution view, the cost of a state of size N,
and selective copying with a time-invariant LRU against the selective Mamba model."""
from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from matplotlib.colors import LogNorm
from matplotlib.ticker import MaxNLocator
from torch import nn

from lessons import ssm
from lessons.checks import require_one_of
from lessons.lru import LRUModel
from lessons.memory_traffic import human_bytes, state_size_cost
from lessons.ssm import (HAND_SET_A, MambaBlock, MambaModel, Selection, causal_convolution, final_state_weights,
                         hand_set_deltas, lti_kernel, selective_scan, ssm_matrix, symbol_share, toeplitz_gap)
from lessons.tasks import FIRST_SYMBOL, GO, NOISE, decode, induction_heads, selective_copying, vocab_size
from lessons.training import accuracy, fit, parameter_count
from lessons.utils import MarkdownTable, markdown_table, median_time, seeded


# ---------------------------------------------------------------------------------------------
# Why a fixed λ can't select, and what a hand-set Δ keeps
# ---------------------------------------------------------------------------------------------
def fixed_delta_measurements(tokens: torch.Tensor, deltas=(0.01, 0.1, 0.3, 1.0, 3.0)) -> list[dict[str, float]]:
    """For each fixed Δ, on tokens (L,) with A = HAND_SET_A (B = 1): the share of the final state on symbols and
    on the last token, and how much of the first symbol's write the later decays left (mean over n)."""
    A = HAND_SET_A[0].double()                                                     # (N,)
    first = int((tokens >= FIRST_SYMBOL).nonzero()[0])
    found = []
    for delta in deltas:
        steps = torch.full((1, 1, len(tokens)), delta, dtype=torch.float64)        # (batch, dim, L)
        weights = final_state_weights(steps, A[None])[0, 0]                        # (N, L)
        per_token = weights.sum(0)                                                 # (L,): Δ·Σ_n exp(A_n·Δ·age)
        found.append({"delta": delta, "symbols hold": symbol_share(weights, tokens),
                      "last token holds": float(per_token[-1] / per_token.sum()),
                      "left of first": float(per_token[first]) / (A.shape[0] * delta)})   # of its write
    return found


def fixed_delta_table(tokens: torch.Tensor, deltas=(0.01, 0.1, 0.3, 1.0, 3.0),
                      measurements: list[dict[str, float]] | None = None) -> MarkdownTable:
    """fixed_delta_measurements as a table, one row per Δ (pass `measurements` to reuse them)."""
    found = measurements if measurements is not None else fixed_delta_measurements(tokens, deltas)
    rows = [[str(m["delta"]), f"{m['symbols hold']:.0%}", f"{m['last token holds']:.0%}", f"{m['left of first']:.3f}"]
            for m in found]
    first = int((tokens >= FIRST_SYMBOL).nonzero()[0])
    left = f"left of {decode(tokens[first:first + 1])} (mean over n)"
    return markdown_table(rows, ["Δ (fixed)", "symbols hold", "the last token holds", left])


def symbol_shares(weights: torch.Tensor, tokens: torch.Tensor) -> list[tuple[str, float]]:
    """(symbol, its share of Σ|final-state weight|) for each symbol token in order: weights (…, L), tokens (L,).

    Shows which symbols the state still holds, e.g. that a reset on every symbol keeps the last one and forgets
    the earlier ones."""
    per_token = weights.abs().reshape(-1, weights.shape[-1]).sum(0)              # (L,)
    shares = per_token / per_token.sum()
    where = (tokens >= FIRST_SYMBOL).nonzero().flatten().tolist()
    return [(decode(tokens[i:i + 1]), float(shares[i])) for i in where]


@dataclass
class ConvolutionView:
    """The hand-set SSM's (L, L) maps u ↦ y for a fixed and a selective Δ, and checks against the scan."""

    M_fixed: torch.Tensor            # (L, L), Toeplitz: a convolution
    M_selective: torch.Tensor        # (L, L), not Toeplitz
    gap_fixed: float                 # toeplitz_gap: 0 exactly for a convolution
    gap_selective: float
    convolution_error: float         # fixed Δ: max |K ∗ u − scan(u)|
    matrix_error: float              # selective Δ: max |M u − scan(u)|


def convolution_view(tokens: torch.Tensor, fixed_delta: float = 0.2,
                     generator: torch.Generator | None = None) -> ConvolutionView:
    """A = HAND_SET_A, B = C = 1 on tokens (L,): a fixed Δ is a convolution y = K ∗ u, the hand-set selective Δ is
    a lower-triangular matrix M that no kernel K reproduces. Both are checked against selective_scan on a random u."""
    A, length = HAND_SET_A[0].double(), len(tokens)                                # (N,)
    ones = torch.ones(A.shape[0], length, dtype=torch.float64)                     # B = C = 1, (N, L)
    fixed, selective = torch.full((length,), fixed_delta, dtype=torch.float64), hand_set_deltas(tokens)
    M_fixed, M_selective = ssm_matrix(fixed, A, ones, ones), ssm_matrix(selective, A, ones, ones)
    u = torch.randn(1, 1, length, generator=generator, dtype=torch.float64)        # (batch, dim, L)
    by_convolution = causal_convolution(u, lti_kernel(fixed_delta, A, ones[:, 0], ones[:, 0], length))
    by_scan = selective_scan(u, fixed[None, None], A[None], ones[:, 0][None], ones[:, 0][None])
    convolution_error = float((by_convolution - by_scan).abs().max())
    by_scan = selective_scan(u, selective[None, None], A[None], ones[None], ones[None])
    matrix_error = float((M_selective @ u[0, 0] - by_scan[0, 0]).abs().max())
    return ConvolutionView(M_fixed, M_selective, toeplitz_gap(M_fixed), toeplitz_gap(M_selective),
                           convolution_error, matrix_error)


def plot_convolution_view(view: ConvolutionView, axes) -> None:
    """The two maps M side by side on one log colour scale: Toeplitz for a fixed Δ, not for a selective one."""
    largest = float(max(view.M_fixed.max(), view.M_selective.max()))
    norm = LogNorm(vmin=largest * 1e-4, vmax=largest)                              # zeros (above the diagonal): blank
    for ax, M, name in zip(axes, (view.M_fixed, view.M_selective),
                           ("fixed Δ: Toeplitz (a convolution)", "selective Δ: not Toeplitz"), strict=True):
        image = ax.imshow(M.clamp(min=largest * 1e-4).numpy(), cmap="magma", norm=norm)
        ax.set(title=name, xlabel="input s", ylabel="output t")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))                      # token positions are whole
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.figure.colorbar(image, ax=ax, label="M[t, s]: weight of input s in output t")


def state_size_table(batch: int, dim: int, length: int, states=(1, 4, 16, 64)) -> MarkdownTable:
    """Bytes of u, Δ, z, y, B, C against all states h_t and one h_t, for each state size N."""
    rows = []
    for state in states:
        cost = state_size_cost(batch, dim, state, length)
        rows.append([str(state), human_bytes(cost["inputs and outputs"]), human_bytes(cost["all states"]),
                     human_bytes(cost["one state"])])
    return markdown_table(rows, ["N", "u, Δ, z, y, B, C", "all states h_t", "one h_t"])


# ---------------------------------------------------------------------------------------------
# The experiment: selective copying, a time-invariant LRU against the selective Mamba model
# ---------------------------------------------------------------------------------------------
SELECTIVE, TIME_INVARIANT = "Mamba (selective)", "LRU (time-invariant)"
COPYING = {"region": 24, "n_memorize": 4, "n_symbols": 8, "steps": 250, "batch": 16, "lr": 1e-2, "d_model": 32}
INDUCTION = {"length": 16, "n_symbols": 8, "steps": 150, "batch": 16, "lr": 1e-2, "d_model": 16}
COPYING_FULL = {"region": 64, "n_memorize": 8, "n_symbols": 8, "steps": 1500, "batch": 32, "lr": 5e-3, "d_model": 32}


ABLATIONS = {  # which of Δ, B, C depend on the input (the Mamba paper's ablation of selectivity)
    "Mamba, only Δ selective": ("delta",),
    "Mamba, only B and C selective": ("B", "C"),
    SELECTIVE: ("delta", "B", "C"),
}


class PartlySelectiveBlock(MambaBlock):
    """A MambaBlock in which only the parts named in `selective` ("delta", "B", "C") depend on the input; the
    others are learned constants: Δ = softplus(bias) per channel, B and C (d_inner, N) as in S4D. The input
    projection keeps its rows for the constant parts (unused, so their gradient is zero)."""

    def __init__(self, d_model: int, d_state: int = 16, selective=("delta", "B", "C"), **options):
        super().__init__(d_model, d_state, **options)
        unknown = set(selective) - {"delta", "B", "C"}
        if unknown:
            raise ValueError(f"`selective` must name parts among 'delta', 'B', 'C', got {sorted(unknown)}.")
        self.selective = tuple(selective)
        d_inner = self.D.shape[0]
        for part in ("B", "C"):
            if part not in self.selective:                                           # (d_inner, N), time-invariant
                self.register_parameter(f"{part}_fixed", nn.Parameter(torch.randn(d_inner, d_state) / d_state**0.5))

    def select(self, x: torch.Tensor) -> Selection:
        """MambaBlock.select, with the non-selective parts replaced by their constants."""
        s = super().select(x)
        batch, d_inner, length = s.u.shape
        if "delta" not in self.selective:
            s.delta = F.softplus(self.dt_proj.bias)[None, :, None].expand(batch, d_inner, length).contiguous()
        if "B" not in self.selective:
            s.B = self.B_fixed
        if "C" not in self.selective:
            s.C = self.C_fixed
        return s


def make_copying_model(name: str, n_symbols: int, d_model: int = 32, seed: int = 0) -> nn.Module:
    """The contestants, two layers each, d_model wide: Mamba (N = 16), the LRU of lesson 05 (N = 2·d_model), or
    one of the ABLATIONS (Mamba with only some of Δ, B, C selective)."""
    vocab = vocab_size(n_symbols)
    if name == SELECTIVE:
        return MambaModel(vocab, vocab, d_model=d_model, d_state=16, n_layers=2, seed=seed)
    if name == TIME_INVARIANT:
        return LRUModel(vocab, d_model=d_model, d_state=2 * d_model, n_layers=2, vocab_size=vocab, r_min=0.5, seed=seed)
    if name in ABLATIONS:
        model = MambaModel(vocab, vocab, d_model=d_model, d_state=16, n_layers=2, seed=seed)
        with seeded(seed):                                                            # the same init, partly selective
            model.blocks = nn.ModuleList(PartlySelectiveBlock(d_model, 16, ABLATIONS[name]) for _ in model.blocks)
        return model
    require_one_of("name", name, [SELECTIVE, TIME_INVARIANT, *ABLATIONS])
    raise AssertionError("unreachable")


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


TASKS = {"copying": selective_copying, "induction heads": induction_heads}   # lessons.tasks, by name


def train_on_task(name: str, task: str = "copying", n_symbols: int = 8, steps: int = 250, batch: int = 16,
                  lr: float = 1e-2, d_model: int = 32, seed: int = 0, log_every: int = 0, **sizes) -> CopyingRun:
    """Train one model with lessons.training.fit on fresh batches of TASKS[task]; test on 512 new ones.

    `sizes` are the task's own (copying: region, n_memorize; induction heads: length)."""
    make_batch = TASKS[task]
    model = make_copying_model(name, n_symbols, d_model, seed)
    generator = torch.Generator().manual_seed(seed)
    histories = []

    def train() -> None:
        histories.append(fit(model, lambda _: make_batch(batch, **sizes, n_symbols=n_symbols, generator=generator),
                             steps, lr=lr, log_every=log_every))

    seconds = median_time(train, repeats=1, warmup=0)                  # one run: training twice would train more
    test = make_batch(512, **sizes, n_symbols=n_symbols, generator=torch.Generator().manual_seed(seed + 10_000))
    per_position = accuracy(model, *test, per_position=True)
    return CopyingRun(name, sum(per_position) / len(per_position), per_position, histories[0], model,
                      parameter_count(model), seconds)


def train_on_copying(name: str, region: int = 24, n_memorize: int = 4, **options) -> CopyingRun:
    """train_on_task on selective copying (options: n_symbols, steps, batch, lr, d_model, seed, log_every)."""
    return train_on_task(name, "copying", region=region, n_memorize=n_memorize, **options)


def copying_experiment(names=(TIME_INVARIANT, SELECTIVE), verbose: bool = True, **config) -> list[CopyingRun]:
    """Both models on the same task, steps, batch and learning rate (config overrides COPYING)."""
    return _experiment("copying", {**COPYING, **config}, names, verbose)


def induction_experiment(names=(TIME_INVARIANT, SELECTIVE), verbose: bool = True, **config) -> list[CopyingRun]:
    """Both models on induction heads with the same budget (config overrides INDUCTION)."""
    return _experiment("induction heads", {**INDUCTION, **config}, names, verbose)


def _experiment(task: str, config: dict, names, verbose: bool) -> list[CopyingRun]:
    """train_on_task for each name; prints a line per model as it goes."""
    runs = []
    for name in names:
        runs.append(train_on_task(name, task, **config))
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
    ax_position.set_xticks(range(1, max(len(run.per_position) for run in runs) + 1))   # whole positions only
    ax_loss.legend()
    ax_position.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small")   # outside: covers no point


@torch.no_grad()
def selection_by_token_kind(model: MambaModel, x: torch.Tensor) -> list[dict[str, dict[str, float]]]:
    """Per layer, the mean of Δ_t (over channels), ‖B_t‖ and ‖C_t‖ on symbol, noise and go tokens of x (batch, L).

    This is how the trained model's selection depends on what the token is: compare the columns."""
    kinds = {"symbol": x >= FIRST_SYMBOL, "noise": x == NOISE, "go": x == GO}
    result = []
    for s in model.selections(x):
        quantities = {"Δ": s.delta.mean(1), "‖B‖": s.B.norm(dim=1), "‖C‖": s.C.norm(dim=1)}      # each (batch, L)
        result.append({q: {k: float(v[w].mean()) for k, w in kinds.items() if w.any()} for q, v in quantities.items()})
    return result


def selection_table(by_kind: list[dict[str, dict[str, float]]]) -> MarkdownTable:
    """selection_by_token_kind as a table: one row per (layer, quantity), one column per token kind."""
    kinds = ["symbol", "noise", "go"]
    rows = []
    for layer, quantities in enumerate(by_kind, start=1):
        for q, means in quantities.items():
            ratio = means["symbol"] / means["noise"] if means.get("noise") else float("nan")
            rows.append([str(layer), q, *(f"{means.get(k, float('nan')):.3g}" for k in kinds), f"{ratio:.2f}"])
    return markdown_table(rows, ["layer", "", *kinds, "symbol/noise"])


# ---------------------------------------------------------------------------------------------
# The notation table: SSM names against the linear-RNN view, each pointing at its line of code
# ---------------------------------------------------------------------------------------------
NOTATION = [  # (SSM notation, linear-RNN view, a piece of the line in lessons/ssm.py that implements it)
    ("A = −exp(A_log), init −[1..N]", "log-eigenvalues: λ_t = exp(Δ_t·A)", "self.A_log = nn.Parameter(a_log_init"),
    ("Ā = exp(ΔA)", "the decay λ_t, the share of h kept (lesson 05's λ = exp(Δ·a))",
     "gates = torch.exp(delta[:, :, None, :] * A[..., None])"),
    ("B (B_t = linear in x_t)", "input projection", "inputs = (delta * u)[:, :, None, :] * B_t"),
    ("C (C_t = linear in x_t)", "output projection", "y = (h * C_t).sum(-2)"),
    ("D", "skip connection", "y = y + u * D.to(y.dtype)[:, None]"),
    ("Δ = softplus(dt_proj(x) + bias)", "step size: how much is written, how fast h decays",
     "delta = F.softplus(self.dt_proj(dt))"),
    ("state size N", "expansion factor: N numbers per channel (16)",
     "self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state"),
    ("the scan", "h_t = λ_t ⊙ h_{t−1} + b_t (lesson 04)", "h = linear_scan(gates, inputs.to(gates.dtype)"),
]


def notation_table() -> MarkdownTable:
    """NOTATION as a table, with the line number in lessons/ssm.py where each piece lives, and that line's code."""
    lines = inspect.getsource(ssm).splitlines()
    rows = []
    for ssm_name, rnn_name, snippet in NOTATION:  # the first line that holds the snippet
        number = next(i + 1 for i, line in enumerate(lines) if snippet in line)
        code = lines[number - 1].split("  #")[0].strip()                            # the line, without its comment
        rows.append([ssm_name, rnn_name, f"lessons/ssm.py:{number}", f"`{code}`"])
    return markdown_table(rows, ["SSM notation", "linear-RNN view", "where", "code"])


FULL_RESULTS = "lesson06_full_experiment.md"   # the recorded FULL = True run; its numbers sit between <!-- summary -->
