"""Lesson 06 explorer: type a token sequence, see Δ_t per token and how much of each input survives in the
final state (a heatmap), for a hand-set selective SSM, a time-invariant one, or a trained Mamba model."""
from __future__ import annotations

import ipywidgets as widgets
import torch

from lessons.tasks import FIRST_SYMBOL, GO, decode, encode
from lessons.palette import LIGHT
from lessons.ssm import final_state_weights, hand_set_weights
from lessons.widgets.base import Explorer, new_figure

SEQUENCES = ["..a.....b.........", "a.b.c.d.>>>>", "..c...a.b.>>>", "abcd............", "...x............"]
HAND_SET = "hand-set selective Δ"
TIME_INVARIANT = "time-invariant (fixed Δ)"
MAX_TOKENS = 48


def parse_tokens(text: str) -> tuple[torch.Tensor | None, str]:
    """Tokens (L,) for the typed text, or None and a plain-words reason (never raises)."""
    text = (text or "").replace(" ", "").lower()[:MAX_TOKENS]
    if not text:
        return None, "type a sequence: '.' is noise, '>' is go, letters a–z are symbols."
    try:
        return encode(text), ""
    except ValueError as error:
        return None, str(error)


class SelectivityExplorer(Explorer):
    """Controls: the token sequence (pick or type), the model, a Δ scale and an A scale.

    `model`, if given, is a trained lessons.ssm.MambaModel over lessons.selective_tasks' vocabulary; its
    layers then appear in the model menu.
    """

    def __init__(self, model=None, text: str = SEQUENCES[0]):
        self.model = model
        self.vocab = 0 if model is None else model.embedding.num_embeddings
        layers = [] if model is None else [f"trained Mamba, layer {i + 1}" for i in range(len(model.blocks))]
        self.controls = {
            "text": widgets.Combobox(value=text, options=SEQUENCES, placeholder="e.g. ..a...b.>>", description="tokens",
                                     ensure_option=False, continuous_update=False),
            "mode": widgets.Dropdown(options=[HAND_SET, TIME_INVARIANT, *layers], value=HAND_SET, description="model"),
            "delta_scale": widgets.FloatSlider(value=1.0, min=0.1, max=5.0, step=0.1, description="Δ × ",
                                               continuous_update=False, readout_format=".1f"),
            "a_scale": widgets.FloatSlider(value=1.0, min=0.1, max=5.0, step=0.1, description="|A| × ",
                                           continuous_update=False, readout_format=".1f"),
        }
        super().__init__()

    def deltas_and_weights(self, tokens: torch.Tensor, mode: str, delta_scale: float, a_scale: float):
        """Δ (L,) to plot, and the final-state weights (rows, L): rows are state components or channels."""
        if mode in (HAND_SET, TIME_INVARIANT):
            return hand_set_weights(tokens, mode == HAND_SET, delta_scale, a_scale)
        layer = int(mode.rsplit(" ", 1)[-1]) - 1
        selection = self.model.selections(tokens[None])[layer]
        delta = selection.delta * delta_scale                                       # (1, dim, L)
        weights = final_state_weights(delta, selection.A * a_scale, selection.B)    # (1, dim, N, L)
        return delta[0].mean(0), weights[0].abs().sum(1)                           # (L,), (dim, L)

    def draw(self, text: str, mode: str, delta_scale: float, a_scale: float):
        """Readout and figure: Δ per token (line), and the survival heatmap."""
        tokens, problem = parse_tokens(text)
        fig = new_figure(7.2, 3.6)
        ax_delta, ax_heat = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [1, 1.6]})
        fig.subplots_adjust(left=0.1, right=0.97, bottom=0.1, top=0.92, hspace=0.15)
        if tokens is None:
            ax_delta.plot([0, 1], [0, 0], color=LIGHT.muted)
            return f"Nothing to show: {problem}", fig
        if self.model is not None and mode not in (HAND_SET, TIME_INVARIANT) and int(tokens.max()) >= self.vocab:
            ax_delta.plot([0, 1], [0, 0], color=LIGHT.muted)
            return (f"Nothing to show: the trained model knows the symbols "
                    f"'{decode([FIRST_SYMBOL])}'–'{decode([self.vocab - 1])}' only, plus '.' and '>'."), fig
        delta, weights = self.deltas_and_weights(tokens, mode, delta_scale, a_scale)
        per_token = weights.abs().sum(0)                                            # (L,)
        share = per_token / per_token.sum().clamp_min(1e-30)
        positions = range(len(tokens))
        ax_delta.plot(positions, delta.tolist(), marker="o", ms=3, color=LIGHT.vanishing)
        ax_delta.set(ylabel="Δ_t", yscale="log", title=f"{mode}: Δ per token, and what the final state keeps")
        image = (weights / weights.abs().max().clamp_min(1e-30)).abs()
        ax_heat.imshow(image.numpy(), aspect="auto", cmap="magma", vmin=0, vmax=1, interpolation="nearest")
        ax_heat.set(ylabel="state" if weights.shape[0] <= 8 else "channel", yticks=[])
        ax_heat.set_xticks(list(positions), list(decode(tokens)))
        return self.summary(tokens, delta, share, mode), fig

    @staticmethod
    def summary(tokens, delta, share, mode) -> str:
        """One line: the share of the final state held by symbols, Δ on symbols against the rest, the top token."""
        symbols = tokens >= FIRST_SYMBOL
        symbol_part = f"{float(share[symbols].sum()):.0%}" if symbols.any() else "— (no symbols typed)"
        mean = lambda m: f"{float(delta[m].mean()):.3g}" if m.any() else "—"        # noqa: E731
        top = int(share.argmax())
        return (f"{mode}: symbols hold {symbol_part} of the final state. Mean Δ on symbols {mean(symbols)}, "
                f"on noise {mean(tokens == 0)}, on go {mean(tokens == GO)}. Largest share: token {top} "
                f"'{decode(tokens[top:top + 1])}' ({float(share[top]):.1%}).")
