"""Every exercise check accepts its solution and rejects a typical wrong answer, in plain words, and answers
whatever it is given without a traceback."""
import importlib.util
import inspect
from pathlib import Path

import nbformat
import numpy as np
import pytest
import torch
import triton
import triton.language as tl
from nbclient import NotebookClient
from triton.runtime.jit import JITFunction

from lessons import kernel_sandbox

from lessons.checking import CheckResult
from lessons.complex_rnn import rotation_matrix
from lessons.exercises import complex_rnn as checks03
from lessons.exercises import memory_traffic as checks07
from lessons.exercises import linear_rnn as checks02
from lessons.exercises import lru as checks05
from lessons.exercises import rnn as checks
from lessons.exercises import scan as checks04
from lessons.exercises import ssm as checks06
from lessons.linear_rnn import eigendecompose
from lessons.scan import sequential_scan
from lessons.solutions import complex_rnn as solutions03
from lessons.solutions import memory_traffic as solutions07
from lessons.solutions import linear_rnn as solutions02
from lessons.solutions import lru as solutions05
from lessons.solutions import rnn as solutions
from lessons.solutions import scan as solutions04
from lessons.solutions import ssm as solutions06

MODULES = [checks, checks02, checks03, checks04, checks05, checks06, checks07]
ALL_CHECKS = [getattr(module, name) for module in MODULES for name in sorted(vars(module)) if name.startswith("check_")]
FUNCTION_CHECKS = [check for check in ALL_CHECKS if check.expects.startswith("a function")]
ANSWER_CHECKS = [check for check in ALL_CHECKS if check not in FUNCTION_CHECKS]
PREDICTIONS = [  # (check, its solution)
    (checks.check_steps_to_vanish, solutions.STEPS_TO_VANISH),
    (checks02.check_limit_prediction, solutions02.LIMIT_TOP_LEFT),
    (checks03.check_half_life_prediction, solutions03.HALF_LIFE_098),
    (checks04.check_levels_prediction, solutions04.HILLIS_STEELE_LEVELS_10000),
    (checks04.check_work_prediction, solutions04.HILLIS_STEELE_COMBINES_16),
    (checks05.check_magnitude_prediction, solutions05.MAGNITUDE_NU_MINUS_3),
    (checks05.check_gamma_prediction, solutions05.GAMMA_099),
    (checks06.check_gate_prediction, solutions06.GATE_PREDICTION),
]
JUNK = {"None": None, "str": "abc", "pair of None": (None, None), "nan": float("nan"), "inf": float("inf"),
        "bool": True, "(3, 7) tensor": torch.ones(3, 7), "complex tensor": torch.ones(2, 2, dtype=torch.complex64),
        "numpy array": np.ones((2, 3)), "empty list": [], "dict": {}, "object": object()}


def not_implemented(*_args):
    raise NotImplementedError


def failing_learner_function(*_args):
    return [1, 2][5]   # IndexError on this line; the check must point here


# ---------------------------------------------------------------------------------------------------- every check
def test_every_check_is_counted():
    assert len(ALL_CHECKS) == 21 and len(FUNCTION_CHECKS) == 10 and len(PREDICTIONS) == 8


@pytest.mark.parametrize("check", FUNCTION_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_a_function_returning_junk_gets_words_naming_what_was_expected(check, junk):
    verdict = check(lambda *_args: junk)
    assert isinstance(verdict, CheckResult) and not verdict, verdict
    assert "expect" in verdict.message and "Traceback" not in verdict.message, verdict.message


@pytest.mark.parametrize("check", ANSWER_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_a_junk_answer_gets_words_not_a_traceback(check, junk):
    verdict = check(junk)
    assert isinstance(verdict, CheckResult) and not verdict, verdict


@pytest.mark.parametrize("check", FUNCTION_CHECKS, ids=lambda c: c.__name__)
def test_a_learner_error_points_at_the_learners_own_line(check):
    verdict = check(failing_learner_function)
    lines, first = inspect.getsourcelines(failing_learner_function)
    assert not verdict and "IndexError: list index out of range" in verdict.message
    assert f"test_exercises.py, line {first + 1}: return [1, 2][5]" in verdict.message, verdict.message
    assert "checking.py" not in verdict.message


@pytest.mark.notebook
def test_in_a_notebook_a_learner_error_names_the_cell_and_line():
    cells = ["from lessons.exercises.scan import check_combine\nimport torch",
             "def combine(x, y):\n    (a1, b1), (a2, b2) = x, y\n    return a1 * a2, torch.mm(b1, b2)\n\n"
             "verdict = check_combine(combine)"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell) for cell in cells])
    folder = str(Path(__file__).resolve().parent.parent / "notebooks")
    NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": folder}}).execute()
    printed = "".join(output.get("text", "") for output in notebook.cells[1].outputs)
    assert "your function raised RuntimeError" in printed
    assert "at Cell In[2], line 3: return a1 * a2, torch.mm(b1, b2)" in printed, printed


