"""The vectorised pieces of the neural tabular generators give what the per-block loop of the reference gives."""

import pandas as pd
import pytest
import torch
from torch.nn import functional as F

import synth.models.tabular as tabular
from synth.models.ctgan import CTGAN, CondSampler
from synth.models.tabular import BlockLayout
from synth.transformer import DataTransformer
from tests.conftest import mixed_table


@pytest.fixture(scope="module")
def fitted():
    table = mixed_table(300)
    # a declared category with no rows: it has a slot, but must never be drawn
    table["tier"] = pd.Categorical(["gold", "basic", "basic"] * 100, categories=["basic", "gold", "platinum"])
    transformer = DataTransformer().fit(table, seed=0)
    return transformer, torch.from_numpy(transformer.transform(table, seed=0))


def softmax_spans(transformer):
    """(offset, width) of every one-hot block, as the reference loops over them."""
    out, offset = [], 0
    for width, activation in transformer.spans:
        if activation == "softmax":
            out.append((offset, width))
        offset += width
    return out


def test_cross_entropies_of_all_blocks_match_the_loop(fitted):
    transformer, data = fitted
    layout = BlockLayout(transformer, "cpu")
    raw = (torch.randn(64, transformer.output_dim) * 4).requires_grad_(True)
    targets = layout.padded(data[:64]).argmax(dim=-1)
    nll = layout.block_nll(raw, targets)
    loop = torch.stack([F.cross_entropy(raw[:, o : o + w], targets[:, b], reduction="none")
                        for b, (o, w) in enumerate(softmax_spans(transformer))], dim=1)
    torch.testing.assert_close(nll, loop)
    # and the gradients, which is what training sees
    (grad,) = torch.autograd.grad(nll.sum(), raw)
    (expected,) = torch.autograd.grad(loop.sum(), raw)
    torch.testing.assert_close(grad, expected)
    # large logits do not overflow (each block is shifted by its own max)
    assert torch.isfinite(layout.block_nll(raw.detach() * 100, targets)).all()
    # the padded view agrees
    torch.testing.assert_close(-layout.log_probs(raw).gather(2, targets[:, :, None]).squeeze(2), loop)


def test_gumbel_softmax_is_the_per_block_softmax_with_tanh_on_alphas(fitted, monkeypatch):
    transformer, _ = fitted
    layout = BlockLayout(transformer, "cpu")
    raw = torch.randn(32, transformer.output_dim) * 3
    noise = torch.randn(32, len(layout.soft_cols))
    monkeypatch.setattr(tabular, "gumbel_noise", lambda like, generator=None: noise)  # the same noise for the loop
    out = layout.gumbel_softmax(raw, 0.2)
    soft_at = {int(c): i for i, c in enumerate(layout.soft_cols)}
    expected, offset = [], 0
    for width, activation in transformer.spans:
        chunk = raw[:, offset : offset + width]
        if activation == "tanh":
            expected.append(torch.tanh(chunk))
        else:
            g = noise[:, [soft_at[c] for c in range(offset, offset + width)]]
            expected.append(F.softmax((chunk + g) / 0.2, dim=1))
        offset += width
    torch.testing.assert_close(out, torch.cat(expected, dim=1))


def test_gumbel_noise_is_standard_gumbel():
    draws = tabular.gumbel_noise(torch.empty(200_000), torch.Generator().manual_seed(0))
    assert abs(draws.mean().item() - 0.5772) < 0.01  # Euler–Mascheroni constant
    assert abs(draws.var().item() - torch.pi**2 / 6) < 0.03


def test_sampling_draws_each_block_from_its_softmax_not_its_argmax(fitted):
    transformer, _ = fitted
    layout = BlockLayout(transformer, "cpu")
    row = torch.randn(1, transformer.output_dim)
    hard = layout.sample(row.repeat(40_000, 1), torch.Generator().manual_seed(0))
    for o, w in softmax_spans(transformer):
        block = hard[:, o : o + w]
        assert (block.sum(dim=1) == 1).all()  # one-hot
        torch.testing.assert_close(block.mean(dim=0), F.softmax(row[0, o : o + w], dim=0), atol=0.01, rtol=0)


