"""Every exercise check accepts its solution and rejects a typical wrong answer, in plain words."""
import torch

from lessons.exercises import rnn as checks
from lessons.solutions import rnn as solutions


def not_implemented(*_args):
    raise NotImplementedError


def test_scalar_gradient_check():
    assert checks.check_scalar_gradient(solutions.scalar_gradient)
    dropped_n = checks.check_scalar_gradient(lambda w, n, h0: w ** (n - 1) * h0)
    assert not dropped_n and "factor n" in dropped_n.message
    unfinished = checks.check_scalar_gradient(not_implemented)
    assert not unfinished and "NotImplementedError" in unfinished.message
    assert not checks.check_scalar_gradient(lambda w, n, h0: "two")


def test_tanh_jacobian_check():
    assert checks.check_tanh_step_jacobian(solutions.tanh_step_jacobian)
    no_tanh = checks.check_tanh_step_jacobian(lambda h, x, W, U, b: W)
    assert not no_tanh and "tanh's derivative" in no_tanh.message
    wrong_side = checks.check_tanh_step_jacobian(
        lambda h, x, W, U, b: W @ torch.diag(1 - torch.tanh(W @ h + U @ x + b) ** 2))
    assert not wrong_side and "order matters" in wrong_side.message
    wrong_shape = checks.check_tanh_step_jacobian(lambda h, x, W, U, b: h)
    assert not wrong_shape and "shape" in wrong_shape.message
    crashing = checks.check_tanh_step_jacobian(lambda h, x, W, U, b: 1 / 0)
    assert not crashing and "ZeroDivisionError" in crashing.message


def test_prediction_check():
    assert checks.check_steps_to_vanish(solutions.STEPS_TO_VANISH)
    without_n = checks.check_steps_to_vanish(checks.first_without_n())
    assert not without_n and "factor n" in without_n.message
    assert not checks.check_steps_to_vanish(solutions.STEPS_TO_VANISH - 1)
    assert not checks.check_steps_to_vanish("112")


def test_prediction_answer_is_the_first_crossing():
    n = checks.first_n_below(0.9, 1e-3)
    assert n * 0.9 ** (n - 1) < 1e-3 <= (n - 1) * 0.9 ** (n - 2)
    m = checks.first_without_n()
    assert 0.9 ** (m - 1) < 1e-3 <= 0.9 ** (m - 2)


def test_lesson02_matrix_power_check():
    from lessons.exercises import linear_rnn as checks02
    from lessons.linear_rnn import eigendecompose
    from lessons.solutions import linear_rnn as solutions02

    assert checks02.check_matrix_power_via_eigenbasis(solutions02.matrix_power_via_eigenbasis)

    def swapped(W, n):
        P, lam, P_inv = eigendecompose(W)
        return (P_inv @ torch.diag(lam**n) @ P).real

    verdict = checks02.check_matrix_power_via_eigenbasis(swapped)
    assert not verdict and "swapped" in verdict.message
    elementwise = checks02.check_matrix_power_via_eigenbasis(lambda W, n: W**n)
    assert not elementwise and "each entry" in elementwise.message
    assert not checks02.check_matrix_power_via_eigenbasis(not_implemented)


def test_lesson02_limit_check():
    from lessons.exercises import linear_rnn as checks02
    from lessons.solutions import linear_rnn as solutions02

    assert checks02.check_limit_prediction(solutions02.LIMIT_TOP_LEFT)
    entrywise = checks02.check_limit_prediction(0.8**100)
    assert not entrywise and "power" in entrywise.message
    assert not checks02.check_limit_prediction(0.5)


def test_predictions_left_as_none_get_a_plain_not_yet():
    from lessons.exercises import linear_rnn as checks02

    for check in (checks.check_steps_to_vanish, checks02.check_limit_prediction):
        verdict = check(None)
        assert not verdict and "haven't made a prediction" in verdict.message


def test_lesson03_checks():
    from lessons.exercises import complex_rnn as checks03
    from lessons.solutions import complex_rnn as solutions03

    assert checks03.check_rotation_eigenvalues(solutions03.rotation_eigenvalues)
    real_only = checks03.check_rotation_eigenvalues(lambda r, theta: (r, -r))
    assert not real_only and "real" in real_only.message
    assert not checks03.check_rotation_eigenvalues(lambda r, theta: (r * 1j, -r * 1j))
    assert not checks03.check_rotation_eigenvalues(not_implemented)
    assert checks03.check_half_life_prediction(solutions03.HALF_LIFE_098)
    linear_guess = checks03.check_half_life_prediction(25)
    assert not linear_guess and "ln 2" in linear_guess.message
    assert not checks03.check_half_life_prediction(None)


def test_lesson04_checks():
    from lessons.exercises import scan as checks04
    from lessons.solutions import scan as solutions04

    assert checks04.check_combine(solutions04.combine)
    swapped = checks04.check_combine(lambda x, y: (x[0] * y[0], x[0] * y[1] + x[1]))
    assert not swapped and "earlier gate" in swapped.message
    ungated = checks04.check_combine(lambda x, y: (x[0] * y[0], x[1] + y[1]))
    assert not ungated and "forgets the gate" in ungated.message
    assert not checks04.check_combine(lambda x, y: (x[0] + y[0], y[0] * x[1] + y[1]))
    assert not checks04.check_combine(lambda x, y: 3.0)
    assert not checks04.check_combine(not_implemented)
    assert checks04.check_levels_prediction(solutions04.HILLIS_STEELE_LEVELS_1000)
    rounded_down = checks04.check_levels_prediction(9)
    assert not rounded_down and "up" in rounded_down.message
    assert not checks04.check_levels_prediction(None)
    assert checks04.check_work_prediction(solutions04.HILLIS_STEELE_COMBINES_16)
    every_element = checks04.check_work_prediction(64)
    assert not every_element and "sit the level out" in every_element.message


def test_lesson07_checks():
    import torch

    from lessons.exercises import kernels as checks07
    from lessons.solutions import kernels as solutions07

    assert checks07.check_kernel_combine(solutions07.kernel_combine)
    swapped = checks07.check_kernel_combine(lambda a1, b1, a2, b2: (a1 * a2, a1 * b2 + b1))
    assert not swapped and "earlier gate" in swapped.message
    assert not checks07.check_kernel_combine(lambda a1, b1, a2, b2: (a1 + a2, b2))
    assert not checks07.check_kernel_combine(not_implemented)
    assert checks07.check_block_mask(solutions07.block_mask)
    off_by_one = checks07.check_block_mask(lambda start, block, n: start + torch.arange(block) <= n)
    assert not off_by_one and "one past the end" in off_by_one.message
    assert not checks07.check_block_mask(lambda start, block, n: torch.ones(block, dtype=torch.bool))
    assert not checks07.check_block_mask(lambda start, block, n: (start + torch.arange(block) < n).int())
    assert checks07.check_fused_bytes(solutions07.fused_bytes)
    times_n = checks07.check_fused_bytes(lambda b, d, l, n, e: e * 4 * b * d * l * n)
    assert not times_n and "multiplied" in times_n.message
    assert not checks07.check_fused_bytes(lambda b, d, l, n, e: e * 4 * b * d * l)
