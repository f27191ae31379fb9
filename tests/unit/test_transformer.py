import numpy as np
import pandas as pd
import pytest

from synth.errors import GeneratorInputError
from synth.transformer import DataTransformer
from tests.conftest import mixed_table


def test_round_trip_restores_values_dtypes_and_nulls():
    table = mixed_table(300)
    transformer = DataTransformer().fit(table, seed=0)
    encoded = transformer.transform(table, seed=0)
    assert encoded.shape == (300, transformer.output_dim) and encoded.dtype == np.float32
    decoded = transformer.inverse_transform(encoded)
    assert list(decoded.columns) == list(table.columns)
    for column in table.columns:
        assert decoded[column].dtype == table[column].dtype, column
        np.testing.assert_array_equal(decoded[column].isna(), table[column].isna(), err_msg=column)
    # categories, booleans and integers come back exactly; floats to within the mode's precision
    for column in ["group", "label", "member", "age", "children", "joined"]:
        pd.testing.assert_series_equal(decoded[column], table[column], check_names=False)
    np.testing.assert_allclose(decoded["score"].dropna(), table["score"].dropna(), rtol=1e-4)


def test_state_is_json_and_rebuilds_the_same_transformer():
    import json

    table = mixed_table(200)
    transformer = DataTransformer().fit(table, seed=0)
    state = json.loads(json.dumps(transformer.state_dict()))
    rebuilt = DataTransformer.from_state_dict(state)
    encoded = transformer.transform(table, seed=1)
    pd.testing.assert_frame_equal(rebuilt.inverse_transform(encoded), transformer.inverse_transform(encoded))


def test_decoded_numbers_stay_inside_the_real_range():
    table = mixed_table(200)
    transformer = DataTransformer().fit(table)
    noise = np.random.default_rng(0).normal(0, 3, (500, transformer.output_dim)).astype(np.float32)
    decoded = transformer.inverse_transform(noise)
    assert decoded["age"].between(table["age"].min(), table["age"].max()).all()
    assert set(decoded["group"].dropna()) <= {"a", "b", "c"}


def test_unseen_category_is_refused_by_name():
    table = mixed_table(100)
    transformer = DataTransformer().fit(table)
    other = table.copy()
    other.loc[0, "label"] = "maybe"
    with pytest.raises(GeneratorInputError, match=r"column 'label' has values the model never saw: \['maybe'\]"):
        transformer.transform(other)


def test_all_missing_column_is_refused():
    table = pd.DataFrame({"a": [1, 2, 3], "b": [None, None, None]})
    with pytest.raises(GeneratorInputError, match="column 'b' is entirely missing"):
        DataTransformer().fit(table)


def _spiky_table(n: int = 4000) -> pd.DataFrame:
    """Adult-like columns: a gain that is 0 for 90% of rows, weekly hours with a spike at 40, a smooth age, a float."""
    rng = np.random.default_rng(0)
    gain = np.where(rng.random(n) < 0.9, 0, rng.lognormal(8, 1, n).round()).astype(np.int64)
    hours = np.where(rng.random(n) < 0.45, 40, rng.integers(1, 99, n)).astype(np.int64)
    return pd.DataFrame({
        "gain": gain,
        "hours": hours,
        "age": rng.integers(17, 90, n),
        "score": rng.normal(0, 1, n),
        "spend": pd.array(np.where(rng.random(n) < 0.2, None, np.where(rng.random(n) < 0.5, 0.0, rng.gamma(2, 50, n))),
                          dtype="Float64"),
    })


def test_point_masses_are_found_where_a_value_towers_over_its_neighbours_only():
    table = _spiky_table()
    transformer = DataTransformer().fit(table, seed=0)
    masses = {c.name: c.state["point_masses"] for c in transformer.columns_}
    assert masses["gain"] == [0.0] and masses["hours"] == [40.0] and masses["spend"] == [0.0]
    assert masses["age"] == [] and masses["score"] == []  # a smooth integer column and a continuous one have none
    by_name = {c.name: c for c in transformer.columns_}
    assert by_name["gain"].spans[1][0] == len(by_name["gain"].state["means"]) + 1  # one slot after the modes


def test_point_masses_round_trip_exactly_and_decode_to_their_value():
    table = _spiky_table()
    transformer = DataTransformer().fit(table, seed=0)
    encoded = transformer.transform(table, seed=0)
    decoded = transformer.inverse_transform(encoded)
    for column in ["gain", "hours", "age"]:
        pd.testing.assert_series_equal(decoded[column], table[column], check_names=False)
    pd.testing.assert_series_equal(decoded["spend"].isna(), table["spend"].isna(), check_names=False)
    assert ((decoded["spend"] == 0) == (table["spend"] == 0)).all()
    # any generator output that picks the point-mass slot decodes to exactly 0, whatever its alpha says
    offset = 0
    for col in transformer.columns_:
        if col.name == "gain":
            break
        offset += sum(w for w, _ in col.spans)
    k = len(col.state["means"])  # the gain column's Gaussian modes; its point mass is slot k
    noise = np.random.default_rng(1).normal(0, 1, (200, transformer.output_dim)).astype(np.float32)
    noise[:, offset + 1 : offset + 2 + k] = -10.0
    noise[:, offset + 1 + k] = 10.0  # the point-mass slot wins every row
    assert (transformer.inverse_transform(noise)["gain"] == 0).all()


def test_point_masses_never_store_a_value_few_rows_share():
    table = _spiky_table(3000)
    table.loc[:8, "gain"] = 123_456  # 9 rows share it, under POINT_MASS_MIN_ROWS
    transformer = DataTransformer().fit(table, seed=0)
    assert 123456.0 not in next(c for c in transformer.columns_ if c.name == "gain").state["point_masses"]


def test_a_state_saved_before_point_masses_still_decodes():
    table = mixed_table(200)
    transformer = DataTransformer().fit(table, seed=0)
    state = transformer.state_dict()
    for column in state["columns"]:
        if column["kind"] == "numeric":
            assert column["state"].pop("point_masses") == []  # mixed_table has no point masses
    encoded = transformer.transform(table, seed=0)
    pd.testing.assert_frame_equal(DataTransformer.from_state_dict(state).inverse_transform(encoded),
                                  transformer.inverse_transform(encoded))
