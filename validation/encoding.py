"""One numeric encoding of mixed-type rows, learned from the real table.

Used wherever the gate needs vectors: nearest-neighbour distances, the
real-vs-synthetic detector and the utility models. Numeric columns are scaled
to [0, 1] by the real min/max (missing → 0 plus a 0/1 missing flag);
categorical columns are one-hot over the real categories (missing is its own
category, unseen values all-zero), scaled by 1/√2 so that two rows differing
in one category are at distance 1, like two numbers at opposite ends of
their range.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


class RowEncoder:
    def __init__(self, exclude: tuple[str, ...] = ()):
        self.exclude = exclude

    def fit(self, real: pd.DataFrame) -> "RowEncoder":
        self.numeric_: dict[str, tuple[float, float, bool]] = {}
        self.categories_: dict[str, list] = {}
        for column in real.columns:
            if column in self.exclude:
                continue
            series = real[column]
            if pd.api.types.is_bool_dtype(series) or not (
                pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
            ):
                self.categories_[column] = list(series.astype("object").where(series.notna(), None).unique())
            else:
                values = _as_float(series)
                low, high = np.nanmin(values), np.nanmax(values)
                self.numeric_[column] = (float(low), float(high - low) or 1.0, bool(np.isnan(values).any()))
        return self

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        parts = []
        for column, (low, span, has_nulls) in self.numeric_.items():
            values = (_as_float(table[column]) - low) / span
            missing = np.isnan(values)
            parts.append(np.where(missing, 0.0, values)[:, None])
            if has_nulls:
                parts.append(missing[:, None].astype(float))
        for column, categories in self.categories_.items():
            series = table[column].astype("object")
            values = series.where(series.notna(), None)
            onehot = np.zeros((len(table), len(categories)))
            for i, category in enumerate(categories):
                onehot[:, i] = (values.isna() if category is None else values == category).to_numpy()
            parts.append(onehot / np.sqrt(2))
        return np.concatenate(parts, axis=1).astype(np.float32)


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        as_int = series.astype("datetime64[ns]").astype("int64").to_numpy()
        return np.where(series.isna(), np.nan, as_int / 1e9)
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