@pytest.mark.parametrize("check", FUNCTION_CHECKS, ids=lambda c: c.__name__)
def test_an_unfinished_or_uncalled_function_is_named(check):
    unfinished = check(not_implemented)
    assert not unfinished and "NotImplementedError" in unfinished.message
    called = check(42)
    assert not called and "not a function" in called.message


@pytest.mark.parametrize("check", ALL_CHECKS, ids=lambda c: c.__name__)
def test_a_check_called_without_an_answer_asks_for_one(check):
    verdict = check()
    assert not verdict and ("haven't" in verdict.message or "not a function" in verdict.message), verdict.message


@pytest.mark.parametrize("check,solution", PREDICTIONS, ids=lambda c: getattr(c, "__name__", ""))
@pytest.mark.parametrize("infinite", [float("nan"), float("inf"), -float("inf")])
def test_a_prediction_of_nan_or_inf_is_not_finite(check, solution, infinite):
    verdict = check(infinite)
    assert not verdict and "not a finite number" in verdict.message, verdict.message


@pytest.mark.parametrize("check,solution", PREDICTIONS, ids=lambda c: getattr(c, "__name__", ""))
def test_a_prediction_accepts_numpy_and_tensor_numbers(check, solution):
    spellings = [solution, float(solution), np.float64(solution), torch.tensor(float(solution)),
                 torch.tensor([float(solution)]), np.array(float(solution))]
    if isinstance(solution, int):
        spellings += [np.int64(solution), torch.tensor(solution)]
    for spelling in spellings:
        assert check(spelling), spelling


@pytest.mark.parametrize("check,solution", PREDICTIONS, ids=lambda c: getattr(c, "__name__", ""))
def test_a_missing_or_textual_prediction_gets_a_plain_not_yet(check, solution):
    missing = check(None)
    assert not missing and "haven't made a prediction" in missing.message
    text = check(str(solution))
    assert not text and "not a number" in text.message


# ------------------------------------------------------------------------------------------------- lesson 01
def test_scalar_gradient_check():
    assert checks.check_scalar_gradient(solutions.scalar_gradient)
    assert checks.check_scalar_gradient(lambda w, n, h0: torch.tensor(solutions.scalar_gradient(w, n, h0)))
    dropped_n = checks.check_scalar_gradient(lambda w, n, h0: w ** (n - 1) * h0)
    assert not dropped_n and "factor n" in dropped_n.message
    assert not checks.check_scalar_gradient(lambda w, n, h0: "two")


def test_tanh_jacobian_check():
    assert checks.check_tanh_step_jacobian(solutions.tanh_step_jacobian)
    in_float32 = checks.check_tanh_step_jacobian(
        lambda *args: solutions.tanh_step_jacobian(*(t.float() for t in args)))
    assert in_float32, in_float32.message
    no_tanh = checks.check_tanh_step_jacobian(lambda h, x, W, U, b: W)
    assert not no_tanh and "tanh's derivative" in no_tanh.message
    wrong_side = checks.check_tanh_step_jacobian(
        lambda h, x, W, U, b: W @ torch.diag(1 - torch.tanh(W @ h + U @ x + b) ** 2))
    assert not wrong_side and "order matters" in wrong_side.message
    wrong_shape = checks.check_tanh_step_jacobian(lambda h, x, W, U, b: h)
    assert not wrong_shape and "shape" in wrong_shape.message
    crashing = checks.check_tanh_step_jacobian(lambda h, x, W, U, b: 1 / 0)
    assert not crashing and "ZeroDivisionError" in crashing.message


