"""Lesson 05's experiments: gradients near |λ| = 1, and one long-range task for a tanh RNN, an LSTM and the LRU."""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch
from torch import nn

from lessons.checks import require_one_of
from lessons.lru import LRU, LRUModel, gradient_sizes, lru_magnitude, state_variance
from lessons.experiments.recorded import recorded_section
from lessons.tasks import recall_first_task
from lessons.training import accuracy, fit
from lessons.utils import MarkdownTable, markdown_table, seeded


def gradient_sizes_by_radius(radii=(0.9, 0.99, 0.999, 0.9999), length: int = 1000) -> dict[float, dict[str, float]]:
    """lessons.lru.gradient_sizes for several |λ|: radius -> {"λ directly", "through ν", "through ν, with γ"}."""
    return {radius: gradient_sizes(radius, length) for radius in radii}


def gradient_table(radii=(0.9, 0.99, 0.999, 0.9999), length: int = 1000,
                   sizes: dict[float, dict[str, float]] | None = None) -> MarkdownTable:
    """∂h_T/∂p for p = λ directly, ν, and ν with γ, one row per |λ| (pass `sizes` to reuse a measurement)."""
    sizes = sizes if sizes is not None else gradient_sizes_by_radius(radii, length)
    rows = [[str(radius), s["λ directly"], s["through ν"], s["through ν, with γ"]] for radius, s in sizes.items()]
    return markdown_table(rows, ["|λ|", "∂h/∂λ (λ directly)", "∂h/∂ν", "∂h/∂ν with γ"], number_format=".3g")


def state_variance_table(radii=(0.5, 0.9, 0.99, 0.999), batch: int = 512) -> MarkdownTable:
    """Var(h_T) of white noise through one eigenvalue, without and with γ, estimated from `batch` sequences.

    The estimate of a Gaussian's variance from n samples has a relative standard error of √(2/(n − 1)) (6 % for
    n = 512): with γ the variance is 1 up to that noise, which the last column states in standard errors."""
    noise = math.sqrt(2 / (batch - 1))
    rows = []
    for radius in radii:
        with_gamma = state_variance(radius, normalise=True, batch=batch)
        rows.append([str(radius), f"{state_variance(radius, normalise=False, batch=batch):.1f}",
                     f"{1 / (1 - radius**2):.1f}", f"{with_gamma:.3f}", f"±{noise:.3f}",
                     f"{(with_gamma - 1) / noise:+.1f}"])
    return markdown_table(rows, ["|λ|", "Var(h), no γ", "1/(1−|λ|²)", "Var(h), with γ", "sampling noise (1 s.e.)",
                                 "(Var − 1) in s.e."])


# ---------------------------------------------------------------------------------------------
# The long-range task: the same budget for a tanh RNN, an LSTM and the LRU
# ---------------------------------------------------------------------------------------------
class RecurrentClassifier(nn.Module):
    """Embedding -> one nn.RNN (tanh) or nn.LSTM layer -> linear head: the baselines. (B, L) -> (B, L, d_output)."""

    def __init__(self, cell: str, vocab_size: int, d_hidden: int, d_output: int, seed: int = 0):
        super().__init__()
        cells = {"tanh RNN": nn.RNN, "LSTM": nn.LSTM}
        require_one_of("cell", cell, sorted(cells))
        with seeded(seed):
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


def make_model(name: str, vocab_size: int, d_output: int, width: int = 32, seed: int = 0,
               lru_options: dict | None = None) -> nn.Module:
    """One of MODEL_NAMES for the long-range task: the LRU (2 layers) or a baseline with 2·width units.

    lru_options (LRUModel's r_min, r_max, max_phase, normalise) replace LRU_RING's entries; the default is LRU_RING."""
    if name == "LRU":
        return LRUModel(d_output, d_model=width, d_state=width, n_layers=2, vocab_size=vocab_size,
                        seed=seed, **{**LRU_RING, **(lru_options or {})})
    return RecurrentClassifier(name, vocab_size, 2 * width, d_output, seed)


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
                    log_every: int = 0, lru_options: dict | None = None) -> RecallRun:
    """Train one model on recall_first_task at `length` and measure it on 512 fresh sequences."""
    vocab = n_classes + n_distractors
    model = make_model(name, vocab, n_classes, width, seed, lru_options)
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


def accuracy_table(runs: list[RecallRun]) -> MarkdownTable:
    """One row per length, one column per model: test accuracies."""
    names = list(dict.fromkeys(run.name for run in runs))
    lengths = list(dict.fromkeys(run.length for run in runs))
    cell = {(run.name, run.length): run.accuracy for run in runs}
    rows = [[str(length)] + [cell.get((name, length), float("nan")) for name in names] for length in lengths]
    return markdown_table(rows, ["L", *names], number_format=".3f")


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
# Where does training move |λ|? And what does γ buy?
# ---------------------------------------------------------------------------------------------
HALF_LIFE_BINS = (0.0, 1.0, 4.0, 32.0, 256.0, math.inf)   # steps; the last bins are "long memory" at L = 32


