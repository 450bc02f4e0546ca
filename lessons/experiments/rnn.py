"""Lesson 01's experiments: BPTT against an echo-state network on the delay task, RNN against attention
timings, and the tanh RNN's gradients against the LSTM's."""
from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from lessons.rnn import (TanhRNN, clip_by_norm, echo_state_features, fit_ridge_readout, input_gradient_norms,
                         recurrent_weight, scalar_linear_rnn, truncated_states)
from lessons.tasks import delay_task
from lessons.training import fit, masked_mse
from lessons.memory_traffic import human_bytes
from lessons.utils import MarkdownTable, markdown_table, median_time, per_call_seconds, seeded


def train_tanh_rnn_on_delay(delay: int, steps: int = 150, length: int = 40, batch: int = 32,
                            hidden_size: int = 32, seed: int = 0) -> list[float]:
    """Train a TanhRNN with BPTT to echo its input `delay` steps later; return the loss history.

    The loss is the mean squared error on the steps that have something to recall; 1.0 means the
    model learned nothing (it predicts 0 for unit-variance noise).
    """
    generator = torch.Generator().manual_seed(seed)
    model = TanhRNN(1, hidden_size, scale=1.0, seed=seed)
    history = fit(model, lambda _: delay_task(batch, length, delay, generator), steps, lr=1e-2, loss=masked_mse)
    return history["loss"]


def echo_state_delay_error(delay: int, hidden_size: int = 200, length: int = 60, batch: int = 64,
                           seed: int = 0) -> float:
    """Test mean squared error of an echo-state network (fixed reservoir of `hidden_size` units, ridge readout)
    on the delay task."""
    generator = torch.Generator().manual_seed(seed)
    x, y, mask = delay_task(batch, length, delay, generator)
    x_test, y_test, _ = delay_task(batch, length, delay, generator)
    features = partial(echo_state_features, hidden_size=hidden_size, seed=seed)
    readout = fit_ridge_readout(features(x)[:, mask], y[:, mask])
    prediction = features(x_test)[:, mask] @ readout
    return float((prediction - y_test[:, mask].double()).pow(2).mean())


def time_rnn_and_attention(lengths, hidden_size: int = 64, repeats: int = 5) -> list[tuple[int, float, float]]:
    """(T, RNN ms, attention ms), each the median of `repeats` runs after a warm-up: T dependent tanh steps
    against one all-pairs T×T attention product."""
    W = recurrent_weight(hidden_size, 1.0).float()                              # (H, H)
    rows = []
    for T in lengths:
        x = torch.randn(T, hidden_size)                                         # (T, H)
        rows.append((T, *(1e3 * median_time(partial(f, W, x), repeats=repeats) for f in (_rnn_loop, _attention))))
    return rows


def attention_scaling_note(rows: list[tuple[int, float, float]]) -> str:
    """Markdown that reads time_rnn_and_attention's rows honestly, whichever way this machine's numbers fell."""
    (T_short, rnn_short, att_short), (T_long, rnn_long, att_long) = rows[0], rows[-1]
    growth, work, attention_growth = T_long / T_short, (T_long / T_short) ** 2, att_long / att_short
    scores = {T: T**2 * 4 / 2**20 for T in (T_short, T_long)}                     # the T×T float32 scores, MiB
    text = (f"The RNN's time grew {rnn_long / rnn_short:.0f}× for {growth:.0f}× longer sequences (linear in $T$ "
            f"would be {growth:.0f}×). Attention does $T^2$ work, ${growth:.0f}^2 = {work:.0f}\\times$ more, and its "
            f"time grew {attention_growth:.0f}×. ")
    if attention_growth < work:
        text += ("Less than the work: at small $T$ a call costs mostly fixed overheads (dispatching the "
                 "operation, allocating its output), which hide much of the arithmetic. ")
    else:
        text += (f"Even more than the work: at $T = {T_long}$ the $T\\times T$ score matrix alone is "
                 f"{scores[T_long]:.0f} MiB of float32 (at $T = {T_short}$ it was {scores[T_short]:.2g} MiB), far "
                 "larger than the CPU's caches, so every pass over it goes to main memory. ")
    return text + _who_was_faster(rows)


