"""Conditional sampling on one or several categorical columns, and seeded row streams, for every tabular generator."""

import numpy as np
import pandas as pd
import pytest
import torch

from synth.errors import GeneratorInputError
from synth.models import GENERATORS, build_generator
from synth.models.tabular import MAX_REJECTION_ROUNDS, SAMPLE_BLOCK_ROWS, BlockLayout, Conditions, draw_conditioned
from synth.transformer import DataTransformer
from tests.conftest import TINY, mixed_table


@pytest.fixture(scope="module", params=sorted(GENERATORS))
def fitted(request):
    model = build_generator(request.param, TINY[request.param], device="cpu", seed=0, verbose=False)
    return model.fit(mixed_table(400))


def test_several_conditions_are_all_exact(fitted):
    rows = fitted.sample(300, conditions={"label": "yes", "group": "c", "member": True}, seed=3)
    assert len(rows) == 300
    assert (rows["label"] == "yes").all() and (rows["group"] == "c").all() and rows["member"].all()
    # a condition on the missing category of a column with nulls is a condition like any other
    assert fitted.sample(50, conditions={"group": None, "label": "no"}, seed=0)["group"].isna().all()


def test_every_bad_condition_is_reported_at_once(fitted):
    with pytest.raises(GeneratorInputError) as info:
        fitted.sample(10, conditions={"nope": "x", "label": "maybe", "age": 30})
    message = str(info.value)
    assert "'nope' is not a categorical column" in message
    assert "condition label='maybe': not a category seen in training" in message
    assert "'age' is not a categorical column" in message


def test_a_cli_string_finds_a_non_string_category(fitted):
    # `synth generate --condition member=True` passes the string "True"
    assert fitted.sample(40, conditions={"member": "True"}, seed=0)["member"].all()


@pytest.mark.parametrize("conditions", [None, {"label": "yes", "group": "a"}])
def test_rows_do_not_depend_on_how_the_output_is_split(fitted, conditions):
    whole = fitted.sample(120, conditions=conditions, seed=11)
    parts = [fitted.sample(n, conditions=conditions, seed=11, start=s) for s, n in ((0, 50), (50, 1), (51, 69))]
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), whole)


def test_rows_do_not_depend_on_the_number_asked_for_across_blocks():
    model = build_generator("tvae", TINY["tvae"], device="cpu", seed=0, verbose=False).fit(mixed_table(300))
    edge = SAMPLE_BLOCK_ROWS - 3  # a slice that straddles two seeded blocks
    across = model.sample(6, seed=4, start=edge)
    pd.testing.assert_frame_equal(across, model.sample(edge + 6, seed=4).iloc[edge:].reset_index(drop=True))


def test_conditioning_moves_the_other_columns_with_it():
    """On a table where `kind` decides `size` and `weight`, conditioning on kind=heavy must give heavy rows,
    and a second condition (tier) must be met by rejection, not by overwriting alone."""
    rng = np.random.default_rng(0)
    heavy = rng.random(2000) < 0.3
    table = pd.DataFrame({
        "kind": np.where(heavy, "heavy", "light"),
        "tier": np.where(heavy, np.where(rng.random(2000) < 0.8, "gold", "basic"),
                         np.where(rng.random(2000) < 0.1, "gold", "basic")),
        "weight": np.where(heavy, rng.normal(100, 5, 2000), rng.normal(10, 2, 2000)),
    })
    model = build_generator("gaussian_copula", {}, device="cpu", seed=0, verbose=False).fit(table)
    plain = model.sample(4000, seed=0)
    rows = model.sample(2000, conditions={"kind": "heavy", "tier": "gold"}, seed=0)
    assert (rows["kind"] == "heavy").all() and (rows["tier"] == "gold").all()
    assert rows["weight"].median() > 60 > plain["weight"].median()