def test_steps_to_vanish_check():
    assert checks.check_steps_to_vanish(solutions.STEPS_TO_VANISH)
    without_n = checks.check_steps_to_vanish(checks.first_without_n())
    assert not without_n and "factor n" in without_n.message
    assert not checks.check_steps_to_vanish(solutions.STEPS_TO_VANISH - 1)


def test_prediction_answer_is_the_first_crossing():
    n = checks.first_n_below(0.9, 1e-3)
    assert n * 0.9 ** (n - 1) < 1e-3 <= (n - 1) * 0.9 ** (n - 2)
    m = checks.first_without_n()
    assert 0.9 ** (m - 1) < 1e-3 <= 0.9 ** (m - 2)


# ------------------------------------------------------------------------------------------------- lesson 02
def test_lesson02_matrix_power_check():
    assert checks02.check_matrix_power_via_eigenbasis(solutions02.matrix_power_via_eigenbasis)

    def swapped(W, n):
        P, lam, P_inv = eigendecompose(W)
        return (P_inv @ torch.diag(lam**n) @ P).real

    verdict = checks02.check_matrix_power_via_eigenbasis(swapped)
    assert not verdict and "swapped" in verdict.message
    elementwise = checks02.check_matrix_power_via_eigenbasis(lambda W, n: W**n)
    assert not elementwise and "each entry" in elementwise.message


def test_lesson02_limit_check():
    assert checks02.check_limit_prediction(solutions02.LIMIT_TOP_LEFT)
    assert not checks02.check_limit_prediction(0.5)


@pytest.mark.parametrize("nothing_left", [0, 0.0, 0.8**100, 1e-4])
def test_lesson02_limit_of_zero_is_told_that_the_eigenvalue_1_part_stays(nothing_left):
    verdict = checks02.check_limit_prediction(nothing_left)
    assert not verdict and "never decays" in verdict.message and "λ₁ = 1" in verdict.message
    assert "is 0.8¹⁰⁰" not in verdict.message


# ------------------------------------------------------------------------------------------------- lesson 03
def test_lesson03_checks():
    assert checks03.check_rotation_eigenvalues(solutions03.rotation_eigenvalues)
    real_only = checks03.check_rotation_eigenvalues(lambda r, theta: (r, -r))
    assert not real_only and "real" in real_only.message
    assert not checks03.check_rotation_eigenvalues(lambda r, theta: (r * 1j, -r * 1j))
    assert checks03.check_half_life_prediction(solutions03.HALF_LIFE_098)
    linear_guess = checks03.check_half_life_prediction(25)
    assert not linear_guess and "ln 2" in linear_guess.message


def polar_pair(r, theta, dtype, scale=1.0):
    """r·e^{±iθ} as a (2,) tensor of `dtype`, computed in float64 and rounded once."""
    radius = torch.tensor([r, r], dtype=torch.float64) * scale
    return torch.polar(radius, torch.tensor([theta, -theta], dtype=torch.float64)).to(dtype)


@pytest.mark.parametrize("dtype", [torch.complex64, torch.complex128])
def test_lesson03_accepts_a_complex_tensor_answer_in_either_precision(dtype):
    as_tensor = checks03.check_rotation_eigenvalues(lambda r, theta: polar_pair(r, theta, dtype))
    assert as_tensor, as_tensor.message
    from_eigvals = checks03.check_rotation_eigenvalues(
        lambda r, theta: torch.linalg.eigvals(rotation_matrix(r, theta).to(dtype)))
    assert from_eigvals, from_eigvals.message
    assert not checks03.check_rotation_eigenvalues(lambda r, theta: polar_pair(r, theta, dtype, scale=1.001))


