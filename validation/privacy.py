"""Privacy: is the synthetic table a copy of the people it was trained on?"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.checks import CheckResult


def _row_hashes(table: pd.DataFrame, columns: list[str]) -> np.ndarray:
    # Hash on a normalised form so 5 and 5.0, or NaN and None, compare equal.
    normal = table[columns].copy()
    for column in columns:
        series = normal[column]
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            normal[column] = series.astype("float64")
        else:
            normal[column] = series.astype("object").where(series.notna(), None).astype(str)
    return pd.util.hash_pandas_object(normal, index=False).to_numpy()


def exact_copy_rate(train: pd.DataFrame, other: pd.DataFrame) -> float:
    """Share of rows of `other` identical, in every column, to some training row."""
    columns = list(train.columns)
    return float(np.isin(_row_hashes(other, columns), _row_hashes(train, columns)).mean())


def exact_copy_check(
    train: pd.DataFrame, synthetic: pd.DataFrame, holdout: pd.DataFrame | None, *, max_rate: float
) -> CheckResult:
    """Synthetic rows that copy a training row must be rare.

    The holdout's own rate is shown beside it: real tables contain duplicate
    people (Adult: about 0.1%), so that is the rate a fresh sample of the
    population would reach by chance.
    """
    rate = exact_copy_rate(train, synthetic)
    detail = f"{int(round(rate * len(synthetic)))} of {len(synthetic)} synthetic rows copy a training row"
    if holdout is not None and len(holdout):
        detail += f"; real holdout rows that do: {exact_copy_rate(train, holdout):.4f}"
    return CheckResult("privacy", "exact_copy_rate", rate <= max_rate, round(rate, 6), max_rate, detail)
