"""Gaussian copula: the fast statistical baseline for mixed-type tables.

Each column is mapped to a standard-normal score through its own marginal
distribution, the scores' correlation matrix is the whole dependence model,
and sampling runs the same road backwards: z ~ N(0, Σ), u = Φ(z), then each
column's inverse CDF. It is our own implementation (not `sdv`/`copulas`);
its encodings follow SDV's GaussianCopulaSynthesizer:

- numeric and datetime columns: the empirical CDF, kept as at most
  `n_quantiles` points: the column's min and max, and between them the mean
  of each equal-count bin of sorted values (at least ten rows a bin), placed
  at the bin's middle CDF level. A plain interpolated quantile would store a
  training value whenever its rank is a whole number; a bin mean summarises
  ten rows, so no single training value is kept but the range. Tied values
  (Adult's capital-gain is 92% zeros) map to a uniform draw inside their
  CDF step, which keeps their scores Gaussian and their correlations honest.
- categorical and boolean columns: SDV's frequency trick. Categories sorted
  by frequency own consecutive intervals of [0, 1] as wide as their share; a
  value becomes a uniform draw inside its interval. Missing is a category.
- missing values of a numeric column: an extra "is missing" copula column
  (interval trick again); missing rows score 0 in the numeric column itself.

Conditioning on categorical columns is exact: the conditioned scores are
drawn from the Gaussian truncated to their categories' intervals (one
column: directly; several: by Gibbs sampling, one truncated normal per
column given the others, `GIBBS_SWEEPS` sweeps), the other scores from the
Gaussian conditional on them (Schur complement), so every row holds the
conditions and the rest follow the dependence the copula learned.

A categorical column with more than `max_categories` values keeps the most
frequent ones and pools the rest into one interval, decoded back to a pooled
value by its frequency, as the neural generators' transformer does.

Sampling runs in blocks of `SAMPLE_BLOCK_ROWS` rows
(`synth.models.base.TabularGenerator`), block j from its own NumPy generator
seeded by (seed, j), so `sample(n, seed=s)` gives the same rows however a
large output is split (`start=`).

Everything learned is plain numbers in `config.json` plus the correlation
matrix in safetensors: no rows, no pickle. Computation is NumPy on the CPU
(a d × d matrix needs no accelerator); `device` is accepted for the shared
generator contract.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from scipy import special

from synth.errors import GeneratorInputError, ModelError
from synth.models.base import SAMPLE_BLOCK_ROWS, TabularGenerator
from synth.models.configs import GaussianCopulaConfig
from synth.models.io import DAMAGED, load_tensors
from synth.models.tabular import category_position, unknown_category
from synth.transformer import (
    MAX_CATEGORIES,
    _column_kind,
    _datetime_resolution,
    _pool_rare,
    _to_python,
    categorical_dtype,
    numeric_values,
    restore_categories,
    restore_datetimes,
)

WEIGHTS_NAME = "copula.safetensors"
# Uniforms are kept this far from 0 and 1 so Φ⁻¹ stays finite.
EPS = 1e-6
# Floor on the correlation matrix's eigenvalues: deterministic columns (Adult's
# education and education-num) would otherwise make it singular.
MIN_EIGENVALUE = 1e-6
ROWS_PER_QUANTILE = 10
#: Gibbs sweeps over the conditioned scores when several columns are conditioned.
GIBBS_SWEEPS = 20


# -- marginals: a column <-> uniforms in (0, 1) ------------------------------------
def _frequency_table(series: pd.Series) -> dict[str, list]:
    """Categories by descending frequency (ties by value, so it is reproducible) and their counts."""
    counts = series.value_counts(dropna=False, sort=False)
    order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {"categories": [_to_python(k) for k, _ in order], "frequencies": [int(v) for _, v in order]}


def _interval_bounds(frequencies: list[int]) -> np.ndarray:
    """Edges of each category's interval of [0, 1]: category i owns [edges[i], edges[i + 1])."""
    counts = np.asarray(frequencies, dtype=np.float64)
    return np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])


def _category_index(series: pd.Series, categories: list, rare_values: list | None = None) -> np.ndarray:
    """Position of each value in `categories`; missing values go to the `None` category, pooled rare values after
    the last."""
    known = [c for c in categories if c is not None]
    position = np.array([categories.index(c) for c in known], dtype=np.int64)
    codes = pd.Categorical(series, categories=known).codes.astype(np.int64)  # -1: missing (or pooled)
    null_index = categories.index(None) if None in categories else 0
    index = np.where(codes >= 0, position[codes.clip(min=0)] if len(position) else 0, null_index)
    if rare_values:
        index = np.where((codes < 0) & series.isin(rare_values).to_numpy(), len(categories), index)
    return index