def _who_was_faster(rows: list[tuple[int, float, float]], tie: float = 0.15) -> str:
    """One sentence: at which T attention was faster, about as fast (within `tie`, relative), or slower."""
    verdicts = {"faster": [], "about as fast": [], "slower": []}
    for T, rnn_ms, att_ms in rows:
        ratio = att_ms / rnn_ms
        verdicts["about as fast" if abs(ratio - 1) < tie else "faster" if ratio < 1 else "slower"].append(str(T))
    parts = [f"{verdict} at $T$ = {', '.join(lengths)}" for verdict, lengths in verdicts.items() if lengths]
    if len(parts) == 1:
        return f"On this CPU attention was {parts[0].split(' at ')[0]} than the RNN loop at every measured $T$."
    tied = f" (within {tie:.0%} of each other counts as about as fast)" if verdicts["about as fast"] else ""
    return (f"On this CPU, next to the RNN loop, attention was {'; '.join(parts)}{tied}: with few cores its extra "
            "work is not free.")


def delay_input_gradients(delays, length: int = 40, hidden_size: int = 32, seed: int = 0) -> dict[int, float]:
    """{d: ‖∂h_T/∂x_{T−d}‖} for the delay task's TanhRNN at initialisation, on one random sequence (1, T, 1)."""
    x = torch.randn(1, length, 1, generator=torch.Generator().manual_seed(seed))      # (1, T, 1)
    model = TanhRNN(1, hidden_size, scale=1.0, seed=seed)
    norms = input_gradient_norms(lambda v: torch.stack(model.states(v), dim=1), x)      # (T,), index t − 1
    return {d: float(norms[length - 1 - d]) for d in delays}


def _rnn_loop(W: torch.Tensor, x: torch.Tensor) -> None:
    """T tanh steps h_t = tanh(W h_{t−1} + x_t), each waiting for the last: x (T, H)."""
    h = torch.zeros(W.shape[0])
    for x_t in x:
        h = torch.tanh(W @ h + x_t)


def _attention(_W: torch.Tensor, x: torch.Tensor) -> None:
    """softmax(x xᵀ/√H) x: every pair (i, j) at once, O(T²) work, no dependency between rows. x (T, H)."""
    torch.softmax(x @ x.T / x.shape[1] ** 0.5, dim=-1) @ x


def generation_cost(lengths, hidden_size: int = 64, repeats: int = 5,
                    calls: int = 1000) -> list[tuple[int, float, float, int, int]]:
    """Cost of generating token T + 1 after T tokens: (T, RNN µs, attention µs, RNN state bytes, KV-cache bytes).

    The RNN carries one state h (H,) and takes one step, whatever T is. Attention with a KV cache compares the new
    query with all T cached keys and mixes T values, and keeps 2·T·H numbers. float32. One call takes microseconds,
    near the timer's resolution, so each time is a loop of `calls` calls divided by `calls`, median of `repeats`.
    The RNN's step does not depend on T, so it is measured once and repeated in every row."""
    W = recurrent_weight(hidden_size, 1.0).float()                              # (H, H)
    h, x = torch.zeros(hidden_size), torch.randn(hidden_size)                      # state and new input, (H,)
    rnn_us = 1e6 * per_call_seconds(partial(_rnn_step, W, h, x), calls, repeats)   # one step, whatever T is
    rows = []
    for T in lengths:
        keys, values = torch.randn(T, hidden_size), torch.randn(T, hidden_size)   # the cache, (T, H) each
        attention_us = 1e6 * per_call_seconds(partial(_attend, torch.randn(hidden_size), keys, values), calls,
                                             repeats)
        rows.append((T, rnn_us, attention_us, 4 * hidden_size, 4 * 2 * T * hidden_size))
    return rows


def generation_cost_table(rows: list[tuple[int, float, float, int, int]]) -> MarkdownTable:
    """generation_cost's rows as a table, bytes in readable units."""
    cells = [(str(T), f"{rnn_us:.1f}", f"{attention_us:.1f}", human_bytes(state), human_bytes(cache))
             for T, rnn_us, attention_us, state, cache in rows]
    return markdown_table(cells, ["T", "RNN step (µs)", "attention over the cache (µs)", "RNN state", "KV cache"])


