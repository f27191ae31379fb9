"""Encode a mixed-type table as a float matrix for a neural generator, and back.

Numeric columns use CTGAN's mode-specific normalisation (Xu et al. 2019): a
variational Gaussian mixture finds the column's modes, and each value becomes
a scalar `alpha` (its position inside one mode, in [-1, 1]) plus a one-hot of
that mode. The mixture is fitted on a bounded random subsample (default 5k
rows) instead of the full column: that is where ctgan's transformer spends
seconds per column, and the modes of a 1-D distribution are already pinned
down by that many points (Adult's six numeric columns: 1.3 s at 5k rows,
11 s at 20k). Categorical, boolean and missing values become one-hot blocks;
datetimes are numeric, in seconds since the epoch (how a column is read
and restored is shared by every tabular generator: `synth.columns`).

Point masses: a numeric value held by many rows and far more than by its
neighbours (Adult's capital-gain of 0 for 92% of rows, hours-per-week of
exactly 40 for 47%) is not a Gaussian mode. Left to the mixture, it comes
back smeared (0 as 0, 3, 17, ...; 40 as 38 to 42), and a real-vs-synthetic
detector needs only that column to tell the rows apart: on Adult, TVAE's
capital-gain alone gave a detection AUC of 0.89. Such values get one slot
each at the end of the column's mode block (alpha 0) and decode to
exactly that value; the mixture is fitted on the other values. A value is
a point mass when at least `POINT_MASS_SHARE` (1%) of the column's rows
and at least `POINT_MASS_MIN_ROWS` rows hold it, and at least
`POINT_MASS_RATIO` (5) times as many as hold either adjacent distinct
value (so a smooth integer column such as age has none); at most
`max_modes` per column. These values are stored in the model, like
category names: values many rows share, never one row's.

A categorical column with more than `max_categories` distinct values (an
identifier, a free-text field, a postcode) would make a one-hot block, a
conditional vector and a first network layer that grow with every new
value. Such a column keeps its `max_categories` most frequent values
(missing counts as one) and pools all others into one extra "rare" slot,
with a `HighCardinalityWarning` naming the column; a generated rare slot
decodes to one of the pooled values drawn by its training frequency, so
every output value is one the column really had. The pooled values and
their counts are stored in the model's config (values of that column, no
rows); drop identifier columns rather than synthesise them.

Everything the transformer learns is plain numbers and category lists, kept
in a JSON-serialisable `state` so a saved model needs no pickle. It learns
aggregate statistics only (modes, ranges, category frequencies), never rows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from synth.columns import (
    categorical_dtype,
    column_kind,
    datetime_resolution,
    numeric_values,
    restore_categories,
    restore_datetimes,  # noqa: F401  (still imported from here, see below)
    restore_numeric,
    to_python,
)
from synth.errors import GeneratorInputError

# The column helpers moved to synth.columns; these old names stay importable from here for code that
# still uses them (synth/models/gaussian_copula.py, synth/spec.py) and for saved notebooks.
_column_kind, _datetime_resolution, _to_python = column_kind, datetime_resolution, to_python

#: Default cap on one categorical column's one-hot width (see the module docstring).
MAX_CATEGORIES = 100
#: A numeric value is a point mass when this share of the column's rows hold it (see the module docstring) ...
POINT_MASS_SHARE = 0.01
#: ... at least this many rows ...
POINT_MASS_MIN_ROWS = 10
#: ... and this many times the rows of either adjacent distinct value.
POINT_MASS_RATIO = 5.0


def point_masses(present: np.ndarray, limit: int) -> list[float]:
    """The values of `present` (no NaN) that are point masses, largest share first, at most `limit`."""
    if len(present) == 0 or limit < 1:
        return []
    values, counts = np.unique(present, return_counts=True)
    neighbour = np.maximum(np.r_[0, counts[:-1]], np.r_[counts[1:], 0])  # the larger adjacent count
    mass = ((counts >= POINT_MASS_SHARE * len(present)) & (counts >= POINT_MASS_MIN_ROWS)
            & (counts >= POINT_MASS_RATIO * neighbour))
    order = np.argsort(-counts[mass], kind="stable")[:limit]
    return [float(v) for v in values[mass][order]]


class HighCardinalityWarning(UserWarning):
    """A categorical column had more distinct values than `max_categories`; the rarest were pooled."""

# A span of the encoded matrix: its width and the activation the generator
# applies to it ("tanh" for alpha, "softmax" for one-hot blocks).
Span = tuple[int, str]


@dataclass
class ColumnInfo:
    name: str
    kind: str  # "numeric" | "categorical"
    dtype: str  # pandas dtype to restore, e.g. "int64", "Int64", "object", "boolean", "string", "datetime64[us, UTC]"
    spans: list[Span]
    state: dict[str, Any]


class EncodedLayout:
    """Where each column sits in the encoded row, from the fitted `columns_`: shared by both transformers."""

    columns_: list[ColumnInfo]

    @property
    def output_dim(self) -> int:
        return sum(width for col in self.columns_ for width, _ in col.spans)

    @property
    def spans(self) -> list[Span]:
        return [span for col in self.columns_ for span in col.spans]

    def categorical_blocks(self) -> list[tuple[str, int, int]]:
        """(column, start offset, width) of each categorical column's one-hot block."""
        blocks, offset = [], 0
        for col in self.columns_:
            if col.kind == "categorical":
                blocks.append((col.name, offset, col.spans[0][0]))
            offset += sum(width for width, _ in col.spans)
        return blocks


