"""Lesson 04: every scan agrees with the loop, counts its work and depth honestly, and rejects bad input."""
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lessons.scan import (ALGORITHMS, associativity_defect, block_costs, block_scan, blelloch_scan, brent_time,
                          chunked_scan, combine, cross_warp_levels, fit_learned_combine, hillis_steele_scan,
                          identity_defect, identity_like, linear_scan, log_space_breaking_length, log_space_scan,
                          parallel_steps, random_pairs, replay_trace, reverse_scan_gradient, sequential_scan,
                          trace_scan, work_depth)
from lessons.ssd import segsum   # lesson 08's stable log-space mask

LENGTHS = [1, 2, 3, 7, 64, 1000, 4097]
BATCH_SHAPES = [(), (3,), (2, 5)]
# (rtol, atol) against a float64 / complex128 loop; |a| ≤ 0.95 keeps |h| ≤ 20·max|b|.
TOLERANCES = {torch.float32: (1e-4, 1e-5), torch.float64: (1e-10, 1e-12), torch.complex64: (1e-4, 1e-5)}
FAST_SCANS = {
    "hillis_steele": hillis_steele_scan,
    "blelloch": blelloch_scan,
    "chunked(64)": lambda a, b, **kw: chunked_scan(a, b, chunk_size=64, **kw),
    "chunked(5)": lambda a, b, **kw: chunked_scan(a, b, chunk_size=5, **kw),
    "block(4, 32)": block_scan,
    "block(3, 5)": lambda a, b, **kw: block_scan(a, b, items_per_thread=3, warp_size=5, **kw),
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
        torch.testing.assert_close(got.to(expected.dtype), expected, rtol=rtol, atol=atol,
                                   msg=lambda m, name=name: f"{name}: {m}")


@pytest.mark.parametrize("name", ["sequential", "hillis_steele", "blelloch", "chunked", "block", "linear_scan"])
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
        for got, want in zip(gradients(scan), expected, strict=True):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11, msg=lambda m, name=name: f"{name}: {m}")


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
    scale = (1 + max(map(abs, x + y + z))) ** 3
    assert associativity_defect(combine, as_pair(x), as_pair(y), as_pair(z)) <= 1e-12 * scale


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


@pytest.mark.parametrize("n, k, lanes", [(1, 4, 32), (7, 2, 4), (37, 2, 4), (1000, 4, 32), (2048, 16, 32), (33, 1, 1)])
def test_block_scan_counts_match_its_five_phases(n, k, lanes):
    """cub's BlockScan schedule on T threads in W warps (n padded to T·k items): k − 1 serial levels of T combines,
    ⌈log₂ lanes⌉ Hillis–Steele levels inside each warp, W − 2 hand-overs between warps, one level of (W − 1)(lanes − 1)
    thread prefixes, k serial levels of T − 1 combines."""
    threads = math.ceil(n / k)
    warps = math.ceil(threads / lanes)
    threads = warps * lanes
    hillis_steele = sum(lanes - 2**j for j in range(ceil_log2(lanes)))
    prefix_levels = 1 if warps > 1 and lanes > 1 else 0
    expected_work = ((k - 1) * threads + warps * hillis_steele + max(warps - 2, 0) + (warps - 1) * (lanes - 1)
                     + k * (threads - 1))
    expected_depth = (k - 1) + ceil_log2(lanes) + max(warps - 2, 0) + prefix_levels + (k if threads > 1 else 0)
    assert work_depth("block", n, items_per_thread=k, warp_size=lanes) == (expected_work, expected_depth)


def test_block_scan_is_the_fastest_on_as_many_processors_as_threads_and_crosses_warps_least():
    """mamba_ssm's chunk: 128 threads × 16 items = 2048. On 128 processors every level of the block scan fits in one
    step, so it beats Brent–Kung's Σ⌈wᵢ/p⌉, and it reads across warps in fewer levels than any parallel scan."""
    costs = block_costs()
    steps = {name: cost.steps for name, cost in costs.items()}
    assert steps["block"] == costs["block"].depth == min(steps.values())
    crossing = {name: cost.cross_warp_levels for name, cost in costs.items()}
    assert crossing["block"] == min(crossing.values()) < crossing["blelloch"]
    a, b = random_pairs(2048, torch.Generator().manual_seed(0), torch.float64)   # block_costs agrees with a trace
    trace = trace_scan("blelloch", a, b)[1]
    assert (costs["blelloch"].steps, costs["blelloch"].cross_warp_levels) == (parallel_steps(trace, 128),
                                                                              cross_warp_levels(trace, 512))


