"""Solutions to lesson 01's exercises."""
import torch


def scalar_gradient(w: float, n: int, h0: float) -> float:
    """Exercise 1: h_n = wⁿ·h_0, so ∂h_n/∂w = n·w^(n−1)·h_0."""
    return n * w ** (n - 1) * h0


def tanh_step_jacobian(h_prev, x, W, U, b) -> torch.Tensor:
    """Exercise 2: ∂h_t/∂h_{t-1} = diag(1 − h_t²)·W, with h_t = tanh(W h_{t-1} + U x_t + b)."""
    h = torch.tanh(W @ h_prev + U @ x + b)
    return torch.diag(1 - h**2) @ W


# Exercise 3: n·0.9^(n−1) < 1e-3 first holds at n = 112 (0.9^(n−1) alone: n = 67).
STEPS_TO_VANISH = 112