# ------------------------------------------------------------------------------------------------- lesson 04
def in_place_combine(earlier, later):
    """A combine that writes into its inputs: right values, but it corrupts the scan."""
    (a1, b1), (a2, b2) = earlier, later
    b1.mul_(a2).add_(b2)
    a1.mul_(a2)
    return a1, b1


def test_lesson04_checks():
    assert checks04.check_combine(solutions04.combine)
    swapped = checks04.check_combine(lambda x, y: (x[0] * y[0], x[0] * y[1] + x[1]))
    assert not swapped and "earlier gate" in swapped.message
    ungated = checks04.check_combine(lambda x, y: (x[0] * y[0], x[1] + y[1]))
    assert not ungated and "forgets the gate" in ungated.message
    assert not checks04.check_combine(lambda x, y: (x[0] + y[0], y[0] * x[1] + y[1]))
    assert not checks04.check_combine(lambda x, y: 3.0)
    assert checks04.check_levels_prediction(solutions04.HILLIS_STEELE_LEVELS_10000)
    rounded_down = checks04.check_levels_prediction(13)
    assert not rounded_down and "up" in rounded_down.message
    assert checks04.check_work_prediction(solutions04.HILLIS_STEELE_COMBINES_16)
    every_element = checks04.check_work_prediction(64)
    assert not every_element and "sit the level out" in every_element.message


def combine_for_blocks_only(earlier, later):
    """Right on the check's (5,) blocks; on the scan's single steps it raises."""
    (a1, b1), (a2, b2) = earlier, later
    if a1.numel() == 1:
        raise ValueError("only blocks of five")
    return a1 * a2, a2 * b1 + b2


def test_lesson04_a_combine_that_fails_inside_the_scan_is_named():
    verdict = checks04.check_combine(combine_for_blocks_only)
    assert not verdict and "ValueError: only blocks of five" in verdict.message
    lines, first = inspect.getsourcelines(combine_for_blocks_only)
    line = first + next(i for i, text in enumerate(lines) if "raise ValueError" in text)
    assert f'line {line}: raise ValueError("only blocks of five")' in verdict.message, verdict.message


def test_lesson04_in_place_combine_is_told_not_to_modify_inputs():
    verdict = checks04.check_combine(in_place_combine)
    assert not verdict and "don't modify inputs" in verdict.message and "in place" in verdict.message
    assert "your a is off" not in verdict.message


# ------------------------------------------------------------------------------------------------- lesson 05
def test_lesson05_accepts_a_complex64_tensor_eigenvalue():
    in_float32 = checks05.check_eigenvalue(
        lambda nu, theta: torch.exp(torch.complex(-torch.exp(torch.tensor(nu)), torch.exp(torch.tensor(theta)))))
    assert in_float32, in_float32.message


# ------------------------------------------------------------------------------------------------- lesson 06
@pytest.mark.parametrize("answer", [(4.9, 64.2, 16.7), (4.0, 64.0, 16.0), ("4", "64", "16"), "(4, 64, 16)"])
def test_lesson06_state_shape_needs_whole_numbers(answer):
    verdict = checks06.check_state_shape(answer)
    assert not verdict and "whole numbers" in verdict.message


@pytest.mark.parametrize("spelling", [torch.Size([4, 64, 16]), np.array([4, 64, 16]), torch.tensor([4, 64, 16]),
                                      (np.int64(4), 64, torch.tensor(16))])
def test_lesson06_state_shape_accepts_every_spelling_of_a_shape(spelling):
    assert checks06.check_state_shape(spelling)


