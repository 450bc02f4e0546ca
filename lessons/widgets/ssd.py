"""Lesson 08 explorer: Mamba-2's matrix M = L ∘ (C Bᵀ) as a heatmap, cut into chunks, with the four steps of
the chunked SSD algorithm lit up on one chunk: its diagonal block (step 1), the states of the chunks before it
(step 2), the scan that carries them across chunk boundaries (step 3), and what the carried state adds (step 4)."""
from __future__ import annotations

import ipywidgets as widgets
import torch
from matplotlib.patches import Rectangle

from lessons.palette import LIGHT
from lessons.ssd import ssd_loop, ssd_matrix, ssd_terms
from lessons.ssm import semiseparable_rank
from lessons.widgets.base import Explorer, new_figure

SELECTIVE = "selective (a_t, B_t, C_t from the input)"
TIME_INVARIANT = "time-invariant (fixed a, B, C)"
MAX_LENGTH = 48


def example_ssd_inputs(length: int, state: int, selective: bool, decay: float, seed: int = 8):
    """One head, P = 1, float64: x (1, L, 1, 1), a (1, L, 1) with mean −decay, B and C (1, L, 1, N).

    Time-invariant: one a, B and C for every step (M is then Toeplitz: constant along its diagonals)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, length, 1, 1, generator=g, dtype=torch.float64)
    if selective:
        a = -2 * decay * torch.rand(1, length, 1, generator=g, dtype=torch.float64)
        B, C = (torch.randn(1, length, 1, state, generator=g, dtype=torch.float64) / state**0.5 for _ in "BC")
    else:
        a = torch.full((1, length, 1), -decay, dtype=torch.float64)
        B, C = (torch.randn(1, 1, 1, state, generator=g, dtype=torch.float64).expand(1, length, 1, state) / state**0.5
                for _ in "BC")
    return x, a, B, C


class SSDExplorer(Explorer):
    """Controls: the model (selective or time-invariant), L, the chunk size Q, the state size N, the mean decay
    per step, and the chunk whose four SSD terms are lit up."""

    def __init__(self, model: str = SELECTIVE, length: int = 24, chunk: int = 8, state: int = 2,
                 decay: float = 0.2, focus: int = 1):
        self.controls = {
            "model": widgets.Dropdown(options=[SELECTIVE, TIME_INVARIANT], value=model, description="model"),
            "length": widgets.IntSlider(value=length, min=2, max=MAX_LENGTH, description="L",
                                        continuous_update=False),
            "chunk": widgets.IntSlider(value=chunk, min=1, max=MAX_LENGTH, description="chunk Q",
                                       continuous_update=False),
            "state": widgets.IntSlider(value=state, min=1, max=8, description="state N", continuous_update=False),
            "decay": widgets.FloatSlider(value=decay, min=0.0, max=2.0, step=0.05, description="mean −a_t",
                                         continuous_update=False, readout_format=".2f"),
            "focus": widgets.IntSlider(value=focus, min=0, max=MAX_LENGTH - 1, description="chunk #",
                                       continuous_update=False),
        }
        super().__init__()

    def draw(self, model: str, length: int, chunk: int, state: int, decay: float, focus: int):
        """Readout and figure: M with its chunk grid and the lit chunk (left), y and its two parts (right)."""
        x, a, B, C = example_ssd_inputs(length, state, model == SELECTIVE, decay)
        M = ssd_matrix(a, B, C)[0, 0]                                              # (L, L)
        terms = ssd_terms(x, a, B, C, chunk_size=chunk)
        y_loop = ssd_loop(x, a, B, C)[0][0, :, 0, 0]                              # (L,)
        chunks = -(-length // chunk)
        requested, focus = focus, min(focus, chunks - 1)
        fig = new_figure(8.4, 4.2)
        ax_m, ax_y = fig.add_axes([0.06, 0.27, 0.38, 0.64]), fig.add_axes([0.56, 0.27, 0.42, 0.64])
        _draw_matrix(ax_m, M, chunk, focus)
        _draw_outputs(ax_y, terms, y_loop, chunk, focus)
        error = float((terms.y_diag + terms.y_off - ssd_loop(x, a, B, C)[0]).abs().max())
        readout = _readout(model, length, chunk, state, focus, chunks, terms, M, error)
        if requested > focus:            # the slider reaches past the last chunk of this L and Q: say so
            note = f"There is no chunk {requested} at L = {length}, Q = {chunk}: showing the last, {focus}. "
            readout = note + readout
        return readout, fig


def _draw_matrix(ax, M: torch.Tensor, chunk: int, focus: int) -> None:
    """M as a heatmap (symmetric colour scale), the chunk grid, and the lit chunk's regions."""
    length = M.shape[0]
    scale = float(M.abs().max().clamp_min(1e-12))
    ax.imshow(M.numpy(), cmap="RdBu_r", vmin=-scale, vmax=scale, interpolation="nearest")
    for edge in range(chunk, length, chunk):
        ax.axhline(edge - 0.5, color=LIGHT.muted, lw=0.6)
        ax.axvline(edge - 0.5, color=LIGHT.muted, lw=0.6)
    start, stop = focus * chunk, min((focus + 1) * chunk, length)
    ax.add_patch(Rectangle((start - 0.5, start - 0.5), stop - start, stop - start, fill=False,
                           edgecolor=LIGHT.accent, lw=2.2, label="1: diagonal block (matmuls)"))
    if start > 0:                    # the rows of the lit chunk left of its block: what the carried state gives
        ax.add_patch(Rectangle((-0.5, start - 0.5), start, stop - start, fill=False, edgecolor=LIGHT.vanishing,
                               lw=2.2, ls="--", label="2–4: through the carried state"))
    ax.set(title="M = L ∘ (C Bᵀ), one head", xlabel="input time s", ylabel="output time t")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, frameon=False)    # below, off M