def test_a_trace_counts_its_phases_in_order():
    trace = trace_scan("block", *random_pairs(16), items_per_thread=2, warp_size=4)[1]
    assert trace.phases() == {"thread reduce": (1, 8), "warp scan": (2, 10), "thread prefix": (1, 3),
                              "thread scan": (2, 14)}
    assert sum(combines for _, combines in trace.phases().values()) == trace.combines


@pytest.mark.parametrize("items_per_warp, error", [(0, ValueError), (2.5, TypeError)])
def test_cross_warp_levels_names_a_bad_warp_size(items_per_warp, error):
    with pytest.raises(error, match="items_per_warp"):
        cross_warp_levels(trace_scan("block", *random_pairs(8))[1], items_per_warp)


def test_hillis_steele_does_about_n_log_n_work_and_blelloch_about_2n():
    n = 4096
    assert work_depth("hillis_steele", n)[0] == n * 12 - (n - 1)
    assert work_depth("blelloch", n) == (2 * n - 12 - 2, 2 * 12 - 1)


def test_our_blelloch_is_the_brent_kung_inclusive_scan_not_the_exclusive_up_down_sweep():
    """11 combines in 5 levels at n = 8; Blelloch's exclusive scan (GPU Gems 3, ch. 39) needs 2(n−1) = 14 in
    2·log₂ n = 6. The docstring's bound, ≤ 2⌈log₂ n⌉ − 1 levels, holds for every n ≥ 2."""
    assert work_depth("blelloch", 8) == (11, 5)
    for n in range(2, 130):
        combines, depth = work_depth("blelloch", n)
        assert combines < 2 * (n - 1) or n == 2 and combines == 1
        assert depth <= 2 * ceil_log2(n) - 1, n


SMALL_OPTIONS = {"chunked": {"chunk_size": 4}, "block": {"items_per_thread": 2, "warp_size": 4}}


@pytest.mark.parametrize("name", ["sequential", "hillis_steele", "blelloch", "chunked", "block"])
@pytest.mark.parametrize("n", [1, 5, 8, 13, 16, 37])
def test_trace_replays_to_the_result(name, n):
    generator = torch.Generator().manual_seed(n)
    a, b = random_pairs(n, generator, torch.float64)
    h, trace = trace_scan(name, a, b, **SMALL_OPTIONS.get(name, {}))
    _, replayed = replay_trace(a, b, trace, trace.depth)
    torch.testing.assert_close(replayed, h)
    for level in trace.levels:
        assert len(set(level.targets)) == len(level.targets), "a level writes each position once"
        assert all(s < t for s, t in zip(level.sources, level.targets, strict=True)), "the earlier operand comes first"


@pytest.mark.parametrize("name", ["blelloch", "chunked"])
def test_work_efficient_levels_can_run_in_place(name):
    """Blelloch's and the chunked levels never read a position another combine of the same level writes;
    Hillis–Steele's do, which is why it needs a second buffer."""
    a, b = random_pairs(16)
    for level in trace_scan(name, a, b, **SMALL_OPTIONS.get(name, {}))[1].levels:
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
    ((torch.ones(3, 4), torch.ones(3, 4), 2), ValueError, "`dim` must be an axis in"),
    ((torch.ones(3, 4), torch.ones(3, 4), 1.0), TypeError, "`dim` must be an int"),
    ((torch.ones(3, 4), torch.ones(3, 4), True), TypeError, "`dim` must be an int"),
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


