"""pandas' other column types come back as themselves: sized ints, nullable booleans and strings, datetime units
and zones."""

import numpy as np
import pandas as pd
import pytest

from synth.models import GENERATORS, build_generator
from synth.transformer import DataTransformer
from tests.conftest import TINY_ONE_EPOCH


def typed_table(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    flags = np.where(rng.random(n) < 0.1, None, rng.random(n) < 0.5)
    return pd.DataFrame({
        "small_int": rng.integers(0, 100, n).astype("int32"),
        "byte": rng.integers(0, 200, n).astype("uint8"),
        "nullable_int": pd.array(np.where(rng.random(n) < 0.1, None, rng.integers(0, 9, n)), dtype="Int32"),
        "single": rng.normal(size=n).astype("float32"),
        "flag": pd.array(flags, dtype="boolean"),
        "text": pd.array(np.where(rng.random(n) < 0.1, None, rng.choice(["x", "y", "z"], n)), dtype="string"),
        "when_us": pd.Series(pd.Timestamp("2021-03-01")
                             + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s")).astype("datetime64[us]"),
        "when_zoned": pd.Series(pd.Timestamp("2021-03-01", tz="Europe/Amsterdam")
                                + pd.to_timedelta(rng.integers(0, 10**5, n), unit="min")),
    })


def test_transformer_round_trip_keeps_every_dtype_and_value():
    table = typed_table()
    transformer = DataTransformer().fit(table, seed=0)
    decoded = transformer.inverse_transform(transformer.transform(table, seed=0))
    for column in table.columns:
        assert decoded[column].dtype == table[column].dtype, column
    for column in ["small_int", "byte", "nullable_int", "flag", "text", "when_us", "when_zoned"]:
        pd.testing.assert_series_equal(decoded[column], table[column], check_names=False)


@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_generators_sample_the_same_dtypes(kind):
    table = typed_table()
    model = build_generator(kind, TINY_ONE_EPOCH[kind], device="cpu", seed=0, verbose=False)
    rows = model.fit(table).sample(200, seed=0)
    for column in table.columns:
        assert rows[column].dtype == table[column].dtype, column
    # a generated block without a single missing flag is still the nullable dtype
    assert rows["flag"].dtype == "boolean" and rows["when_zoned"].dt.tz is not None
