"""Lesson 07: byte counts of the naive and the fused selective scan, checked by hand on small sizes."""
import pytest

from lessons.experiments.memory_traffic import learner_view
from lessons.memory_traffic import (ACCELERATORS, EXPS_PER_SM_PER_CLOCK, ISSUE_PER_SM_PER_CLOCK, Traffic,
                                    arithmetic_intensity, bound_changes_at, first_order_scan_bytes, fits_on_chip,
                                    human_bytes, human_seconds, input_bytes, projection_reread_bytes, roofline_seconds,
                                    selective_scan_traffic, sram_per_block, state_expansion_cost, state_size_cost,
                                    time_ceilings)
from lessons.utils import results_path


def test_fused_and_naive_bytes_match_a_hand_count():
    # batch 2, dim 3, L 5, N 4, float32: u, Δ, z: 3·(2·3·5) = 90 elements; B, C: 2·(2·4·5) = 80; A: 12; D, Δ-bias: 6
    assert input_bytes(2, 3, 5, 4, "float32") == 4 * (90 + 80) + 4 * (12 + 6)
    fused = selective_scan_traffic(2, 3, 5, 4, "float32", fused=True)
    assert fused == Traffic(reads=752, writes=4 * 30)
    naive = selective_scan_traffic(2, 3, 5, 4, "float32", fused=False)
    expanded = 4 * 2 * 3 * 5 * 4                      # one (B, D, L, N) float32 tensor
    assert naive.total == fused.total + 6 * expanded
    assert selective_scan_traffic(2, 3, 5, 4, "bfloat16", fused=True).total < fused.total


def test_a_sixteen_fold_state_is_nearly_free_only_when_fused():
    cost = state_expansion_cost(batch=8, dim=1536, length=4096, dtype="bfloat16", state=16)
    assert cost["fused"] < 1.01
    assert cost["naive"] > 10


def test_roofline_time_and_memory_bound_intensity():
    gpu = ACCELERATORS["NVIDIA H200"]
    traffic = Traffic(reads=4_800_000_000, writes=0)
    assert roofline_seconds(traffic, gpu) == pytest.approx(1e-3)
    naive = arithmetic_intensity(8, 1536, 4096, 16, "float32", fused=False)
    fused = arithmetic_intensity(8, 1536, 4096, 16, "float32", fused=True)
    assert naive < 1 < fused
    assert naive < gpu.fp32_flops / gpu.hbm_bytes_per_s        # the naive scan is deep in the memory-bound region


def test_sram_per_block_and_fit():
    assert sram_per_block(64, 64, 16, "float32") == 4 * 64 * 16 + 4 * (4 * 64 * 64 + 2 * 16 * 64)
    gpu = ACCELERATORS["NVIDIA H200"]
    assert fits_on_chip(64, 64, 16, gpu)
    assert not fits_on_chip(1024, 1024, 256, gpu)


def test_human_units():
    assert human_bytes(512) == "512 B" and human_bytes(1536) == "1.5 KiB" and human_bytes(3 * 2**30) == "3.0 GiB"
    assert human_seconds(2e-6) == "2.0 µs" and human_seconds(0.0123) == "12.30 ms" and human_seconds(2.5) == "2.50 s"


