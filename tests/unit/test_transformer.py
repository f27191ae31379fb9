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
