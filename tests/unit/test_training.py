"""The context every fit runs in (synth.models.training): seeds, denormals, mixed precision."""

import pandas as pd
import pytest
import torch

from synth.errors import GeneratorInputError, SpecError
from synth.models import build_generator
from synth.models.training import _flushing, autocast, flush_denormals, training
from synth.spec import spec_from_dict
from tests.conftest import TINY, mixed_table


@pytest.mark.parametrize("before", [False, True])
def test_flush_denormals_flushes_inside_and_restores_the_callers_setting(before):
    torch.set_flush_denormal(before)
    try:
        tiny = torch.tensor([1e-40])
        with flush_denormals():
            assert float(tiny * 1.0) == 0.0  # a denormal reads as zero inside
        assert _flushing() is before
        assert (float(tiny * 1.0) == 0.0) is before
    finally:
        torch.set_flush_denormal(False)


@pytest.mark.parametrize("kind", ["ctgan", "tvae", "tab_ddpm"])
def test_fit_leaves_the_callers_rng_and_denormal_setting_alone(kind):
    torch.manual_seed(3)
    expected = torch.rand(1).item()
    torch.manual_seed(3)
    build_generator(kind, TINY[kind], device="cpu", seed=0, verbose=False).fit(mixed_table(300))
    assert torch.rand(1).item() == expected
    assert not _flushing()


def test_training_context_seeds_torch():
    with training(torch.device("cpu"), 11):
        a = torch.rand(3)
    with training(torch.device("cpu"), 11):
        b = torch.rand(3)
    assert torch.equal(a, b)


def test_autocast_bf16_runs_matrix_products_in_bfloat16_and_fp32_changes_nothing():
    x, w = torch.randn(4, 8), torch.randn(8, 3)
    with autocast(torch.device("cpu"), "bf16"):
        assert (x @ w).dtype == torch.bfloat16
    with autocast(torch.device("cpu"), "fp32"):
        assert (x @ w).dtype == torch.float32
    with pytest.raises(GeneratorInputError, match="precision must be one of fp32, bf16, got 'fp16'"):
        autocast(torch.device("cpu"), "fp16")


@pytest.mark.parametrize("kind", ["ctgan", "tvae", "tab_ddpm"])
def test_bf16_training_is_reproducible_saved_and_differs_from_fp32(kind, tmp_path):
    table = mixed_table(300)
    fit = lambda precision: build_generator(kind, {**TINY[kind], "precision": precision}, device="cpu", seed=5,  # noqa: E731
                                            verbose=False).fit(table)
    a, b = fit("bf16"), fit("bf16")
    pd.testing.assert_frame_equal(a.sample(80, seed=0), b.sample(80, seed=0))
    network = {"ctgan": "generator_", "tvae": "decoder_", "tab_ddpm": "denoiser_"}[kind]
    assert all(p.dtype == torch.float32 for p in getattr(a, network).parameters())
    assert a.loss_history_ != fit("fp32").loss_history_  # the option really changes the arithmetic
    a.save(tmp_path / "m")
    loaded = type(a).load(tmp_path / "m")
    assert loaded.precision == "bf16"
    pd.testing.assert_frame_equal(loaded.sample(80, seed=0), a.sample(80, seed=0))
    assert set(a.sample(200, seed=1)["group"].dropna()) <= {"a", "b", "c"}


def test_spec_precision_is_checked_with_its_dotted_name():
    base = {"name": "t", "source": {"path": "x.csv"}, "generator": {"kind": "tvae", "precision": "bf16"}}
    assert spec_from_dict(base).generator.precision == "bf16"
    with pytest.raises(SpecError, match="generator.precision: Input should be .fp32. or .bf16. \\(got .fp16.\\)"):
        spec_from_dict({**base, "generator": {"kind": "tvae", "precision": "fp16"}})


def test_the_moving_average_of_the_weights_is_warmed_up():
    from synth.models.training import ema_update

    model, ema = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        model.weight.fill_(1.0), ema.weight.fill_(0.0)
    ema_update(ema, model, 0.999, step=0)  # d = min(0.999, 1/10): 90% of the way to the weights at once
    assert ema.weight.item() == pytest.approx(0.9)
    ema.weight.data.fill_(0.0)
    ema_update(ema, model, 0.999, step=100_000)  # long after the warm-up: the configured decay
    assert ema.weight.item() == pytest.approx(0.001)
