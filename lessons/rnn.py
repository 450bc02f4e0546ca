"""Lesson 01: the tanh RNN, backpropagation through time, and why its gradients vanish or explode.

Shapes are batch-first throughout the course: x is (B, T, D), hidden states are (B, T, H).
The lesson's training runs, timings and comparisons are in lessons.experiments.rnn.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from lessons.checks import require_int, require_positive_int, require_shape, require_tensor
from lessons.utils import seeded


# ---------------------------------------------------------------------------------------------
# The tanh RNN
# ---------------------------------------------------------------------------------------------
def recurrent_weight(hidden_size: int, scale: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """A random (H, H) matrix with entries N(0, scale²/H), so its spectral radius is close to `scale`."""
    hidden_size = require_positive_int("hidden_size", hidden_size)
    W = torch.randn(hidden_size, hidden_size, generator=generator, dtype=torch.float64)   # (H, H), entries N(0, 1)
    return W * scale / math.sqrt(hidden_size)


class TanhRNN(nn.Module):
    """The classic RNN cell h_t = tanh(W h_{t-1} + U x_t + b), unrolled over time, with a linear readout."""

    def __init__(self, input_size: int, hidden_size: int, output_size: int = 1, scale: float = 1.0, seed: int = 0):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.W = nn.Parameter(recurrent_weight(hidden_size, scale, g).float())            # (H, H)
        self.U = nn.Parameter(torch.randn(hidden_size, input_size, generator=g) / math.sqrt(input_size))  # (H, D)
        self.b = nn.Parameter(torch.zeros(hidden_size))                                    # (H,)
        with seeded(seed):                                  # the readout's init too, without touching the caller's RNG
            self.readout = nn.Linear(hidden_size, output_size)

    def step(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """One step of the recurrence: (B, H), (B, D) -> (B, H)."""
        return torch.tanh(h @ self.W.T + x @ self.U.T + self.b)

    def states(self, x: torch.Tensor, h0: torch.Tensor | None = None) -> list[torch.Tensor]:
        """All hidden states [h_1, ..., h_T], each (B, H): T dependent steps, one after another."""
        require_tensor("x", x, ndim=3)
        require_shape("x", x, (None, None, self.U.shape[1]), meaning="(batch, time, D)")
        h = x.new_zeros(x.shape[0], self.W.shape[0]) if h0 is None else h0
        hs = []
        for t in range(x.shape[1]):  # the sequential bottleneck: h_t needs h_{t-1}
            h = self.step(h, x[:, t])
            hs.append(h)
        return hs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Per-step outputs (B, T, output_size) for inputs x (B, T, D)."""
        return self.readout(torch.stack(self.states(x), dim=1))


# ---------------------------------------------------------------------------------------------
# Measuring how the gradient travels back in time
# ---------------------------------------------------------------------------------------------
def state_gradient_norms(rnn: TanhRNN, x: torch.Tensor) -> torch.Tensor:
    """‖∂h_T/∂h_t‖_F for t = 1..T (index t-1), measured with autograd on one sequence x (1, T, D)."""
    require_tensor("x", x, ndim=3)
    require_shape("x", x, (1, None, None), meaning="one sequence (1, T, D)")
    hs = rnn.states(x)
    hidden = hs[-1].shape[-1]
    squared = torch.zeros(len(hs), dtype=torch.float64)
    for i in range(hidden):  # one backward pass per row of the Jacobian ∂h_T/∂h_t
        grad_out = torch.zeros_like(hs[-1])
        grad_out[0, i] = 1.0
        rows = torch.autograd.grad(hs[-1], hs, grad_outputs=grad_out, retain_graph=True, allow_unused=True)
        for t, row in enumerate(rows):
            squared[t] += 0.0 if row is None else row.double().pow(2).sum()
    return squared.sqrt()  # the last entry is ‖∂h_T/∂h_T‖ = ‖I‖ = √H