@pytest.mark.parametrize("kwargs, message", [
    (dict(batch=0, dim=3, length=5, state=4), r"`batch` must be an int in \[1, ∞\], got 0"),
    (dict(batch=2, dim=3.5, length=5, state=4), "`dim` must be a positive int, got 3.5"),
    (dict(batch=2, dim=3, length=5, state=4, dtype="int8"), "`dtype` must be one of"),
])
def test_bad_sizes_are_named(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        selective_scan_traffic(**kwargs, fused=True)


def test_state_size_cost_counts_bytes():
    cost = state_size_cost(batch=2, dim=8, state=16, length=100)
    assert cost["all states"] == 2 * 8 * 16 * 100 * 4 and cost["one state"] == 2 * 8 * 16 * 4
    assert cost["inputs and outputs"] == (4 * 2 * 8 * 100 + 2 * 2 * 16 * 100) * 4
    assert state_size_cost(2, 8, 16, 100, "bfloat16")["all states"] == 2 * 8 * 16 * 100 * 2


# ---------------------------------------------------------------------------------------------
# The three ceilings: bytes, exps, instructions
# ---------------------------------------------------------------------------------------------
H200 = ACCELERATORS["NVIDIA H200"]
COPY = 4.25e12                                       # the copy bandwidth measured on the H200 (results/kernels_gpu.md)


@pytest.mark.parametrize("state", [1, 3, 16, 64])
def test_each_ceiling_is_its_definition(state):
    instructions = 40.0
    ceilings = time_ceilings(8, 1536, 4096, state, H200, copy_bytes_per_s=COPY, instructions_per_element=instructions)
    elements, rate = 8 * 1536 * 4096 * state, H200.sm_count * H200.clock_hz
    assert ceilings.bytes == pytest.approx(selective_scan_traffic(8, 1536, 4096, state, fused=True).total / COPY)
    assert ceilings.exps == pytest.approx(elements / (EXPS_PER_SM_PER_CLOCK * rate))
    assert ceilings.instructions == pytest.approx(elements * instructions / (ISSUE_PER_SM_PER_CLOCK * rate))
    assert ceilings.floor == max(ceilings.bytes, ceilings.exps, ceilings.instructions)


def test_the_bound_moves_from_bytes_to_instructions_as_the_state_grows():
    """With h in registers bytes barely grow with N, instructions grow N-fold: past some N they bind."""
    options = dict(copy_bytes_per_s=COPY, instructions_per_element=40.0)
    change = bound_changes_at(8, 1536, 4096, H200, **options)
    assert change is not None and change > 1
    assert time_ceilings(8, 1536, 4096, change - 1, H200, **options).bound == "bytes"
    for state in (change, change + 1, 64):
        assert time_ceilings(8, 1536, 4096, state, H200, **options).bound == "instructions"
    cheaper = bound_changes_at(8, 1536, 4096, H200, copy_bytes_per_s=COPY, instructions_per_element=10.0)
    assert cheaper > change                           # fewer instructions per element: bytes bind for longer


@pytest.mark.parametrize("kwargs, message", [
    (dict(copy_bytes_per_s=0, instructions_per_element=40), "copy_bytes_per_s"),
    (dict(copy_bytes_per_s=COPY, instructions_per_element=0), "instructions_per_element"),
])
def test_ceilings_name_a_bad_rate(kwargs, message):
    with pytest.raises(ValueError, match=message):
        time_ceilings(8, 16, 32, 4, H200, **kwargs)


# ---------------------------------------------------------------------------------------------------- the segment
def test_lesson07_narration_claims_hold_for_the_numbers_the_scenes_draw():
    """animations/scripts/07.md words the scenes' numbers; each claim it makes is checked against them."""
    from animations import lesson07_memory_traffic as segment

    assert segment.SIZES["state"] == 16                                        # "sixteen times wider"
    assert min(segment.training_schedule(**segment.TRAINING_SIZES).programs) >= 1000   # "thousands of programs"
    times = segment.fusing_measured()
    assert 1e-3 <= times.naive_floor < 1e-2 and times.fused_floor < 0.5e-3      # "a few ms"; "a fraction of a ms"
    assert 30 <= min(times.reference_ms, times.naive_ms) / times.fused_ms < 100  # "almost two orders of magnitude"
    assert times.fused_ms > 3 * 1e3 * times.fused_floor                         # "well above its own byte floor"
    floors = segment.floors()
    assert floors.ceilings[1].bound == "bytes" and floors.ceilings[16].bound == "instructions"
    assert floors.first_order_share >= 90                                       # "nearly the copy bandwidth"
    assert all(ms > 1e3 * floors.ceilings[16].instructions for _name, ms in floors.measured[16])   # "sit above it"


def test_projection_rereads_and_first_order_bytes_by_hand():
    assert projection_reread_bytes(2, 5, 7, 3) == 5 * 4 * 2 * 2 * 3 * 7               # B and C, once per channel
    assert projection_reread_bytes(2, 5, 7, 3, "bfloat16", channels_per_program=2) == 3 * 2 * 2 * 2 * 3 * 7
    assert first_order_scan_bytes(8, 1536, 4096) == 576 * 2**20                      # the recorded 576.0 MiB


def test_learner_view_keeps_the_tables_and_drops_the_log():
    text = learner_view(results_path("kernels_gpu.md").read_text())
    assert "Measured copy bandwidth" in text and "### Selective scan" in text
    assert "| 4096 | float32 | forward |" in text
    assert "Fusing" not in text and "commit" not in text and "no GPU time" not in text and "passed" not in text