# ------------------------------------------------------------------------------------------------- lesson 07
def test_lesson07_checks():
    assert checks07.check_kernel_combine(solutions07.kernel_combine)
    swapped = checks07.check_kernel_combine(lambda a1, b1, a2, b2: (a1 * a2, a1 * b2 + b1))
    assert not swapped and "earlier gate" in swapped.message
    assert not checks07.check_kernel_combine(lambda a1, b1, a2, b2: (a1 + a2, b2))
    assert checks07.check_block_mask(solutions07.block_mask)
    assert checks07.check_block_mask(lambda start, block, n: [start + i < n for i in range(block)])
    off_by_one = checks07.check_block_mask(lambda start, block, n: start + torch.arange(block) <= n)
    assert not off_by_one and "one past the end" in off_by_one.message
    assert not checks07.check_block_mask(lambda start, block, n: torch.ones(block, dtype=torch.bool))
    assert not checks07.check_block_mask(lambda start, block, n: (start + torch.arange(block) < n).int())
    assert checks07.check_fused_bytes(solutions07.fused_bytes)
    assert checks07.check_fused_bytes(lambda *args: torch.tensor(solutions07.fused_bytes(*args)))
    assert checks07.check_fused_bytes(lambda *args: np.int64(solutions07.fused_bytes(*args)))
    times_n = checks07.check_fused_bytes(lambda b, d, l, n, e: e * 4 * b * d * l * n)  # noqa: E741
    assert not times_n and "multiplied" in times_n.message
    assert not checks07.check_fused_bytes(lambda b, d, length, n, e: e * 4 * b * d * length)


@pytest.mark.parametrize("junk", [None, "abc", (None, None)])
def test_lesson07_block_mask_names_the_tensor_it_expected(junk):
    verdict = checks07.check_block_mask(lambda start, block, n: junk)
    assert not verdict and "expected a bool tensor of shape (8,)" in verdict.message, verdict.message


@pytest.mark.parametrize("array", [torch.ones(3, 7), torch.ones(2, 2, dtype=torch.complex64), np.ones((2, 3))])
def test_lesson07_fused_bytes_says_an_array_is_not_a_number(array):
    verdict = checks07.check_fused_bytes(lambda *args: array)
    assert not verdict and "is not a number" in verdict.message and "whole number" in verdict.message


def test_lesson07_kernel_combine_rejects_a_complex_matrix():
    verdict = checks07.check_kernel_combine(lambda a1, b1, a2, b2: torch.ones(2, 2, dtype=torch.complex64))
    assert not verdict and "expected a real tensor of shape (6,)" in verdict.message, verdict.message


def test_lesson07_in_place_kernel_combine_is_told_not_to_modify_inputs():
    def in_place(a1, b1, a2, b2):
        b2.add_(a2 * b1)
        return a1 * a2, b2

    verdict = checks07.check_kernel_combine(in_place)
    assert not verdict and "don't modify inputs" in verdict.message


def test_a_check_result_reads_as_its_message():
    assert repr(checks.check_steps_to_vanish(solutions.STEPS_TO_VANISH)).startswith("✔ Right.")


# ======================================================================================================================
# Lesson 07, exercises 4 and 5: Triton kernels the learner writes, run by the check in a child process.
# Wrong kernels are the solutions with one line changed (`kernel_variant`), the mistakes a learner makes.
# ======================================================================================================================
AFFINE_STORE = "tl.store(y_ptr + offsets, 2 * x + 1, mask=mask)"
H_LINE, CARRY_LINE = "h = a_prefix * carry + b_prefix", "carry = last_lane(h, lane, BLOCK_T)"


def kernel_variant(folder: Path, kernel, old: str, new: str):
    """The solution `kernel` with `old` replaced by `new`, defined in a module file, as a learner's cell defines it."""
    source = inspect.getsource(kernel.fn)
    assert old in source, old
    path = folder / f"variant_{len(list(folder.glob('variant_*.py')))}.py"
    path.write_text(checks07.KERNEL_IMPORTS + "\n\n\n@triton.jit\n" + source[source.index("def "):].replace(old, new))
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, kernel.fn.__name__)


@triton.jit
def raising_kernel(x_ptr, y_ptr, T, BLOCK: tl.constexpr):
    offsets = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    x = tl.load(x_ptr + offsets, mask=offsets < T)
    tl.store(y_ptr + offsets, x + [1, 2][5], mask=offsets < T)   # IndexError on this line; the check must point here