def _interval_uniforms(index: np.ndarray, frequencies: list[int], rng: np.random.Generator) -> np.ndarray:
    """The frequency trick: a uniform draw inside each value's category interval."""
    edges = _interval_bounds(frequencies)
    return edges[index] + rng.random(len(index)) * (edges[index + 1] - edges[index])


def _interval_lookup(u: np.ndarray, frequencies: list[int]) -> np.ndarray:
    """Inverse of the frequency trick: the category whose interval holds each uniform."""
    edges = _interval_bounds(frequencies)
    return np.searchsorted(edges[1:-1], u, side="right")


def _levels(q: int) -> np.ndarray:
    """CDF levels of a column's `q` points: 0 (min), the middles of `q - 2` equal-count bins, 1 (max)."""
    return np.concatenate([[0.0], (np.arange(q - 2) + 0.5) / (q - 2), [1.0]])


def _quantile_points(present: np.ndarray, q: int) -> np.ndarray:
    """min, the mean of each of `q - 2` equal-count bins of the sorted values, max."""
    ordered = np.sort(present)
    n, bins = len(ordered), q - 2
    starts = -(-np.arange(bins) * n // bins)  # ceil(k n / bins): bin sizes differ by at most one row
    ends = np.append(starts[1:], n)
    first, last = ordered[starts], ordered[ends - 1]
    means = np.add.reduceat(ordered, starts) / (ends - starts) if bins else np.empty(0)
    # A bin of one repeated value keeps it exactly (ties stay ties); clipping to the bin's own
    # range also keeps the points monotone despite rounding in the sums.
    means = np.where(first == last, first, means.clip(first, last))
    return np.concatenate([[ordered[0]], means, [ordered[-1]]])


def _empirical_cdf(points: np.ndarray, x: np.ndarray, side: str) -> np.ndarray:
    """CDF of the piecewise-linear quantile function through `points` at `_levels`.

    Where `x` equals several (tied) points the CDF has a step: side="left"
    gives its bottom, side="right" its top. Between points it interpolates.
    """
    q = len(points)
    levels = _levels(q)
    i = np.searchsorted(points, x, side=side)  # "right": points ≤ x; "left": points < x
    k = np.clip(i, 1, q - 1)
    lo, hi = points[k - 1], points[k]
    inside = (i > 0) & (i < q)  # there points[k-1] (≤ or <) x (< or ≤) points[k], so hi > lo
    frac = np.divide(x - lo, hi - lo, out=np.zeros_like(x), where=inside)
    cdf = levels[k - 1] + frac * (levels[k] - levels[k - 1])
    return np.where(i == 0, 0.0, np.where(i == q, 1.0, cdf))


def _fit_marginal(name: str, series: pd.Series, n_quantiles: int,
                  max_categories: int = MAX_CATEGORIES) -> dict[str, Any]:
    """What one column's marginal needs, as JSON: quantile points or category frequencies, dtype, range."""
    if _column_kind(series) == "categorical":
        dtype = categorical_dtype(series)
        table = _frequency_table(series)
        if len(table["categories"]) > max_categories:  # the last interval pools the rarest values
            table = _pool_rare(name, table["categories"], table["frequencies"], max_categories)
        if dtype == "category":
            table["dtype_categories"] = [_to_python(c) for c in series.cat.categories]
        return {"name": name, "kind": "categorical", "dtype": dtype, **table}
    is_datetime = pd.api.types.is_datetime64_any_dtype(series)
    values = numeric_values(series)
    isnull = np.isnan(values)
    present = values[~isnull]
    # q - 2 bins of at least ROWS_PER_QUANTILE rows; below that only the range is kept
    q = min(n_quantiles, max(2, len(present) // ROWS_PER_QUANTILE + 2))
    integer = pd.api.types.is_integer_dtype(series)
    has_nulls = bool(isnull.any())
    return {
        "name": name,
        "kind": "numeric",
        "dtype": str(series.dtype),  # a column with missing integers is already a nullable Int dtype
        # points[0] and points[-1] are the column's min and max, so decoded values stay in range
        "quantiles": _quantile_points(present, q).tolist(),
        "integer": bool(integer),
        # datetimes decode to their finest observed unit: whole days, seconds or microseconds
        "resolution": _datetime_resolution(present) if is_datetime else None,
        "missing": _frequency_table(pd.Series(isnull)) if has_nulls else None,
    }


def _encode_marginal(marginal: dict[str, Any], series: pd.Series, rng: np.random.Generator) -> list[np.ndarray]:
    """The column's uniforms: one array, or two for a numeric column with an "is missing" indicator."""
    if marginal["kind"] == "categorical":
        index = _category_index(series, marginal["categories"], marginal.get("rare_values"))
        return [_interval_uniforms(index, marginal["frequencies"], rng)]
    values = numeric_values(series)
    isnull = np.isnan(values)
    points = np.asarray(marginal["quantiles"])
    x = np.where(isnull, points[0], values)
    bottom, top = _empirical_cdf(points, x, "left"), _empirical_cdf(points, x, "right")
    u = bottom + rng.random(len(x)) * (top - bottom)
    # Missing rows get u = 0.5, a score of 0: imputed at the mean for the correlation estimate;
    # whether a value is missing is modelled by the indicator column.
    out = [np.where(isnull, 0.5, u)]
    if marginal["missing"] is not None:
        index = _category_index(pd.Series(isnull), marginal["missing"]["categories"])
        out.append(_interval_uniforms(index, marginal["missing"]["frequencies"], rng))
    return out


def _decode_marginal(marginal: dict[str, Any], u: list[np.ndarray], rng: np.random.Generator) -> pd.Series:
    """Uniforms back to a column of the original dtype (ints stay ints, Int64 when nulls, rounded datetimes)."""
    dtype = marginal["dtype"]
    if marginal["kind"] == "categorical":
        categories = np.asarray(marginal["categories"] + [None], dtype=object)  # the extra slot: pooled, filled below
        index = _interval_lookup(u[0], marginal["frequencies"])
        values = categories[index]
        if marginal.get("rare_values"):
            rare = index == len(marginal["categories"])
            weights = np.asarray(marginal["rare_frequencies"], dtype=np.float64)
            pool = np.asarray(marginal["rare_values"], dtype=object)
            values[rare] = pool[rng.choice(len(pool), int(rare.sum()), p=weights / weights.sum())]
        declared = marginal.get("dtype_categories") or [
            c for c in marginal["categories"] + marginal.get("rare_values", []) if c is not None
        ]
        return restore_categories(pd.Series(values, dtype=object), dtype, declared)
    points = np.asarray(marginal["quantiles"])
    values = np.interp(u[0], _levels(len(points)), points)
    is_datetime = dtype.startswith("datetime64")
    if is_datetime:
        resolution = marginal["resolution"]
        values = np.round(np.round(values / resolution) * resolution * 1e6)  # seconds -> microseconds
    elif marginal["integer"]:
        values = np.round(values)
    series = pd.Series(values)
    if marginal["missing"] is not None:
        missing = np.asarray(marginal["missing"]["categories"], dtype=bool)
        series[missing[_interval_lookup(u[1], marginal["missing"]["frequencies"])]] = np.nan
    if is_datetime:
        return restore_datetimes(series, dtype)
    return series.astype(dtype)


def _width(marginal: dict[str, Any]) -> int:
    """Copula columns a table column occupies: 2 for a numeric column with missing values, else 1."""
    return 2 if marginal["kind"] == "numeric" and marginal["missing"] is not None else 1


def _truncated_normal(lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One standard normal draw per row, truncated to [lower, upper], by inverting the CDF.

    An interval in the upper tail is mirrored into the lower tail first, where
    Φ keeps full relative precision (down to about -37), so far-out intervals
    stay exact; about 8 times faster than `scipy.stats.truncnorm` on 100k rows.
    """
    flip = lower > 0
    lo, hi = np.where(flip, -upper, lower), np.where(flip, -lower, upper)
    p_lo, p_hi = special.ndtr(lo), special.ndtr(hi)
    z = special.ndtri(p_lo + rng.random(len(lo)) * (p_hi - p_lo))
    z = np.clip(np.where(np.isfinite(z), z, hi), lo, hi)  # an interval beyond Φ's range collapses onto its edge
    return np.where(flip, -z, z)


def _matrix_sqrt(covariance: np.ndarray) -> np.ndarray:
    """A factor L with L Lᵀ = covariance, from the eigendecomposition (stable when nearly singular)."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return eigenvectors * np.sqrt(eigenvalues.clip(min=0.0))


class GaussianCopula(TabularGenerator):
    """Gaussian copula over per-column marginals; hyperparameters in `GaussianCopulaConfig`, learned state ends in `_`.

    `device` is accepted for the shared contract; everything runs in NumPy on the CPU.
    """

    kind = "gaussian_copula"
    config_class = GaussianCopulaConfig
    #: Its marginals follow each column's own distribution (no tail transform needed); integer codes stay numbers,
    #: in order (their correlations are what the copula learns), snapped back to the real values.
    column_rules = {"discrete": "nearest", "transforms": False, "identifiers": True}
    fitted_attribute = "correlation_"

    # -- fitting ---------------------------------------------------------------
    def _fit(self, table: pd.DataFrame, checkpoint: None = None) -> None:
        """Learn each column's marginal and the correlation of the normal scores."""
        problems = []
        if len(table) < 2 or table.shape[1] == 0:
            problems.append(f"cannot fit on a table of shape {table.shape}: "
                            "a correlation needs at least two rows and one column")
        for name in table.columns:
            if table[name].isna().all():
                problems.append(f"column {name!r} is entirely missing; drop it from the source or fill it")
        if problems:
            raise GeneratorInputError("; ".join(problems))
        rng = np.random.default_rng(self.seed)

        # 1. marginals, then every value as a uniform in (0, 1) and a normal score
        started = time.perf_counter()
        self.marginals_ = [_fit_marginal(name, table[name], self.n_quantiles, self.max_categories)
                           for name in table.columns]
        uniforms = [u for m in self.marginals_ for u in _encode_marginal(m, table[m["name"]], rng)]
        scores = special.ndtri(np.column_stack(uniforms).clip(EPS, 1 - EPS))  # (n_rows, d)
        self.transform_seconds_ = time.perf_counter() - started

        # 2. dependence: the scores' correlation, made positive definite by flooring its eigenvalues
        correlation = np.atleast_2d(np.corrcoef(scores, rowvar=False))
        eigenvalues, eigenvectors = np.linalg.eigh(correlation)
        correlation = (eigenvectors * eigenvalues.clip(min=MIN_EIGENVALUE)) @ eigenvectors.T
        scale = np.sqrt(np.diag(correlation))
        self.correlation_ = correlation / np.outer(scale, scale)

    # -- one block of sampling ------------------------------------------------------
    def _sample_block(self, seed: int, block: int, fixed: list[tuple[int, float, float]] | None,
                      rows: int = SAMPLE_BLOCK_ROWS) -> pd.DataFrame:
        """Scores drawn and decoded with the block's own NumPy generator (pooled values are drawn from it too)."""
        rng = np.random.default_rng([seed % 2**63, block])
        fixed = fixed or []
        return self._decode(self._draw_scores(rows, fixed, rng), fixed, rng)

    def _draw_scores(self, n: int, fixed: list[tuple[int, float, float]], rng: np.random.Generator) -> np.ndarray:
        """(n, d) normal scores: z ~ N(0, Σ), or conditioned on the fixed scores lying in their categories'
        intervals."""
        d = len(self.correlation_)
        if not fixed:
            return rng.standard_normal((n, d)) @ _matrix_sqrt(self.correlation_).T
        # 1. the conditioned scores: N(0, Σ_cc) truncated to the intervals
        slots = np.array([slot for slot, _, _ in fixed])
        lower = special.ndtri(np.array([lo for _, lo, _ in fixed]))  # -inf for an interval starting at 0
        upper = special.ndtri(np.array([hi for _, _, hi in fixed]))
        z_c = self._truncated_scores(n, self.correlation_[np.ix_(slots, slots)], lower, upper, rng)
        # 2. the others from N(Σ_oc Σ_cc⁻¹ z_c, Σ_oo - Σ_oc Σ_cc⁻¹ Σ_co)
        z = np.empty((n, d))
        z[:, slots] = z_c
        others = np.setdiff1d(np.arange(d), slots)
        if len(others):
            cross = self.correlation_[np.ix_(others, slots)]  # (o, c)
            weights = np.linalg.solve(self.correlation_[np.ix_(slots, slots)], cross.T).T  # Σ_oc Σ_cc⁻¹
            conditional = self.correlation_[np.ix_(others, others)] - weights @ cross.T
            z[:, others] = z_c @ weights.T + rng.standard_normal((n, len(others))) @ _matrix_sqrt(conditional).T
        return z

    @staticmethod
    def _truncated_scores(n: int, sigma: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                          rng: np.random.Generator) -> np.ndarray:
        """(n, k) draws of N(0, sigma) truncated to the box [lower, upper]: exact for k = 1, Gibbs sampling for more."""
        k = len(sigma)
        if k == 1:
            return _truncated_normal(np.full(n, lower[0]), np.full(n, upper[0]), rng)[:, None]
        precision = np.linalg.inv(sigma)
        # start inside the box: each score at its interval's middle quantile
        z = np.tile(special.ndtri((special.ndtr(lower) + special.ndtr(upper)) / 2), (n, 1))
        for _ in range(GIBBS_SWEEPS):
            for j in range(k):
                # z_j | z_-j ~ N(-Σ_{i≠j} P_ji z_i / P_jj, 1 / P_jj), truncated to its interval
                sd = 1 / np.sqrt(precision[j, j])
                mean = -(z @ precision[j] - precision[j, j] * z[:, j]) / precision[j, j]
                z[:, j] = mean + sd * _truncated_normal((lower[j] - mean) / sd, (upper[j] - mean) / sd, rng)
        return z

    def _decode(self, z: np.ndarray, fixed: list[tuple[int, float, float]], rng: np.random.Generator) -> pd.DataFrame:
        """u = Φ(z), then each column's inverse CDF or interval lookup."""
        u = special.ndtr(z)
        for slot, lower, upper in fixed:  # exact: decode each conditioned column from its interval's middle
            u[:, slot] = (lower + upper) / 2
        columns, slot = {}, 0
        for marginal in self.marginals_:
            width = _width(marginal)
            columns[marginal["name"]] = _decode_marginal(marginal, [u[:, slot + i] for i in range(width)], rng)
            slot += width
        return pd.DataFrame(columns)

    def _conditions(self, conditions: dict[str, Any]) -> list[tuple[int, float, float]]:
        """Check conditions and return (copula column, interval lower, interval upper) of each."""
        slots, slot = {}, 0
        for marginal in self.marginals_:
            if marginal["kind"] == "categorical":
                slots[marginal["name"]] = (slot, marginal)
            slot += _width(marginal)
        problems, fixed = [], []
        for column, value in conditions.items():
            if column not in slots:
                problems.append(f"{column!r} is not a categorical column of this model (categorical: {sorted(slots)})")
                continue
            slot, marginal = slots[column]
            categories, frequencies = marginal["categories"], marginal["frequencies"]
            # a category of a pandas Categorical may be declared but have no rows: it has no interval. A capped
            # column has one frequency more than categories (the pooled rare values' slot, last): not strict
            seen = [c for c, f in zip(categories, frequencies, strict=False) if f > 0]
            index = category_position(categories, value)
            if index is None or frequencies[index] == 0:
                problems.append(unknown_category(column, value, seen, len(categories), marginal.get("rare_values", []),
                                                 "interval"))
                continue
            edges = _interval_bounds(frequencies)
            fixed.append((slot, float(edges[index]), float(edges[index + 1])))
        if problems:
            raise GeneratorInputError("GaussianCopula: " + "; ".join(problems))
        return fixed

    # -- persistence: config.json holds the marginals, safetensors the correlation matrix --------------------
    def _learned_config(self) -> dict[str, Any]:
        return {"marginals": self.marginals_}

    def _weights(self) -> dict[str, dict[str, torch.Tensor]]:
        return {WEIGHTS_NAME: {"correlation": torch.from_numpy(self.correlation_)}}

    def _restore(self, folder: Path, config: dict[str, Any]) -> None:
        self.marginals_ = config["marginals"]
        tensors = load_tensors(folder, WEIGHTS_NAME)
        if "correlation" not in tensors:
            raise ModelError(f"{folder / WEIGHTS_NAME}: holds no 'correlation' tensor; {DAMAGED}")
        correlation = tensors["correlation"].numpy()
        d = sum(_width(m) for m in self.marginals_)
        if correlation.shape != (d, d):
            raise ModelError(f"{folder / WEIGHTS_NAME}: the correlation is {correlation.shape}, but config.json "
                             f"describes {d} copula columns; {DAMAGED}")
        self.correlation_ = correlation
