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

Conditioning on one categorical column is exact: its score is drawn from the
standard normal truncated to the category's interval, the other scores from
the Gaussian conditional on it (Schur complement), so every row holds the
condition and the rest follow the dependence the copula learned.

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
from scipy import special, stats

from synth.errors import GeneratorInputError, ModelError
from synth.models.io import read_config, save_tensors, write_config
from synth.transformer import _column_kind, _datetime_resolution, _to_python

WEIGHTS_NAME = "copula.safetensors"
# Uniforms are kept this far from 0 and 1 so Φ⁻¹ stays finite.
EPS = 1e-6
# Floor on the correlation matrix's eigenvalues: deterministic columns (Adult's
# education and education-num) would otherwise make it singular.
MIN_EIGENVALUE = 1e-6
ROWS_PER_QUANTILE = 10


# -- marginals: a column <-> uniforms in (0, 1) ------------------------------------
def _numeric_values(series: pd.Series) -> np.ndarray:
    """Float64 values with NaN for missing; datetimes as seconds since the epoch (as the transformer does)."""
    if pd.api.types.is_datetime64_any_dtype(series):
        as_int = series.astype("datetime64[ns]").astype("int64").to_numpy()
        return np.where(series.isna(), np.nan, as_int / 1e9)
    return pd.to_numeric(series, errors="coerce").astype("float64").to_numpy()


def _frequency_table(series: pd.Series) -> dict[str, list]:
    """Categories by descending frequency (ties by value, so it is reproducible) and their counts."""
    counts = series.value_counts(dropna=False, sort=False)
    order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    return {"categories": [_to_python(k) for k, _ in order], "frequencies": [int(v) for _, v in order]}


def _interval_bounds(frequencies: list[int]) -> np.ndarray:
    """Edges of each category's interval of [0, 1]: category i owns [edges[i], edges[i + 1])."""
    counts = np.asarray(frequencies, dtype=np.float64)
    return np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])


def _category_index(series: pd.Series, categories: list) -> np.ndarray:
    """Position of each value in `categories`; missing values go to the `None` category."""
    known = [c for c in categories if c is not None]
    position = np.array([categories.index(c) for c in known], dtype=np.int64)
    codes = pd.Categorical(series, categories=known).codes.astype(np.int64)  # -1: missing
    null_index = categories.index(None) if None in categories else 0
    return np.where(codes >= 0, position[codes.clip(min=0)] if len(position) else 0, null_index)


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