def half_lives(magnitudes: torch.Tensor) -> torch.Tensor:
    """ln ½ / ln|λ|: the number of steps after which an input has faded to half, for |λ| in [0, 1)."""
    return math.log(0.5) / torch.log(magnitudes.double().clamp(1e-300, 1 - 1e-16))


def half_life_histogram(magnitudes: torch.Tensor, bins=HALF_LIFE_BINS) -> list[int]:
    """How many eigenvalues have a half-life in each [bins[i], bins[i+1]) steps."""
    lives = half_lives(magnitudes)
    return [int(((lives >= low) & (lives < high)).sum()) for low, high in zip(bins[:-1], bins[1:], strict=True)]


def drift_summary(before: torch.Tensor, after: torch.Tensor, threshold: float = 0.01) -> dict:
    """How |λ| moved between two snapshots (N,): counts moved by more than `threshold`, towards or away from 1."""
    change = after.double() - before.double()
    return {"n": len(before), "moved": int((change.abs() > threshold).sum()),
            "towards 1": int((change > threshold).sum()), "away from 1": int((change < -threshold).sum()),
            "largest move": float(change.abs().max()), "max |λ| after": float(after.max()),
            "histogram before": half_life_histogram(before), "histogram after": half_life_histogram(after)}


def half_life_table(summary: dict, bins=HALF_LIFE_BINS) -> MarkdownTable:
    """drift_summary's half-life histograms, before and after training, one row per bin."""
    labels = [f"{low:g} – {high:g}" for low, high in zip(bins[:-1], bins[1:], strict=True)]
    rows = [[label, str(b), str(a)] for label, b, a in
            zip(labels, summary["histogram before"], summary["histogram after"], strict=True)]
    return markdown_table(rows, ["half-life (steps)", "eigenvalues before", "after training"])


def eigenvalue_drift_run(length: int = 32, steps: int = 400, r_min: float = 0.0, seed: int = 0) -> RecallRun:
    """The LRU trained on the recall task from a ring that starts low (r_min, up to 1): |λ| recorded every steps/10."""
    return train_on_recall("LRU", length, steps=steps, seed=seed,
                           lru_options={"r_min": r_min, "r_max": 1.0, "max_phase": math.pi / 10})


def layer_state_variances(normalise: bool, r_min: float = 0.9, r_max: float = 0.9999, length: int = 2048,
                          d_model: int = 8, d_state: int = 64, batch: int = 64, seed: int = 0) -> torch.Tensor:
    """Var(h_L) per state (N,) of one LRU layer fed unit white noise x (batch, length, d_model), with or without γ."""
    generator = torch.Generator().manual_seed(seed)
    layer = LRU(d_model, d_state, r_min, r_max, normalise=normalise, generator=generator)
    x = torch.randn(batch, length, d_model, generator=generator)                 # (B, L, H)
    with torch.no_grad():
        last = layer.states(x)[:, -1]                                              # (B, N) complex
    return last.abs().pow(2).mean(dim=0)                                           # E|h|², the mean is 0


def gamma_training_comparison(length: int = 128, steps: int = 150, seed: int = 0) -> dict[str, RecallRun]:
    """The lesson's LRU on the recall task at `length`, trained with γ and without (normalise=False)."""
    return {label: train_on_recall("LRU", length, steps=steps, seed=seed, lru_options={"normalise": normalise})
            for label, normalise in (("with γ", True), ("without γ", False))}


# ---------------------------------------------------------------------------------------------
# The recorded full run (results/lesson05_full_experiment.md)
# ---------------------------------------------------------------------------------------------
FULL_RESULTS = "lesson05_full_experiment.md"


def recorded_magnitudes(name: str = FULL_RESULTS) -> dict[int, dict[str, tuple[float, float, float]]]:
    """The recorded LRU |λ| (min, median, max) per L: {L: {"before": (...), "after": (...)}}."""
    pattern = re.compile(r"- L = (\d+): \|λ\| min/median/max ([\d.]+) / ([\d.]+) / ([\d.]+) before, "
                         r"([\d.]+) / ([\d.]+) / ([\d.]+) after")
    found = {}
    for match in pattern.finditer(recorded_section(name, "magnitudes")):
        numbers = [float(group) for group in match.groups()[1:]]
        found[int(match.group(1))] = {"before": tuple(numbers[:3]), "after": tuple(numbers[3:])}
    return found