@pytest.mark.parametrize("scan", list(ALGORITHMS.values()) + [linear_scan])
def test_a_complex_h0_with_real_inputs_is_refused_not_cast_to_real(scan):
    """The cast to a's dtype would silently drop h0's imaginary part."""
    with pytest.raises(TypeError, match="would drop h0's imaginary part"):
        scan(torch.full((3, 4), 0.5), torch.ones(3, 4), h0=torch.ones(3, dtype=torch.complex64))


@pytest.mark.parametrize("scan", list(ALGORITHMS.values()) + [linear_scan])
def test_a_real_h0_with_complex_inputs_is_promoted(scan):
    generator = torch.Generator().manual_seed(11)
    a, b = random_recurrence((3, 9), torch.complex128, generator)
    h0 = torch.randn(3, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(scan(a, b, h0=h0), loop_reference(a, b, h0=h0.to(a.dtype)))


@pytest.mark.parametrize("option", ["items_per_thread", "warp_size"])
@pytest.mark.parametrize("value, error", [(0, ValueError), (-2, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_block_shapes_are_rejected(option, value, error):
    with pytest.raises(error, match=f"`{option}` must be a"):
        block_scan(torch.ones(5), torch.ones(5), **{option: value})


@pytest.mark.parametrize("chunk_size, error", [(0, ValueError), (-2, ValueError), (2.5, TypeError), (True, TypeError)])
def test_bad_chunk_sizes_are_rejected(chunk_size, error):
    with pytest.raises(error, match="`chunk_size` must be a"):
        chunked_scan(torch.ones(5), torch.ones(5), chunk_size=chunk_size)
    with pytest.raises(error, match="`chunk_size` must be a"):
        linear_scan(torch.ones(5), torch.ones(5), chunk_size=chunk_size)


@pytest.mark.parametrize("algorithm, error, message", [
    (linear_scan, ValueError, "only the instrumented algorithms can be counted.*count 'chunked'"),
    (lambda a, b: a + b, ValueError, "only the instrumented algorithms can be counted.*'sequential', 'hillis_steele'"),
    ("nope", ValueError, r"must be one of \['sequential', 'hillis_steele', 'blelloch', 'chunked', 'block'\]"),
    ("hillis-steele", ValueError, "Did you mean 'hillis_steele'"),
    (None, TypeError, "`algorithm` must be one of"),
])
def test_only_the_instrumented_algorithms_can_be_counted(algorithm, error, message):
    """Before, linear_scan and any other function were 'counted' as (0, 0): nothing recorded, nothing said."""
    with pytest.raises(error, match=message):
        work_depth(algorithm, 64)
    with pytest.raises(error, match=message):
        trace_scan(algorithm, torch.ones(4), torch.ones(4))


@pytest.mark.parametrize("n, error", [(True, TypeError), (2.0, TypeError), (0, ValueError), ("8", TypeError)])
def test_work_depth_needs_a_positive_int_length(n, error):
    with pytest.raises(error, match="`n` must be a"):
        work_depth("blelloch", n)


def test_work_depth_accepts_the_functions_and_numpy_ints():
    assert work_depth(blelloch_scan, 8) == work_depth("blelloch", 8) == work_depth("blelloch", np.int64(8)) == (11, 5)


def test_log_space_breaking_length_checks_the_gate():
    with pytest.raises(TypeError, match="`gate` must be a real number"):
        log_space_breaking_length("0.9")
    with pytest.raises(ValueError, match="`gate` must lie in"):
        log_space_breaking_length(1.0)


def test_fit_learned_combine_leaves_the_callers_random_stream_alone():
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit_learned_combine(steps=1, batch=8)
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


# ---------------------------------------------------------------------------------------------
# Floating point: gate products that overflow, infinite gates, NaN gates

ALL_SCANS = {"sequential": sequential_scan, **FAST_SCANS,
             "linear_scan(8)": lambda a, b, **kw: linear_scan(a, b, chunk_size=8, **kw)}


def python_loop(a, b):
    """h_t = a_t·h_{t−1} + b_t along dim 0, one float operation after another: what "the loop gives"."""
    h, out = torch.zeros_like(b[0]), []
    for a_t, b_t in zip(a, b, strict=True):
        h = a_t * h + b_t
        out.append(h)
    return torch.stack(out)


@pytest.mark.parametrize("name", list(ALL_SCANS))
def test_gate_products_that_overflow_times_an_exact_zero_state_give_what_the_loop_gives(name):
    """1e30·1e30 overflows float32 in the parallel scans (the loop never multiplies gates); with b = 0 before
    t = 3 the state there is exactly 0, and the old combine turned inf·0 into NaN: [0, 0, nan, 1, nan, 3, nan, 5]."""
    a = torch.tensor([1, 1e30, 1e30, 0, 1, 1, 1, 1])
    b = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1.0])
    expected = python_loop(a, b)
    assert expected.tolist() == [0, 0, 0, 1, 2, 3, 4, 5]
    assert torch.equal(ALL_SCANS[name](a, b), expected)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", list(ALL_SCANS))
def test_an_overflowing_burst_then_a_reset_anywhere_in_a_long_sequence(name, seed):
    """Random gates, with (1e30, 1e30, 0) at a random place after an all-zero start: every product spanning the
    burst overflows, yet the loop is finite everywhere. Also when the burst lies in a later chunk."""
    generator = torch.Generator().manual_seed(seed)
    n, start = 200, int(torch.randint(10, 190, (1,), generator=generator))
    a = 0.5 + 0.5 * torch.rand(n, 3, generator=generator)
    b = torch.randn(n, 3, generator=generator)
    a[start:start + 3] = torch.tensor([1e30, 1e30, 0.0])[:, None]
    b[:start + 3] = 0.0
    expected = python_loop(a, b)
    assert torch.isfinite(expected).all()
    torch.testing.assert_close(ALL_SCANS[name](a, b, dim=0), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("value", [math.inf, -math.inf, complex(math.inf, 0)])
@pytest.mark.parametrize("scan", list(ALGORITHMS.values()) + [linear_scan, log_space_scan])
def test_an_infinite_gate_is_refused(scan, value):
    """The loop gives ±inf from t = 5 on; Hillis–Steele and Blelloch gave NaN (inf − inf after regrouping)."""
    generator = torch.Generator().manual_seed(5)
    dtype = torch.complex64 if isinstance(value, complex) else torch.float32
    a, b = (x.to(dtype) for x in random_pairs(8, generator))
    a[5] = value
    with pytest.raises(ValueError, match=r"`a` must not contain ±inf, .* at index \(5,\)\. Every scan refuses"):
        scan(a, b)


@pytest.mark.parametrize("chunk_size", [None, 4, 7])
def test_linear_scan_refuses_an_infinite_gate_in_any_chunk_and_in_the_tail(chunk_size):
    generator = torch.Generator().manual_seed(6)
    for position in [0, 3, 17, 40, 61, 63]:
        a, b = random_pairs((2, 64), generator)
        a[1, position] = -math.inf
        with pytest.raises(ValueError, match=rf"at index \(1, {position}\)"):
            linear_scan(a, b, chunk_size=chunk_size)


@pytest.mark.parametrize("name", list(ALL_SCANS))
def test_nan_gates_propagate_as_in_the_loop(name):
    generator = torch.Generator().manual_seed(8)
    a, b = random_pairs((50, 3), generator)
    a[[7, 33], [0, 2]] = math.nan
    expected, got = python_loop(a, b), ALL_SCANS[name](a, b, dim=0)
    assert torch.equal(got.isnan(), expected.isnan())
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6, equal_nan=True)


@pytest.mark.parametrize("name", list(FAST_SCANS))
def test_gradients_agree_with_the_loop_where_b_is_exactly_zero(name):
    """The overflow guard replaces a factor, not the product: where b = 0 the gradient of b is still a's product
    (torch.where(b == 0, 0, a·b) would make it 0)."""
    generator = torch.Generator().manual_seed(9)
    a, b = random_recurrence((2, 40), torch.float64, generator)
    b[:, ::3] = 0.0
    weights = torch.randn(2, 40, generator=generator, dtype=torch.float64)

    def gradients(scan):
        leaves = [x.clone().requires_grad_() for x in (a, b)]
        return torch.autograd.grad((scan(*leaves) * weights).sum(), leaves)

    for got, want in zip(gradients(FAST_SCANS[name]), gradients(sequential_scan), strict=True):
        torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-11)


def test_linear_scan_gradients_where_gate_products_overflow_match_the_loop():
    """∂L/∂a_0 is exactly 0 (a_0 meets no state); the old backward computed it as inf·0 = NaN."""
    a0 = torch.tensor([1, 1e30, 1e30, 0, 1, 1, 1, 1])
    b0 = torch.tensor([0, 0, 0, 1, 1, 1, 1, 1.0])

    def gradients(scan):
        leaves = [x.clone().requires_grad_() for x in (a0, b0)]
        return torch.autograd.grad(scan(*leaves).sum(), leaves)

    for got, want in zip(gradients(lambda a, b: linear_scan(a, b, chunk_size=2)), gradients(sequential_scan),
                         strict=True):
        torch.testing.assert_close(got, want)


@pytest.mark.parametrize("shape, dim", [((2, 3, 50), -1), ((2, 50, 3), 1), ((50, 2, 3), 0), ((3, 50), -1)])
def test_linear_scan_forward_and_backward_in_every_layout(shape, dim):
    """The time-major working copy (what makes the last-dim layout fast) changes no value and no gradient."""
    generator = torch.Generator().manual_seed(10)
    a, b = random_recurrence(shape, torch.float64, generator)
    weights = torch.randn(shape, generator=generator, dtype=torch.float64)

    def run(scan):
        leaves = [x.clone().requires_grad_() for x in (a, b)]
        h = scan(*leaves, dim)
        return (h.detach(), *torch.autograd.grad((h * weights).sum(), leaves))

    for got, want in zip(run(lambda a, b, dim: linear_scan(a, b, dim, chunk_size=8)), run(sequential_scan),
                         strict=True):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


# ---------------------------------------------------------------------------------------------
# The benchmark script (a script; here only its table is checked, never its times)


@pytest.mark.parametrize("layout", ["time-major", "time-last"])
def test_benchmark_table_flags_the_log_space_shortcut_as_wrong(layout):
    from lessons.scan_benchmark import format_table, timing_table

    rows = timing_table([8, 512], layout, channels=(3, 2), repeats=1)
    assert [row["n"] for row in rows] == [8, 512]
    assert rows[0]["max_error"]["blelloch_scan"] < 1e-5 and rows[1]["max_error"]["linear_scan"] == 0.0
    short, long = format_table(rows).splitlines()[2:]
    assert "(wrong)" not in short and long.count("(wrong)") == 1


def test_benchmark_layouts_hold_the_same_values_and_every_entry_scans_the_time_axis():
    from lessons.scan_benchmark import benchmark_inputs, candidates

    a, b = benchmark_inputs(20, "time-major", channels=(3, 2))                  # (1, n, D, N)
    a_last, b_last = benchmark_inputs(20, "time-last", channels=(3, 2))         # (1, D, N, n)
    assert a_last.is_contiguous() and torch.equal(a_last, a.movedim(1, -1)) and torch.equal(b_last, b.movedim(1, -1))
    expected = loop_reference(a.movedim(1, -1), b.movedim(1, -1))
    for name, scan in candidates("time-last").items():
        if name != "log-space cumsum":
            torch.testing.assert_close(scan(a_last, b_last).double(), expected, rtol=1e-4, atol=1e-5)


def test_benchmark_script_prints_both_layouts():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", "lessons.scan_benchmark", "--min-log2n", "4", "--max-log2n", "5",
                             "--repeats", "1"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("| 16 |") == 2 and result.stdout.count("| 32 |") == 2
    assert "time-major: shape (1, n, 96, 16)" in result.stdout and "time-last: shape (1, 96, 16, n)" in result.stdout
    assert "time-last time / time-major time" in result.stdout and "machine:" in result.stdout


def test_benchmark_summary_reads_the_order_from_the_numbers():
    from lessons.scan_benchmark import LOOP, summary

    row = {"n": 64, "ms": {LOOP: 10.0, "b": 5.0, "a": 20.0, "shortcut": 1.0, "left out": None},
           "max_error": {LOOP: 0.0, "b": 1e-7, "a": 0.0, "shortcut": math.nan, "left out": None}}
    assert summary(row) == ("At n = 64, exact entries from fastest to slowest: b 5.0 ms (0.50× the loop's time), "
                            "loop (sequential_scan) 10.0 ms, a 20.0 ms (2.00× the loop's time); "
                            "wrong (not ranked): shortcut 1.0 ms (0.10× the loop's time).")


def test_the_recorded_results_show_learners_the_tables_without_the_maintainer_notes():
    from lessons.scan_benchmark import MAINTAINER_NOTES, RESULTS, recorded_tables

    shown = recorded_tables()
    assert MAINTAINER_NOTES in RESULTS.read_text() and MAINTAINER_NOTES not in shown
    assert "\n### The full tables" in shown and "\n### How to read it" in shown and "issue 13" not in shown
    assert not shown.startswith("# ") and "\n#### time-major" in shown   # under the notebook's own "## 5."
    assert shown.count("| 65536 |") == 2                                    # both layouts' tables, in full


def test_every_algorithm_has_one_display_name():
    from lessons.scan import DISPLAY_NAMES

    assert list(DISPLAY_NAMES) == list(ALGORITHMS) and len(set(DISPLAY_NAMES.values())) == len(ALGORITHMS)


@pytest.mark.parametrize("dtype", [torch.float64, torch.complex128])
@pytest.mark.parametrize("n,dim", [(1, -1), (7, -1), (131, 0)])
def test_reverse_scan_gradient_is_what_autograd_gives_through_the_loop(dtype, n, dim):
    generator = torch.Generator().manual_seed(n)
    a, b = random_recurrence((n, 3) if dim == 0 else (3, n), dtype, generator)
    grad_h = random_recurrence(a.shape, dtype, generator)[1]
    b.requires_grad_(True)
    h = sequential_scan(a.movedim(dim, -1), b.movedim(dim, -1)).movedim(-1, dim)
    (h * grad_h.conj()).real.sum().backward()    # ∂L/∂h = grad_h (conjugate Wirtinger, as torch defines it)
    torch.testing.assert_close(reverse_scan_gradient(a, grad_h, dim), b.grad, rtol=1e-10, atol=1e-12)


def test_parallel_steps_lie_within_brents_bounds_and_match_the_counts():
    for name, n in [("sequential", 50), ("hillis_steele", 1000), ("blelloch", 1000), ("blelloch", 37)]:
        _, trace = trace_scan(name, torch.rand(n), torch.rand(n))
        assert parallel_steps(trace, 1) == trace.combines
        assert parallel_steps(trace, 10**6) == trace.depth
        for p in [2, 8, 128]:
            steps = parallel_steps(trace, p)
            assert max(trace.combines / p, trace.depth) <= steps <= brent_time(trace.combines, trace.depth, p)


def test_brent_time_is_work_over_p_plus_depth_and_checks_its_arguments():
    assert brent_time(2036, 19, 8) == pytest.approx(2036 / 8 + 19)
    with pytest.raises(ValueError, match="processors"):
        brent_time(10, 3, 0)
    with pytest.raises(TypeError, match="work"):
        brent_time(10.5, 3, 2)


@pytest.mark.parametrize("gate", [0.9, 0.99])
def test_the_segment_sum_form_stays_finite_where_the_two_cumsum_shortcut_overflows(gate):
    n = log_space_breaking_length(gate) + 50
    generator = torch.Generator().manual_seed(n)
    a, b = torch.full((2, n), gate), torch.randn(2, n, generator=generator)
    stable = (torch.exp(segsum(torch.log(a))) @ b.unsqueeze(-1)).squeeze(-1)      # (2, n)
    assert not torch.isfinite(log_space_scan(a, b)).all()
    torch.testing.assert_close(stable.double(), sequential_scan(a.double(), b.double()), rtol=1e-4, atol=1e-4)


def test_elementwise_op_cost_is_a_positive_time_per_op():
    from lessons.scan_benchmark import elementwise_op_microseconds

    assert 0 < elementwise_op_microseconds(numel=16, calls=50) < 10_000         # µs: microseconds, not seconds
