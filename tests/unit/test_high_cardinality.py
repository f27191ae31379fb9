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
    with pytest.warns(HighCardinalityWarning,
                      match=r"column 'city' has \d+ distinct values, more than max_categories=20"):
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
    with pytest.warns(HighCardinalityWarning, match="column 'city' has 171 distinct values"):
        model.fit(table)
    rows = model.sample(500, seed=1)
    assert rows["city"].dropna().isin(table["city"]).all()
    assert rows["city"].nunique() > 10  # pooled cities are generated back, not only the 10 kept ones
    # `id` is unique per row: an identifier, not learned but given fresh keys in its format
    assert model.plan_.identifiers == ["id"]
    assert rows["id"].str.fullmatch(r"id-\d{3}").all() and rows["id"].is_unique

    model.save(tmp_path / "m")
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert '"max_categories": 10' in json.dumps(config["hyperparameters"])
    pd.testing.assert_frame_equal(load_generator(tmp_path / "m").sample(500, seed=1), rows)

    pooled = next(v for v in table["city"].dropna() if v not in _kept(config, "city"))
    with pytest.raises(GeneratorInputError,
                       match=rf"condition city='{pooled}': this value is one of the \d+ rare values"):
        model.sample(5, conditions={"city": pooled})


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


# --- the gate's side: bounded whatever the cardinality (issue 13, item 4) ---------------------------------------


def test_the_gate_encoding_is_capped_per_column_and_keeps_small_columns_exact():
    from validation.encoding import RowEncoder

    table = many_values(2000)
    encoder = RowEncoder(max_categories=20).fit(table)
    # city: 20 kept + 1 pooled + 1 missing; id (2,000 distinct): 20 kept + 1 pooled; x: 1
    assert table["city"].isna().any() and encoder.width == 22 + 21 + 1
    x = encoder.transform(table)
    assert x.shape == (2000, encoder.width) and x.dtype == np.float32
    assert np.allclose((x[:, 1:] > 0).sum(1), 2)  # exactly one slot per categorical column is set
    # a value never seen lands in the pooled slot of a pooled column, like the rare values
    unseen = table.head(1).assign(city="atlantis")
    pooled_slot = 1 + 20
    assert encoder.transform(unseen)[0, pooled_slot] == np.float32(1 / np.sqrt(2))
    # a column within the cap is exactly one-hot over its values, as before
    assert RowEncoder(max_categories=300).fit(table[["city"]].dropna()).width == table["city"].nunique()
    assert np.concatenate(list(encoder.blocks(table, rows=333))).tobytes() == x.tobytes()


def test_nearest_distances_over_blocks_are_the_exact_ones():
    from validation.privacy import nearest_distances

    rng = np.random.default_rng(0)
    queries, reference = rng.random((300, 7), dtype=np.float32), rng.random((1000, 7), dtype=np.float32)
    exact = np.sort(np.sqrt(((queries[:, None, :] - reference[None]) ** 2).sum(-1)), axis=1)[:, :3]
    blocks = (reference[i : i + 64] for i in range(0, 1000, 64))
    np.testing.assert_allclose(nearest_distances(queries, blocks, k=3, chunk=50), exact, atol=1e-4)
    np.testing.assert_allclose(nearest_distances(queries, reference, k=3, block=100), exact, atol=1e-4)
    assert np.isinf(nearest_distances(queries, reference[:1], k=2)[:, 1]).all()  # fewer rows than k


def test_quality_pools_very_wide_columns_and_says_so():
    from validation.fidelity import pool_rare_categories, quality_checks

    real, synthetic = many_values(1500, seed=0), many_values(1500, seed=1)
    real_p, synth_p, pooled = pool_rare_categories(real, synthetic, limit=100)
    assert pooled == {"city": real["city"].nunique(), "id": 1500}
    assert real_p["id"].nunique() == 101 and synth_p["city"].nunique(dropna=True) <= 101
    assert real["id"].nunique() == 1500  # the caller's tables are untouched
    checks, details = quality_checks(real, synthetic, min_quality=0, min_column_shapes=0, min_pair_trends=0,
                                     max_rows=1000)
    assert set(details["pooled_columns"]) == {"city", "id"} and details["pooled_columns"]["id"] == 1000
    assert "the rest pooled: city, id" in checks[0].detail


def test_a_wide_target_is_predicted_as_its_most_frequent_classes():
    from validation.utility import MAX_CLASSES, utility_check

    rng = np.random.default_rng(0)
    table = pd.DataFrame({"x": rng.normal(size=600), "kind": [f"k{i % 60}" for i in range(600)]})
    (check,), details = utility_check(table[:400], table[400:], table[400:], target="kind", min_ratio=0, max_rows=300)
    assert f"'kind' has 60 values: the {MAX_CLASSES} most frequent are classes, the rest one class" in check.detail
    assert details["rows"] == {"synthetic": 200, "train": 300, "holdout": 200}  # max_rows bounds every table


def test_a_large_category_set_is_checked_without_copying_it_into_gx():
    from validation.expectations import _SET_IN_SUITE, build_schema_suite, validate_suite

    n = _SET_IN_SUITE * 3
    real = pd.DataFrame({"key": [f"k{i}" for i in range(n)]})
    suite = build_schema_suite(real)
    config = next(e for e in suite.expectations if e.meta["check"] == "categories:key").configuration
    assert config.kwargs["known_count"] == n and "value_set" not in config.kwargs
    checks, _ = validate_suite(suite, real.sample(500, random_state=0))
    assert next(c for c in checks if c.name == "categories:key").passed
    fake = real.head(500).copy()
    fake.loc[:2, "key"] = ["new-a", "new-b", "new-c"]
    failed = next(c for c in validate_suite(suite, fake)[0] if c.name == "categories:key")
    assert not failed.passed and failed.value == ["new-a", "new-b", "new-c"]
    assert "key has 3 value(s) (0.60%) never seen in the real data" in failed.detail