def _rnn_step(W: torch.Tensor, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """One tanh step: the whole cost of a new token for an RNN. W (H, H), h and x (H,)."""
    return torch.tanh(W @ h + x)


def _attend(q: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """One query against a KV cache of T tokens: softmax(K q/√H)ᵀ V. q (H,), keys and values (T, H)."""
    return torch.softmax(keys @ q / q.shape[0] ** 0.5, dim=0) @ values


def lstm_with_forget_bias(hidden_size: int, forget_bias: float | None = None, seed: int = 0) -> nn.LSTM:
    """A one-layer nn.LSTM (batch_first) with PyTorch's init, optionally with its forget-gate bias set.

    PyTorch orders the gates (input, forget, cell, output); the forget gate's bias is the second block,
    split over bias_ih and bias_hh, so we put the whole value in bias_ih and zero bias_hh's block.
    """
    with seeded(seed):
        lstm = nn.LSTM(1, hidden_size, batch_first=True)
    if forget_bias is not None:
        with torch.no_grad():
            forget = slice(hidden_size, 2 * hidden_size)
            lstm.bias_ih_l0[forget] = forget_bias
            lstm.bias_hh_l0[forget] = 0.0
    return lstm


def rnn_vs_lstm_gradient_curves(length: int = 100, hidden_size: int = 32, seed: int = 0) -> dict:
    """{model name: ‖∂h_T/∂x_t‖ for t = 1..T}: a tanh RNN and LSTMs, measured with one ruler, one input."""
    x = torch.randn(1, length, 1, generator=torch.Generator().manual_seed(seed))   # (1, T, 1)
    tanh_rnn = TanhRNN(1, hidden_size, scale=1.0, seed=seed)
    models = {
        "tanh RNN (scale 1.0)": lambda inputs: torch.stack(tanh_rnn.states(inputs), dim=1),
        "LSTM (PyTorch init)": lstm_with_forget_bias(hidden_size, None, seed),
        "LSTM (forget bias 1)": lstm_with_forget_bias(hidden_size, 1.0, seed),
        "LSTM (forget bias 3)": lstm_with_forget_bias(hidden_size, 3.0, seed),
    }
    return {name: input_gradient_norms(model, x) for name, model in models.items()}


# ---------------------------------------------------------------------------------------------
# Gradient clipping and truncated BPTT, measured
# ---------------------------------------------------------------------------------------------
def fit_scalar_recurrence(clip: float | None, start: float = 1.05, target: float = 0.9, steps: int = 60,
                          lr: float = 1e-2, length: int = 50, seed: int = 0) -> dict[str, list[float]]:
    """Fit w of h_k = w·h_{k−1} + x_k (h_0 = 1) so that h_n matches a teacher with w = target, by plain SGD.

    Starting at |w| > 1 the gradient ∝ n·w^{n−1} explodes. Returns {"w": [...], "grad norm": [...] (before
    clipping), "loss": [...]}; clip=None trains without clipping. Stops early once w or the loss is not finite.
    """
    generator = torch.Generator().manual_seed(seed)
    w = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    h0 = torch.tensor(1.0, dtype=torch.float64)
    history: dict[str, list[float]] = {"w": [start], "grad norm": [], "loss": []}
    for _ in range(steps):
        x = torch.randn(length, generator=generator, dtype=torch.float64)          # (n,)
        loss = (scalar_linear_rnn(w, x, h0) - scalar_linear_rnn(torch.tensor(target, dtype=torch.float64), x, h0))**2
        (grad,) = torch.autograd.grad(loss, w)
        history["grad norm"].append(float(grad.abs()))
        history["loss"].append(float(loss.detach()))
        step = grad if clip is None else clip_by_norm(grad, clip)
        with torch.no_grad():
            w -= lr * step
        history["w"].append(float(w.detach()))
        if not (math.isfinite(history["w"][-1]) and math.isfinite(history["loss"][-1])):
            break
    return history


def truncation_gradients(k: int, length: int = 60, hidden_size: int = 32, seed: int = 0) -> dict[str, torch.Tensor]:
    """‖∂h_T/∂x_t‖ for t = 1..T (T,), with full BPTT and truncated every k steps, for one TanhRNN (scale 1)."""
    rnn = TanhRNN(1, hidden_size, scale=1.0, seed=seed)
    x = torch.randn(1, length, 1, generator=torch.Generator().manual_seed(seed + 1))      # (1, T, 1)
    return {"full BPTT": input_gradient_norms(lambda v: torch.stack(rnn.states(v), dim=1), x),
            f"truncated, k = {k}": input_gradient_norms(lambda v: torch.stack(truncated_states(rnn, v, k), dim=1), x)}


def saved_activation_bytes(length: int, hidden_size: int = 64, batch: int = 32, seed: int = 0) -> int:
    """Bytes autograd keeps for the backward pass of one TanhRNN forward over `length` steps (counted by a hook).

    Counted by unique storage: Wᵀ, saved at every step, is a view of W and costs its bytes once; so do the
    slices x[:, t] of one input tensor."""
    rnn = TanhRNN(1, hidden_size, seed=seed)
    x = torch.randn(batch, length, 1, generator=torch.Generator().manual_seed(seed))     # (B, T, 1)
    storages: dict[int, int] = {}                                                       # data_ptr -> bytes

    def keep(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        rnn(x).sum()
    return sum(storages.values())