def test_lesson07_chunked_scan_reference_matches_the_loop():
    generator = torch.Generator().manual_seed(0)
    gates, tokens = 0.5 + 0.5 * torch.rand(3, 37, generator=generator, dtype=torch.float64), \
        torch.randn(3, 37, generator=generator, dtype=torch.float64)                       # (rows, T)
    for block_t in (1, 5, 16, 64):
        scans = checks07.chunked_scans(gates, tokens, block_t, checks07.CARRY_RULES)
        torch.testing.assert_close(scans["right"], sequential_scan(gates, tokens), rtol=1e-12, atol=1e-12)
        assert all(not torch.allclose(scans[name], scans["right"]) for name in checks07.CARRY_MISTAKES) \
            or block_t == 64                                          # one chunk: no carry, every rule agrees
    never = checks07.chunked_scans(gates, tokens, 16, checks07.CARRY_RULES)["never applied"]
    torch.testing.assert_close(never[:, 16:32], sequential_scan(gates[:, 16:32], tokens[:, 16:32]))


@pytest.mark.kernel
def test_lesson07_kernel_solutions_pass():
    assert checks07.check_block_kernel(solutions07.affine_kernel)
    assert checks07.check_chunk_carry(solutions07.chunked_scan_kernel)


@pytest.mark.kernel
def test_lesson07_a_compiled_kernel_is_checked_too():
    """On a GPU a notebook's @triton.jit makes a JITFunction (not the interpreter's): the child interprets it."""
    assert checks07.check_block_kernel(JITFunction(solutions07.affine_kernel.fn))


@pytest.mark.kernel
@pytest.mark.parametrize("old,new,words", [
    ("mask = offsets < T", "mask = offsets < T - T % BLOCK", "the last, partial block was not written (tail)"),
    ("mask = offsets < T", "mask = offsets <= T", "values past T were written"),
    ("offsets = pid * BLOCK +", "offsets = 0 * pid +", "only the first block was written"),
    ("2 * x + 1, mask", "x, mask", "you copied x"),
    ("2 * x + 1, mask", "2 * x, mask", "the values are wrong from the first block on"),
], ids=["tail", "past-T", "first-block-only", "copy", "wrong-values"])
def test_lesson07_block_kernel_names_the_mistake(tmp_path, old, new, words):
    verdict = checks07.check_block_kernel(kernel_variant(tmp_path, solutions07.affine_kernel, old, new))
    assert not verdict and words in verdict.message, verdict.message


@pytest.mark.kernel
@pytest.mark.parametrize("old,new,words", [
    (H_LINE, "h = b_prefix", "the carry is never applied: each chunk starts from 0"),
    (CARRY_LINE, "carry = tl.zeros((), tl.float32)", "the carry is never applied: each chunk starts from 0"),
    (CARRY_LINE, "carry = last_lane(a_prefix, lane, BLOCK_T) * carry + last_lane(h, lane, BLOCK_T)",
     "the carry is applied twice"),
    (CARRY_LINE, "carry = carry + last_lane(h, lane, BLOCK_T)", "the carry is applied twice"),
    (H_LINE, "h = 2 * a_prefix * carry + b_prefix", "the carry is applied twice"),
    (CARRY_LINE, "carry = last_lane(b_prefix, lane, BLOCK_T)", "the carry forgets all but the previous chunk"),
    (H_LINE, "h = carry + b_prefix", "the carry skips the gates"),
    (CARRY_LINE, "carry = tl.sum(tl.where(lane == 0, h, 0.0), axis=0)", "the first chunk is right, but from chunk 1"),
    (H_LINE, "h = a_prefix * carry + a_prefix", "the first chunk is already wrong"),
], ids=["h-without-carry", "carry-not-updated", "twice-in-carry", "carry-accumulated", "twice-in-h", "from-b-prefix",
        "not-gated", "first-lane", "first-chunk"])
def test_lesson07_chunk_carry_names_the_mistake(tmp_path, old, new, words):
    verdict = checks07.check_chunk_carry(kernel_variant(tmp_path, solutions07.chunked_scan_kernel, old, new))
    assert not verdict and words in verdict.message, verdict.message


