"""Lesson 08: SSD. The loop, the matrix form and the chunked algorithm agree (float64, awkward shapes, forward and
backward); the segment sum is stable where the difference of cumsums fails; mamba's layer call against a direct
loop; the FLOP counts by hand and by torch's counter; every member of the family against its own loop."""
import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from lessons import ssd as S
from lessons.ssm import selective_scan_loop

BATCH, HEADS, P, N = 2, 3, 5, 4
TOL = 1e-10


def draw(seed: int, length: int, batch=BATCH, heads=HEADS, head_dim=P, state=N, positive_a=False, dtype=torch.float64):
    """Fresh x, a, B, C: a ∈ [−2, 0], or ∈ [−0.5, 0.1] (some steps grow) with positive_a."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, length, heads, head_dim, generator=g, dtype=dtype)
    u = torch.rand(batch, length, heads, generator=g, dtype=dtype)
    a = (0.6 * u - 0.5) if positive_a else -2 * u
    B, C = torch.randn(2, batch, length, heads, state, generator=g, dtype=dtype)
    return x, a, B, C


def fresh_state(seed: int, batch=BATCH, heads=HEADS, head_dim=P, state=N):
    return torch.randn(batch, heads, head_dim, state, generator=torch.Generator().manual_seed(seed),
                       dtype=torch.float64)


def close(got, want, tol=TOL):
    got, want = got.detach(), want.detach()
    assert got.shape == want.shape, (got.shape, want.shape)
    error = float((got - want).abs().max())
    assert error <= tol * max(1.0, float(want.abs().max())), error


# ---------------------------------------------------------------------------------------------- the forms agree
@pytest.mark.parametrize("positive_a", [False, True])
@pytest.mark.parametrize("chunk_size", [1, 8, 64])
@pytest.mark.parametrize("length", [1, 7, 63, 64, 65, 200])
def test_chunked_loop_quadratic_and_matrix_agree(length, chunk_size, positive_a):
    x, a, B, C = draw(length * 7 + chunk_size, length, positive_a=positive_a)
    h0 = fresh_state(length)
    y, final = S.ssd(x, a, B, C, chunk_size=chunk_size, initial_state=h0)
    y_loop, final_loop = S.ssd_loop(x, a, B, C, initial_state=h0)
    close(y, y_loop)
    close(final, final_loop)
    y0, final0 = S.ssd(x, a, B, C, chunk_size=chunk_size)
    y0_loop, final0_loop = S.ssd_loop(x, a, B, C)
    close(y0, y0_loop)
    close(final0, final0_loop)
    close(S.ssd_quadratic(x, a, B, C), y0_loop)
    close(torch.einsum("bhts,bshp->bthp", S.ssd_matrix(a, B, C), x), y0_loop)


def test_matrix_entries_follow_the_definition():
    x, a, B, C = draw(1, 6)
    M = S.ssd_matrix(a, B, C)
    for b in range(BATCH):
        for h in range(HEADS):
            for t in range(6):
                for s in range(6):
                    decay = math.exp(sum(float(a[b, r, h]) for r in range(s + 1, t + 1)))
                    want = decay * float(C[b, t, h] @ B[b, s, h]) if s <= t else 0.0
                    assert abs(float(M[b, h, t, s]) - want) <= 1e-12


def test_the_loop_is_the_recurrence_written_out():
    x, a, B, C = draw(2, 9, batch=1, heads=1)
    h = torch.zeros(P, N, dtype=torch.float64)
    ys = []
    for t in range(9):
        h = math.exp(float(a[0, t, 0])) * h + torch.outer(x[0, t, 0], B[0, t, 0])
        ys.append(h @ C[0, t, 0])
    y, final = S.ssd_loop(x, a, B, C)
    close(y[0, :, 0], torch.stack(ys))
    close(final[0, 0], h)


def test_listing_one_initial_state_shape_is_accepted():
    x, a, B, C = draw(3, 13)
    h0 = fresh_state(3)
    y, final = S.ssd(x, a, B, C, 4, initial_state=h0)
    y1, final1 = S.ssd(x, a, B, C, 4, initial_state=h0[:, None])               # (batch, 1, heads, P, N)
    close(y1, y)
    close(final1, final)


def test_large_decays_and_hard_resets_match_the_loop():
    x, a, B, C = draw(4, 50)
    a = a * torch.where(torch.rand(a.shape, generator=torch.Generator().manual_seed(5)) < 0.1, 1e4, 1.0)
    a[:, 17] = -math.inf                                                       # a gate of exactly 0: a reset
    close(S.ssd(x, a, B, C, 8)[0], S.ssd_loop(x, a, B, C)[0])
    close(S.ssd_quadratic(x, a, B, C), S.ssd_loop(x, a, B, C)[0])


def test_terms_are_the_four_steps():
    length, q = 21, 8
    x, a, B, C = draw(6, length)
    h0 = fresh_state(6)
    terms = S.ssd_terms(x, a, B, C, q, initial_state=h0)
    close(terms.y_diag + terms.y_off, S.ssd(x, a, B, C, q, h0)[0])
    chunks = math.ceil(length / q)
    assert terms.chunk_states.shape == terms.carried_states.shape == (BATCH, chunks, HEADS, P, N)
    close(terms.carried_states[:, 0], h0)
    for c in range(chunks):
        piece = slice(c * q, min((c + 1) * q, length))
        inside = [t[:, piece] for t in (x, a, B, C)]
        close(terms.y_diag[:, piece], S.ssd_loop(*inside)[0])                  # the chunk alone, from zero
        close(terms.chunk_states[:, c], S.ssd_loop(*inside)[1])
        if c:
            close(terms.carried_states[:, c], S.ssd_loop(x[:, :c * q], a[:, :c * q], B[:, :c * q], C[:, :c * q],
                                                           initial_state=h0)[1])


# ---------------------------------------------------------------------------------------------- backward
@pytest.mark.parametrize("length, chunk_size", [(5, 2), (3, 4), (6, 3)])
def test_gradcheck_ssd(length, chunk_size):
    x, a, B, C = (t.requires_grad_() for t in draw(7, length, batch=1, heads=2, head_dim=2, state=3, positive_a=True))
    h0 = fresh_state(7, batch=1, heads=2, head_dim=2, state=3).requires_grad_()
    assert torch.autograd.gradcheck(lambda *t: S.ssd(*t[:4], chunk_size, t[4]), (x, a, B, C, h0))
    assert torch.autograd.gradcheck(S.ssd_quadratic, (x, a, B, C))
    assert torch.autograd.gradcheck(lambda *t: S.ssd_loop(*t[:4], t[4]), (x, a, B, C, h0))


@pytest.mark.parametrize("length, chunk_size", [(65, 8), (200, 64), (7, 1)])
def test_gradients_of_chunked_and_loop_agree(length, chunk_size):
    inputs = [t.requires_grad_() for t in (*draw(8, length, positive_a=True), fresh_state(8))]
    g = torch.Generator().manual_seed(9)
    grad_y = torch.randn(BATCH, length, HEADS, P, generator=g, dtype=torch.float64)
    grad_final = torch.randn(BATCH, HEADS, P, N, generator=g, dtype=torch.float64)

    def grads(fn):
        y, final = fn(*inputs)
        return torch.autograd.grad((y * grad_y).sum() + (final * grad_final).sum(), inputs)

    chunked = grads(lambda *t: S.ssd(*t[:4], chunk_size, t[4]))
    loop = grads(lambda *t: S.ssd_loop(*t[:4], t[4]))
    for got, want in zip(chunked, loop, strict=True):
        close(got, want, 1e-9)


@pytest.mark.parametrize("batch, length, heads, head_dim, state, chunk_size",
                         [(1, 1, 1, 1, 1, 1), (1, 13, 1, 1, 1, 5), (3, 17, 2, 7, 1, 16), (1, 31, 4, 1, 9, 7)])
def test_awkward_shapes_forward_and_backward(batch, length, heads, head_dim, state, chunk_size):
    sizes = {"batch": batch, "heads": heads, "head_dim": head_dim, "state": state}
    inputs = [t.requires_grad_() for t in (*draw(15 + length, length, **sizes), fresh_state(length, **sizes))]
    y, final = S.ssd(*inputs[:4], chunk_size, inputs[4])
    y_loop, final_loop = S.ssd_loop(*inputs[:4], inputs[4])
    close(y, y_loop)
    close(final, final_loop)
    grads = torch.autograd.grad(y.square().sum() + final.sum(), inputs)
    grads_loop = torch.autograd.grad(y_loop.square().sum() + final_loop.sum(), inputs)
    for got, want in zip(grads, grads_loop, strict=True):
        close(got, want, 1e-9)


def test_gradients_stay_finite_and_agree_through_a_hard_reset():
    x, a, B, C = draw(16, 19)
    a[:, 9] = -math.inf
    inputs = [t.requires_grad_() for t in (x, a, B, C)]
    grads = torch.autograd.grad(S.ssd(*inputs, 4)[0].square().sum(), inputs)
    grads_loop = torch.autograd.grad(S.ssd_loop(*inputs)[0].square().sum(), inputs)
    for got, want in zip(grads, grads_loop, strict=True):
        assert torch.isfinite(got).all()
        close(got, want, 1e-9)


# ---------------------------------------------------------------------------------------------- segment sum
def test_segsum_follows_the_definition():
    a = torch.randn(3, 2, 7, generator=torch.Generator().manual_seed(10), dtype=torch.float64)
    out = S.segsum(a)
    assert out.shape == (3, 2, 7, 7)
    for t in range(7):
        for s in range(7):
            if s <= t:
                close(out[..., t, s], a[..., s + 1:t + 1].sum(-1), 1e-14)
            else:
                assert torch.isneginf(out[..., t, s]).all()
    close(S.segsum_naive(a).masked_fill(torch.isneginf(out), 0), out.masked_fill(torch.isneginf(out), 0), 1e-12)


def test_segsum_is_stable_where_the_difference_of_cumsums_fails():
    # 1. precision: one huge early decay, then ordinary steps; cumsum[t] − cumsum[s] loses the small ones
    a = torch.full((40,), -0.25, dtype=torch.float64)
    a[0] = -1e17
    stable, naive = S.segsum(a), S.segsum_naive(a)
    exact = -0.25 * (torch.arange(40)[:, None] - torch.arange(40)[None, :]).to(torch.float64)   # s ≥ 1
    close(stable[1:, 1:].tril(), exact[1:, 1:].tril(), 1e-15)
    assert float((naive[1:, 1:].tril() - exact[1:, 1:].tril()).abs().max()) > 1.0
    # 2. overflow: the cumulative sum reaches −inf, and −inf − (−inf) = NaN
    a = torch.full((8,), -1e38, dtype=torch.float32)
    assert torch.isnan(S.segsum_naive(a)).any()
    assert not torch.isnan(S.segsum(a)).any() and float(S.segsum(a)[5, 4]) == float(a[5])
    # 3. a hard reset a_t = −inf: −inf where it should be, NaN nowhere
    a = -torch.rand(9, generator=torch.Generator().manual_seed(11), dtype=torch.float64)
    a[4] = -math.inf
    out = S.segsum(a)
    assert not torch.isnan(out).any() and torch.isnan(S.segsum_naive(a)).any()
    assert torch.isneginf(out[4:, :4]).all() and torch.isfinite(out[4:, 4:].tril()).all()


def test_segsum_gradient_is_finite_with_its_minus_infinities():
    a = torch.randn(2, 6, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: torch.exp(S.segsum(t)), (a,))


# ---------------------------------------------------------------------------------------------- mamba's layer call
def mamba2_loop(x, dt, A, B, C, D=None, z=None, dt_bias=None, dt_softplus=False):
    """mamba_chunk_scan_combined written as a plain loop over time, heads and groups."""
    batch, length, heads, head_dim = x.shape
    per_group = heads // B.shape[2]
    delta = dt + (0 if dt_bias is None else dt_bias)
    delta = F.softplus(delta) if dt_softplus else delta
    h = torch.zeros(batch, heads, head_dim, B.shape[-1], dtype=torch.float64)
    y = torch.zeros(batch, length, heads, head_dim, dtype=torch.float64)
    for t in range(length):
        for k in range(heads):
            g = k // per_group
            d = delta[:, t, k, None, None]
            h[:, k] = torch.exp(d * A[k]) * h[:, k] + d * x[:, t, k, :, None] * B[:, t, g, None, :]
            y[:, t, k] = (h[:, k] @ C[:, t, g, :, None])[..., 0]
            if D is not None:
                y[:, t, k] += x[:, t, k] * (D[k] if D.ndim == 1 else D[k])
            if z is not None:
                y[:, t, k] *= F.silu(z[:, t, k])
    return y, h


@pytest.mark.parametrize("groups", [1, 3, 6])
@pytest.mark.parametrize("options", ["none", "D heads", "D heads P", "all"])
def test_mamba2_layer_reference_against_a_loop(groups, options):
    batch, length, heads, head_dim, state = 2, 11, 6, 3, 4
    g = torch.Generator().manual_seed(groups * 10 + len(options))
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)   # noqa: E731
    x, dt, A = r(batch, length, heads, head_dim), r(batch, length, heads).abs() * 0.5, -r(heads).abs() - 0.1
    B, C = r(batch, length, groups, state), r(batch, length, groups, state)
    extra = {"none": {}, "D heads": {"D": r(heads)}, "D heads P": {"D": r(heads, head_dim)},
             "all": {"D": r(heads, head_dim), "z": r(batch, length, heads, head_dim), "dt_bias": r(heads),
                     "dt_softplus": True}}[options]
    y, final = S.mamba2_layer_reference(x, dt, A, B, C, 4, return_final_states=True, **extra)
    y_loop, final_loop = mamba2_loop(x, dt, A, B, C, **extra)
    close(y, y_loop)
    close(final, final_loop)
    close(S.mamba2_layer_reference(x, dt, A, B, C, 4, **extra), y_loop)


def test_mamba2_layer_reference_keeps_x_dtype_and_computes_in_float32():
    x, a, B, C = draw(12, 9, dtype=torch.bfloat16)
    dt, A = a.abs().float(), -torch.ones(HEADS)
    y, final = S.mamba2_layer_reference(x, dt, A, B, C, 4, return_final_states=True)
    assert y.dtype == torch.bfloat16 and final.dtype == torch.float32
    want, _ = mamba2_loop(*(t.double() for t in (x, dt, A, B, C)))
    assert float((y.double() - want).abs().max()) < 0.05 * float(want.abs().max())


# ---------------------------------------------------------------------------------------------- counts
def test_ssd_flops_by_hand():
    counts = S.ssd_flops(batch=1, length=5, heads=1, head_dim=2, state=3, chunk_size=4)   # 2 chunks of Q = 4
    assert counts["diagonal_blocks"] == {"matmul": 2 * (2 * 16 * 3 + 2 * 16 * 2), "other": 2 * 3 * 16}
    assert counts["chunk_states"] == {"matmul": 2 * (2 * 2 * 4 * 3), "other": 2 * 4 * 5}
    assert counts["carry_states"] == {"matmul": 0, "other": 2 * (4 + 1 + 2 * 2 * 3)}
    assert counts["off_diagonal"] == {"matmul": 2 * (2 * 4 * 3 * 2), "other": 2 * (8 + 2 * 4 * 2)}
    assert counts["total"]["matmul"] == 320 + 96 + 96
    assert S.ssd_flops(3, 5, 2, 2, 3, 4)["total"]["matmul"] == 6 * 512
    assert S.selective_scan_flops(batch=2, dim=3, length=5, state=4) == {"matmul": 0, "other": 7 * 2 * 3 * 5 * 4}


@pytest.mark.parametrize("length, chunk_size", [(37, 8), (64, 16), (5, 64)])
def test_ssd_matmul_flops_equal_what_torch_counts(length, chunk_size):
    x, a, B, C = draw(13, length)
    with FlopCounterMode(display=False) as counter:
        S.ssd(x, a, B, C, chunk_size)
    assert counter.get_total_flops() == S.ssd_flops(BATCH, length, HEADS, P, N, chunk_size)["total"]["matmul"]


def test_flop_table_shows_the_counts():
    table = str(S.flop_table(8, 4096, 48, 64, 128, 256)).splitlines()
    assert len(table) == 2 + 5 + 1
    total = S.ssd_flops(8, 4096, 48, 64, 128, 256)["total"]
    assert table[-2] == f"| SSD total | {total['matmul'] / 1e9:.3g} | {total['other'] / 1e9:.3g} |"
    assert table[-1].startswith("| Mamba-1 selective scan (N = 16) | 0 |")


def test_ssd_flops_with_shared_groups_by_hand():
    # 2 heads sharing one group, 2 chunks of Q = 4, P = 2, N = 3: C Bᵀ once per group, (L ∘ C Bᵀ) X per head
    shared = S.ssd_flops(batch=1, length=5, heads=2, head_dim=2, state=3, chunk_size=4, groups=1)
    assert shared["diagonal_blocks"]["matmul"] == 2 * (1 * 2 * 16 * 3 + 2 * 2 * 16 * 2)
    own = S.ssd_flops(batch=1, length=5, heads=2, head_dim=2, state=3, chunk_size=4)
    assert S.ssd_flops(1, 5, 2, 2, 3, 4, groups=2) == own
    for step in ("chunk_states", "carry_states", "off_diagonal"):
        assert shared[step] == own[step]
    with pytest.raises(ValueError, match="divide"):
        S.ssd_flops(1, 5, 3, 2, 3, 4, groups=2)


@pytest.mark.parametrize("heads, groups", [(1, None), (48, 1), (6, 3)])
def test_crossover_is_where_blocks_cost_what_states_cost(heads, groups):
    P, N = 64, 128
    q = S.diagonal_block_crossover(P, N, heads, groups)
    per_chunk = S.ssd_flops(1, 64, heads, P, N, 64, groups)          # one chunk of Q = 64: scale to Q = q
    blocks_per_token = per_chunk["diagonal_blocks"]["matmul"] / 64 * q / 64   # grows linearly in Q per token
    states_per_token = (per_chunk["chunk_states"]["matmul"] + per_chunk["off_diagonal"]["matmul"]) / 64
    assert blocks_per_token == pytest.approx(states_per_token)


def test_ssd_bytes_with_groups_and_gate():
    counts = S.ssd_bytes(batch=2, length=10, heads=3, head_dim=4, state=5, chunk_size=4, element_bytes=2, groups=1,
                         gated=True)
    assert counts["inputs"] == 2 * 2 * 10 * (3 * (4 + 4 + 1) + 1 * (5 + 5))   # x, z, a per head; B, C once
    assert counts["outputs"] == 2 * 2 * 10 * 3 * 4


def test_ssd_bytes_by_hand():
    counts = S.ssd_bytes(batch=2, length=10, heads=3, head_dim=4, state=5, chunk_size=4, element_bytes=2)
    assert counts["inputs"] == 2 * 2 * 10 * 3 * (4 + 1 + 5 + 5)
    assert counts["outputs"] == 2 * 2 * 10 * 3 * 4
    assert counts["chunk_states"] == 2 * 4 * 2 * 3 * 3 * 4 * 5                    # 3 chunks, written and read
    assert counts["unfused"] == counts["fused"] + counts["chunk_states"]


# ---------------------------------------------------------------------------------------------- the family
def loop(a_of_t, b_of_t, length, h):
    for t in range(length):
        h = a_of_t(t) * h + b_of_t(t)
        yield h


def family_loops(m, length):
    """Each member's recurrence from its own definition and parameters, one step at a time."""
    u, p = m.u, m.parameters
    if m.name.startswith("S4D"):
        lam, B, delta = p["Lambda"], p["B"], p["delta"][:, None]               # (N,), (N,), (width, 1)
        gate = torch.exp(delta * lam)
        b_bar = (gate - 1) / lam * B                                          # zero-order hold
        return loop(lambda t: gate, lambda t: b_bar * u[t, :, None], length, torch.zeros_like(gate))
    if m.name == "LRU":
        lam = torch.exp(-torch.exp(p["nu"]) + 1j * torch.exp(p["theta"]))
        gamma = torch.sqrt(1 - lam.abs() ** 2)
        return loop(lambda t: lam, lambda t: gamma * (p["B"] @ u[t].to(lam.dtype)), length, torch.zeros_like(lam))
    if m.name == "Mamba-1":
        delta = lambda t: F.softplus(p["W_delta"] @ u[t] + p["bias"])[:, None]   # noqa: E731
        return loop(lambda t: torch.exp(delta(t) * p["A"]), lambda t: delta(t) * (p["W_B"] @ u[t]) * u[t, :, None],
                    length, torch.zeros_like(p["A"]))
    if m.name == "Mamba-2":
        heads, state = p["A"].shape[0], p["W_B"].shape[0]
        delta = lambda t: F.softplus(p["W_delta"] @ u[t] - 2)[:, None, None]     # noqa: E731
        x = lambda t: u[t].reshape(heads, -1)[..., None]                         # noqa: E731
        return loop(lambda t: torch.exp(delta(t) * p["A"][:, None, None]),
                    lambda t: delta(t) * x(t) * (p["W_B"] @ u[t]), length,
                    torch.zeros(heads, u.shape[1] // heads, state, dtype=u.dtype))
    if m.name.startswith("RG-LRU"):
        a = lambda t: torch.sigmoid(p["Lambda"]) ** (8 * torch.sigmoid(p["W_a"] @ u[t] + p["b_a"]))   # noqa: E731
        return loop(a, lambda t: torch.sqrt(1 - a(t) ** 2) * torch.sigmoid(p["W_x"] @ u[t] + p["b_x"]) * u[t],
                    length, torch.zeros_like(u[0]))
    if m.name.startswith("mLSTM"):
        return mlstm_loop(m, length)
    heads = m.a.shape[1]                                                      # RWKV-6-style
    w = lambda t: torch.exp(-torch.exp(p["omega"] + torch.tanh(u[t] @ p["W1"]) @ p["W2"]))   # noqa: E731
    k = lambda t: (p["W_k"] @ u[t]).reshape(heads, -1)                         # noqa: E731
    v = lambda t: (p["W_v"] @ u[t]).reshape(heads, -1)                         # noqa: E731
    return loop(lambda t: w(t).reshape(heads, -1, 1), lambda t: k(t)[:, :, None] * v(t)[:, None, :], length,
                torch.zeros(heads, u.shape[1] // heads, u.shape[1] // heads, dtype=u.dtype))


def mlstm_loop(m, length):
    """xLSTM's mLSTM as the paper writes it, one step at a time: C_t = f_t C_{t−1} + i_t v_t k_tᵀ (V × K) and
    n_t = f_t n_{t−1} + i_t k_t, yielded in the family's layout [Cᵀ | n] (heads, K, V + 1)."""
    u, p = m.u, m.parameters
    heads = p["W_f"].shape[0]
    K = u.shape[1] // heads
    C = torch.zeros(heads, K, K, dtype=u.dtype)                               # (heads, V, K)
    n = torch.zeros(heads, K, dtype=u.dtype)
    for t in range(length):
        f = torch.sigmoid(p["W_f"] @ u[t] + p["b_f"])[:, None]                 # (heads, 1)
        i = torch.exp(p["W_i"] @ u[t] + p["b_i"])[:, None]
        k = (p["W_k"] @ u[t]).reshape(heads, K) / math.sqrt(K)
        v = (p["W_v"] @ u[t]).reshape(heads, K)
        C = f[..., None] * C + i[..., None] * v[:, :, None] * k[:, None, :]
        n = f * n + i * k
        yield torch.cat([C.transpose(1, 2), n[..., None]], dim=-1)


@pytest.mark.parametrize("seed", [0, 1])
def test_every_family_member_equals_its_own_loop(seed):
    family = S.recurrence_family(length=13, width=6, state=4, heads=3, seed=seed)
    assert len(family) == 7
    for name, member in family.items():
        want = torch.stack(list(family_loops(member, 13)))
        assert member.a.shape == member.b.shape == member.h.shape == want.shape, name
        assert float((member.h - want).abs().max()) < 1e-10 * max(1.0, float(want.abs().max())), name


def test_family_mamba_members_match_the_lessons_models():
    family = S.recurrence_family(length=10, width=4, state=3, heads=2, seed=3)
    m2 = family["Mamba-2"]
    p = m2.parameters
    delta = F.softplus(m2.u @ p["W_delta"].T - 2)                              # (L, heads)
    x = (m2.u.reshape(10, 2, 2) * delta[..., None])[None]
    B = (m2.u @ p["W_B"].T)[None, :, None, :].expand(1, 10, 2, 3)
    _, final = S.ssd_loop(x, (delta * p["A"])[None], B, B)
    close(m2.h[-1], final[0])
    m1 = family["Mamba-1"]
    q = m1.parameters
    u = m1.u.T[None]                                                          # (1, width, L)
    _, last = selective_scan_loop(u, (q["W_delta"] @ m1.u.T)[None], q["A"], (q["W_B"] @ m1.u.T)[None],
                                  (q["W_B"] @ m1.u.T)[None], delta_bias=q["bias"], delta_softplus=True,
                                  return_last_state=True)
    close(m1.h[-1], last[0])


def test_s4d_legs_init_is_the_normal_part_of_hippo_legs():
    A, B = S.hippo_legs(6)
    n = torch.arange(6, dtype=torch.float64)
    assert float(A[3, 1]) == -math.sqrt(7 * 3) and float(A[2, 2]) == -3 and float(A[1, 3]) == 0
    lam, B_tilde = S.s4d_legs_init(6)
    close(lam.real, torch.full((6,), -0.5, dtype=torch.float64), 1e-12)
    normal = A + torch.outer((n + 0.5).sqrt(), (n + 0.5).sqrt())
    close(normal + normal.T, -torch.eye(6, dtype=torch.float64), 1e-12)       # −½ I plus a skew-symmetric part
    V = torch.linalg.eig(normal).eigenvectors
    close(V @ torch.diag(lam) @ torch.linalg.inv(V), normal.to(V.dtype), 1e-10)
    close(V @ B_tilde, B.to(V.dtype), 1e-10)                                  # the same system, diagonalised


def test_family_table_has_a_row_per_member():
    table = S.family_table(S.recurrence_family(seed=4))
    lines = str(table).splitlines()
    assert len(lines) == 2 + 7 and "depends on the input" in lines[0]
    assert all(name in str(table) for name in ("S4D", "LRU", "Mamba-1", "Mamba-2", "RG-LRU", "RWKV-6", "mLSTM"))


def test_the_mlstm_member_reads_out_as_the_xlstm_cell():
    """The family's [C | n] state gives the mLSTM's output h_t = C_tᵀq_t / max(|n_tᵀq_t|, 1) per head, as a loop
    of the cell does; its gate is a forget gate in (0, 1) that the input sets."""
    m = S.recurrence_family(length=9, width=4, state=3, heads=2, seed=5)["mLSTM (xLSTM)"]
    q = torch.randn(9, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))     # (L, heads, K)
    C, n = m.h[..., :-1], m.h[..., -1]                                        # (L, heads, K, V), (L, heads, K)
    readout = torch.einsum("thkv,thk->thv", C, q) / torch.einsum("thk,thk->th", n, q).abs().clamp_min(1)[..., None]
    for t, state in enumerate(mlstm_loop(m, 9)):
        C_t, n_t = state[..., :-1].transpose(1, 2), state[..., -1]           # (heads, V, K), (heads, K)
        want = (C_t @ q[t][..., None])[..., 0] / (n_t * q[t]).sum(-1).abs().clamp_min(1)[:, None]
        close(readout[t], want, 1e-12)
    assert 0 < float(m.a.min()) and float(m.a.max()) < 1 and bool((m.a != m.a[:1]).any())   # a forget gate, selective


# ---------------------------------------------------------------------------------------------- bad inputs
def test_bad_inputs_give_clear_errors():
    x, a, B, C = draw(14, 6)
    with pytest.raises(ValueError, match="`a` must have 3 dimensions"):
        S.ssd(x, a[..., None], B, C)
    with pytest.raises(ValueError, match=r"`B` must have shape \(batch, L, heads, N\)"):
        S.ssd(x, a, B[:, :5], C)
    with pytest.raises(ValueError, match="`C` must have shape B's shape"):
        S.ssd(x, a, B, C[..., :3])
    with pytest.raises(TypeError, match="`x` must be a floating-point tensor"):
        S.ssd_loop(x.long(), a, B, C)
    with pytest.raises(ValueError, match="at least one time step"):
        S.ssd(x[:, :0], a[:, :0], B[:, :0], C[:, :0])
    with pytest.raises(ValueError, match="`chunk_size` must be an int in"):
        S.ssd(x, a, B, C, chunk_size=0)
    with pytest.raises(ValueError, match="`initial_state` must have shape"):
        S.ssd(x, a, B, C, initial_state=torch.zeros(BATCH, HEADS, N, P, dtype=torch.float64))
    with pytest.raises(TypeError, match="`a` must be a torch.Tensor"):
        S.segsum([1.0, 2.0])
    dt, A = a.abs(), -torch.ones(HEADS, dtype=torch.float64)
    with pytest.raises(ValueError, match="must divide heads"):
        S.mamba2_layer_reference(x, dt, A, B[:, :, :2], C[:, :, :2], 4)
    with pytest.raises(ValueError, match=r"`D` must have shape \(heads,\) or \(heads, P\)"):
        S.mamba2_layer_reference(x, dt, A, B, C, 4, D=torch.ones(P, HEADS, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"`A` must have shape \(heads,\)"):
        S.mamba2_layer_reference(x, dt, A[:2], B, C, 4)
    with pytest.raises(TypeError, match="`dt_softplus` must be True or False"):
        S.mamba2_layer_reference(x, dt, A, B, C, 4, dt_softplus=1)
    with pytest.raises(ValueError, match="`heads` .* must divide `width`"):
        S.recurrence_family(width=5, heads=2)
    with pytest.raises(ValueError, match="`chunk_size` must be an int in"):
        S.ssd_flops(1, 10, 1, 2, 3, 0)
