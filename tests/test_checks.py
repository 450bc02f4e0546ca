"""Issue 12's bad inputs to lesson 05's LRU and lesson 06's Mamba block and scan: each gets a clear error that
names the argument and what was expected (through lessons.checks), instead of a deep PyTorch error, a silent
acceptance, or the name of an argument the user never passed."""
import pytest
import torch

from lessons.lru import LRU, LRUModel
from lessons.ssm import MambaBlock, MambaModel, selective_scan, selective_scan_inputs, selective_scan_loop

D_MODEL = 8


def block(**options) -> MambaBlock:
    return MambaBlock(D_MODEL, d_state=4, **options)


def sequence(batch=2, length=5, width=D_MODEL, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(batch, length, width, generator=torch.Generator().manual_seed(length), dtype=dtype)


BLOCK_INPUTS = {  # name: (x, error type, the message it must contain)
    "wrong d_model": (sequence(width=5), ValueError,
                      r"`x` must have shape \(batch, L, d_model\) = .*8\), got \(2, 5, 5\)"),
    "float64": (sequence(dtype=torch.float64), TypeError, r"`x` must have dtype in \(float32\), got float64"),
    "float16": (sequence(dtype=torch.float16), TypeError, r"`x` must have dtype in \(float32\), got float16"),
    "complex": (sequence(dtype=torch.complex64), TypeError, r"`x` must have dtype in \(float32\), got complex64"),
    "L = 0": (sequence(length=0), ValueError, r"`L = x.shape\[1\]` must be an int in \[1, ∞\], got 0"),
    "rank 2": (torch.randn(5, D_MODEL), ValueError, r"`x` must have 3 dimensions, got shape \(5, 8\)"),
}


@pytest.mark.parametrize("case", list(BLOCK_INPUTS))
def test_mamba_block_names_its_input_and_what_it_expected(case):
    x, error, message = BLOCK_INPUTS[case]
    with pytest.raises(error, match=message):
        block()(x)


def test_mamba_block_still_takes_good_input():
    assert block()(sequence()).shape == (2, 5, D_MODEL)
    assert block(dt_rank=3)(sequence(length=1)).shape == (2, 1, D_MODEL)


@pytest.mark.parametrize("options, error, message", [
    (dict(dt_min=-1), ValueError, r"`dt_min` must lie in \[1e-12, 0.1\], got -1.0"),
    (dict(dt_min=0.5, dt_max=0.1), ValueError, r"`dt_min` must lie in \[1e-12, 0.1\], got 0.5"),
    (dict(dt_max=0.0), ValueError, r"`dt_max` must lie in \[1e-12, inf\], got 0.0"),
    (dict(dt_rank=0), ValueError, r"`dt_rank` must be an int in \[1, ∞\], got 0"),
    (dict(dt_rank=2.5), TypeError, r"`dt_rank` must be a positive int, got 2.5"),
    (dict(scan=None), TypeError, r"`scan` must be a function with selective_scan's signature.*got None"),
    (dict(expand=0), ValueError, r"`expand` must be an int in \[1, ∞\], got 0"),
])
def test_mamba_block_rejects_bad_settings_by_name(options, error, message):
    with pytest.raises(error, match=message):
        block(**options)


def test_mamba_model_names_empty_token_sequences():
    with pytest.raises(ValueError, match=r"`L = tokens.shape\[1\]` must be an int in \[1, ∞\], got 0"):
        MambaModel(10, 10, d_model=D_MODEL, d_state=4)(torch.zeros(2, 0, dtype=torch.long))


@pytest.mark.parametrize("scan", [selective_scan, selective_scan_loop], ids=lambda f: f.__name__)
@pytest.mark.parametrize("flag", ["delta_softplus", "return_last_state"])
@pytest.mark.parametrize("value", ["yes", 1, None])
def test_scan_switches_must_be_true_or_false(scan, flag, value):
    x = selective_scan_inputs(1, 2, 3, 2, layer=False, seed=1)
    x.pop("delta_softplus")
    with pytest.raises(TypeError, match=f"`{flag}` must be True or False, got {value!r}"):
        scan(**x, **{flag: value})


@pytest.mark.parametrize("scan", [selective_scan, selective_scan_loop], ids=lambda f: f.__name__)
def test_scan_with_no_time_steps_names_u(scan):
    x = selective_scan_inputs(1, 2, 3, 2, layer=False, seed=1)
    x.update(u=x["u"][..., :0], delta=x["delta"][..., :0], B=x["B"][..., :0], C=x["C"][..., :0])
    with pytest.raises(ValueError, match=r"`L = u.shape\[2\]` must be an int in \[1, ∞\], got 0"):
        scan(**x)


def test_lru_with_no_time_steps_names_x_not_an_internal_argument():
    layer = LRU(4, 6, generator=torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=r"`x.shape\[1\] \(the length L\)` must be an int in \[1, ∞\], got 0"):
        layer(torch.zeros(2, 0, 4))
    model = LRUModel(3, d_model=4, d_state=4, n_layers=1, vocab_size=5)
    with pytest.raises(ValueError, match=r"`x.shape\[1\] \(the length L\)` must be an int in \[1, ∞\], got 0"):
        model(torch.zeros(2, 0, dtype=torch.long))


def test_lru_names_complex_and_float_model_dtypes():
    layer = LRU(4, 6, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match=r"`x` must have dtype in \(float16, bfloat16, float32, float64\)"):
        layer(torch.zeros(2, 3, 4, dtype=torch.complex64))
    floats = LRUModel(2, d_model=4, d_state=4, n_layers=1, d_input=3)
    with pytest.raises(TypeError, match=r"`x` must have dtype in \(float32\), got float64"):
        floats(torch.zeros(2, 3, 3, dtype=torch.float64))


def test_require_one_of_names_the_options_and_the_closest():
    from lessons.checks import require_one_of

    assert require_one_of("dtype", "float32", ["float32", "bfloat16"]) == "float32"
    with pytest.raises(ValueError, match=r"`dtype` must be one of \['float32', 'bfloat16'\], got 'flaot32'\. "
                                         r"Did you mean 'float32'\?"):
        require_one_of("dtype", "flaot32", ["float32", "bfloat16"])
    with pytest.raises(ValueError, match="got 3"):
        require_one_of("n", 3, [1, 2])


def test_require_no_inf_refuses_infinities_and_lets_nan_through():
    from lessons.checks import require_no_inf

    require_no_inf("a", torch.tensor([1.0, float("nan")]))
    with pytest.raises(ValueError, match="`a`"):
        require_no_inf("a", torch.tensor([1.0, float("-inf")]))