def _fit_marginal(name: str, series: pd.Series, n_quantiles: int) -> dict[str, Any]:
    """What one column's marginal needs, as JSON: quantile points or category frequencies, dtype, range."""
    if _column_kind(series) == "categorical":
        if pd.api.types.is_bool_dtype(series):
            dtype = "bool"
        else:
            dtype = "category" if isinstance(series.dtype, pd.CategoricalDtype) else "object"
        return {"name": name, "kind": "categorical", "dtype": dtype, **_frequency_table(series)}
    is_datetime = pd.api.types.is_datetime64_any_dtype(series)
    values = _numeric_values(series)
    isnull = np.isnan(values)
    present = values[~isnull]
    # q - 2 bins of at least ROWS_PER_QUANTILE rows; below that only the range is kept
    q = min(n_quantiles, max(2, len(present) // ROWS_PER_QUANTILE + 2))
    integer = pd.api.types.is_integer_dtype(series)
    has_nulls = bool(isnull.any())
    return {
        "name": name,
        "kind": "numeric",
        "dtype": "datetime64[ns]" if is_datetime else ("Int64" if integer and has_nulls else str(series.dtype)),
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
        return [_interval_uniforms(_category_index(series, marginal["categories"]), marginal["frequencies"], rng)]
    values = _numeric_values(series)
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


def _decode_marginal(marginal: dict[str, Any], u: list[np.ndarray]) -> pd.Series:
    """Uniforms back to a column of the original dtype (ints stay ints, Int64 when nulls, rounded datetimes)."""
    dtype = marginal["dtype"]
    if marginal["kind"] == "categorical":
        categories = np.asarray(marginal["categories"], dtype=object)
        series = pd.Series(categories[_interval_lookup(u[0], marginal["frequencies"])], dtype=object)
        if dtype == "bool":
            return series.astype("boolean") if series.isna().any() else series.astype(bool)
        if dtype == "category":
            return series.astype(pd.CategoricalDtype([c for c in marginal["categories"] if c is not None]))
        return series
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
        return pd.to_datetime(series.astype("Int64"), unit="us").astype(dtype)
    return series.astype(dtype)


def _width(marginal: dict[str, Any]) -> int:
    """Copula columns a table column occupies: 2 for a numeric column with missing values, else 1."""
    return 2 if marginal["kind"] == "numeric" and marginal["missing"] is not None else 1


def _matrix_sqrt(covariance: np.ndarray) -> np.ndarray:
    """A factor L with L Lᵀ = covariance, from the eigendecomposition (stable when nearly singular)."""
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    return eigenvectors * np.sqrt(eigenvalues.clip(min=0.0))


class GaussianCopula:
    """Gaussian copula over per-column marginals. Hyperparameters are stored unchanged; learned state ends in `_`."""

    kind = "gaussian_copula"

    def __init__(self, n_quantiles: int = 200, device: str = "cpu", seed: int = 0, verbose: bool = True):
        self.n_quantiles = n_quantiles
        self.device = device
        self.seed = seed
        self.verbose = verbose  # part of the shared contract; fitting has no loop worth a progress bar

    def hyperparameters(self) -> dict[str, Any]:
        return {"n_quantiles": self.n_quantiles}

    # -- fitting ---------------------------------------------------------------
    def fit(self, table: pd.DataFrame) -> "GaussianCopula":
        """Learn each column's marginal and the correlation of the normal scores."""
        problems = []
        if len(table) < 2 or table.shape[1] == 0:
            problems.append(f"cannot fit on a table of shape {table.shape}: a correlation needs at least two rows and one column")
        if isinstance(self.n_quantiles, bool) or not isinstance(self.n_quantiles, (int, np.integer)) or self.n_quantiles < 2:
            problems.append(f"n_quantiles must be an integer of at least 2, got {self.n_quantiles!r}")
        for name in table.columns:
            if table[name].isna().all():
                problems.append(f"column {name!r} is entirely missing; drop it from the source or fill it")
        if problems:
            raise GeneratorInputError("; ".join(problems))
        rng = np.random.default_rng(self.seed)

        # 1. marginals, then every value as a uniform in (0, 1) and a normal score
        started = time.perf_counter()
        self.marginals_ = [_fit_marginal(name, table[name], self.n_quantiles) for name in table.columns]
        uniforms = [u for m in self.marginals_ for u in _encode_marginal(m, table[m["name"]], rng)]
        scores = special.ndtri(np.column_stack(uniforms).clip(EPS, 1 - EPS))  # (n_rows, d)
        self.transform_seconds_ = time.perf_counter() - started

        # 2. dependence: the scores' correlation, made positive definite by flooring its eigenvalues
        correlation = np.atleast_2d(np.corrcoef(scores, rowvar=False))
        eigenvalues, eigenvectors = np.linalg.eigh(correlation)
        correlation = (eigenvectors * eigenvalues.clip(min=MIN_EIGENVALUE)) @ eigenvectors.T
        scale = np.sqrt(np.diag(correlation))
        self.correlation_ = correlation / np.outer(scale, scale)
        self.loss_history_: list[dict[str, float]] = []  # nothing is trained by gradient descent
        return self

    # -- sampling --------------------------------------------------------------
    def sample(self, n: int, conditions: dict[str, Any] | None = None, seed: int | None = None) -> pd.DataFrame:
        """Generate `n` rows. `conditions={"income": ">50K"}` fixes one categorical column exactly."""
        self._check_fitted()
        if n < 1:
            raise GeneratorInputError(f"n must be a positive number of rows, got {n}")
        fixed = self._fixed_condition(conditions)
        rng = np.random.default_rng(seed)  # None: fresh entropy; the global RNGs are never touched
        d = len(self.correlation_)
        if fixed is None:
            # 1. z ~ N(0, Σ)
            z = rng.standard_normal((n, d)) @ _matrix_sqrt(self.correlation_).T  # (n, d)
        else:
            # 1. the conditioned score from N(0, 1) truncated to the category's interval ...
            slot, lower, upper = fixed
            z = np.empty((n, d))
            z[:, slot] = stats.truncnorm.rvs(special.ndtri(lower), special.ndtri(upper), size=n, random_state=rng)
            # ... the others from N(Σ_oc z_c, Σ_oo - Σ_oc Σ_co) (Σ_cc = 1, a correlation)
            others = np.arange(d) != slot
            cross = self.correlation_[others, slot]  # (d-1,)
            conditional = self.correlation_[np.ix_(others, others)] - np.outer(cross, cross)
            z[:, others] = z[:, [slot]] * cross + rng.standard_normal((n, d - 1)) @ _matrix_sqrt(conditional).T
        # 2. u = Φ(z), then each column's inverse CDF or interval lookup
        u = special.ndtr(z)
        if fixed is not None:  # exact: decode the conditioned column from its interval's middle
            u[:, fixed[0]] = (fixed[1] + fixed[2]) / 2
        columns, slot = {}, 0
        for marginal in self.marginals_:
            width = _width(marginal)
            columns[marginal["name"]] = _decode_marginal(marginal, [u[:, slot + i] for i in range(width)])
            slot += width
        return pd.DataFrame(columns)

    def _fixed_condition(self, conditions: dict[str, Any] | None) -> tuple[int, float, float] | None:
        """Check a condition and return (copula column, interval lower, interval upper), or None."""
        if not conditions:
            return None
        slots, slot = {}, 0
        for marginal in self.marginals_:
            if marginal["kind"] == "categorical":
                slots[marginal["name"]] = (slot, marginal)
            slot += _width(marginal)
        problems = []
        for column in conditions:
            if column not in slots:
                problems.append(f"{column!r} is not a categorical column of this model (categorical: {sorted(slots)})")
        if len(conditions) > 1:
            problems.append("the Gaussian copula conditions on one column at a time; pass a single column")
        if problems:
            raise GeneratorInputError("; ".join(problems))
        column, value = next(iter(conditions.items()))
        slot, marginal = slots[column]
        categories, frequencies = marginal["categories"], marginal["frequencies"]
        # a category of a pandas Categorical may be declared but have no rows: it has no interval
        seen = [c for c, f in zip(categories, frequencies) if f > 0]
        if value not in seen:
            raise GeneratorInputError(f"condition {column}={value!r}: not a category seen in training; known: {seen}")
        edges = _interval_bounds(frequencies)
        index = categories.index(value)
        return slot, float(edges[index]), float(edges[index + 1])

    # -- persistence -----------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "correlation_"):
            raise GeneratorInputError("this GaussianCopula is not fitted yet; call fit(table) or GaussianCopula.load(folder) first")

    def save(self, folder: str | Path) -> Path:
        """Write `config.json` (hyperparameters, per-column marginals) and the correlation matrix as safetensors."""
        self._check_fitted()
        folder = Path(folder)
        write_config(folder, self.kind, hyperparameters=self.hyperparameters(), seed=self.seed, marginals=self.marginals_)
        save_tensors(folder, WEIGHTS_NAME, {"correlation": torch.from_numpy(self.correlation_)})
        return folder

    @classmethod
    def load(cls, folder: str | Path, device: str = "cpu") -> "GaussianCopula":
        from safetensors.torch import load_file

        folder = Path(folder)
        config = read_config(folder, cls.kind)
        model = cls(**config["hyperparameters"], device=device, seed=config.get("seed", 0), verbose=False)
        model.marginals_ = config["marginals"]
        try:
            correlation = load_file(str(folder / WEIGHTS_NAME), device="cpu")["correlation"].numpy()
        except FileNotFoundError:
            raise ModelError(f"{folder}: {WEIGHTS_NAME} is missing; the model folder is incomplete") from None
        except KeyError:
            raise ModelError(f"{folder}: {WEIGHTS_NAME} holds no 'correlation' tensor; the model folder is damaged") from None
        d = sum(_width(m) for m in model.marginals_)
        if correlation.shape != (d, d):
            raise ModelError(
                f"{folder}: the correlation in {WEIGHTS_NAME} is {correlation.shape}, but config.json describes {d} copula columns"
            )
        model.correlation_ = correlation
        model.loss_history_, model.transform_seconds_ = [], 0.0
        return model