def _layout_and_conditions():
    # a=x is the rarer condition, so it steers the proposals and b=p is met by rejection
    table = pd.DataFrame({"n": np.arange(100.0), "a": ["x", "y", "y", "y"] * 25, "b": ["p", "q"] * 50})
    transformer = DataTransformer().fit(table)
    return transformer, BlockLayout(transformer, "cpu")


def _block(transformer, column: str, value: str) -> tuple[int, int]:
    """(offset of the column's block, position of `value` in it)."""
    offset = next(o for name, o, _ in transformer.categorical_blocks() if name == column)
    return offset, next(c for c in transformer.columns_ if c.name == column).state["categories"].index(value)


def test_rejection_accepts_candidates_by_the_probability_of_the_secondary_conditions():
    transformer, layout = _layout_and_conditions()
    conditions = Conditions(transformer, {"b": "p", "a": "x"}, "test")
    assert conditions.primary.column == "a" and [c.column for c in conditions.secondary] == ["b"]
    b_offset, p = _block(transformer, "b", "p")
    marker = int(layout.tanh_cols[0])  # column n's alpha: never looked at by the conditions

    def propose(m, generator):
        raw = torch.zeros(m, layout.data_dim)
        raw[1::2, b_offset + p] = float(np.log(0.25 / 0.75))  # odd rows: "p" with probability 0.25
        raw[0::2, b_offset + p] = -1e4  # even rows: "p" impossible
        raw[:, marker] = torch.arange(m, dtype=torch.float32)  # which candidate a row was
        return raw

    rows = draw_conditioned(propose, layout, conditions, 4000, torch.Generator().manual_seed(0), "a=x, b=p")
    assert len(rows) == 4000
    assert (rows[:, marker] % 2 == 1).all()  # only candidates that could give "p" were accepted


def test_a_combination_the_model_never_makes_is_refused_and_a_rare_one_warns():
    transformer, layout = _layout_and_conditions()
    conditions = Conditions(transformer, {"a": "x", "b": "p"}, "test")
    b_offset, p = _block(transformer, "b", "p")

    def never(m, generator):
        raw = torch.zeros(m, layout.data_dim)
        raw[:, b_offset + p] = -1e4
        return raw

    with pytest.raises(GeneratorInputError, match="probability 0; condition on fewer columns"):
        draw_conditioned(never, layout, conditions, 100, torch.Generator().manual_seed(0), "a=x, b=p")

    def rare(m, generator):  # "p" with probability ~1e-4: not enough in MAX_REJECTION_ROUNDS rounds of 100
        raw = never(m, generator)
        raw[:, b_offset + p] = float(np.log(1e-4))
        return raw

    with pytest.warns(UserWarning, match="rarely generates this combination"):
        rows = draw_conditioned(rare, layout, conditions, 100, torch.Generator().manual_seed(0), "a=x, b=p")
    assert len(rows) == 100 and MAX_REJECTION_ROUNDS * 100 * 1e-4 < 100


def test_copula_gibbs_draws_match_exact_rejection_sampling():
    """Several conditioned copula scores follow N(0, Σ) truncated to their intervals: compare with brute-force
    rejection."""
    from synth.models.gaussian_copula import GaussianCopula

    sigma = np.array([[1.0, 0.7, -0.3], [0.7, 1.0, 0.2], [-0.3, 0.2, 1.0]])
    lower, upper = np.array([0.2, -np.inf, -1.0]), np.array([1.5, 0.0, 0.5])
    rng = np.random.default_rng(0)
    gibbs = GaussianCopula._truncated_scores(40_000, sigma, lower, upper, rng)
    raw = rng.multivariate_normal(np.zeros(3), sigma, 400_000)
    exact = raw[((raw > lower) & (raw < upper)).all(axis=1)]
    assert ((gibbs > lower) & (gibbs < upper)).all()
    np.testing.assert_allclose(gibbs.mean(axis=0), exact.mean(axis=0), atol=0.02)
    np.testing.assert_allclose(np.corrcoef(gibbs, rowvar=False), np.corrcoef(exact, rowvar=False), atol=0.03)
