"""Lesson 04: every scan agrees with the loop, counts its work and depth honestly, and rejects bad input."""
import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons.scan import (ALGORITHMS, associativity_defect, blelloch_scan, chunked_scan, combine, fit_learned_combine,
                          hillis_steele_scan, identity_defect, identity_like, linear_scan, log_space_breaking_length,
                          log_space_scan, random_pairs, replay_trace, sequential_scan, trace_scan, work_depth)

LENGTHS = [1, 2, 3, 7, 64, 1000, 4097]
BATCH_SHAPES = [(), (3,), (2, 5)]
# (rtol, atol) against a float64 / complex128 loop; |a| ≤ 0.95 keeps |h| ≤ 20·max|b|.
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-10, 1e-12), torch.complex64: (1e-4, 1e-5)}
FAST_SCANS = {
    "hillis_steele": hillis_steele_scan,
    "blelloch": blelloch_scan,
    "chunked(64)": lambda a, b, **kw: chunked_scan(a, b, chunk_size=64, **kw),
    "chunked(5)": lambda a, b, **kw: chunked_scan(a, b, chunk_size=5, **kw),
    "linear_scan": linear_scan,
}


def random_recurrence(shape, dtype, generator):
    """a with |a| ≤ 0.95 (random signs, or random phases when complex) and b ~ N(0, 1), both of `shape`."""
    magnitude = 0.95 * torch.rand(shape, generator=generator, dtype=torch.float64)
    if dtype.is_complex:
        phase = 2 * math.pi * torch.rand(shape, generator=generator, dtype=torch.float64)
        a = torch.polar(magnitude, phase)
        b = torch.complex(torch.randn(shape, generator=generator, dtype=torch.float64),
                          torch.randn(shape, generator=generator, dtype=torch.float64))
    else:
        sign = torch.where(torch.rand(shape, generator=generator) < 0.5, -1.0, 1.0).double()
        a, b = magnitude * sign, torch.randn(shape, generator=generator, dtype=torch.float64)
    return a.to(dtype), b.to(dtype)


def loop_reference(a, b, dim=-1, h0=None):
    """The sequential scan in double precision, as the reference for every dtype."""
    wide = torch.complex128 if a.is_complex() else torch.float64
    return sequential_scan(a.to(wide), b.to(wide), dim, h0=None if h0 is None else h0.to(wide))


