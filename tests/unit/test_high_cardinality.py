"""A categorical column with very many values is capped (with a warning), not one-hot encoded in full."""

import json

import numpy as np
import pandas as pd
import pytest

from synth.errors import GeneratorInputError
from synth.models import GENERATORS, build_generator, load_generator
from synth.transformer import DataTransformer, HighCardinalityWarning
from tests.conftest import TINY_ONE_EPOCH

def many_values(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    """`city`: 300 values with Zipf-like frequencies and some missing; `id`: every row its own value."""
    rng = np.random.default_rng(seed)
    weights = 1 / np.arange(1, 301)
    city = rng.choice([f"city-{i:03d}" for i in range(300)], n, p=weights / weights.sum()).astype(object)
    city[rng.random(n) < 0.002] = None  # rarer than most kept cities, kept as its own category all the same
    return pd.DataFrame({"city": city, "id": [f"id-{i}" for i in range(n)], "x": rng.normal(size=n)})


def test_transformer_keeps_the_most_frequent_values_and_pools_the_rest():
    table = many_values()
    with pytest.warns(HighCardinalityWarning, match=r"column 'city' has \d+ distinct values, more than max_categories=20"):
        transformer = DataTransformer(max_categories=20).fit(table, seed=0)
    city = transformer.columns_[0]
    assert city.spans == [(21, "softmax")]  # 20 kept (missing among them) + the pooled slot
    assert None in city.state["categories"]
    counts = table["city"].value_counts()
    kept = [c for c in city.state["categories"] if c is not None]
    assert set(kept) <= set(counts.index[:20]) and set(city.state["rare_values"]) == set(counts.index) - set(kept)
    # the whole width is bounded, whatever the number of distinct ids
    assert transformer.output_dim < 60

    decoded = transformer.inverse_transform(transformer.transform(table, seed=0), rng=np.random.default_rng(0))
    was_kept = table["city"].isin(kept) | table["city"].isna()
    pd.testing.assert_series_equal(decoded["city"][was_kept], table["city"][was_kept])  # kept values come back exactly
    pooled = decoded["city"][~was_kept]
    assert pooled.isin(city.state["rare_values"]).all()  # pooled values come back as pooled values
    assert decoded["id"].isin(table["id"]).all()


def test_unseen_values_are_still_refused():
    transformer = DataTransformer(max_categories=20)
    with pytest.warns(HighCardinalityWarning):
        transformer.fit(many_values(), seed=0)
    other = many_values().head(3).copy()
    other.loc[0, "city"] = "atlantis"
    with pytest.raises(GeneratorInputError, match=r"column 'city' has values the model never saw: \['atlantis'\]"):
        transformer.transform(other)


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_generators_cap_sample_real_values_and_save_small_configs(kind, tmp_path):
    table = many_values(600)
    model = build_generator(kind, {**TINY_ONE_EPOCH[kind], "max_categories": 10}, device="cpu", seed=0, verbose=False)
    with pytest.warns(HighCardinalityWarning, match="column 'id' has 600 distinct values"):
        model.fit(table)
    rows = model.sample(500, seed=1)
    assert rows["id"].isin(table["id"]).all() and rows["city"].dropna().isin(table["city"]).all()
    assert rows["id"].nunique() > 10  # pooled ids are generated back, not only the 10 kept ones

    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert '"max_categories": 10' in json.dumps(config["hyperparameters"])
    pd.testing.assert_frame_equal(load_generator(tmp_path / "m").sample(500, seed=1), rows)

    pooled = next(v for v in table["id"] if v not in rows["id"].head(0).tolist() and v not in _kept(config, "id"))
    with pytest.raises(GeneratorInputError, match=rf"condition id='{pooled}': this value is one of the \d+ rare values"):
        model.sample(5, conditions={"id": pooled})


def _kept(config: dict, column: str) -> list:
    columns = config["transformer"]["columns"] if "transformer" in config else config["marginals"]
    entry = next(c for c in columns if c["name"] == column)
    return (entry.get("state") or entry)["categories"]


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_pooled_values_do_not_depend_on_how_the_output_is_split(kind):
    model = build_generator(kind, {**TINY_ONE_EPOCH[kind], "max_categories": 10}, device="cpu", seed=0, verbose=False)
    with pytest.warns(HighCardinalityWarning):
        model.fit(many_values(600))
    whole = model.sample(300, seed=2)
    parts = pd.concat([model.sample(120, seed=2), model.sample(180, seed=2, start=120)], ignore_index=True)
    pd.testing.assert_frame_equal(parts, whole)
