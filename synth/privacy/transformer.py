"""A data transformer whose every statistic is public or differentially private.

The non-private `synth.transformer.DataTransformer` fits Gaussian mixtures,
min/max, category lists and category counts on the raw rows; its saved state
would leak them and none of it is covered by DP-SGD's ε. This one has the
same interface (the generators cannot tell them apart) and learns only:

- **public facts**: the schema (column names and types), bounds and category
  lists the spec declares (`privacy.bounds`, `privacy.categories`), the
  values of a boolean column;
- **Gaussian-noised counts**, each row adding 1 to at most one cell of each
  histogram (L2 sensitivity 1 per histogram, noise N(0, σ²) per cell):
  1. the number of rows;
  2. per numeric column without declared bounds, a histogram over fixed
     signed power-of-two buckets; the outermost buckets clearly above the
     noise become its bounds;
  3. per numeric column, a histogram over fixed cells between the bounds
     (one per integer for narrow integer columns, else equal-width cells plus
     a point cell at each bound, which catches clipped values and spikes
     such as Adult's zero capital gain) plus a missing cell;
  4. per categorical column, counts of the declared values plus a missing
     cell, or, without a declared list, Gaussian partition selection: noisy
     counts of the values present, keeping only those above a threshold set
     so that a value held by one row appears with probability
     `selection_delta` (that probability is added to δ).

Everything below is post-processing of those counts. A numeric value is
encoded through the noisy CDF F: u = F(x) (drawn uniformly across a point
cell's share), then split like CTGAN's mode-specific normalisation into a
one-hot of its quantile bin (`bins` equal-mass bins of F) and an `alpha` in
[-1, 1] for its position inside the bin. Every cell of the support keeps at
least σ of mass, so F is strictly increasing there and decoding x = F⁻¹(u)
gives back the values encoded, whatever the noise did to F: the noise
changes the representation the generator learns, not what it can learn.
The support is the declared range, or, for private bounds, the part of them
clearly holding data (see `_support`).

Values outside the bounds are clipped to them. A categorical value is
generated only if its noisy count stands clearly above the noise (so a
declared value that no row holds is almost never generated); any other
value (undeclared, not found, or too rare for the noise) is encoded as the
column's most frequent category and never appears in the output. Missing
values are a category of their own when their noisy count stands out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synth.columns import (
    categorical_dtype,
    column_kind,
    numeric_values,
    restore_categories,
    restore_numeric,
    timestamp_seconds,
    to_python,
)
from synth.errors import GeneratorInputError
from synth.transformer import ColumnInfo, EncodedLayout, Span

#: Narrow integer columns (at most this many values between the bounds) get one cell per value.
MAX_INTEGER_CELLS = 128
#: Equal-width cells between the bounds of any other numeric column.
INTERIOR_CELLS = 64
#: Noisy counts must exceed this many standard deviations of their noise to count as data (false alarm 3e-5 per test).
SUPPORT_Z = 4.0
#: Power-of-two buckets for private bounds: |x| in [2^k, 2^(k+1)) for k in this range; smaller |x| is the zero bucket.
BOUND_EXPONENTS = range(-16, 64)


def _bound_value(value: Any, dtype: Any) -> float:
    """A declared bound in the units of the column's `numeric_values` (seconds since the epoch for datetimes)."""
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return timestamp_seconds(value, dtype)
    return float(value)


@dataclass
class Release:
    """One noisy histogram: what a ledger lists about it."""

    column: str
    statistic: str  # "rows" | "bounds" | "cdf" | "categories" | "category selection"
    cells: int
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "statistic": self.statistic, "cells": self.cells, "detail": self.detail}


@dataclass
class Plan:
    """What a private fit will release, known before any data is read (so the noise can be calibrated)."""

    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    learned_bounds: list[str] = field(default_factory=list)  # numeric columns without declared bounds
    discovered: list[str] = field(default_factory=list)  # categorical columns without a declared list (or bool)

    @property
    def queries(self) -> int:
        """Gaussian histograms released: the row count, one per column, one more per learned bound pair."""
        return 1 + len(self.numeric) + len(self.categorical) + len(self.learned_bounds)