@pytest.mark.parametrize("dtype", list(TOLERANCES))
@pytest.mark.parametrize("batch_shape", BATCH_SHAPES)
@pytest.mark.parametrize("n", LENGTHS)
def test_every_scan_agrees_with_the_loop(n, batch_shape, dtype):
    generator = torch.Generator().manual_seed(n * 31 + len(batch_shape))
    a, b = random_recurrence((*batch_shape, n), dtype, generator)
    expected = loop_reference(a, b)
    rtol, atol = TOLERANCES[dtype]
    for name, scan in FAST_SCANS.items():
        got = scan(a, b)
        assert got.dtype == dtype and got.shape == b.shape, name
        torch.testing.assert_close(got.to(expected.dtype), expected, rtol=rtol, atol=atol, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("name", ["sequential", "hillis_steele", "blelloch", "chunked", "linear_scan"])
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_scan_along_any_dim_with_an_initial_state(name, dim):
    generator = torch.Generator().manual_seed(7)
    a, b = random_recurrence((6, 11, 4), torch.float64, generator)
    h0 = torch.randn(a.movedim(dim, -1).shape[:-1], generator=generator, dtype=torch.float64)
    scan = linear_scan if name == "linear_scan" else ALGORITHMS[name]
    expected = loop_reference(a.movedim(dim, -1), b.movedim(dim, -1), h0=h0).movedim(-1, dim)
    torch.testing.assert_close(scan(a, b, dim, h0=h0), expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("n", [1, 2, 7, 64, 100])
def test_gradients_agree_with_the_loop(n, dtype):
    generator = torch.Generator().manual_seed(n)
    a, b = random_recurrence((2, 3, n), dtype, generator)
    h0 = random_recurrence((2, 3), dtype, generator)[1]
    weights = random_recurrence((2, 3, n), dtype, generator)[1]     # a random linear loss ⟨w, h⟩

    def gradients(scan):
        leaves = [x.clone().requires_grad_() for x in (a, b, h0)]
        loss = (scan(leaves[0], leaves[1], h0=leaves[2]) * weights.conj()).real.sum()
        return torch.autograd.grad(loss, leaves)

    expected = gradients(sequential_scan)
    for name, scan in FAST_SCANS.items():
        for got, want in zip(gradients(scan), expected):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11, msg=lambda m: f"{name}: {m}")


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
def test_linear_scan_handwritten_backward_passes_gradcheck(dtype):
    generator = torch.Generator().manual_seed(3)
    a, b = random_recurrence((2, 13), dtype, generator)
    h0 = random_recurrence((2,), dtype, generator)[1]
    inputs = tuple(x.clone().requires_grad_() for x in (a, b, h0))
    assert torch.autograd.gradcheck(lambda a, b, h0: linear_scan(a, b, h0=h0, chunk_size=4), inputs)


# ---------------------------------------------------------------------------------------------
# The operator

finite = st.floats(-3, 3, allow_nan=False, width=64)
element = st.tuples(finite, finite)


def as_pair(values):
    return torch.tensor([values[0]], dtype=torch.float64), torch.tensor([values[1]], dtype=torch.float64)


@settings(max_examples=200, deadline=None)
@given(element, element, element)
def test_combine_is_associative(x, y, z):
    assert associativity_defect(combine, as_pair(x), as_pair(y), as_pair(z)) <= 1e-12 * (1 + max(map(abs, x + y + z))) ** 3


@settings(max_examples=100, deadline=None)
@given(element)
def test_one_zero_is_the_identity(x):
    assert identity_defect(combine, as_pair(x)) == 0.0
    one, zero = identity_like(*as_pair(x))
    assert one.item() == 1.0 and zero.item() == 0.0


def averaging_combine(earlier, later):
    """A plausible-looking mistake: blend the two b's instead of carrying the earlier one through a₂."""
    (a1, b1), (a2, b2) = earlier, later
    return a1 * a2, (b1 + b2) / 2


def swapped_combine(earlier, later):
    """Another: apply the earlier gate to the later b (the order of the steps reversed)."""
    (a1, b1), (a2, b2) = earlier, later
    return a1 * a2, a1 * b2 + b1


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_the_checker_catches_non_associative_combines(seed):
    generator = torch.Generator().manual_seed(seed)
    x, y, z = (random_pairs(64, generator, torch.float64) for _ in range(3))
    assert associativity_defect(combine, x, y, z) < 1e-12
    assert associativity_defect(averaging_combine, x, y, z) > 1e-3


def test_a_swapped_combine_is_associative_but_computes_something_else():
    """Associativity is necessary, not sufficient: the reversed operator is associative yet wrong."""
    generator = torch.Generator().manual_seed(0)
    x, y, z = (random_pairs(64, generator, torch.float64) for _ in range(3))
    assert associativity_defect(swapped_combine, x, y, z) < 1e-12
    a, b = random_pairs(9, generator, torch.float64)
    assert (sequential_scan(a, b, op=swapped_combine) - sequential_scan(a, b)).abs().max() > 1e-2


def test_a_learned_combine_is_measurably_non_associative_and_brackets_disagree():
    op, history = fit_learned_combine(steps=150)
    assert history[-1] < 0.5 * history[0]
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        x, y, z = (random_pairs(256, generator) for _ in range(3))
        assert associativity_defect(op, x, y, z) > 1e-3
        a, b = random_pairs(32, generator)
        assert (sequential_scan(a, b, op=op) - hillis_steele_scan(a, b, op=op)).abs().max() > 1e-3


# ---------------------------------------------------------------------------------------------
# Work and depth, counted from the real implementations


def ceil_log2(n):
    return math.ceil(math.log2(n)) if n > 1 else 0


@pytest.mark.parametrize("n", [1, 2, 3, 5, 8, 13, 64, 100, 1000, 4097])
def test_counted_work_and_depth_match_the_theory(n):
    assert work_depth("sequential", n) == (n - 1, n - 1)
    levels = ceil_log2(n)
    assert work_depth("hillis_steele", n) == (sum(n - 2**k for k in range(levels)), levels)
    combines, depth = work_depth("blelloch", n)
    assert combines <= 2 * (n - 1) and depth <= 2 * levels
    assert combines >= n - 1                       # a scan needs at least n − 1 combines
    chunk = 16
    combines, depth = work_depth("chunked", n, chunk_size=chunk)
    chunks = -(-n // min(chunk, n))
    assert depth <= min(chunk, n) - 1 + chunks - 1 + 1
    assert combines <= 2 * chunks * min(chunk, n)


def test_hillis_steele_does_about_n_log_n_work_and_blelloch_about_2n():
    n = 4096
    assert work_depth("hillis_steele", n)[0] == n * 12 - (n - 1)
    assert work_depth("blelloch", n) == (2 * n - 12 - 2, 2 * 12 - 1)


@pytest.mark.parametrize("name", ["sequential", "hillis_steele", "blelloch", "chunked"])
@pytest.mark.parametrize("n", [1, 5, 8, 13, 16])
def test_trace_replays_to_the_result(name, n):
    generator = torch.Generator().manual_seed(n)
    a, b = random_pairs(n, generator, torch.float64)
    h, trace = trace_scan(name, a, b, **({"chunk_size": 4} if name == "chunked" else {}))
    _, replayed = replay_trace(a, b, trace, trace.depth)
    torch.testing.assert_close(replayed, h)
    for level in trace.levels:
        assert len(set(level.targets)) == len(level.targets), "a level writes each position once"
        assert all(s < t for s, t in zip(level.sources, level.targets)), "the earlier operand comes first"


@pytest.mark.parametrize("name", ["blelloch", "chunked"])
def test_work_efficient_levels_can_run_in_place(name):
    """Blelloch's and the chunked levels never read a position another combine of the same level writes;
    Hillis–Steele's do, which is why it needs a second buffer."""
    a, b = random_pairs(16)
    for level in trace_scan(name, a, b, **({"chunk_size": 4} if name == "chunked" else {}))[1].levels:
        assert not set(level.sources) & set(level.targets)
    first = trace_scan("hillis_steele", a, b)[1].levels[0]
    assert set(first.sources) & set(first.targets)


# ---------------------------------------------------------------------------------------------
# The log-space shortcut


def test_log_space_scan_is_right_for_short_sequences_and_breaks_where_predicted():
    a = torch.full((5, 300), 0.7)
    b = torch.randn(5, 300, generator=torch.Generator().manual_seed(0))
    breaking = log_space_breaking_length(0.7, torch.float32)
    assert 240 < breaking < 260
    short = log_space_scan(a[:, :200], b[:, :200])
    torch.testing.assert_close(short.double(), loop_reference(a[:, :200], b[:, :200]), rtol=1e-3, atol=1e-4)
    long = log_space_scan(a, b)
    assert not torch.isfinite(long[:, breaking:]).all()
    assert torch.isfinite(linear_scan(a, b)).all()


def test_log_space_scan_rejects_non_positive_real_gates():
    with pytest.raises(ValueError, match="a_t > 0"):
        log_space_scan(torch.tensor([0.5, -0.5]), torch.ones(2))


# ---------------------------------------------------------------------------------------------
# Bad input


@pytest.mark.parametrize("scan", list(ALGORITHMS.values()) + [linear_scan, log_space_scan])
@pytest.mark.parametrize("args, error, message", [
    ((torch.ones(3, 4), torch.ones(3, 5)), ValueError, "same shape"),
    (([0.5, 0.5], torch.ones(2)), TypeError, "`a` must be a torch.Tensor"),
    ((torch.ones(4), [1.0, 2.0, 3.0, 4.0]), TypeError, "`b` must be a torch.Tensor"),
    ((torch.ones(4, dtype=torch.int64), torch.ones(4, dtype=torch.int64)), TypeError, "floating-point"),
    ((torch.ones(4), torch.ones(4, dtype=torch.float64)), TypeError, "same dtype"),
    ((torch.ones(3, 4), torch.ones(3, 4), 2), IndexError, "`dim` must lie in"),
    ((torch.ones(3, 0), torch.ones(3, 0)), ValueError, "n ≥ 1"),
    ((torch.tensor(0.5), torch.tensor(1.0)), ValueError, "at least one dimension"),
])
def test_bad_input_gets_a_clear_error(scan, args, error, message):
    with pytest.raises(error, match=message):
        scan(*args)


@pytest.mark.parametrize("scan", list(ALGORITHMS.values()) + [linear_scan])
def test_h0_of_the_wrong_shape_is_rejected(scan):
    with pytest.raises(ValueError, match="`h0` must have the batch shape"):
        scan(torch.ones(3, 4), torch.ones(3, 4), h0=torch.ones(4))


@pytest.mark.parametrize("chunk_size", [0, -2, 2.5])
def test_bad_chunk_sizes_are_rejected(chunk_size):
    with pytest.raises(ValueError, match="`chunk_size` must be a positive int"):
        chunked_scan(torch.ones(5), torch.ones(5), chunk_size=chunk_size)
    with pytest.raises(ValueError, match="`chunk_size` must be a positive int"):
        linear_scan(torch.ones(5), torch.ones(5), chunk_size=chunk_size)


# ---------------------------------------------------------------------------------------------
# The benchmark script (a script; here only its table is checked, never its times)


def test_benchmark_table_flags_the_log_space_shortcut_as_wrong():
    from lessons.scan_benchmark import format_table, timing_table

    rows = timing_table([8, 512], channels=(3, 2), repeats=1)
    assert [row["n"] for row in rows] == [8, 512]
    assert rows[0]["max_error"]["blelloch_scan"] < 1e-5 and rows[1]["max_error"]["linear_scan"] == 0.0
    short, long = format_table(rows).splitlines()[2:]
    assert "(wrong)" not in short and long.count("(wrong)") == 1


def test_benchmark_script_prints_a_table():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "lessons.scan_benchmark", "--min-log2n", "4", "--max-log2n", "5",
                             "--repeats", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "| 16 |" in result.stdout and "| 32 |" in result.stdout and "machine:" in result.stdout