def _draw_outputs(ax, terms, y_loop: torch.Tensor, chunk: int, focus: int) -> None:
    """y from the loop (dots) and its two chunked parts, with the chunk grid and the lit chunk shaded."""
    length = y_loop.shape[0]
    steps = range(length)
    ax.axvspan(focus * chunk - 0.5, min((focus + 1) * chunk, length) - 0.5, color=LIGHT.faint)
    for edge in range(chunk, length, chunk):
        ax.axvline(edge - 0.5, color=LIGHT.muted, lw=0.6)
    ax.plot(steps, terms.y_diag[0, :, 0, 0].tolist(), color=LIGHT.accent, lw=1.4, label="step 1: y_diag")
    ax.plot(steps, terms.y_off[0, :, 0, 0].tolist(), color=LIGHT.vanishing, lw=1.4, label="step 4: y_off")
    ax.plot(steps, y_loop.tolist(), ls="none", marker="o", ms=3, color=LIGHT.foreground, label="y (the loop)")
    ax.axhline(0, color=LIGHT.muted, lw=0.5)
    ax.set(title="y and its two chunked parts", xlabel="time t", ylabel="y_t", xlim=(-0.5, length - 0.5))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), fontsize=8, frameon=False, ncol=3)


def _readout(model, length, chunk, state, focus, chunks, terms, M, error) -> str:
    """The four steps on the lit chunk, in numbers, and the check against the loop."""
    rows = slice(focus * chunk, min((focus + 1) * chunk, length))
    last = length - (chunks - 1) * chunk                                            # the last chunk may be short
    inside = (chunks - 1) * chunk * (chunk + 1) // 2 + last * (last + 1) // 2
    causal = length * (length + 1) // 2
    norm = lambda t: f"{float(t.norm()):.3g}"                                      # noqa: E731
    rank = semiseparable_rank(M)
    carried = "none: it is the first chunk" if focus == 0 else f"‖H‖ = {norm(terms.carried_states[0, focus])}"
    return (f"{model.split(' (')[0]}, L = {length}, Q = {chunk}: {chunks} chunk{'s' * (chunks > 1)}; the diagonal "
            f"blocks hold {inside} of M's {causal} causal entries (step 1, dense matmuls); the rest is reached "
            f"through {chunks - 1} carried states of N × P = {state} numbers (largest rank below the diagonal: "
            f"{rank} ≤ N). Chunk {focus}: ‖y_diag‖ = {norm(terms.y_diag[0, rows])}; its own state (step 2) "
            f"‖S‖ = {norm(terms.chunk_states[0, focus])}; carried in (step 3) {carried}; ‖y_off‖ = "
            f"{norm(terms.y_off[0, rows])} (step 4). Chunked against the loop: max |Δy| = {error:.1e}.")
