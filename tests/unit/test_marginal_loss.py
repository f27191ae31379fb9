"""CTGAN's pull towards the real one-hot block frequencies (`marginal_weight`)."""

import numpy as np
import pandas as pd
import pytest
import torch

from synth.models import build_generator
from synth.models.tabular import MarginalLoss
from tests.conftest import mixed_table

TINY = {"epochs": 10, "batch_size": 100, "pac": 10, "generator_dim": (32,), "discriminator_dim": (32,),
        "embedding_dim": 16}


def total_variation(real: pd.Series, synthetic: pd.Series) -> float:
    p, q = real.value_counts(normalize=True, dropna=False), synthetic.value_counts(normalize=True, dropna=False)
    return 0.5 * p.sub(q, fill_value=0).abs().sum()


def test_the_pull_alone_moves_single_columns_to_the_real_ones():
    """With the discriminator frozen (learning rate ~0), only the conditional loss and the pull train the generator."""
    table = mixed_table(500)
    table["skewed"] = np.random.default_rng(1).choice(["a", "b", "c", "d"], 500, p=[0.7, 0.2, 0.07, 0.03])
    distance = {}
    for weight in (0.0, 5.0):
        hyper = {**TINY, "generator_lr": 3e-3, "discriminator_lr": 1e-12, "marginal_weight": weight}
        model = build_generator("ctgan", hyper, device="cpu", seed=0, verbose=False).fit(table)
        sample = model.sample(3000, seed=1)
        distance[weight] = sum(total_variation(table[c], sample[c]) for c in ("group", "label", "skewed", "member"))
        assert model.hyperparameters()["marginal_weight"] == weight
    assert distance[5.0] < 0.5 * distance[0.0], distance


def test_loss_is_zero_at_the_target_and_refuses_a_wrong_shape():
    model = build_generator("ctgan", TINY, device="cpu", seed=0, verbose=False).fit(mixed_table(300))
    layout = model.layout_
    softmax = layout.block_softmax(torch.randn(50, layout.data_dim, generator=torch.Generator().manual_seed(0)))
    target = softmax.mean(0)
    loss = MarginalLoss(layout, target)
    raw = torch.zeros(4, layout.data_dim)
    raw[:, layout.soft_cols] = target.log()  # every row's softmax is the target
    assert loss(raw).item() == pytest.approx(0.0, abs=1e-4)
    with pytest.raises(ValueError, match="expected"):
        MarginalLoss(layout, target[:-1])
