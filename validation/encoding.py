"""One numeric encoding of mixed-type rows, learned from the real table.

Used wherever the gate needs vectors: nearest-neighbour distances, the
real-vs-synthetic detector and the utility models. Numeric columns are scaled
to [0, 1] by the real min/max (missing → 0 plus a 0/1 missing flag);
categorical columns are one-hot over the real categories (missing is its own
category, unseen values all-zero), scaled by 1/√2 so that two rows differing
in one category are at distance 1, like two numbers at opposite ends of
their range.

Memory is bounded whatever the cardinality: a column with more than
`max_categories` distinct real values keeps one slot for each of its most
frequent values and one shared slot for all the others (and for values the
real rows never had), so an encoded row is at most about
`max_categories + 2` wide per column. An ID-like column (every value
distinct) then says little about a row, which is what it should say to a
detector or a distance; whole copied rows are still caught exactly by the
gate's row-hash copy check. `blocks` encodes a long table a slice at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

#: Most frequent values of a categorical column that get a slot of their own (the generators' default too).
MAX_CATEGORIES = 100
#: Rows encoded at a time by `RowEncoder.blocks`.
BLOCK_ROWS = 16_384


def is_categorical(series: pd.Series) -> bool:
    """Booleans, strings and other non-numeric, non-datetime columns."""
    return pd.api.types.is_bool_dtype(series) or not (
        pd.api.types.is_numeric_dtype(series) or pd.api.types.is_datetime64_any_dtype(series)
    )


def frequent_values(series: pd.Series, limit: int) -> tuple[list, int]:
    """The `limit` most frequent non-missing values (ties in order of first appearance) and how many distinct
    there are."""
    counts = series.dropna().astype("object").value_counts(sort=False)
    order = counts.sort_values(ascending=False, kind="stable")
    return order.index[:limit].tolist(), len(order)


@dataclass(frozen=True)
class _Categories:
    kept: list  # values with a slot of their own
    pooled: bool  # the real column had more values: one more slot for the rest
    has_missing: bool  # the real column had missing values: one more slot for them

    @property
    def width(self) -> int:
        return len(self.kept) + self.pooled + self.has_missing


class RowEncoder:
    def __init__(self, exclude: tuple[str, ...] = (), max_categories: int = MAX_CATEGORIES):
        self.exclude = exclude
        self.max_categories = max_categories

    def fit(self, real: pd.DataFrame) -> RowEncoder:
        self.numeric_: dict[str, tuple[float, float, bool]] = {}
        self.categories_: dict[str, _Categories] = {}
        for column in real.columns:
            if column in self.exclude:
                continue
            series = real[column]
            if is_categorical(series):
                kept, distinct = frequent_values(series, self.max_categories)
                self.categories_[column] = _Categories(kept, distinct > len(kept), bool(series.isna().any()))
            else:
                values = _as_float(series)
                low, high = np.nanmin(values), np.nanmax(values)
                self.numeric_[column] = (float(low), float(high - low) or 1.0, bool(np.isnan(values).any()))
        return self

    @property
    def width(self) -> int:
        """Columns of an encoded row."""
        numeric = sum(2 if has_nulls else 1 for _, _, has_nulls in self.numeric_.values())
        return numeric + sum(c.width for c in self.categories_.values())

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """Encode `table`: float32, shape (rows, `width`), written in place column by column."""
        out = np.zeros((len(table), self.width), dtype=np.float32)
        at = 0
        for column, (low, span, has_nulls) in self.numeric_.items():
            values = (_as_float(table[column]) - low) / span
            missing = np.isnan(values)
            out[:, at] = np.where(missing, 0.0, values)
            at += 1
            if has_nulls:
                out[:, at] = missing
                at += 1
        scale = np.float32(1 / np.sqrt(2))
        for column, spec in self.categories_.items():
            series = table[column]
            missing = series.isna().to_numpy()
            codes = (pd.Categorical(series.astype("object"), categories=spec.kept).codes.astype(np.int64)
                     if spec.kept else np.full(len(series), -1))
            rows = np.flatnonzero(codes >= 0)
            out[rows, at + codes[rows]] = scale
            if spec.pooled:  # values without a slot of their own (rarer, or never seen) share one
                out[(codes < 0) & ~missing, at + len(spec.kept)] = scale
            if spec.has_missing:
                out[missing, at + spec.width - 1] = scale
            at += spec.width
        return out

    def blocks(self, table: pd.DataFrame, rows: int = BLOCK_ROWS) -> Iterator[np.ndarray]:
        """`transform` a slice of `rows` rows at a time, so a long table is never encoded whole."""
        for start in range(0, len(table), rows):
            yield self.transform(table.iloc[start : start + rows])


def _as_float(series: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(series):
        as_int = series.astype("datetime64[ns]").astype("int64").to_numpy()
        return np.where(series.isna(), np.nan, as_int / 1e9)
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()