@pytest.mark.parametrize("old,new,words", [
    ("x = tl.load(x_ptr + offsets, mask=mask)", "x = tl.load(x_ptr + offsets)", "your tl.load has no mask"),
    (AFFINE_STORE, "tl.store(y_ptr + offsets, 2 * x + 1)", "your tl.store has no mask"),
    (AFFINE_STORE, "tl.store(y_ptr + offsets, 2 * x + 1, None)", "your tl.store has no mask"),
    (AFFINE_STORE, "pass", "your kernel stores nothing yet"),
    ("BLOCK: tl.constexpr", "BLOCK", "`BLOCK` is not declared a compile-time constant"),
    ("T, BLOCK", "BLOCK", "your kernel takes (x_ptr, y_ptr, BLOCK)"),
], ids=["load", "store", "store-mask-None", "no-store", "not-constexpr", "signature"])
def test_lesson07_block_kernel_reads_the_source_before_running_it(tmp_path, old, new, words):
    verdict = checks07.check_block_kernel(kernel_variant(tmp_path, solutions07.affine_kernel, old, new))
    assert not verdict and words in verdict.message, verdict.message


def test_lesson07_an_unmasked_access_is_named_with_its_line_before_anything_runs(tmp_path):
    kernel = kernel_variant(tmp_path, solutions07.chunked_scan_kernel, "mask=valid, other=0.0", "other=0.0")
    verdict = checks07.check_chunk_carry(kernel)
    assert not verdict and "your tl.load has no mask" in verdict.message, verdict.message
    assert "variant_0.py, line 16: b = tl.load(tokens_ptr + row_start + t, other=0.0)" in verdict.message


def test_lesson07_a_placeholder_left_in_the_kernel_is_named(tmp_path):
    verdict = checks07.check_chunk_carry(kernel_variant(tmp_path, solutions07.chunked_scan_kernel, CARRY_LINE,
                                                        "carry = ...  # your code here"))
    assert not verdict and "still has a `...` placeholder" in verdict.message, verdict.message


@pytest.mark.parametrize("check", [checks07.check_block_kernel, checks07.check_chunk_carry], ids=lambda c: c.__name__)
def test_lesson07_a_kernel_check_rejects_a_plain_function(check):
    verdict = check(solutions07.kernel_combine)
    assert not verdict and "a plain Python function, not a @triton.jit kernel" in verdict.message, verdict.message


@pytest.mark.kernel
def test_lesson07_a_kernel_that_crashes_is_told_it_went_out_of_bounds(tmp_path):
    kernel = kernel_variant(tmp_path, solutions07.affine_kernel, "tl.store(y_ptr + offsets,",
                            "tl.store(y_ptr + offsets + 2**40,")     # masked, but 4 TiB away: the child segfaults
    verdict = checks07.check_block_kernel(kernel)
    assert not verdict and "your kernel read or wrote out of bounds (the process running it crashed" in verdict.message


@pytest.mark.kernel
def test_lesson07_a_kernel_error_points_at_the_learners_own_line():
    verdict = checks07.check_block_kernel(raising_kernel)
    lines, first = inspect.getsourcelines(raising_kernel.fn)
    assert not verdict and "for T = 37, BLOCK = 16, your kernel raised IndexError: list index out of range" \
        in verdict.message, verdict.message
    assert f"test_exercises.py, line {first + 4}: tl.store(y_ptr + offsets, x + [1, 2][5]" in verdict.message


@pytest.mark.kernel
def test_lesson07_a_name_the_child_cannot_see_is_explained(tmp_path):
    kernel = kernel_variant(tmp_path, solutions07.affine_kernel, "2 * x + 1, mask", "SCALE * x + 1, mask")
    verdict = checks07.check_block_kernel(kernel)
    assert not verdict and "NameError: name 'SCALE' is not defined" in verdict.message, verdict.message
    assert "sees only triton, tl, combine, last_lane and its own variables" in verdict.message, verdict.message


def test_lesson07_a_kernel_past_the_time_limit_is_stopped(monkeypatch):
    monkeypatch.setattr(kernel_sandbox, "TIMEOUT_S", 0.05)
    verdict = checks07.check_block_kernel(solutions07.affine_kernel)
    assert not verdict and "did not finish within" in verdict.message, verdict.message
