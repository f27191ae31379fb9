"""How a table column is read as numbers, and turned back: the rules every tabular generator shares.

CTGAN and TVAE (`synth.transformer`), their private variants
(`synth.privacy.transformer`), the Gaussian copula and the spec's check of
`conditions` must agree on what a column is and how its values are measured,
or a column one generator accepts fails in another (a time-zone-aware
datetime once did, in DP-CTGAN only). These rules live here, once:

- **kind**: booleans are categorical; numbers and datetimes are numeric;
  everything else (text, categories, objects) is categorical.
- **numeric view**: float64 with NaN for missing; a datetime is seconds since
  the Unix epoch, a zone-aware one measured in UTC (seconds in float64 keep
  microseconds exact; nanoseconds since the epoch, ~1e18, would not be).
- **back-conversion**: numbers rounded to what the column holds (integers to
  whole numbers, datetimes to their resolution), missing values put back,
  and the original dtype restored: sized and nullable integers, datetime
  unit and time zone, numpy and nullable booleans, strings, categories.

Only numpy and pandas: no torch, so the spec, validation and notebooks can
use it without loading a model.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd

Kind = Literal["numeric", "categorical"]


def column_kind(series: pd.Series) -> Kind:
    """"numeric" (numbers, datetimes) or "categorical" (booleans and everything else), from the dtype alone."""
    if pd.api.types.is_bool_dtype(series):
        return "categorical"
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series):
        return "numeric"
    return "categorical"


def numeric_values(series: pd.Series) -> np.ndarray:
    """Float64 values with NaN for missing; datetimes as seconds since the epoch (UTC for zone-aware ones)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        if getattr(series.dtype, "tz", None) is not None:
            series = series.dt.tz_convert("UTC").dt.tz_localize(None)
        as_int = series.astype("datetime64[ns]").astype("int64").to_numpy()
        return np.where(series.isna(), np.nan, as_int / 1e9)
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()


def timestamp_seconds(value: Any, dtype: Any = None) -> float:
    """One date or time (a spec's declared bound, say) as `numeric_values` measures a column of `dtype`.

    A value without a time zone is read in the column's zone, so "2024-01-01"
    means midnight where the column's times are, as a reader of the spec
    would expect; a value with a zone is the instant it names.
    """
    stamp = pd.Timestamp(value)
    zone = getattr(pd.api.types.pandas_dtype(dtype), "tz", None) if dtype is not None else None
    if stamp.tzinfo is None and zone is not None:
        stamp = stamp.tz_localize(zone)
    return stamp.value / 1e9  # .value: nanoseconds since the epoch, in UTC for a zone-aware stamp


def datetime_resolution(seconds: np.ndarray) -> float:
    """The coarsest unit every value is a whole multiple of: whole days (86400), seconds (1) or microseconds."""
    for unit in (86400.0, 1.0):
        if np.all(np.mod(seconds, unit) == 0):
            return unit
    return 1e-6


def restore_datetimes(microseconds: pd.Series, dtype: str) -> pd.Series:
    """Microseconds since the epoch (float, NaN = missing) → datetimes of `dtype`, unit and time zone included."""
    values = pd.to_datetime(microseconds.astype("Int64"), unit="us")
    zone = getattr(pd.api.types.pandas_dtype(dtype), "tz", None)
    if zone is not None:
        values = values.dt.tz_localize("UTC").dt.tz_convert(zone)
    return values.astype(dtype)


def restore_numeric(values: np.ndarray, dtype: str, *, integer: bool, resolution: float | None = None,
                    missing: np.ndarray | None = None) -> pd.Series:
    """Decoded numbers (seconds for datetimes) → a column of `dtype`, the inverse of `numeric_values`.

    Datetimes are rounded to `resolution` seconds (default: microseconds, the
    finest a float keeps), other values to whole numbers when `integer`;
    rows where `missing` is true become NaN, NaT or <NA> as `dtype` has it.
    """
    values = np.asarray(values, dtype=np.float64)
    is_datetime = dtype.startswith("datetime64")
    if is_datetime:
        step = resolution or 1e-6
        values = np.round(np.round(values / step) * step * 1e6)  # seconds -> whole microseconds
    elif integer:
        values = np.round(values)
    series = pd.Series(values)
    if missing is not None:
        series[np.asarray(missing, dtype=bool)] = np.nan
    if is_datetime:
        return restore_datetimes(series, dtype)
    return series.astype(dtype)


def categorical_dtype(series: pd.Series) -> str:
    """The dtype a categorical column is restored to: bool, boolean, string, category or object."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        return "category"
    if isinstance(series.dtype, (pd.BooleanDtype, pd.StringDtype)) or series.dtype == bool:
        return str(series.dtype)
    return "object"


def restore_categories(values: pd.Series, dtype: str, declared: list | None = None) -> pd.Series:
    """Decoded category values (object, None = missing) → a column of `dtype`; `declared`: a category dtype's
    categories."""
    if dtype == "bool":  # a numpy bool column had no missing values; a generated one can have them only by a bug
        return values.astype("boolean") if values.isna().any() else values.astype(bool)
    if dtype == "category":
        return values.astype(pd.CategoricalDtype(declared))
    if dtype == "object":
        return values
    return values.astype(dtype)  # boolean, string: pandas' nullable dtypes keep None as <NA>


def to_python(value: Any) -> Any:
    """A JSON-friendly scalar for a saved model's config: numpy → Python, NaN / None / <NA> → None."""
    if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value
