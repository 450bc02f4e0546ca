"""Lesson 01's maths against autograd and against each other, on random inputs."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from lessons import rnn
from lessons.experiments import rnn as experiments
from lessons.tasks import delay_task


@settings(max_examples=40, deadline=None)
@given(w=st.floats(-1.3, 1.3).filter(lambda v: abs(v) > 0.05), n=st.integers(1, 40),
       h0=st.floats(-2, 2), seed=st.integers(0, 10_000))
def test_scalar_gradient_formula_matches_autograd(w, n, h0, seed):
    x = torch.randn(n, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    h_n = rnn.scalar_linear_rnn(w_t, x, torch.tensor(h0, dtype=torch.float64))
    (grad,) = torch.autograd.grad(h_n, w_t)
    assert torch.allclose(grad, rnn.scalar_linear_grad_w(w, x, h0), rtol=1e-9, atol=1e-9)
    assert torch.allclose(h_n, rnn.scalar_linear_closed_form(w, x, h0), rtol=1e-9, atol=1e-9)


def test_factor_n_is_needed():
    """Without the factor n the formula is wrong: the test would catch the video's slip."""
    w, n = 0.9, 30
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    h_n = rnn.scalar_linear_rnn(w_t, torch.zeros(n, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    (grad,) = torch.autograd.grad(h_n, w_t)
    assert math.isclose(grad.item(), n * w ** (n - 1), rel_tol=1e-12)
    assert not math.isclose(grad.item(), w ** (n - 1), rel_tol=1e-3)


@pytest.mark.parametrize("w", [0.1, 0.5, 0.999, 1.0, 1.2, 1.5, -0.7])
def test_log10_gradient_is_finite_and_matches_direct_value(w):
    n = torch.arange(1, 201)
    logs = rnn.log10_scalar_gradient(w, n)
    assert torch.isfinite(logs).all()
    direct = n.double() * abs(w) ** (n.double() - 1)
    assert torch.allclose(logs, torch.log10(direct), atol=1e-9)


def test_regimes():
    assert rnn.gradient_regime(0.5) == "vanishing"
    assert rnn.gradient_regime(1.0) == "on the edge"
    assert rnn.gradient_regime(-1.3) == "exploding"


@pytest.mark.parametrize("scale,length", [(0.5, 1), (1.0, 7), (3.0, 23)])
def test_state_gradient_norms_match_jacobian_product(scale, length):
    """Autograd's ‖∂h_T/∂h_t‖ equals the chain-rule product Π diag(1 − h_k²) W, at awkward lengths."""
    x = torch.randn(1, length, 2, generator=torch.Generator().manual_seed(length))
    model = rnn.TanhRNN(2, 5, scale=scale, seed=length)
    measured = rnn.state_gradient_norms(model, x)
    assert measured.shape == (length,)
    assert torch.allclose(measured, rnn.state_gradient_norms_formula(model, x), rtol=1e-4, atol=1e-12)
    assert math.isclose(measured[-1].item(), math.sqrt(5), rel_tol=1e-6)  # ∂h_T/∂h_T = I


def test_gradients_vanish_at_small_scale_and_grow_at_large_scale():
    curves = rnn.tanh_rnn_gradient_curves([0.5, 3.0], length=40, hidden_size=16, seed=3)
    assert rnn.decay_per_step(curves[0.5]) < 0.7
    assert rnn.decay_per_step(curves[3.0]) > 1.0


def test_input_gradient_norms_agree_for_nn_rnn_and_tanh_rnn():
    """The same weights in nn.RNN and TanhRNN give the same ‖∂h_T/∂x_t‖."""
    model = rnn.TanhRNN(3, 6, scale=1.2, seed=1)
    torch_rnn = nn.RNN(3, 6, batch_first=True)
    with torch.no_grad():
        torch_rnn.weight_hh_l0.copy_(model.W)
        torch_rnn.weight_ih_l0.copy_(model.U)
        torch_rnn.bias_ih_l0.copy_(model.b)
        torch_rnn.bias_hh_l0.zero_()
    x = torch.randn(1, 11, 3)
    ours = rnn.input_gradient_norms(lambda inputs: torch.stack(model.states(inputs), dim=1), x)
    assert torch.allclose(ours, rnn.input_gradient_norms(torch_rnn, x), rtol=1e-4)


def test_forget_bias_slows_lstm_decay():
    curves = experiments.rnn_vs_lstm_gradient_curves(length=60, hidden_size=8, seed=2)
    default = rnn.decay_per_step(curves["LSTM (PyTorch init)"])
    biased = rnn.decay_per_step(curves["LSTM (forget bias 3)"])
    assert default < biased < 1.05


def test_lstm_forget_bias_is_placed_in_forget_gate_and_the_callers_stream_is_untouched():
    before = torch.random.get_rng_state()
    lstm = experiments.lstm_with_forget_bias(4, 2.5)
    assert torch.equal(torch.random.get_rng_state(), before)
    assert torch.equal(lstm.weight_hh_l0, experiments.lstm_with_forget_bias(4, 2.5).weight_hh_l0)   # seeded
    total = lstm.bias_ih_l0 + lstm.bias_hh_l0
    assert torch.allclose(total[4:8], torch.full((4,), 2.5))


def test_delay_task_targets_and_mask():
    x, y, mask = delay_task(3, 9, 4, torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (3, 9, 1) and mask.tolist() == [False] * 4 + [True] * 5
    assert torch.equal(y[:, 4:], x[:, :5])


def test_bptt_learns_short_delay_but_not_long_delay():
    short = experiments.train_tanh_rnn_on_delay(2, steps=120, length=30)
    long = experiments.train_tanh_rnn_on_delay(20, steps=120, length=30)
    assert sum(short[-10:]) / 10 < 0.1
    assert sum(long[-10:]) / 10 > 0.7


def test_echo_state_network_recalls_a_delay_bptt_cannot():
    assert experiments.echo_state_delay_error(20) < 0.2
    assert experiments.echo_state_delay_error(2) < 0.01


def test_fit_ridge_readout_recovers_a_linear_map():
    features = torch.randn(4, 50, 6, dtype=torch.float64)
    V = torch.randn(6, 2, dtype=torch.float64)
    assert torch.allclose(rnn.fit_ridge_readout(features, features @ V, ridge=1e-12), V, atol=1e-6)


def test_timing_table_has_one_row_per_length():
    rows = experiments.time_rnn_and_attention([5, 17], hidden_size=8, repeats=1)
    assert [row[0] for row in rows] == [5, 17] and all(ms > 0 for _, *times in rows for ms in times)


@pytest.mark.parametrize("bad,message", [
    (torch.zeros(4, 3), "3 dimensions"),
    (torch.zeros(1, 4, 3, dtype=torch.long), "floating-point"),
    ([1.0, 2.0], "torch.Tensor"),
    (torch.zeros(1, 4, 5), r"`x` must have shape \(batch, time, D\) = .*1\), got \(1, 4, 5\)"),
])
def test_bad_input_is_named(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        rnn.TanhRNN(1, 4).states(bad)


def test_bad_task_and_scalar_inputs_are_named():
    with pytest.raises(ValueError, match="delay"):
        delay_task(2, 5, 5)
    with pytest.raises(ValueError, match="`w`"):
        rnn.log10_scalar_gradient(0.0, torch.arange(1, 4))
    with pytest.raises(ValueError, match="one sequence"):
        rnn.state_gradient_norms(rnn.TanhRNN(1, 3), torch.zeros(2, 4, 1))


def test_generation_cost_keeps_the_rnn_state_fixed_while_the_kv_cache_grows():
    rows = experiments.generation_cost([16, 64], hidden_size=8, repeats=1)
    assert [row[0] for row in rows] == [16, 64] and all(us > 0 for row in rows for us in row[1:3])
    assert rows[0][1] == rows[1][1]                                             # one RNN step, whatever T is
    assert [row[3] for row in rows] == [4 * 8, 4 * 8]                          # one float32 state (H,)
    assert [row[4] for row in rows] == [4 * 2 * 16 * 8, 4 * 2 * 64 * 8]        # keys and values (T, H)
    table = experiments.generation_cost_table(rows).splitlines()
    assert table[2].endswith("| 32 B | 1.0 KiB |") and table[3].endswith("| 32 B | 4.0 KiB |")


def test_attention_step_is_softmax_attention_over_the_cache():
    g = torch.Generator().manual_seed(2)
    q, keys, values = torch.randn(4, generator=g), torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    expected = torch.nn.functional.scaled_dot_product_attention(q[None, None], keys[None], values[None])[0, 0]
    torch.testing.assert_close(experiments._attend(q, keys, values), expected)


# ---------------------------------------------------------------------------------------------- clipping, truncation
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clip_by_norm_matches_torch_clip_grad_norm(seed):
    grad = torch.randn(37, generator=torch.Generator().manual_seed(seed), dtype=torch.float64) * 10 ** (seed - 1)
    for max_norm in (1e-3, 0.5, 3.0, 1e3):
        parameter = nn.Parameter(torch.zeros_like(grad))
        parameter.grad = grad.clone()
        nn.utils.clip_grad_norm_([parameter], max_norm)
        clipped = rnn.clip_by_norm(grad, max_norm)
        assert torch.allclose(clipped, parameter.grad, rtol=1e-5, atol=0)   # torch adds 1e-6 to the norm
        assert clipped.norm() <= max_norm * (1 + 1e-9) and torch.allclose(clipped / clipped.norm(), grad / grad.norm())
    with pytest.raises(ValueError, match="max_norm"):
        rnn.clip_by_norm(grad, 0.0)


@pytest.mark.parametrize(("length", "k"), [(60, 10), (23, 7), (5, 1), (13, 13), (11, 20)])
def test_truncated_bptt_gradient_is_exactly_zero_beyond_the_last_chunk(length, k):
    model = rnn.TanhRNN(3, 16, scale=1.2, seed=length)
    x = torch.randn(2, length, 3, generator=torch.Generator().manual_seed(k))
    full, cut = model.states(x), rnn.truncated_states(model, x, k)
    assert all(torch.equal(a, b) for a, b in zip(full, cut, strict=True))          # same forward values
    reached = length % k or k if length >= k else length                          # the last, possibly short, chunk
    x_full, x_cut = x.clone().requires_grad_(True), x.clone().requires_grad_(True)
    (g_full,) = torch.autograd.grad(model.states(x_full)[-1].sum(), x_full)
    (g_cut,) = torch.autograd.grad(rnn.truncated_states(model, x_cut, k)[-1].sum(), x_cut)
    assert torch.equal(g_cut[:, : length - reached], torch.zeros_like(g_cut[:, : length - reached]))
    assert torch.allclose(g_cut[:, length - reached:], g_full[:, length - reached:], rtol=1e-5, atol=1e-7)
    assert (g_cut[:, length - reached:].abs().sum(dim=(0, 2)) > 0).all()


def test_clipping_rescues_the_exploding_scalar_fit_and_truncation_saves_memory_linearly():
    unclipped = experiments.fit_scalar_recurrence(None, start=1.05, target=0.9, lr=1e-2)
    clipped = experiments.fit_scalar_recurrence(1.0, start=1.05, target=0.9, lr=1e-2)
    assert not math.isfinite(unclipped["w"][-1]) and len(unclipped["w"]) < 10
    assert unclipped["grad norm"][0] > 1e3 and abs(clipped["w"][1] - clipped["w"][0]) <= 1e-2 * (1 + 1e-9)
    assert abs(clipped["w"][-1] - 0.9) < 0.01
    small, large = experiments.saved_activation_bytes(25), experiments.saved_activation_bytes(100)
    assert 3.5 < large / small < 4.5


def test_saved_activations_count_each_storage_once():
    """Wᵀ is saved at every step as a view of W: one more step adds the step's own tensors, never W's H² floats."""
    sizes = [experiments.saved_activation_bytes(n, hidden_size=8, batch=2) for n in (2, 3, 4, 5)]
    per_step = {b - a for a, b in zip(sizes[:-1], sizes[1:], strict=True)}
    assert len(per_step) == 1 and 0 < per_step.pop() < 4 * 8 * 8


def test_a_narrow_reservoir_remembers_less_than_a_wide_one():
    assert experiments.echo_state_delay_error(20, hidden_size=32) > 3 * experiments.echo_state_delay_error(20)


def test_attention_note_reads_the_ratios_whichever_way_they_fall():
    above = experiments.attention_scaling_note([(256, 1.0, 0.2), (1024, 4.0, 5.0), (4096, 16.0, 100.0)])
    below = experiments.attention_scaling_note([(256, 1.0, 0.2), (1024, 4.0, 0.5), (4096, 16.0, 10.0)])
    assert "500×" in above and "64 MiB" in above and "faster at $T$ = 256; slower at $T$ = 1024, 4096:" in above
    assert "50×" in below and "fixed overheads" in below and "faster than the RNN loop at every measured" in below
    near = experiments.attention_scaling_note([(256, 1.0, 0.2), (1024, 5.3, 5.2), (4096, 16.0, 100.0)])
    assert "about as fast at $T$ = 1024; slower at $T$ = 4096 (within 15% of each other" in near


def test_delay_gradients_fall_with_the_delay():
    reach = experiments.delay_input_gradients([2, 8, 20])
    assert reach[2] > reach[8] > reach[20] > 0


def test_mean_tanh_derivative_and_spectral_radius():
    model = rnn.TanhRNN(1, 16, scale=3.0, seed=0)
    x = torch.randn(1, 30, 1, generator=torch.Generator().manual_seed(0))
    assert 0 < rnn.mean_tanh_derivative(model, x) < rnn.mean_tanh_derivative(rnn.TanhRNN(1, 16, scale=0.5), x) <= 1
    assert rnn.weight_spectral_radius(model) == pytest.approx(float(torch.linalg.eigvals(model.W.double()).abs().max()))


def test_the_seed_alone_decides_a_tanh_rnn_and_leaves_the_callers_stream_alone():
    import torch

    from lessons.rnn import TanhRNN

    torch.manual_seed(1)
    first = TanhRNN(3, 5, seed=7)
    after_first = torch.rand(1)
    torch.manual_seed(2)
    second = TanhRNN(3, 5, seed=7)
    torch.manual_seed(1)
    assert torch.equal(torch.rand(1), after_first)               # building the model drew nothing from the caller's RNG
    for p, q in zip(first.parameters(), second.parameters(), strict=True):
        assert torch.equal(p, q)