def test_training_by_sampling_draws_real_rows_of_the_asked_category(fitted):
    transformer, data = fitted
    blocks = transformer.categorical_blocks()
    sampler = CondSampler(data, blocks)
    torch.manual_seed(0)
    column, category, rows = sampler.sample_indices(60_000)
    offsets = torch.tensor([o for _, o, _ in blocks])
    assert (data[rows, offsets[column] + category] == 1).all()  # every real row holds the condition it is paired with
    assert torch.bincount(column, minlength=len(blocks)).min() > 60_000 / len(blocks) * 0.9  # columns uniformly
    for b, (_, o, w) in enumerate(blocks):
        counts = data[:, o : o + w].sum(dim=0)
        expected = torch.log1p(counts) / torch.log1p(counts).sum()  # categories by log-frequency (CTGAN paper)
        chosen = category[column == b]
        torch.testing.assert_close(torch.bincount(chosen, minlength=w) / len(chosen), expected, atol=0.02, rtol=0)
    tier = next(b for b, (name, _, _) in enumerate(blocks) if name == "tier")
    platinum = transformer.columns_[-1].state["categories"].index("platinum")
    assert not ((column == tier) & (category == platinum)).any()  # a category with no rows is never drawn
    # sampling's cond vectors: one-hot, categories by their real frequency, from the saved counts alone
    loaded = CondSampler.from_counts(transformer, "cpu")
    cond = loaded.sampling_cond(60_000, torch.Generator().manual_seed(1))
    assert (cond.sum(dim=1) == 1).all()
    start = int(loaded.block_start[tier])
    frequencies = torch.tensor(transformer.columns_[-1].state["frequencies"], dtype=torch.float32)
    tier_rows = cond[:, start : start + len(frequencies)]
    tier_rows = tier_rows[tier_rows.sum(dim=1) == 1]
    torch.testing.assert_close(tier_rows.mean(dim=0), frequencies / frequencies.sum(), atol=0.02, rtol=0)


def test_conditional_loss_is_the_cross_entropy_of_each_rows_chosen_column(fitted):
    transformer, data = fitted
    model = CTGAN(verbose=False)
    model.transformer_, model.layout_ = transformer, BlockLayout(transformer, "cpu")
    sampler = CondSampler(data, transformer.categorical_blocks())
    column, category, _ = sampler.sample_indices(50)
    raw = torch.randn(50, transformer.output_dim) * 3
    expected = torch.stack([
        F.cross_entropy(raw[i : i + 1, o : o + w], category[i : i + 1])
        for i, (_, o, w) in enumerate(transformer.categorical_blocks()[c] for c in column.tolist())
    ]).mean()
    torch.testing.assert_close(model._cond_loss(raw, column, category), expected)


@pytest.mark.parametrize("kind", ["ctgan", "tvae", "tab_ddpm"])
def test_rows_of_a_capped_column_do_not_depend_on_chunking(kind):
    """The rare bucket's values are drawn per seeded block, over the whole block, so a chunk boundary changes
    nothing."""
    import warnings

    import numpy as np

    from synth.models import build_generator

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"code": [f"c{v}" for v in rng.integers(0, 60, 400)], "x": rng.normal(size=400)})
    tiny = {"ctgan": {"epochs": 1, "embedding_dim": 8, "generator_dim": (16,), "discriminator_dim": (16,)},
            "tvae": {"epochs": 1, "embedding_dim": 8, "compress_dims": (16,), "decompress_dims": (16,)},
            "tab_ddpm": {"steps": 60, "hidden_dims": (16,), "sampling_steps": 3}}[kind]
    tiny.update(batch_size=100, max_categories=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = build_generator(kind, tiny, device="cpu", seed=0, verbose=False).fit(table)
    whole = model.sample(300, seed=2)
    assert whole["code"].isin(model.transformer_.columns_[0].state["rare_values"]).sum() > 50  # mostly pooled values
    parts = pd.concat([model.sample(n, seed=2, start=s) for s, n in ((0, 7), (7, 150), (157, 143))], ignore_index=True)
    pd.testing.assert_frame_equal(parts, whole)
