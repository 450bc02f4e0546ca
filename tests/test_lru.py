"""Lesson 05: the LRU parameterisation, ring init, γ normalisation, the layer against a loop, and training."""
import cmath
import math

import pytest
import torch

from lessons import lru
from lessons.exercises import lru as checks
from lessons.experiments import lru as experiments
from lessons.solutions import lru as solutions
from lessons.tasks import delay_task, recall_first_task
from lessons.training import accuracy, fit, masked_mse, parameter_count
from lessons.widgets.lru import LRUExplorer, ring_summary, steps_text

EXTREMES = [-1e30, -1e4, -200.0, -50.0, -16.0, -1.0, 0.0, 1.0, 5.0, 50.0, 200.0, 1e4, 1e30, math.inf, -math.inf]


def fresh(*shape, seed, dtype=torch.float64):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# ---------------------------------------------------------------------------------------------- magnitude
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_magnitude_is_below_one_and_finite_for_any_real_nu_and_theta(dtype):
    nu, theta = torch.meshgrid(torch.tensor(EXTREMES, dtype=dtype), torch.tensor(EXTREMES, dtype=dtype), indexing="ij")
    lam = lru.lru_eigenvalues(nu, theta)
    assert torch.isfinite(lam.real).all() and torch.isfinite(lam.imag).all()
    assert (lam.abs() < 1).all()
    random_lam = lru.lru_eigenvalues(fresh(10_000, seed=1, dtype=dtype) * 30, fresh(10_000, seed=2, dtype=dtype) * 30)
    assert (random_lam.abs() < 1).all() and torch.isfinite(random_lam.abs()).all()


def test_gradients_are_finite_at_extreme_parameters():
    nu = torch.tensor(EXTREMES, requires_grad=True)
    theta = torch.tensor(EXTREMES, requires_grad=True)
    lam = lru.lru_eigenvalues(nu, theta)
    (lam.real + lam.imag + lru.lru_gamma(nu)).sum().backward()
    assert torch.isfinite(nu.grad).all() and torch.isfinite(theta.grad).all()


