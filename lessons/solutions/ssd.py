"""Solutions to lesson 08's exercises."""
import torch


def segsum(a):
    """Exercise 1: out[..., t, s] = a[s+1] + … + a[t] for s ≤ t, −inf above: mask, then one cumulative sum."""
    length = a.shape[-1]
    repeated = a[..., None, :].expand(*a.shape[:-1], length, length)         # (..., T, T): [t, s] = a[s]
    strictly_below = torch.ones(length, length, dtype=torch.bool, device=a.device).tril(-1)
    terms = repeated.transpose(-1, -2).masked_fill(~strictly_below, 0)        # [r, s] = a[r] for r > s, else 0
    sums = terms.cumsum(dim=-2)                                               # [t, s] = a[s+1] + … + a[t]
    on_or_below = torch.ones(length, length, dtype=torch.bool, device=a.device).tril()
    return sums.masked_fill(~on_or_below, -torch.inf)


# Exercise 2: 4 chunks × (2·256²·128 + 2·256²·64) = 100,663,296.
DIAGONAL_BLOCK_FLOPS = 4 * (2 * 256**2 * 128 + 2 * 256**2 * 64)


def ssd_step(h, a, x, B, C):
    """Exercise 3: h (b, h, P, N), a (b, h) log-decay, x (b, h, P), B, C (b, h, N) -> (h_t, y_t)."""
    h_new = torch.exp(a)[..., None, None] * h + x[..., :, None] * B[..., None, :]   # (b, h, P, N)
    return h_new, (h_new * C[..., None, :]).sum(-1)                                  # y (b, h, P)