class DPDataTransformer(EncodedLayout):
    """Same interface as `synth.transformer.DataTransformer`; fitted with `fit(table, sigma=..., ...)`."""

    def __init__(self, bins: int = 10, bounds: dict[str, Any] | None = None, categories: dict[str, list] | None = None):
        self.bins = bins
        self.bounds = dict(bounds or {})
        self.categories = dict(categories or {})

    # -- planning (no data values read) -----------------------------------------------
    def plan(self, table: pd.DataFrame) -> Plan:
        """Check the declared metadata against the table's schema and list what will be released."""
        problems = []
        for column in [*self.bounds, *self.categories]:
            if column not in table.columns:
                problems.append(f"privacy: column {column!r} is not in the table; columns: {list(table.columns)}")
        plan = Plan()
        for name in table.columns:
            series = table[name]
            if column_kind(series) == "numeric":
                plan.numeric.append(name)
                if name in self.categories:
                    problems.append(f"privacy.categories.{name}: {name!r} is numeric; "
                                    f"declare privacy.bounds.{name}: [low, high] instead")
                if name in self.bounds:
                    low, high = self.bounds[name]
                    try:
                        low, high = (_bound_value(v, series.dtype) for v in (low, high))
                    except (TypeError, ValueError):
                        problems.append(f"privacy.bounds.{name}: {self.bounds[name]!r} are not numbers "
                                        "(or dates for a date column)")
                        continue
                    if not low < high:
                        problems.append(f"privacy.bounds.{name}: low ({low:g}) must be below high ({high:g})")
                else:
                    plan.learned_bounds.append(name)
            else:
                plan.categorical.append(name)
                if name in self.bounds:
                    problems.append(f"privacy.bounds.{name}: {name!r} is categorical; "
                                    f"declare privacy.categories.{name}: [...] instead")
                if name not in self.categories and not pd.api.types.is_bool_dtype(series):
                    plan.discovered.append(name)
        if not table.shape[1]:
            problems.append("the table has no columns")
        if problems:
            raise GeneratorInputError("; ".join(problems))
        return plan

    # -- fitting ---------------------------------------------------------------
    def fit(self, table: pd.DataFrame, *, sigma: float, selection_threshold: float | None,
            seed: int = 0) -> DPDataTransformer:
        """Release the plan's noisy histograms (noise N(0, sigma²) per cell) and derive the encoding from them.

        `selection_threshold` is the noisy count a found category must exceed
        (see `synth.privacy.accounting.selection_threshold`); needed only when
        some categorical column has no declared list.
        """
        plan = self.plan(table)
        if plan.discovered and selection_threshold is None:
            raise ValueError("a selection_threshold is needed to find categories privately")
        rng = np.random.default_rng(np.random.SeedSequence([seed, 0x5EED]))
        self.sigma_ = float(sigma)
        self.releases_: list[Release] = []

        # 1. the number of rows: sets the sampling rate of DP-SGD, so the exact count is never used
        self.noisy_rows_ = float(len(table) + rng.normal(0, sigma))
        self.releases_.append(Release("*", "rows", 1, f"noisy row count {self.noisy_rows_:.0f}"))

        self.columns_: list[ColumnInfo] = []
        for name in table.columns:
            series = table[name]
            if name in plan.numeric:
                self.columns_.append(self._fit_numeric(name, series, rng))
            else:
                self.columns_.append(self._fit_categorical(name, series, rng, selection_threshold))
        return self

    def _noisy(self, counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return counts.astype(np.float64) + rng.normal(0.0, self.sigma_, size=counts.shape)

    def _private_bounds(self, name: str, present: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
        """Bounds from a noisy histogram over fixed signed power-of-two buckets (no data-dependent edges)."""
        exponents = np.arange(BOUND_EXPONENTS.start, BOUND_EXPONENTS.stop)
        k = len(exponents)
        # bucket order on the number line: negative (largest |x| first), zero, positive
        magnitude = np.abs(present)
        tiny = magnitude < 2.0 ** exponents[0]
        exponent = np.clip(np.floor(np.log2(np.where(tiny, 1.0, magnitude))),
                           exponents[0], exponents[-1]).astype(np.int64)
        position = exponent - exponents[0]
        bucket = np.where(tiny, k, np.where(present > 0, k + 1 + position, k - 1 - position))
        noisy = self._noisy(np.bincount(bucket, minlength=2 * k + 1), rng)
        above = np.flatnonzero(noisy > SUPPORT_Z * self.sigma_)
        self.releases_.append(Release(name, "bounds", 2 * k + 1, "signed power-of-two buckets"))
        if not len(above):
            raise GeneratorInputError(
                f"column {name!r}: too few values to learn its bounds privately at this budget; "
                f"declare them in the spec as privacy.bounds.{name}: [low, high]"
            )

        def edges(b: int) -> tuple[float, float]:
            if b == k:
                return 0.0, 0.0
            if b > k:
                e = exponents[b - k - 1]
                return 2.0**e, 2.0 ** (e + 1)
            e = exponents[k - 1 - b]
            return -(2.0 ** (e + 1)), -(2.0**e)

        return edges(int(above[0]))[0], edges(int(above[-1]))[1]

    def _fit_numeric(self, name: str, series: pd.Series, rng: np.random.Generator) -> ColumnInfo:
        is_datetime = pd.api.types.is_datetime64_any_dtype(series)
        integer = pd.api.types.is_integer_dtype(series) or is_datetime  # datetimes: whole seconds
        values = numeric_values(series)
        missing = np.isnan(values)
        present = values[~missing]
        if name in self.bounds:
            low, high = (_bound_value(v, series.dtype) for v in self.bounds[name])
            source = "declared"
        else:
            low, high = self._private_bounds(name, present, rng)
            source = "private"
        if integer:
            low, high = float(np.floor(low)), float(np.ceil(high))
        # 3. the cells between the bounds, then one noisy histogram over them and the missing cell
        if integer and high - low + 1 <= MAX_INTEGER_CELLS:
            cell_low = np.arange(low, high + 1)
            cell_high = cell_low.copy()
        else:
            edges = np.linspace(low, high, INTERIOR_CELLS + 1)
            cell_low = np.concatenate([[low], edges[:-1], [high]])
            cell_high = np.concatenate([[low], edges[1:], [high]])
        x = np.clip(present, low, high)
        cells = _cell_index(x, cell_low, cell_high)
        counts = np.bincount(cells, minlength=len(cell_low))
        noisy = self._noisy(np.append(counts, missing.sum()), rng)
        self.releases_.append(Release(name, "cdf", len(noisy),
                                      f"{len(cell_low)} cells in [{low:g}, {high:g}] ({source} bounds) + missing"))
        noisy_values, noisy_missing = noisy[:-1], noisy[-1]

        # post-processing: the support is the declared range, or for private bounds the part of it clearly holding
        # data (see _support); inside it every cell keeps at least σ of mass, so F is strictly increasing and
        # decoding inverts encoding
        support = (0, len(noisy_values) - 1) if source == "declared" else _support(noisy_values, self.sigma_)
        mass = np.zeros(len(cell_low))
        if support is not None:
            first, last = support
            mass[first : last + 1] = np.maximum(noisy_values[first : last + 1], self.sigma_)
        else:  # nothing stands out from the noise even summed over the whole range: spread evenly over the bounds
            mass[:] = 1.0
        mass /= mass.sum()
        has_nulls = bool(noisy_missing > SUPPORT_Z * self.sigma_)
        present_mass = max(float(np.maximum(noisy_values, 0.0).sum()), 1.0)
        missing_share = max(float(noisy_missing), 0.0) / (max(float(noisy_missing), 0.0) + present_mass)
        spans: list[Span] = [(1, "tanh"), (self.bins, "softmax")]
        if has_nulls:
            spans.append((2, "softmax"))  # [present, missing]
        # the column's own dtype (datetime unit and time zone included); integers that may now be missing: Int64
        dtype = "Int64" if integer and has_nulls and not is_datetime else str(series.dtype)
        state = {
            "low": low,
            "high": high,
            "bounds": source,
            "cell_low": cell_low.tolist(),
            "cell_high": cell_high.tolist(),
            "mass": mass.tolist(),
            "integer": bool(integer),
            "has_nulls": has_nulls,
            "missing_share": round(missing_share, 6),  # from the noisy counts (post-processing)
        }
        return ColumnInfo(name, "numeric", dtype, spans, state)

    def _fit_categorical(self, name: str, series: pd.Series, rng: np.random.Generator,
                         threshold: float | None) -> ColumnInfo:
        is_bool = pd.api.types.is_bool_dtype(series)
        missing = series.isna().to_numpy()
        present = series[~missing]
        if is_bool or name in self.categories:
            # 4a. a public domain: one cell per declared value (absent ones too) and one for missing; rows holding
            # any other value are counted nowhere (each row still adds 1 to at most one cell)
            domain = [False, True] if is_bool else list(self.categories[name])
            codes = _codes(present, domain)
            counts = np.bincount(codes[codes >= 0], minlength=len(domain))
            noisy = self._noisy(np.append(counts, int(missing.sum())), rng)
            # a declared value is kept only if clearly present: an absent one is kept with probability 3e-5
            kept = [i for i in range(len(domain)) if noisy[i] > SUPPORT_Z * self.sigma_]
            self.releases_.append(Release(name, "categories", len(domain) + 1,
                                          f"{len(domain)} {'boolean' if is_bool else 'declared'} values + missing; "
                                          f"{len(kept)} kept above {SUPPORT_Z:g}σ"))
        else:
            # 4b. partition selection: only values whose noisy count clears the threshold are released
            value_counts = present.value_counts(sort=False)
            domain = [to_python(v) for v in value_counts.index]
            noisy = self._noisy(np.append(value_counts.to_numpy(), int(missing.sum())), rng)
            kept = [i for i in range(len(domain)) if noisy[i] > threshold]
            self.releases_.append(Release(name, "category selection", len(kept) + 1,
                                          f"{len(kept)} values released above a noisy count of {threshold:.0f} "
                                          "+ missing"))
        categories = [domain[i] for i in kept]
        frequencies = [float(noisy[i]) for i in kept]
        noisy_missing = float(noisy[-1])
        # post-processing: missing values form their own category only when clearly more than noise
        if noisy_missing > SUPPORT_Z * self.sigma_ or not categories:
            categories.append(None)
            frequencies.append(float(max(noisy_missing, 1.0)))
        order = sorted(range(len(categories)), key=lambda i: (-frequencies[i], str(categories[i])))
        state = {
            "categories": [categories[i] for i in order],
            "frequencies": [round(frequencies[i], 1) for i in order],
            "source": "boolean" if is_bool else ("declared" if name in self.categories else "private selection"),
        }
        dtype = categorical_dtype(series)
        return ColumnInfo(name, "categorical", dtype, [(len(state["categories"]), "softmax")], state)

    def marginal_targets(self) -> list[np.ndarray | None]:
        """The released (noisy) distribution of every softmax span, in row order; None where none was released.

        Post-processing of the noisy counts: a numeric column's quantile bins
        are equal-mass bins of its noisy CDF (so uniform), its missing flag has
        the noisy missing share, a categorical column has its noisy frequencies.
        """
        targets: list[np.ndarray | None] = []
        for col in self.columns_:
            if col.kind == "numeric":
                targets.append(np.full(self.bins, 1.0 / self.bins))
                if col.state["has_nulls"]:
                    share = col.state.get("missing_share")
                    targets.append(None if share is None else np.array([1.0 - share, share]))
            else:
                counts = np.maximum(np.asarray(col.state["frequencies"], dtype=np.float64), 0.0)
                targets.append(counts / counts.sum() if counts.sum() > 0 else None)
        return targets

    # -- encoding --------------------------------------------------------------
    def transform(self, table: pd.DataFrame, seed: int = 0) -> np.ndarray:
        """Encode rows with the released statistics only (each row's own randomness for point cells)."""
        missing = [c.name for c in self.columns_ if c.name not in table.columns]
        if missing:
            raise GeneratorInputError(f"the table lacks columns {missing} that the model was fitted on")
        rng = np.random.default_rng(seed)
        parts = []
        for col in self.columns_:
            series = table[col.name]
            parts.append(self._encode_numeric(col, series, rng) if col.kind == "numeric"
                         else self._encode_categorical(col, series))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _encode_numeric(self, col: ColumnInfo, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        state = col.state
        cell_low, cell_high = np.asarray(state["cell_low"]), np.asarray(state["cell_high"])
        mass = np.asarray(state["mass"])
        values = numeric_values(series)
        isnull = np.isnan(values)
        x = np.clip(np.where(isnull, state["low"], values), state["low"], state["high"])
        cell = _cell_index(x, cell_low, cell_high)
        width = cell_high - cell_low
        within = np.where(width[cell] > 0, (x - cell_low[cell]) / np.where(width[cell] > 0, width[cell], 1.0),
                          rng.random(len(x)))
        # values in cells outside the private support move to its nearest edge
        support = np.flatnonzero(mass > 0)
        below, beyond = cell < support[0], cell > support[-1]
        cell = np.clip(cell, support[0], support[-1])
        within = np.where(below, 0.0, np.where(beyond, 1.0, within))
        cumulative = np.concatenate([[0.0], np.cumsum(mass)])
        u = cumulative[cell] + mass[cell] * within
        u = np.where(isnull, rng.random(len(x)), u)  # a missing value's number is never read back
        scaled = np.clip(u, 0.0, 1.0) * self.bins
        mode = np.minimum(scaled.astype(np.int64), self.bins - 1)
        alpha = np.clip(2.0 * (scaled - mode) - 1.0, -0.99, 0.99)
        out = [alpha[:, None], np.eye(self.bins, dtype=np.float32)[mode]]
        if state["has_nulls"]:
            out.append(np.stack([~isnull, isnull], axis=1).astype(np.float32))
        return np.concatenate(out, axis=1)

    @staticmethod
    def _encode_categorical(col: ColumnInfo, series: pd.Series) -> np.ndarray:
        categories = col.state["categories"]
        known = [c for c in categories if c is not None]
        codes = _codes(series, known)  # -1: missing or not a released value
        most_frequent = next(i for i, c in enumerate(categories) if c is not None) if known else 0
        missing_slot = categories.index(None) if None in categories else most_frequent
        position = np.array([categories.index(c) for c in known] or [0], dtype=np.int64)
        # a value that was not released (undeclared, unfound, or too rare for the noise) becomes the most frequent
        # category
        index = np.where(codes >= 0, position[np.clip(codes, 0, None)],
                         np.where(series.isna().to_numpy(), missing_slot, most_frequent))
        return np.eye(len(categories), dtype=np.float32)[index]

    # -- decoding --------------------------------------------------------------
    def inverse_transform(self, matrix: np.ndarray, rng: np.random.Generator | None = None) -> pd.DataFrame:
        """Decode generator output (alpha in [-1, 1], one-hot or logits blocks) to a table.

        Decoding is deterministic; `rng` is accepted for the interface the generators share.
        """
        columns, offset = {}, 0
        for col in self.columns_:
            width = sum(w for w, _ in col.spans)
            block = matrix[:, offset : offset + width]
            offset += width
            columns[col.name] = (self._decode_numeric(col, block) if col.kind == "numeric"
                                 else self._decode_categorical(col, block))
        return pd.DataFrame(columns)

    def _decode_numeric(self, col: ColumnInfo, block: np.ndarray) -> pd.Series:
        state = col.state
        cell_low, cell_high = np.asarray(state["cell_low"]), np.asarray(state["cell_high"])
        mass = np.asarray(state["mass"])
        alpha = np.clip(block[:, 0], -1.0, 1.0)
        mode = block[:, 1 : 1 + self.bins].argmax(axis=1)
        u = np.clip((mode + (alpha + 1.0) / 2.0) / self.bins, 0.0, 1.0)
        # x = F⁻¹(u): the cell whose share of F holds u, then the position inside it
        cumulative = np.cumsum(mass)
        cell = np.minimum(np.searchsorted(cumulative, u, side="right"), len(mass) - 1)
        while np.any(mass[cell] == 0):  # u == 1 or float ties can land past the support: step back into it
            cell = np.where(mass[cell] == 0, cell - 1, cell)
        before = cumulative[cell] - mass[cell]
        within = np.clip((u - before) / mass[cell], 0.0, 1.0)
        values = np.clip(cell_low[cell] + within * (cell_high[cell] - cell_low[cell]), state["low"], state["high"])
        isnull = block[:, 1 + self.bins : 3 + self.bins].argmax(axis=1) == 1 if state["has_nulls"] else None
        # datetimes were encoded in whole seconds (`integer`): their resolution is a second
        return restore_numeric(values, col.dtype, integer=state["integer"], resolution=1.0, missing=isnull)

    @staticmethod
    def _decode_categorical(col: ColumnInfo, block: np.ndarray) -> pd.Series:
        categories = np.asarray(col.state["categories"], dtype=object)
        values = pd.Series(categories[block.argmax(axis=1)], dtype=object)
        # a category dtype gets only the released values as its categories: the column's own list may hold rare ones
        return restore_categories(values, col.dtype, [c for c in col.state["categories"] if c is not None])

    # -- persistence -----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "private": True,
            "bins": self.bins,
            "bounds": {k: list(v) for k, v in self.bounds.items()},
            "categories": self.categories,
            "sigma": self.sigma_,
            "noisy_rows": self.noisy_rows_,
            "columns": [
                {"name": c.name, "kind": c.kind, "dtype": c.dtype, "spans": [list(s) for s in c.spans],
                 "state": c.state}
                for c in self.columns_
            ],
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DPDataTransformer:
        transformer = cls(state["bins"], state.get("bounds"), state.get("categories"))
        transformer.sigma_ = state["sigma"]
        transformer.noisy_rows_ = state["noisy_rows"]
        transformer.releases_ = []
        transformer.columns_ = [
            ColumnInfo(c["name"], c["kind"], c["dtype"], [(int(w), str(a)) for w, a in c["spans"]], c["state"])
            for c in state["columns"]
        ]
        return transformer


def _support(noisy: np.ndarray, sigma: float) -> tuple[int, int] | None:
    """First and last cell of a column with private bounds, trimmed inwards so it does not reach past the data.

    Private bounds are edges of power-of-two buckets, up to twice as wide as
    the data, so the cells next to them are often empty.

    The lower edge is the first cell where the noisy count of all cells up to
    it is clearly above its noise (SUPPORT_Z standard deviations, σ·√cells);
    the upper edge the same from the right. A low tail that the noise hides
    is clipped onto the edge rather than spread over empty cells, so
    generated values stay inside the real range (the gate's range check).
    """
    cells = np.arange(1, len(noisy) + 1)
    from_left = np.flatnonzero(np.cumsum(noisy) > SUPPORT_Z * sigma * np.sqrt(cells))
    from_right = np.flatnonzero(np.cumsum(noisy[::-1]) > SUPPORT_Z * sigma * np.sqrt(cells))
    if not len(from_left) or not len(from_right):
        return None
    first, last = int(from_left[0]), len(noisy) - 1 - int(from_right[0])
    return (first, last) if first <= last else (last, first)


def _cell_index(x: np.ndarray, cell_low: np.ndarray, cell_high: np.ndarray) -> np.ndarray:
    """Index of the cell holding each (clipped) value: point cells match exactly, interval cells are [low, high)."""
    points = cell_low == cell_high
    if points.all():  # one cell per integer
        return np.clip(np.round(x - cell_low[0]).astype(np.int64), 0, len(cell_low) - 1)
    low, high = cell_low[0], cell_high[-1]
    interior = len(cell_low) - 2
    width = (high - low) / interior
    index = 1 + np.clip(((x - low) / width).astype(np.int64), 0, interior - 1)
    return np.where(x <= low, 0, np.where(x >= high, len(cell_low) - 1, index))


def _codes(series: pd.Series, domain: list) -> np.ndarray:
    """Position of each value in `domain` (-1 if absent); a YAML string '1' also matches the integer 1."""
    lookup = {}
    for i, value in enumerate(domain):
        lookup.setdefault(value, i)
        lookup.setdefault(str(value), i)
    values = series.to_numpy(dtype=object)
    return np.fromiter(
        (lookup.get(v, lookup.get(str(v), -1))
         if v is not None and v is not pd.NA and not (isinstance(v, float) and np.isnan(v)) else -1
         for v in values),
        dtype=np.int64,
        count=len(values),
    )
