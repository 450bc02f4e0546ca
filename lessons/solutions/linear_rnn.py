"""Solutions to lesson 02's exercises."""
import torch

from lessons.linear_rnn import eigendecompose


def matrix_power_via_eigenbasis(W, n):
    """Exercise 1: Wⁿ = P · diag(λⁿ) · P⁻¹."""
    P, eigenvalues, P_inv = eigendecompose(W)
    return (P @ torch.diag(eigenvalues**n) @ P_inv).real


# Exercise 2: (W¹⁰⁰)₀₀ = P[0,0]·P⁻¹[0,0] + 0.5¹⁰⁰·P[0,1]·P⁻¹[1,0] = 0.6 + 0.4·0.5¹⁰⁰ ≈ 0.600.
LIMIT_TOP_LEFT = 0.6
