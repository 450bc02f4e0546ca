"""Lesson 08's explorer, exercises and scene: the explorer is sane over every slider's whole range, every check
accepts its solution and names each typical mistake in words (never a traceback), the scene's numbers add up."""
import math

import numpy as np
import pytest
import torch

from animations import lesson08_ssd as scene
from lessons.checking import CheckResult
from lessons.exercises import ssd as checks
from lessons.solutions import ssd as solutions
from lessons.ssd import segsum, segsum_naive, ssd_flops, ssd_loop, ssd_matrix
from lessons.widgets import SSDExplorer
from lessons.widgets.ssd import SELECTIVE, TIME_INVARIANT, example_ssd_inputs

JUNK = {"None": None, "str": "abc", "nan": float("nan"), "(3, 7) tensor": torch.ones(3, 7),
        "complex tensor": torch.ones(2, 2, dtype=torch.complex64), "numpy array": np.ones((2, 3)), "dict": {},
        "pair of None": (None, None), "object": object()}


# ---------------------------------------------------------------------------------------------------- explorer
@pytest.fixture(scope="module")
def explorer():
    return SSDExplorer()


@pytest.mark.parametrize("name", ["length", "chunk", "state", "decay", "focus"])
@pytest.mark.parametrize("end", ["min", "max"])
@pytest.mark.parametrize("model", [SELECTIVE, TIME_INVARIANT])
def test_every_slider_at_either_end_gives_a_finite_readout_matching_the_loop(explorer, name, end, model):
    control = explorer.controls[name]
    text = explorer.update(model=model, **{name: getattr(control, end)})
    assert "nan" not in text.lower() and "inf" not in text.replace("info", "")
    error = float(text.rsplit("max |Δy| = ", 1)[1].split(".<")[0].rstrip("."))
    assert error < 1e-12, text
    assert explorer.image.value[:4] == b"\x89PNG"


@pytest.mark.parametrize("length,chunk", [(2, 8), (13, 4), (24, 8), (48, 48), (47, 5), (9, 1)])
def test_readout_counts_the_causal_entries_inside_the_diagonal_blocks(explorer, length, chunk):
    text = explorer.update(length=length, chunk=chunk, focus=0)
    blocks = torch.arange(length) // chunk
    inside = int(((blocks[:, None] == blocks[None, :]) & torch.ones(length, length, dtype=torch.bool).tril()).sum())
    assert f"hold {inside} of M's {length * (length + 1) // 2} causal entries" in text, text
    assert f"{-(-length // chunk)} chunk" in text


def test_focus_past_the_last_chunk_shows_the_last_chunk(explorer):
    text = explorer.update(length=10, chunk=4, focus=40)
    assert "Chunk 2:" in text


def test_time_invariant_matrix_is_toeplitz_and_the_selective_one_is_not():
    for selective in (False, True):
        _, a, B, C = example_ssd_inputs(12, 3, selective, 0.3)
        M = ssd_matrix(a, B, C)[0, 0]
        spread = max(float(M.diagonal(-k).std()) for k in range(11))
        assert (spread > 1e-3) == selective, spread


# ---------------------------------------------------------------------------------------------------- exercise 1
@pytest.mark.parametrize("length", [1, 2, 5, 17, 64])
def test_solution_segsum_equals_the_lesson_on_fresh_inputs(length):
    a = -torch.rand(2, 3, length, dtype=torch.float64) * 3
    assert torch.equal(torch.isneginf(solutions.segsum(a)), torch.isneginf(segsum(a)))
    assert torch.allclose(solutions.segsum(a), segsum(a), rtol=1e-12, atol=1e-12)


def test_segsum_check_accepts_the_solution():
    assert checks.check_segsum(solutions.segsum)


