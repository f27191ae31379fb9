"""synth.columns: one way to read a column as numbers and back, shared by every tabular generator."""

import numpy as np
import pandas as pd
import pytest

from synth.columns import (
    categorical_dtype,
    column_kind,
    datetime_resolution,
    numeric_values,
    restore_categories,
    restore_numeric,
    timestamp_seconds,
    to_python,
)
from synth.models import build_generator
from tests.unit.test_column_types import typed_table


def test_column_kind_reads_the_dtype_only():
    assert column_kind(pd.Series([1, 2])) == column_kind(pd.Series([1.5, None])) == "numeric"
    assert column_kind(pd.Series(pd.to_datetime(["2024-01-01"]).tz_localize("Asia/Tokyo"))) == "numeric"
    assert (column_kind(pd.Series([True, False]))
            == column_kind(pd.Series([True, None], dtype="boolean"))
            == "categorical")
    assert column_kind(pd.Series(["1", "2"])) == column_kind(pd.Series(["a"], dtype="category")) == "categorical"


def test_zone_aware_datetimes_are_measured_in_utc_like_naive_ones():
    naive = pd.Series(pd.to_datetime(["2024-03-01 12:00:00", None, "1969-12-31 23:59:59.000001"], format="ISO8601"))
    zoned = naive.dt.tz_localize("UTC").dt.tz_convert("America/New_York")
    expected = [1709294400.0, np.nan, -0.999999]
    np.testing.assert_allclose(numeric_values(naive), expected)
    np.testing.assert_allclose(numeric_values(zoned), expected)  # the same instants, whatever the zone shown
    np.testing.assert_allclose(numeric_values(pd.Series([1, None, 3], dtype="Int64")), [1.0, np.nan, 3.0])


@pytest.mark.parametrize("dtype", ["datetime64[ns]", "datetime64[us]", "datetime64[s]",
                                   "datetime64[ns, Europe/Amsterdam]", "datetime64[us, UTC]"])
def test_datetimes_round_trip_with_their_unit_and_zone(dtype):
    # around both daylight-saving changes of 2021 in Amsterdam, with a missing value
    utc = pd.Series(pd.to_datetime(["2021-03-28 00:30:00", "2021-03-28 03:15:00", None, "2021-10-31 00:30:07"]))
    zone = dtype[len("datetime64[ns, "):-1] if "," in dtype else None
    column = (utc.dt.tz_localize("UTC").dt.tz_convert(zone) if zone else utc).astype(dtype)
    seconds = numeric_values(column)
    back = restore_numeric(seconds, str(column.dtype), integer=False,
                           resolution=datetime_resolution(seconds[~np.isnan(seconds)]), missing=np.isnan(seconds))
    pd.testing.assert_series_equal(back, column.reset_index(drop=True), check_names=False)


def test_restore_numeric_rounds_to_what_the_column_holds():
    assert restore_numeric(np.array([1.4, 2.6]), "int32", integer=True).tolist() == [1, 3]
    back = restore_numeric(np.array([1.4, 2.6]), "Int64", integer=True, missing=np.array([False, True]))
    assert back.dtype == "Int64" and back.isna().tolist() == [False, True] and back[0] == 1
    days = restore_numeric(np.array([86400 * 3 + 5000.0]), "datetime64[ns]", integer=False, resolution=86400.0)
    assert days[0] == pd.Timestamp("1970-01-04")  # whole days stay whole days
    assert datetime_resolution(np.array([0.0, 86400.0])) == 86400.0
    assert datetime_resolution(np.array([0.0, 1.0])) == 1.0
    assert datetime_resolution(np.array([0.5])) == 1e-6


def test_a_declared_date_without_zone_is_read_in_the_columns_zone():
    assert timestamp_seconds("1970-01-02") == 86400.0
    assert timestamp_seconds("1970-01-02", "datetime64[ns]") == 86400.0
    assert timestamp_seconds("1970-01-02", "datetime64[ns, Etc/GMT-1]") == 86400.0 - 3600  # midnight at UTC+1
    # an explicit zone wins
    assert timestamp_seconds("1970-01-02T00:00:00+00:00", "datetime64[ns, Etc/GMT-1]") == 86400.0


def test_categorical_dtypes_come_back_as_themselves():
    values = pd.Series([True, None, False], dtype=object)
    for column in [pd.Series([True, None], dtype="boolean"), pd.Series(["x", None], dtype="string")]:
        assert categorical_dtype(column) == str(column.dtype)
        assert restore_categories(values if column.dtype == "boolean" else pd.Series(["x", None, "y"], dtype=object),
                                  categorical_dtype(column)).dtype == column.dtype
    assert categorical_dtype(pd.Series([True, False])) == "bool"
    assert restore_categories(pd.Series([True, False], dtype=object), "bool").dtype == bool
    assert restore_categories(values, "bool").dtype == "boolean"  # a missing value cannot be a numpy bool
    assert categorical_dtype(pd.Series(["a"], dtype="category")) == "category"
    assert list(restore_categories(pd.Series(["a"], dtype=object), "category", ["a", "b"]).cat.categories) == ["a", "b"]
    assert categorical_dtype(pd.Series([1, "a"], dtype=object)) == "object"


def test_to_python_gives_json_scalars():
    values = (np.int64(3), np.float32(0.5), np.nan, None, pd.NA, "a")
    assert [to_python(v) for v in values] == [3, 0.5, None, None, None, "a"]
    assert type(to_python(np.int64(3))) is int


@pytest.mark.parametrize("kind", ["dp_ctgan", "dp_tvae"])
def test_private_generators_take_every_column_type_the_others_take(kind):
    """DP-CTGAN/DP-TVAE once raised a raw TypeError on a zone-aware datetime column that CTGAN/TVAE accept."""
    table = typed_table()
    hyper = {"epochs": 1, "batch_size": 50, "epsilon": 5.0}
    model = build_generator(kind, hyper, device="cpu", seed=0, verbose=False).fit(table)
    rows = model.sample(200, seed=0)
    for column in table.columns:
        assert rows[column].dtype == table[column].dtype, column
    zoned = rows["when_zoned"]
    assert str(zoned.dt.tz) == "Europe/Amsterdam"
    assert (zoned.dropna().dt.microsecond == 0).all()  # private datetimes are whole seconds
    # private bounds are power-of-two buckets of seconds (2004-2038 here), trimmed to where the noisy counts stand out
    assert zoned.dropna().between(pd.Timestamp("2019-01-01", tz="UTC"), pd.Timestamp("2023-01-01", tz="UTC")).all()


def test_declared_datetime_bounds_are_read_in_the_columns_zone():
    table = typed_table()[["when_zoned", "small_int"]]
    privacy = {"epsilon": 5.0, "bounds": {"when_zoned": ["2021-03-01", "2021-05-15"]}}
    model = build_generator("dp_ctgan", {"epochs": 1, "batch_size": 50, **privacy}, device="cpu", seed=0, verbose=False)
    rows = model.fit(table).sample(300, seed=0)
    zoned = rows["when_zoned"].dropna()
    assert str(rows["when_zoned"].dtype) == "datetime64[ns, Europe/Amsterdam]"
    assert zoned.min() >= pd.Timestamp("2021-03-01", tz="Europe/Amsterdam")  # midnight in Amsterdam, not in UTC
    assert zoned.max() <= pd.Timestamp("2021-05-15", tz="Europe/Amsterdam")