def state_gradient_norms_formula(rnn: TanhRNN, x: torch.Tensor) -> torch.Tensor:
    """The same norms from the chain rule: ∂h_T/∂h_t = D_T W · D_{T−1} W ⋯ D_{t+1} W, D_k = diag(1 − h_k²)."""
    with torch.no_grad():
        hs = [h[0].double() for h in rnn.states(x)]
        W = rnn.W.double()
        jacobian = torch.eye(W.shape[0], dtype=torch.float64)
        norms = [jacobian.norm()]
        for h in reversed(hs[1:]):  # walk back from h_T, multiplying one step's Jacobian at a time
            jacobian = jacobian @ (torch.diag(1 - h**2) @ W)
            norms.append(jacobian.norm())
    return torch.stack(norms[::-1])


def weight_spectral_radius(rnn: TanhRNN) -> float:
    """max |λ| over the eigenvalues of the recurrent weight W (H, H)."""
    return float(torch.linalg.eigvals(rnn.W.detach().double()).abs().max())


def mean_tanh_derivative(rnn: TanhRNN, x: torch.Tensor) -> float:
    """Mean of tanh′ = 1 − h_k² over all steps and units, for one sequence x (1, T, D): how saturated the cell is."""
    with torch.no_grad():
        hs = torch.stack(rnn.states(x), dim=1).double()                               # (1, T, H)
    return float((1 - hs**2).mean())


def tanh_rnn_gradient_curves(scales, length: int = 60, hidden_size: int = 32, seed: int = 0) -> dict:
    """{scale: ‖∂h_T/∂h_t‖ for t = 1..T} for a TanhRNN at each weight scale, all on one random sequence."""
    x = torch.randn(1, length, 1, generator=torch.Generator().manual_seed(seed))  # (1, T, 1)
    return {scale: state_gradient_norms(TanhRNN(1, hidden_size, scale=scale, seed=seed), x) for scale in scales}


def input_gradient_norms(model, x: torch.Tensor) -> torch.Tensor:
    """‖∂h_T/∂x_t‖_F for t = 1..T, for any model mapping x (1, T, D) to hidden states (1, T, H).

    Works for `TanhRNN.states`-style models and for `nn.RNN` / `nn.LSTM` with batch_first=True,
    so a tanh RNN and an LSTM can be compared with the same ruler.
    """
    require_tensor("x", x, ndim=3)
    x = x.detach().clone().requires_grad_(True)
    out = model(x)
    h = out[0] if isinstance(out, tuple) else out  # nn.RNN / nn.LSTM return (outputs, state)
    h_last = h[0, -1]                              # (H,)
    squared = torch.zeros(x.shape[1], dtype=torch.float64)
    for i in range(h_last.shape[0]):
        (grad,) = torch.autograd.grad(h_last[i], x, retain_graph=True)
        squared += grad[0].double().pow(2).sum(dim=-1)
    return squared.sqrt()


def decay_per_step(norms: torch.Tensor, skip: int = 5) -> float:
    """Geometric-mean factor by which a gradient norm shrinks (<1) or grows (>1) per step back in time.

    `norms` are ordered t = 1..T; the last `skip` steps near T are left out, where the curve has not
    settled into its exponential regime yet.
    """
    require_int("len(norms)", len(norms), minimum=skip + 2)
    usable = norms[: len(norms) - skip].double().clamp_min(1e-300)
    slope = (usable[-1].log() - usable[0].log()) / (len(usable) - 1)
    return float(torch.exp(-slope))


# ---------------------------------------------------------------------------------------------
# Two practical tools: gradient clipping and truncated BPTT
# ---------------------------------------------------------------------------------------------
def clip_by_norm(grad: torch.Tensor, max_norm: float) -> torch.Tensor:
    """grad·min(1, max_norm/‖grad‖): the same direction, norm at most max_norm (nn.utils.clip_grad_norm_'s rule)."""
    if not max_norm > 0:
        raise ValueError(f"`max_norm` must be positive, got {max_norm}.")
    norm = grad.norm()
    return grad * torch.clamp(max_norm / (norm + 1e-12), max=1.0)


def truncated_states(rnn: TanhRNN, x: torch.Tensor, k: int) -> list[torch.Tensor]:
    """TanhRNN states [h_1, ..., h_T], each (B, H), with the graph cut after steps k, 2k, ...: truncated BPTT.

    The values are those of rnn.states(x); only the gradient changes: through h_T it reaches x_t for the
    last (T mod k, or k) steps and is exactly 0 before them.
    """
    k = require_positive_int("k", k)
    require_tensor("x", x, ndim=3)
    require_shape("x", x, (None, None, rnn.U.shape[1]), meaning="(batch, time, D)")
    h = x.new_zeros(x.shape[0], rnn.W.shape[0])                                   # (B, H)
    hs = []
    for t in range(x.shape[1]):
        h = rnn.step(h, x[:, t])
        hs.append(h)
        if (t + 1) % k == 0:
            h = h.detach()  # the next chunk starts from this value, but no gradient flows back into it
    return hs