SEGSUM_MISTAKES = {
    "difference of cumsums": (segsum_naive, "NaN"),
    "transposed": (lambda a: solutions.segsum(a).transpose(-1, -2), "transposed"),
    "strict mask": (lambda a: solutions.segsum(a).masked_fill(
        torch.eye(a.shape[-1], dtype=torch.bool), -math.inf), "diagonal is −inf"),
    "includes a[s]": (lambda a: solutions.segsum(a) + a[..., :, None], "includes a[s]"),
    "zeros above": (lambda a: solutions.segsum(a).nan_to_num(neginf=0.0), "above it"),
    "wrong shape": (lambda a: a.cumsum(-1), "expected"),
}


@pytest.mark.parametrize("mistake", SEGSUM_MISTAKES, ids=SEGSUM_MISTAKES.keys())
def test_segsum_check_names_each_typical_mistake(mistake):
    fn, words = SEGSUM_MISTAKES[mistake]
    verdict = checks.check_segsum(fn)
    assert not verdict and words in verdict.message and "Traceback" not in verdict.message, verdict.message


# ---------------------------------------------------------------------------------------------------- exercise 2
def test_flop_prediction_accepts_the_solution_and_it_is_the_lessons_count():
    sizes = checks.FLOP_SIZES
    counted = ssd_flops(1, sizes["length"], 1, sizes["head_dim"], sizes["state"], sizes["chunk"])
    assert solutions.DIAGONAL_BLOCK_FLOPS == counted["diagonal_blocks"]["matmul"]
    assert checks.check_flop_prediction(solutions.DIAGONAL_BLOCK_FLOPS)


@pytest.mark.parametrize("factor,words", [(0.5, "multiply-add"), (2 / 3, "C Bᵀ alone"), (1 / 3, "product with X"),
                                          (0.25, "one chunk"), (4, "quadratic form")])
def test_flop_prediction_names_each_slip(factor, words):
    verdict = checks.check_flop_prediction(int(solutions.DIAGONAL_BLOCK_FLOPS * factor))
    assert not verdict and words in verdict.message, verdict.message


# ---------------------------------------------------------------------------------------------------- exercise 3
def test_step_check_accepts_the_solution_and_the_solution_is_one_loop_step():
    h, a, x, B, C = (t.clone() for t in checks.step_inputs(seed=31))
    y, state = ssd_loop(x[:, None], a[:, None], B[:, None], C[:, None], initial_state=h)
    new_h, new_y = solutions.ssd_step(h, a, x, B, C)
    assert torch.allclose(new_h, state) and torch.allclose(new_y, y[:, 0])
    assert checks.check_ssd_step(solutions.ssd_step)


def _step(h, a, x, B, C, gate=torch.exp, decay_input=False, read_old=False, read_with=None):
    written = x[..., :, None] * B[..., None, :]
    new_h = gate(a)[..., None, None] * (h + written if decay_input else h) + (0 if decay_input else written)
    reader = C if read_with is None else read_with(B, C)
    return new_h, ((h if read_old else new_h) * reader[..., None, :]).sum(-1)


STEP_MISTAKES = {
    "no exp": (lambda *t: _step(*t, gate=lambda a: a), "multiplies by a itself"),
    "decays the input": (lambda *t: _step(*t, decay_input=True), "decay the new input"),
    "reads the old state": (lambda *t: _step(*t, read_old=True), "old state"),
    "reads with B": (lambda *t: _step(*t, read_with=lambda B, C: B), "B writes, C reads"),
    "swapped": (lambda *t: solutions.ssd_step(*t)[::-1], "swapped"),
    "transposed state": (lambda *t: (solutions.ssd_step(*t)[0].transpose(-1, -2), solutions.ssd_step(*t)[1]),
                         "expected"),
}


@pytest.mark.parametrize("mistake", STEP_MISTAKES, ids=STEP_MISTAKES.keys())
def test_step_check_names_each_typical_mistake(mistake):
    fn, words = STEP_MISTAKES[mistake]
    verdict = checks.check_ssd_step(fn)
    assert not verdict and words in verdict.message and "Traceback" not in verdict.message, verdict.message


