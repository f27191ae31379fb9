"""TabDDPM (synth.models.tab_ddpm): what the shared contract tests do not cover. The contract itself (fit, sample,
save, load, seeds, dtypes, nulls, conditions, column rules) runs on it through tests/unit/test_generator_contract.py,
test_conditions.py, test_column_types.py and test_generators_with_rules.py, which take every kind in GENERATORS."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from synth.errors import GeneratorInputError
from synth.models import build_generator
from synth.models.tab_ddpm import cosine_alphas_cumprod
from tests.conftest import TINY, mixed_table


def test_the_noise_schedule_is_diffusers_cosine_schedule():
    from diffusers import DDPMScheduler

    ours = cosine_alphas_cumprod(1000)
    theirs = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2").alphas_cumprod
    assert torch.allclose(ours, theirs.float(), rtol=1e-5, atol=1e-7)
    assert ours[0] > 0.999 and ours[-1] < 1e-4  # from almost clean to almost pure noise


@pytest.mark.parametrize(("rows", "batch", "steps", "epochs"), [(300, 100, 8, 3), (300, 100, 9, 3), (300, 100, 10, 4),
                                                                 (50, 100, 8, 8)])
def test_training_length_is_set_in_steps(rows, batch, steps, epochs):
    """As many whole epochs as give at least `steps` batches; a table smaller than a batch trains on all of it."""
    hyper = {**TINY["tab_ddpm"], "steps": steps, "batch_size": batch}
    model = build_generator("tab_ddpm", hyper, device="cpu", seed=0, verbose=False).fit(mixed_table(rows))
    assert len(model.loss_history_) == epochs == math.ceil(steps / math.ceil(rows / min(batch, rows)))


def test_it_learns_how_a_number_depends_on_a_category():
    """After a short training, rows conditioned on a category carry that category's numbers: the denoiser learned
    the dependence and inpainting the condition steers the other columns (not only the conditioned one)."""
    rng = np.random.default_rng(0)
    kind = rng.choice(["low", "high"], 2000)
    table = pd.DataFrame({"kind": kind, "value": np.where(kind == "low", 10.0, 50.0) + rng.normal(0, 1, 2000)})
    hyper = {"steps": 600, "batch_size": 256, "hidden_dims": (64, 64), "sampling_steps": 20}
    model = build_generator("tab_ddpm", hyper, device="cpu", seed=0, verbose=False).fit(table)
    for category, centre in (("low", 10.0), ("high", 50.0)):
        rows = model.sample(400, conditions={"kind": category}, seed=1)
        assert (rows["kind"] == category).all()
        assert abs(rows["value"].median() - centre) < 3, (category, rows["value"].describe())
    free = model.sample(1000, seed=2)
    assert 0.35 < (free["kind"] == "low").mean() < 0.65  # both categories, in about the real shares
    low = free.loc[free["kind"] == "low", "value"]
    assert abs(low.median() - 10.0) < 3


def test_two_conditions_hold_at_once():
    table = mixed_table(300)
    model = build_generator("tab_ddpm", TINY["tab_ddpm"], device="cpu", seed=0, verbose=False).fit(table)
    rows = model.sample(200, conditions={"label": "yes", "group": "c"}, seed=0)
    assert (rows["label"] == "yes").all() and (rows["group"] == "c").all()


def test_sampling_steps_cannot_exceed_training_timesteps():
    with pytest.raises(GeneratorInputError, match=r"sampling_steps \(50\) cannot exceed num_timesteps \(20\)"):
        build_generator("tab_ddpm", {"num_timesteps": 20}, device="cpu")


def test_a_one_row_table_is_refused():
    model = build_generator("tab_ddpm", TINY["tab_ddpm"], device="cpu", verbose=False)
    with pytest.raises(GeneratorInputError, match="at least 2 training rows"):
        model.fit(mixed_table(300).head(1))


def test_a_short_training_samples_from_its_trained_weights():
    """The moving average of the weights is warmed up (synth.models.training.ema_update): after 300 steps a
    category that 87% of rows share comes back in about that share. Averaged from the initial weights at a
    fixed 0.999, the sampled weights were still three quarters untrained and gave it to 17% of rows."""
    rng = np.random.default_rng(0)
    table = pd.DataFrame({"code": [f"c{v}" for v in rng.integers(0, 60, 400)], "x": rng.normal(size=400)})
    hyper = {"steps": 300, "batch_size": 100, "hidden_dims": (64, 64), "sampling_steps": 20, "max_categories": 5}
    with pytest.warns(Warning, match="max_categories"):
        model = build_generator("tab_ddpm", hyper, device="cpu", seed=0, verbose=False).fit(table)
    pooled = model.transformer_.columns_[0].state["rare_values"]
    real, synthetic = table["code"].isin(pooled).mean(), model.sample(1000, seed=2)["code"].isin(pooled).mean()
    assert real == pytest.approx(0.87) and abs(synthetic - real) < 0.08, synthetic