# ---------------------------------------------------------------------------------------------
# The scalar linear RNN, where everything has a closed form
# ---------------------------------------------------------------------------------------------
def scalar_linear_rnn(w: torch.Tensor, x: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
    """h_n for h_k = w·h_{k-1} + x_k, k = 1..n, computed with a loop (x is (n,))."""
    h = h0
    for x_k in x:
        h = w * h + x_k
    return h


def scalar_linear_closed_form(w: float, x: torch.Tensor, h0: float) -> torch.Tensor:
    """h_n = wⁿ h_0 + Σ_{k=1..n} w^{n-k} x_k."""
    n = len(x)
    k = torch.arange(1, n + 1, dtype=x.dtype)
    return w**n * h0 + (w ** (n - k) * x).sum()


def scalar_linear_grad_w(w: float, x: torch.Tensor, h0: float) -> torch.Tensor:
    """∂h_n/∂w = n·w^{n-1}·h_0 + Σ_{k=1..n} (n-k)·w^{n-k-1}·x_k. Note the factor n."""
    n = len(x)
    k = torch.arange(1, n + 1, dtype=x.dtype)
    power = (n - k).clamp_min(1) - 1  # the k = n term has coefficient 0; keep its exponent harmless
    return n * w ** (n - 1) * h0 + ((n - k) * w**power * x).sum()


def log10_scalar_gradient(w: float, n: torch.Tensor) -> torch.Tensor:
    """log₁₀|∂h_n/∂w| = log₁₀ n + (n−1)·log₁₀|w| for x = 0 and h_0 = 1, without overflow for any n."""
    if w == 0:
        raise ValueError("`w` must be non-zero: the gradient is exactly 0 for n > 1.")
    n = n.double()
    return torch.log10(n) + (n - 1) * math.log10(abs(w))


def gradient_regime(w: float, tolerance: float = 1e-9) -> str:
    """'vanishing', 'exploding' or 'on the edge' (|w| = 1, where only the factor n remains)."""
    if abs(abs(w) - 1) <= tolerance:
        return "on the edge"
    return "vanishing" if abs(w) < 1 else "exploding"


# ---------------------------------------------------------------------------------------------
# Reservoir computing: keep the recurrence fixed, learn only a linear readout
# ---------------------------------------------------------------------------------------------
def echo_state_features(x: torch.Tensor, hidden_size: int = 200, spectral_radius: float = 0.99,
                        input_scale: float = 0.05, seed: int = 0) -> torch.Tensor:
    """States (B, T, H) of a fixed random tanh RNN (an echo-state network's reservoir) for x (B, T, D)."""
    require_tensor("x", x, ndim=3)
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(hidden_size, hidden_size, generator=g, dtype=torch.float64)
    W *= spectral_radius / torch.linalg.eigvals(W).abs().max()
    U = torch.randn(hidden_size, x.shape[-1], generator=g, dtype=torch.float64) * input_scale
    h = torch.zeros(x.shape[0], hidden_size, dtype=torch.float64)
    hs = []
    for t in range(x.shape[1]):
        h = torch.tanh(h @ W.T + x[:, t].double() @ U.T)
        hs.append(h)
    return torch.stack(hs, dim=1)


def fit_ridge_readout(features: torch.Tensor, targets: torch.Tensor, ridge: float = 1e-6) -> torch.Tensor:
    """Least-squares readout V (H, O) minimising ‖features·V − targets‖² + ridge·‖V‖²; no backprop in time."""
    F = features.reshape(-1, features.shape[-1]).double()   # (B·T, H)
    Y = targets.reshape(-1, targets.shape[-1]).double()     # (B·T, O)
    gram = F.T @ F + ridge * len(F) * torch.eye(F.shape[1], dtype=torch.float64)
    return torch.linalg.solve(gram, F.T @ Y)