# ---------------------------------------------------------------------------------------------------- never a traceback
@pytest.mark.parametrize("check", [checks.check_segsum, checks.check_ssd_step], ids=lambda c: c.__name__)
@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_function_checks_answer_junk_in_words(check, junk):
    passed = check(junk)                                           # not a function at all
    assert isinstance(passed, CheckResult) and not passed and "Traceback" not in passed.message
    returned = check(lambda *_args: junk)                          # a function returning junk
    assert isinstance(returned, CheckResult) and not returned
    assert "expect" in returned.message and "Traceback" not in returned.message, returned.message


@pytest.mark.parametrize("junk", JUNK.values(), ids=JUNK.keys())
def test_flop_prediction_answers_junk_in_words(junk):
    verdict = checks.check_flop_prediction(junk)
    assert isinstance(verdict, CheckResult) and not verdict and "Traceback" not in verdict.message


def test_a_raising_learner_function_is_answered_in_words():
    verdict = checks.check_ssd_step(lambda *args: [1, 2][5])
    assert not verdict and "IndexError" in verdict.message


# ---------------------------------------------------------------------------------------------------- scene
def test_scene_numbers_add_up_to_the_loop():
    x, M, terms, y_loop = scene.example()
    y = (terms.y_diag + terms.y_off)[0, :, 0, 0]
    assert torch.allclose(y, y_loop, atol=1e-12)
    assert torch.allclose(M @ x[0, :, 0, 0], y_loop, atol=1e-12)
    rows = slice(scene.FOCUS * scene.CHUNK, (scene.FOCUS + 1) * scene.CHUNK)
    past = slice(0, scene.FOCUS * scene.CHUNK)
    assert torch.allclose(terms.y_off[0, rows, 0, 0], M[rows, past] @ x[0, past, 0, 0], atol=1e-12)


def test_the_chunk_slider_past_the_last_chunk_says_so():
    """Every slider position changes what the explorer says: a chunk number past the end is named, not ignored."""
    from lessons.widgets.ssd import SSDExplorer

    explorer = SSDExplorer()
    model = explorer.controls["model"].value
    last, _ = explorer.draw(model, 24, 24, 2, 0.2, 0)
    past, _ = explorer.draw(model, 24, 24, 2, 0.2, 5)
    assert past != last and past.startswith("There is no chunk 5") and past.endswith(last)


def test_lesson08_narration_claims_hold_for_the_numbers_the_scenes_draw():
    """animations/scripts/08.md words the scenes' numbers; each claim it makes is checked against them."""
    sizes, counts = scene.SSD_SIZES, scene.arithmetic()
    x, M, terms, y_loop = scene.example()
    assert torch.equal(M.triu(1), torch.zeros_like(M))                                 # "above the diagonal: zero"
    rows, past = slice(scene.FOCUS * scene.CHUNK, (scene.FOCUS + 1) * scene.CHUNK), slice(0, scene.FOCUS * scene.CHUNK)
    assert torch.linalg.matrix_rank(M[rows, past]) <= scene.STATE                      # "that block has low rank"
    assert counts.ssd_matmul / (counts.ssd_matmul + counts.ssd_other) > 0.95           # "almost all matmul"
    assert counts.mamba1_other < (counts.ssd_matmul + counts.ssd_other) / 5            # "far fewer operations"
    ssd_state = sizes["heads"] * sizes["head_dim"] * sizes["state"]
    assert ssd_state == 4 * scene.mamba1_dim() * scene.MAMBA1_STATE                    # "a state four times larger"
    for dtype in ("float32", "bf16"):                                                   # "about a third of the time"
        ratio = counts.forward[("mamba_ssm Triton SSD", dtype)] / counts.forward[
            ("kernels.selective_scan (Mamba-1)", dtype)]
        assert 0.25 < ratio < 0.4, (dtype, ratio)
    assert len(scene.family_rows()) == 7                                                # "seven models"