def test_eigenvalues_match_the_formula_in_the_ordinary_range():
    nu, theta = fresh(50, seed=3), fresh(50, seed=4)
    expected = torch.exp(-torch.exp(nu) + 1j * torch.exp(theta))
    torch.testing.assert_close(lru.lru_eigenvalues(nu, theta), expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(lru.lru_magnitude(nu), expected.abs(), rtol=1e-12, atol=1e-12)


def test_nu_and_theta_inverses():
    radius, phase = torch.tensor([0.1, 0.5, 0.9, 0.999]), torch.tensor([0.01, 1.0, 3.0, 6.0])
    lam = lru.lru_eigenvalues(lru.nu_for_magnitude(radius), lru.theta_for_phase(phase))
    torch.testing.assert_close(lam.abs(), radius.double(), rtol=1e-12, atol=0)
    torch.testing.assert_close(lam.angle().remainder(2 * math.pi), phase.double(), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="radius"):
        lru.nu_for_magnitude(1.0)
    with pytest.raises(ValueError, match="phase"):
        lru.theta_for_phase(0.0)


def test_gamma_is_accurate_near_the_unit_circle():
    nu = lru.nu_for_magnitude(torch.tensor([0.5, 0.99, 1 - 1e-9], dtype=torch.float64))
    expected = torch.sqrt(1 - lru.lru_magnitude(nu) ** 2)
    torch.testing.assert_close(lru.lru_gamma(nu), expected, rtol=1e-5, atol=0)
    assert float(lru.lru_gamma(nu.float())[-1]) > 0  # float32 1 − |λ|² would round to 0; expm1 does not


# ---------------------------------------------------------------------------------------------- ring init
@pytest.mark.parametrize("r_min,r_max,max_phase", [(0.0, 1.0, 2 * math.pi), (0.4, 0.9, math.pi), (0.9, 0.999, 0.3)])
def test_ring_init_lies_in_the_ring(r_min, r_max, max_phase):
    nu, theta = lru.ring_init(4000, r_min, r_max, max_phase, generator=torch.Generator().manual_seed(0))
    assert nu.shape == theta.shape == (4000,) and nu.dtype == torch.float32
    lam = lru.lru_eigenvalues(nu.double(), theta.double())
    assert (lam.abs() >= r_min - 1e-6).all() and (lam.abs() <= r_max + 1e-6).all()
    assert (lam.angle().remainder(2 * math.pi) <= max_phase + 1e-6).all()


def test_ring_init_is_uniform_by_area():
    """|λ|² is uniform on [r_min², r_max²]: a Kolmogorov–Smirnov test at a fixed seed (α = 0.01: D < 1.63/√n)."""
    r_min, r_max, n = 0.5, 0.95, 20_000
    nu, _ = lru.ring_init(n, r_min, r_max, generator=torch.Generator().manual_seed(7))
    u = ((lru.lru_magnitude(nu.double()) ** 2 - r_min**2) / (r_max**2 - r_min**2)).sort().values
    grid = torch.arange(1, n + 1, dtype=torch.float64) / n
    ks = float(torch.maximum(grid - u, u - (grid - 1 / n)).abs().max())
    assert ks < 1.63 / math.sqrt(n)
    # ... and |λ| itself is *not* uniform: more eigenvalues near the outer edge, as area says
    outer_half = (lru.lru_magnitude(nu) > (r_min + r_max) / 2).float().mean()
    assert outer_half > 0.55


def test_ring_init_edges_and_bad_arguments():
    nu, theta = lru.ring_init(5, 0.0, 1.0, 0.0, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(nu).all() and torch.isfinite(theta).all()
    with pytest.raises(ValueError, match="r_max"):
        lru.ring_init(5, 0.9, 0.5)
    with pytest.raises(ValueError, match="`n`"):
        lru.ring_init(0)
    with pytest.raises(ValueError, match="max_phase"):
        lru.ring_init(3, 0.0, 1.0, 7.0)


# ---------------------------------------------------------------------------------------------- normalisation
@pytest.mark.parametrize("radius", [0.9, 0.99, 0.999])
def test_gamma_keeps_the_state_variance_order_one(radius):
    assert 0.8 < lru.state_variance(radius, normalise=True) < 1.25


@pytest.mark.parametrize("radius", [0.9, 0.99, 0.999])
def test_without_gamma_the_variance_grows_like_one_over_one_minus_radius_squared(radius):
    expected = 1 / (1 - radius**2)
    assert 0.8 * expected < lru.state_variance(radius, normalise=False) < 1.25 * expected


def test_layer_state_variance_with_and_without_gamma():
    torch.manual_seed(0)
    for normalise, low, high in ((True, 0.3, 3.0), (False, 50.0, math.inf)):
        layer = lru.LRU(8, 16, r_min=0.995, r_max=0.999, normalise=normalise,
                        generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            h = layer.states(fresh(16, 3000, 8, seed=2, dtype=torch.float32))        # (B, L, N)
        variance = float(h[:, -1].abs().pow(2).mean())
        assert low < variance < high, (normalise, variance)


# ---------------------------------------------------------------------------------------------- the layer
@pytest.mark.parametrize("batch,length,d_model,d_state", [(1, 1, 1, 1), (2, 13, 5, 7), (3, 31, 4, 3), (1, 97, 6, 11)])
@pytest.mark.parametrize("normalise", [True, False])
def test_layer_equals_loop_reference_forward_and_backward(batch, length, d_model, d_state, normalise):
    seed = batch * 1000 + length
    layer = lru.LRU(d_model, d_state, r_min=0.5, r_max=0.99, normalise=normalise,
                    generator=torch.Generator().manual_seed(seed)).double()
    x = fresh(batch, length, d_model, seed=seed + 1).requires_grad_(True)
    weights = fresh(batch, length, d_model, seed=seed + 2)
    fast, slow = layer(x), lru.lru_loop_reference(layer, x)
    assert fast.shape == (batch, length, d_model) and not fast.is_complex()
    torch.testing.assert_close(fast, slow, rtol=1e-10, atol=1e-10)
    params = [x, *layer.parameters()]
    grads_fast = torch.autograd.grad((fast * weights).sum(), params)
    grads_slow = torch.autograd.grad((slow * weights).sum(), params)
    for name, g_fast, g_slow in zip(["x", *dict(layer.named_parameters())], grads_fast, grads_slow, strict=True):
        torch.testing.assert_close(g_fast, g_slow, rtol=1e-9, atol=1e-10, msg=name)


def test_layer_is_causal_and_rejects_bad_input():
    layer = lru.LRU(4, 6, generator=torch.Generator().manual_seed(0))
    x = fresh(2, 20, 4, seed=5, dtype=torch.float32)
    changed = x.clone()
    changed[:, 12:] += 1.0
    torch.testing.assert_close(layer(x)[:, :12], layer(changed)[:, :12])
    with pytest.raises(ValueError, match=r"`x` must have shape \(batch, L, d_model\) = .*4\), got \(2, 20, 5\)"):
        layer(fresh(2, 20, 5, seed=6, dtype=torch.float32))
    with pytest.raises(ValueError, match="3 dimensions"):
        layer(fresh(20, 4, seed=6, dtype=torch.float32))
    with pytest.raises(ValueError, match="d_state"):
        lru.LRU(4, 0)


def test_model_shapes_inputs_and_seeding():
    tokens = torch.randint(0, 11, (3, 17), generator=torch.Generator().manual_seed(0))
    model = lru.LRUModel(5, d_model=8, d_state=6, n_layers=2, vocab_size=11, seed=3)
    assert model(tokens).shape == (3, 17, 5)
    again = lru.LRUModel(5, d_model=8, d_state=6, n_layers=2, vocab_size=11, seed=3)
    torch.testing.assert_close(model(tokens), again(tokens))
    floats = lru.LRUModel(2, d_model=8, d_state=4, n_layers=1, d_input=3)
    assert floats(fresh(2, 9, 3, seed=1, dtype=torch.float32)).shape == (2, 9, 2)
    assert len(model.lru_layers()) == 2 and experiments.eigenvalue_magnitudes(model).shape == (12,)
    with pytest.raises(TypeError, match=r"`x` must have dtype in \(int64\), got float32"):
        model(tokens.float())
    with pytest.raises(ValueError, match="exactly one"):
        lru.LRUModel(2, vocab_size=3, d_input=3)


def test_model_init_does_not_touch_the_global_generator():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    lru.LRUModel(2, d_model=4, d_state=4, vocab_size=5)
    torch.testing.assert_close(torch.rand(3), expected)


# ---------------------------------------------------------------------------------------------- tasks and fit
def test_recall_task_answer_is_the_first_token():
    x, y, mask = recall_first_task(64, 23, n_classes=5, n_distractors=3, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (64, 23) and x.dtype == torch.long and mask.tolist() == [False] * 22 + [True]
    assert (x[:, 0] < 5).all() and (x[:, 1:] >= 5).all() and (x < 8).all()
    assert (y[:, -1] == x[:, 0]).all()
    x1, _, mask1 = recall_first_task(2, 1, generator=torch.Generator().manual_seed(0))
    assert x1.shape == (2, 1) and mask1.tolist() == [True]
    with pytest.raises(ValueError, match="length"):
        recall_first_task(2, 0)


def test_delay_task_is_unchanged_and_fit_takes_a_regression_loss():
    x, y, mask = delay_task(2, 6, 2, torch.Generator().manual_seed(0))
    assert torch.equal(y[:, 2:], x[:, :4]) and mask.tolist() == [False, False, True, True, True, True]
    model = torch.nn.Linear(1, 1)
    history = fit(model, lambda _: (x, y, mask), 3, lr=1e-2, loss=masked_mse)
    assert set(history) == {"loss"} and len(history["loss"]) == 3
    assert history["loss"][-1] < history["loss"][0]
    assert parameter_count(model) == 2


def test_fit_history_and_mask_shapes():
    model = lru.LRUModel(3, d_model=4, d_state=4, n_layers=1, vocab_size=6)
    seen = []
    x, y, _ = recall_first_task(4, 5, 3, 3, torch.Generator().manual_seed(0))
    per_sequence_mask = torch.zeros(4, 5, dtype=torch.bool)
    per_sequence_mask[:, -2:] = True
    history = fit(model, lambda step: (x, y, per_sequence_mask), 4, on_step=lambda step, m: seen.append(step))
    assert set(history) == {"loss", "accuracy"} and len(history["loss"]) == 4 and seen == [0, 1, 2, 3]
    assert 0 <= accuracy(model, x, y, per_sequence_mask) <= 1


def test_lru_training_loss_goes_down_on_an_easy_setting():
    """A short, seeded run on recall at L = 8: the loss falls well below chance (ln 4 ≈ 1.39) and accuracy rises."""
    generator = torch.Generator().manual_seed(0)
    model = lru.LRUModel(4, d_model=16, d_state=16, n_layers=1, vocab_size=6, r_min=0.9, r_max=0.999, seed=0)
    history = fit(model, lambda _: recall_first_task(16, 8, 4, 2, generator), 60, lr=1e-2)
    first, last = sum(history["loss"][:5]) / 5, sum(history["loss"][-5:]) / 5
    assert first > 1.0 and last < 0.5 * first
    test = recall_first_task(256, 8, 4, 2, torch.Generator().manual_seed(1))
    assert accuracy(model, *test) > 0.8


def test_baselines_build_and_run():
    for name in experiments.MODEL_NAMES:
        model = experiments.make_model(name, vocab_size=7, d_output=3, width=4)
        assert model(torch.zeros(2, 5, dtype=torch.long)).shape == (2, 5, 3)
    with pytest.raises(ValueError, match="cell"):
        experiments.RecurrentClassifier("GRU", 7, 4, 3)


# ---------------------------------------------------------------------------------------------- why ν, not λ
def test_direct_lambda_gradients_blow_up_while_nu_gradients_stay_small():
    near, far = lru.gradient_sizes(0.999, length=500), lru.gradient_sizes(0.9, length=500)
    assert near["λ directly"] > 100 * far["λ directly"]
    assert near["through ν, with γ"] < 2 * far["through ν, with γ"]
    assert near["λ directly"] > 100 * near["through ν"]


def test_training_lambda_directly_explodes_and_nu_converges():
    direct = lru.fit_one_eigenvalue("λ", steps=10, lr=1e-3, length=300)
    stable = lru.fit_one_eigenvalue("ν", steps=30, lr=1e-2, length=300)
    assert math.isinf(direct[-1]) or max(direct) > 1
    assert all(r < 1 for r in stable) and abs(stable[-1] - 0.999) < 1e-3


# ---------------------------------------------------------------------------------------------- exercises
def not_implemented(*_args):
    raise NotImplementedError


def test_eigenvalue_exercise_check():
    assert checks.check_eigenvalue(solutions.eigenvalue)
    one_exp = checks.check_eigenvalue(lambda nu, theta: cmath.exp(complex(-nu, theta)))
    assert not one_exp and "two exps" in one_exp.message
    no_minus = checks.check_eigenvalue(lambda nu, theta: cmath.exp(complex(math.exp(nu), math.exp(theta))))
    assert not no_minus and "minus" in no_minus.message
    raw_phase = checks.check_eigenvalue(lambda nu, theta: cmath.exp(complex(-math.exp(nu), theta)))
    assert not raw_phase and "phase is exp(θ)" in raw_phase.message
    assert not checks.check_eigenvalue(not_implemented)
    assert not checks.check_eigenvalue(lambda nu, theta: "λ")


def test_prediction_exercise_checks():
    assert checks.check_magnitude_prediction(solutions.MAGNITUDE_NU_MINUS_3)
    first_order = checks.check_magnitude_prediction(0.950)
    assert not first_order and "first-order" in first_order.message
    rate = checks.check_magnitude_prediction(0.0498)
    assert not rate and "decay rate" in rate.message
    assert not checks.check_magnitude_prediction(None)
    assert checks.check_gamma_prediction(solutions.GAMMA_099)
    no_square = checks.check_gamma_prediction(0.1)
    assert not no_square and "square" in no_square.message
    variance = checks.check_gamma_prediction(0.0199)
    assert not variance and "square root" in variance.message
    assert not checks.check_gamma_prediction("0.14")


# ---------------------------------------------------------------------------------------------- explorer helpers
def test_explorer_text_helpers_never_say_inf():
    assert steps_text(math.inf) == "more than a million steps" and steps_text(13.51) == "13.5 steps"
    assert "1,386 steps" == steps_text(1386.0)
    summary = ring_summary(0.99, 0.5)
    assert "swapped" in summary and "[0.500, 0.990]" in summary
    assert "inf" not in ring_summary(1.0, 1.0).lower() and "nan" not in ring_summary(0.0, 0.0).lower()


def test_explorer_readout_follows_each_slider():
    explorer = LRUExplorer()
    assert "Half-life 13.9 steps" in explorer.update(nu=-3.0, theta=-1.0)
    readouts = {explorer.readout.value}
    for name, value in (("nu", -6.0), ("theta", 1.0), ("r_min", 0.9), ("r_max", 0.95)):
        readouts.add(explorer.update(**{name: value}))
    assert len(readouts) == 5


# ---------------------------------------------------------------------------------------------- experiments' tables
def test_with_gamma_the_variance_is_one_within_the_stated_sampling_noise():
    rows = [[cell.strip() for cell in row.split("|")[1:-1]]
            for row in experiments.state_variance_table(radii=(0.5, 0.99), batch=2048).splitlines()[2:]]
    for radius, _no_gamma, theory, with_gamma, noise, in_se in rows:
        assert noise == f"±{math.sqrt(2 / 2047):.3f}"
        assert abs(float(with_gamma) - 1) < 3 * float(noise.lstrip("±")) and abs(float(in_se)) < 3
        assert float(theory) == pytest.approx(1 / (1 - float(radius) ** 2), abs=0.05)


def test_gradient_and_accuracy_tables_hold_the_numbers():
    rows = experiments.gradient_table(radii=(0.9,), length=200).splitlines()
    sizes = lru.gradient_sizes(0.9, 200)
    cells = [f"{sizes[key]:.3g}" for key in ("λ directly", "through ν", "through ν, with γ")]
    assert rows[2] == "| 0.9 | " + " | ".join(cells) + " |"
    runs = [experiments.RecallRun(name, length, accuracy, {}, None) for name, length, accuracy in
            [("LRU", 8, 1.0), ("LSTM", 8, 0.5), ("LRU", 32, 0.25)]]
    assert experiments.accuracy_table(runs).splitlines() == ["| L | LRU | LSTM |", "|---:|---:|---:|",
                                                              "| 8 | 1.000 | 0.500 |", "| 32 | 0.250 | nan |"]


def test_adam_moves_lambda_by_about_lr_per_step_where_sgd_throws_it_out_of_the_circle():
    sgd = lru.fit_one_eigenvalue("λ", lr=1e-3, steps=5, length=300, optimiser="sgd")
    adam = lru.fit_one_eigenvalue("λ", lr=1e-3, steps=5, length=300, optimiser="adam")
    assert sgd[1] > 1.5 and math.isinf(sgd[-1])
    steps = [later - earlier for earlier, later in zip(adam[:-1], adam[1:], strict=True)]
    assert len(adam) == 6 and all(0 < step < 1.01e-3 for step in steps), steps   # Adam's first steps: ≈ lr each
    with pytest.raises(ValueError, match="`optimiser` must be one of"):
        lru.fit_one_eigenvalue("ν", optimiser="rmsprop")


# ---------------------------------------------------------------------------------------------- learned γ, drift
def test_learned_gamma_starts_equal_and_gets_its_own_gradient():
    fixed = lru.LRU(5, 7, r_min=0.5, r_max=0.999, generator=torch.Generator().manual_seed(3))
    learned = lru.LRU(5, 7, r_min=0.5, r_max=0.999, generator=torch.Generator().manual_seed(3), learn_gamma=True)
    x = torch.randn(2, 11, 5, generator=torch.Generator().manual_seed(4))
    assert torch.allclose(fixed(x), learned(x), rtol=1e-5, atol=1e-6)
    assert torch.allclose(learned(x), lru.lru_loop_reference(learned, x), rtol=1e-4, atol=1e-5)
    learned(x).pow(2).sum().backward()
    assert learned.gamma_log.grad is not None and learned.gamma_log.grad.abs().sum() > 0
    with torch.no_grad():
        learned.gamma_log += 0.3                                       # moves γ without touching ν
    assert torch.allclose(learned.input_scale(), lru.lru_gamma(learned.nu) * math.exp(0.3), rtol=1e-5)
    assert fixed.gamma_log is None and "gamma_log" not in dict(fixed.named_parameters())
    with pytest.raises(ValueError, match="learn_gamma"):
        lru.LRU(5, 7, normalise=False, learn_gamma=True)


def test_drift_summary_and_half_life_histogram():
    before = torch.tensor([0.4, 0.9, 0.99, 0.999])
    after = torch.tensor([0.6, 0.85, 0.995, 0.999])
    summary = experiments.drift_summary(before, after, threshold=0.01)
    assert (summary["moved"], summary["towards 1"], summary["away from 1"]) == (2, 1, 1)
    assert summary["largest move"] == pytest.approx(0.2, rel=1e-5)
    lives = experiments.half_lives(before)
    assert torch.allclose(before.double() ** lives, torch.full((4,), 0.5, dtype=torch.float64))
    assert experiments.half_life_histogram(before) == [1, 0, 1, 1, 1]         # 0.76, 6.6, 69, 693 steps
    assert sum(experiments.half_life_histogram(torch.rand(50))) == 50


def test_layer_state_variance_spread_with_and_without_gamma():
    with_gamma = experiments.layer_state_variances(True, length=512, d_state=16, batch=32)
    without = experiments.layer_state_variances(False, length=512, d_state=16, batch=32, r_max=0.999)
    assert with_gamma.max() / with_gamma.min() < 10
    assert without.max() > 50 * with_gamma.max()


def test_gradient_table_reuses_given_sizes():
    sizes = experiments.gradient_sizes_by_radius(radii=(0.9, 0.99), length=200)
    assert set(sizes) == {0.9, 0.99} and sizes[0.99]["λ directly"] > sizes[0.9]["λ directly"]
    assert experiments.gradient_table(sizes=sizes) == experiments.gradient_table(radii=(0.9, 0.99), length=200)


def test_recorded_full_run_is_read_from_the_results_file():
    from lessons.experiments.recorded import recorded_table

    table = recorded_table(experiments.FULL_RESULTS, "table")
    assert [row["L"] for row in table] == ["8", "32", "128", "512"] and set(table[0]) == {"L", *experiments.MODEL_NAMES}
    magnitudes = experiments.recorded_magnitudes()
    assert sorted(magnitudes) == [8, 32, 128, 512]
    assert all(0 < value < 1 for run in magnitudes.values() for value in (*run["before"], *run["after"]))


def test_adam_trained_lambda_lands_on_the_circle_then_drifts_down():
    direct = lru.fit_one_eigenvalue("λ", lr=1e-2, steps=10, optimiser="adam", batch=16)
    assert direct[1] == pytest.approx(1.0, abs=1e-9)
    assert all(later < earlier for earlier, later in zip(direct[1:-1], direct[2:], strict=True))
    through_nu = lru.fit_one_eigenvalue("ν", lr=1e-1, steps=10, optimiser="adam", batch=16)
    assert max(through_nu) < 1 and through_nu[-1] > through_nu[0]