class DataTransformer(EncodedLayout):
    """Fit on a DataFrame; `transform` → float32 matrix; `inverse_transform` → DataFrame."""

    def __init__(self, max_modes: int = 10, sample_size: int = 5_000, weight_threshold: float = 0.005,
                 max_categories: int = MAX_CATEGORIES):
        self.max_modes = max_modes
        self.sample_size = sample_size
        self.weight_threshold = weight_threshold
        self.max_categories = max_categories

    # -- fitting ---------------------------------------------------------------
    def fit(self, table: pd.DataFrame, seed: int = 0) -> DataTransformer:
        if table.empty or table.shape[1] == 0:
            raise GeneratorInputError("cannot fit on an empty table: it needs at least one row and one column")
        if (isinstance(self.max_categories, bool) or not isinstance(self.max_categories, (int, np.integer))
                or self.max_categories < 2):
            raise GeneratorInputError(f"max_categories must be an integer of at least 2, got {self.max_categories!r}")
        rng = np.random.default_rng(seed)
        self.columns_: list[ColumnInfo] = []
        for name in table.columns:
            series = table[name]
            if series.isna().all():
                raise GeneratorInputError(f"column {name!r} is entirely missing; drop it from the source or fill it")
            if column_kind(series) == "numeric":
                self.columns_.append(self._fit_numeric(name, series, rng))
            else:
                self.columns_.append(self._fit_categorical(name, series))
        return self

    def _fit_numeric(self, name: str, series: pd.Series, rng: np.random.Generator) -> ColumnInfo:
        from sklearn.mixture import BayesianGaussianMixture

        is_datetime = pd.api.types.is_datetime64_any_dtype(series)
        values = numeric_values(series)
        present = values[~np.isnan(values)]
        masses = point_masses(present, self.max_modes)
        rest = present[~np.isin(present, masses)] if masses else present
        if len(rest) == 0:  # every value is a point mass: one (unused) mode keeps the layout uniform
            rest = present
        if len(rest) > self.sample_size:
            present_fit = rng.choice(rest, self.sample_size, replace=False)
        else:
            present_fit = rest
        n_components = int(min(self.max_modes, len(np.unique(present_fit))))
        if n_components <= 1:
            means, stds, weights = [float(rest.mean())], [max(float(rest.std()), 1e-6)], [1.0]
        else:
            gmm = BayesianGaussianMixture(
                n_components=n_components,
                weight_concentration_prior_type="dirichlet_process",
                weight_concentration_prior=0.001,
                max_iter=100,
                n_init=1,
                random_state=int(rng.integers(2**31 - 1)),
            )
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # ConvergenceWarning on spiky columns is expected
                gmm.fit(present_fit.reshape(-1, 1))
            keep = gmm.weights_ > self.weight_threshold
            means = gmm.means_.reshape(-1)[keep].tolist()
            stds = np.sqrt(gmm.covariances_.reshape(-1)[keep]).clip(min=1e-6).tolist()
            weights = (gmm.weights_[keep] / gmm.weights_[keep].sum()).tolist()
        has_nulls = bool(np.isnan(values).any())
        spans: list[Span] = [(1, "tanh"), (len(means) + len(masses), "softmax")]  # the modes, then the point masses
        if has_nulls:
            spans.append((2, "softmax"))  # [present, missing]
        integer = pd.api.types.is_integer_dtype(series)
        dtype = str(series.dtype)  # a column with missing integers is already a nullable Int dtype
        state = {
            "means": means,
            "stds": stds,
            "weights": weights,
            "point_masses": masses,
            "min": float(present.min()),
            "max": float(present.max()),
            "integer": bool(integer),
            # datetimes decode to their finest observed unit: whole days, seconds or microseconds
            "resolution": datetime_resolution(present) if is_datetime else None,
            "has_nulls": has_nulls,
            "fill": float(present.mean()),
        }
        return ColumnInfo(name, "numeric", dtype, spans, state)

    def _fit_categorical(self, name: str, series: pd.Series) -> ColumnInfo:
        counts = series.value_counts(dropna=False, sort=False)
        # Stable order: by frequency, then by value, so the encoding is reproducible.
        order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
        categories = [to_python(k) for k, _ in order]
        frequencies = [int(v) for _, v in order]
        state: dict[str, Any] = {"categories": categories, "frequencies": frequencies}
        if len(categories) > self.max_categories:
            state = _pool_rare(name, categories, frequencies, self.max_categories)
        dtype = categorical_dtype(series)
        if dtype == "category":  # declared categories without rows still belong to the dtype
            state["dtype_categories"] = [to_python(c) for c in series.cat.categories]
        return ColumnInfo(name, "categorical", dtype, [(len(state["frequencies"]), "softmax")], state)

    # -- encoding --------------------------------------------------------------
    def transform(self, table: pd.DataFrame, seed: int = 0) -> np.ndarray:
        """Encode rows; each numeric value's mode is drawn from its posterior (as in CTGAN)."""
        missing = [c.name for c in self.columns_ if c.name not in table.columns]
        if missing:
            raise GeneratorInputError(f"the table lacks columns {missing} that the model was fitted on")
        rng = np.random.default_rng(seed)
        parts = []
        for col in self.columns_:
            series = table[col.name]
            if col.kind == "numeric":
                parts.append(self._encode_numeric(col, series, rng))
            else:
                parts.append(self._encode_categorical(col, series))
        return np.concatenate(parts, axis=1).astype(np.float32)

    def _encode_numeric(self, col: ColumnInfo, series: pd.Series, rng: np.random.Generator) -> np.ndarray:
        values = numeric_values(series)
        isnull = np.isnan(values)
        x = np.where(isnull, col.state["fill"], values)[:, None]  # (n, 1)
        means = np.asarray(col.state["means"])[None, :]  # (1, k)
        stds = np.asarray(col.state["stds"])[None, :]
        weights = np.asarray(col.state["weights"])[None, :]
        masses = np.asarray(col.state.get("point_masses", []), dtype=np.float64)
        k = means.shape[1]
        # Each value's mode is drawn from its posterior over the mixture's modes.
        log_density = -0.5 * ((x - means) / stds) ** 2 - np.log(stds) + np.log(weights)
        prob = np.exp(log_density - log_density.max(axis=1, keepdims=True))
        prob /= prob.sum(axis=1, keepdims=True)
        cumulative = prob.cumsum(axis=1)
        mode = (cumulative < rng.random((len(x), 1))).sum(axis=1).clip(max=k - 1)
        alpha = ((x[:, 0] - means[0, mode]) / (4 * stds[0, mode])).clip(-0.99, 0.99)
        if len(masses):  # a point mass's rows take its slot after the modes, alpha 0
            hit = ~isnull[:, None] & (x == masses[None, :])  # (n, m)
            on_mass = hit.any(axis=1)
            mode = np.where(on_mass, k + hit.argmax(axis=1), mode)
            alpha = np.where(on_mass, 0.0, alpha)
        onehot = np.eye(k + len(masses), dtype=np.float32)[mode]
        out = [alpha[:, None], onehot]
        if col.state["has_nulls"]:
            out.append(np.stack([~isnull, isnull], axis=1).astype(np.float32))
        return np.concatenate(out, axis=1)

    @staticmethod
    def _encode_categorical(col: ColumnInfo, series: pd.Series) -> np.ndarray:
        categories = col.state["categories"]
        width = len(col.state["frequencies"])
        known = [c for c in categories if c is not None]
        position = np.array([categories.index(c) for c in known], dtype=np.int64)
        codes = pd.Categorical(series, categories=known).codes.astype(np.int64)  # -1: missing or unseen
        rare = col.state.get("rare_values")
        if rare:  # pooled values go to the last slot
            codes = np.where(series.isin(rare).to_numpy() & (codes < 0), -2, codes)
        unseen = series.notna().to_numpy() & (codes == -1)
        if None not in categories:
            unseen |= series.isna().to_numpy()  # missing values never seen in training
        if unseen.any():
            examples = sorted({str(v) for v in series[unseen]})[:5]
            raise GeneratorInputError(f"column {col.name!r} has values the model never saw: {examples}")
        null_index = categories.index(None) if None in categories else 0
        index = np.where(codes >= 0, position[codes.clip(min=0)] if len(position) else 0, null_index)
        index = np.where(codes == -2, width - 1, index)
        return np.eye(width, dtype=np.float32)[index]

    # -- decoding --------------------------------------------------------------
    def inverse_transform(self, matrix: np.ndarray, rng: np.random.Generator | None = None) -> pd.DataFrame:
        """Decode generator output (alpha in [-1, 1], one-hot or logits blocks) to a table.

        `rng` draws the value of each generated "rare" slot of a capped
        column (left out: a fixed seed, so decoding stays deterministic).
        """
        rng = np.random.default_rng(0) if rng is None else rng
        columns, offset = {}, 0
        for col in self.columns_:
            width = sum(w for w, _ in col.spans)
            block = matrix[:, offset : offset + width]
            offset += width
            columns[col.name] = (self._decode_numeric(col, block) if col.kind == "numeric"
                                 else self._decode_categorical(col, block, rng))
        return pd.DataFrame(columns)

    @staticmethod
    def _decode_numeric(col: ColumnInfo, block: np.ndarray) -> pd.Series:
        state = col.state
        k = len(state["means"])
        masses = np.asarray(state.get("point_masses", []), dtype=np.float64)
        alpha = np.clip(block[:, 0], -1, 1)
        mode = block[:, 1 : 1 + k + len(masses)].argmax(axis=1)
        means, stds = np.asarray(state["means"]), np.asarray(state["stds"])
        gaussian = mode.clip(max=k - 1)
        values = (alpha * 4 * stds[gaussian] + means[gaussian]).clip(state["min"], state["max"])
        if len(masses):  # a point-mass slot decodes to exactly its value
            values = np.where(mode >= k, masses[(mode - k).clip(min=0)], values)
        isnull = None
        if state["has_nulls"]:
            start = 1 + k + len(masses)
            isnull = block[:, start : start + 2].argmax(axis=1) == 1
        return restore_numeric(values, col.dtype, integer=state["integer"], resolution=state["resolution"],
                               missing=isnull)

    @staticmethod
    def _decode_categorical(col: ColumnInfo, block: np.ndarray, rng: np.random.Generator) -> pd.Series:
        state = col.state
        categories = np.asarray(state["categories"] + [None], dtype=object)  # the extra slot: rare, filled below
        index = block.argmax(axis=1)
        values = categories[index]
        if state.get("rare_values"):
            rare = index == len(state["categories"])
            weights = np.asarray(state["rare_frequencies"], dtype=np.float64)
            pool = np.asarray(state["rare_values"], dtype=object)
            values[rare] = pool[rng.choice(len(pool), int(rare.sum()), p=weights / weights.sum())]
        declared = state.get("dtype_categories") or [c for c in state["categories"] + state.get("rare_values", [])
                                                     if c is not None]
        return restore_categories(pd.Series(values, dtype=object), col.dtype, declared)

    # -- persistence -----------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "max_modes": self.max_modes,
            "sample_size": self.sample_size,
            "weight_threshold": self.weight_threshold,
            "max_categories": self.max_categories,
            "columns": [
                {"name": c.name, "kind": c.kind, "dtype": c.dtype, "spans": [list(s) for s in c.spans],
                 "state": c.state}
                for c in self.columns_
            ],
        }

    @classmethod
    def from_state_dict(cls, state: dict[str, Any]) -> DataTransformer:
        transformer = cls(state["max_modes"], state["sample_size"], state["weight_threshold"],
                          state.get("max_categories", MAX_CATEGORIES))
        transformer.columns_ = [
            ColumnInfo(c["name"], c["kind"], c["dtype"], [(int(w), str(a)) for w, a in c["spans"]], c["state"])
            for c in state["columns"]
        ]
        return transformer


def _pool_rare(name: str, categories: list, frequencies: list[int], keep: int) -> dict[str, Any]:
    """Keep the `keep` most frequent values (missing always among them) and pool the rest into one rare slot."""
    kept = list(range(keep))
    if None in categories and categories.index(None) >= keep:  # missing stays its own category
        kept[-1] = categories.index(None)
    pooled = [i for i in range(len(categories)) if i not in set(kept)]
    rare_rows = sum(frequencies[i] for i in pooled)
    warnings.warn(
        f"column {name!r} has {len(categories)} distinct values, more than max_categories={keep}: keeping the {keep} "
        f"most frequent and pooling the other {len(pooled)} ({rare_rows / sum(frequencies):.1%} of rows) into one rare "
        f"category, generated back as those values by their frequency. Raise max_categories to keep more, "
        f"or drop the column if it is an identifier",
        HighCardinalityWarning,
        stacklevel=4,
    )
    return {
        "categories": [categories[i] for i in kept],
        "frequencies": [frequencies[i] for i in kept] + [rare_rows],  # the last slot is the rare pool
        "rare_values": [categories[i] for i in pooled],
        "rare_frequencies": [frequencies[i] for i in pooled],
    }
