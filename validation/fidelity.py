"""Fidelity: how closely the synthetic table follows the real one."""

from __future__ import annotations

import pandas as pd

from validation.checks import Measurement
from validation.encoding import MAX_CATEGORIES, frequent_values, is_categorical


def sdmetrics_metadata(table: pd.DataFrame) -> dict:
    """sdmetrics' single-table metadata, inferred from dtypes."""
    columns = {}
    for name, dtype in table.dtypes.items():
        if pd.api.types.is_bool_dtype(dtype):
            sdtype = "boolean"
        elif pd.api.types.is_datetime64_any_dtype(dtype):
            sdtype = "datetime"
        elif pd.api.types.is_numeric_dtype(dtype):
            sdtype = "numerical"
        else:
            sdtype = "categorical"
        columns[name] = {"sdtype": sdtype}
    return {"columns": columns}


def _subsample(table: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    return table.sample(max_rows, random_state=seed) if len(table) > max_rows else table


def pool_rare_categories(real: pd.DataFrame, synthetic: pd.DataFrame, limit: int = MAX_CATEGORIES):
    """Copies of both tables where a categorical column with more than `limit` distinct real values keeps its
    `limit` most frequent values and every other value (in either table) becomes one label.

    sdmetrics' pair trends build a dense contingency table per pair of
    columns (distinct values × distinct values: 20,000 × 20,000 is 3.2 GB), so
    unbounded cardinality is unbounded memory. Pooled like the generators pool
    rare values, a column's shape and pair scores are judged on its frequent
    values and the share of the rest. Returns the tables and {column: distinct real values} of the pooled ones.
    """
    pooled: dict[str, int] = {}
    real, synthetic = real.copy(deep=False), synthetic.copy(deep=False)
    for column in real.columns:
        if pd.api.types.is_bool_dtype(real[column]) or not is_categorical(real[column]):
            continue
        kept, distinct = frequent_values(real[column], limit)
        if distinct <= limit:
            continue
        label, n = "(other values)", 0
        while label in kept:
            n += 1
            label = f"(other values {n})"
        for table in (real, synthetic):
            values = table[column].astype("object")
            table[column] = values.where(values.isin(kept) | values.isna(), label)
        pooled[str(column)] = distinct
    return real, synthetic, pooled


def quality_checks(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    min_quality: float,
    min_column_shapes: float,
    min_pair_trends: float,
    max_rows: int,
    seed: int = 0,
) -> tuple[list[Measurement], dict]:
    """sdmetrics' QualityReport: the overall score and its two halves, each a measurement.

    Column shapes (per-column KS / total-variation complements) and pair
    trends (correlation / contingency similarity) are held to thresholds of
    their own, because their mean can hide one of them failing: independently
    shuffled columns keep every shape (0.99 on Adult) and lose the pairs
    (0.76). Both tables are scored on at most `max_rows` random rows each (the
    card states it), which keeps the gate fast on large tables, and
    categorical columns with very many values are pooled
    (`pool_rare_categories`), which keeps its memory bounded.

    sdmetrics averages pair trends only over the pairs that hold a
    relationship in the real rows (|Pearson r| > 0.5 between two numbers,
    association > 0.3 otherwise: its defaults; 13 of Adult's 105 pairs), so
    independent pairs cannot dilute a broken one. When no pair qualifies
    there is nothing to keep: `pair_trends` is then reported, not gating, and
    the quality score is the column-shape score alone.
    """
    # sdmetrics' unified report (the single-table one is deprecated); one table, same scores and thresholds
    from sdmetrics.reports import QualityReport

    real_s, synth_s = _subsample(real, max_rows, seed), _subsample(synthetic, max_rows, seed + 1)
    real_s, synth_s, pooled = pool_rare_categories(real_s, synth_s[real_s.columns])
    report = QualityReport()
    report.generate({"table": real_s}, {"table": synth_s[real_s.columns]},
                    {"tables": {"table": sdmetrics_metadata(real_s)}}, verbose=False)
    properties = {row["Property"]: _rounded(row["Score"]) for _, row in report.get_properties().iterrows()}
    shapes, pairs = properties.get("Column Shapes"), properties.get("Column Pair Trends")
    score = _rounded(report.get_score())  # sdmetrics' mean of the properties it could score
    pair_rows = _pair_trends(report.get_details("Column Pair Trends")) if len(real_s.columns) > 1 else []
    counted = sum(p["counted"] for p in pair_rows)
    scored = f"scored on {len(real_s)} real and {len(synth_s)} synthetic rows"
    if pooled:
        scored += (f"; {len(pooled)} column(s) with more than {MAX_CATEGORIES} values scored on their "
                   f"{MAX_CATEGORIES} most frequent, the rest pooled: {', '.join(pooled)}")
    if pairs is None and not pair_rows:
        pairs_detail = "one column: no pairs to score; report only"
        quality_detail = f"column shapes {_fmt(shapes)} alone (no pair scored); {scored}"
    elif pairs is None:
        pairs_detail = (f"none of the {len(pair_rows)} column pairs has a real relationship strong enough to score "
                        f"(|r| > {report.real_correlation_threshold} "
                        f"or association > {report.real_association_threshold}), "
                        "so there is no trend to keep; report only")
        quality_detail = f"column shapes {_fmt(shapes)} alone (no pair scored); {scored}"
    else:
        pairs_detail = (f"correlation / contingency similarity averaged over the {counted} of {len(pair_rows)} "
                        f"pairs with a real relationship (|r| > {report.real_correlation_threshold}, association > "
                        f"{report.real_association_threshold}); {scored}")
        quality_detail = f"mean of column shapes {_fmt(shapes)} and pair trends {_fmt(pairs)}; {scored}"
    checks = [
        Measurement("fidelity", "quality_score", score, min_quality, "min", quality_detail),
        Measurement("fidelity", "column_shapes", shapes, min_column_shapes, "min",
                    f"per-column KS / total-variation complements, averaged; {scored}"),
        Measurement("fidelity", "pair_trends", pairs, min_pair_trends, "min", pairs_detail) if pairs is not None
        else Measurement.reported("fidelity", "pair_trends", None, pairs_detail),
    ]
    shape_rows = report.get_details("Column Shapes")
    per_column = {str(r["Column"]): _rounded(r["Score"]) for _, r in shape_rows.iterrows()}
    return checks, {
        "score": score, "properties": properties, "column_shapes": per_column, "pair_trends": pair_rows,
        "pair_thresholds": {"correlation": report.real_correlation_threshold,
                            "association": report.real_association_threshold},
        "rows_scored": [len(real_s), len(synth_s)],
        "pooled_columns": pooled,
    }


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _rounded(value) -> float | None:
    """A sub-score as a 4-decimal float, or None where sdmetrics could not score (NaN)."""
    value = float(value)
    return None if value != value else round(value, 4)


def _pair_trends(rows: pd.DataFrame) -> list[dict]:
    """sdmetrics' per-pair sub-scores: which metric, the score, and the real/synthetic figure it compared.

    Numeric pairs are scored by correlation similarity (1 - |real r - synthetic r| / 2),
    the others by contingency similarity (1 - total variation distance of the
    joint frequencies); the real correlation / association are kept so a reader
    sees what the synthetic rows had to keep, not only the score.
    """
    def figure(value) -> float | None:
        return None if value is None or pd.isna(value) else round(float(value), 4)

    pairs = []
    for _, r in rows.iterrows():
        meets = r.get("Meets Threshold?", True)
        pairs.append({
            "columns": [str(r["Column 1"]), str(r["Column 2"])],
            "metric": str(r["Metric"]),
            "score": _rounded(r["Score"]),
            # whether the pair counts toward pair_trends (its real relationship is strong enough)
            "counted": not pd.isna(meets) and bool(meets) and not pd.isna(r["Score"]),
            "real_correlation": figure(r.get("Real Correlation")),
            "synthetic_correlation": figure(r.get("Synthetic Correlation")),
            "real_association": figure(r.get("Real Association")),
        })
    return pairs


def detection_check(
    real: pd.DataFrame, synthetic: pd.DataFrame, *, max_auc: float, max_rows: int, seed: int = 0
) -> tuple[Measurement, dict]:
    """Can a classifier tell real rows from synthetic ones? ROC AUC on held-out rows.

    0.5 means indistinguishable; 1.0 means every synthetic row gives itself
    away. Unlike per-column and pairwise scores, a gradient-boosted detector
    sees every column at once, so it catches broken dependencies (for
    example independently shuffled columns) that marginals hide.
    """
    import numpy as np
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import train_test_split

    from validation.encoding import RowEncoder

    n = min(len(real), len(synthetic), max_rows)
    real_s, synth_s = _subsample(real, n, seed), _subsample(synthetic, n, seed + 1)
    encoder = RowEncoder().fit(real_s)
    x = np.concatenate([encoder.transform(real_s), encoder.transform(synth_s[real_s.columns])])
    y = np.concatenate([np.zeros(n), np.ones(n)])
    x_fit, x_test, y_fit, y_test = train_test_split(x, y, test_size=0.3, random_state=seed, stratify=y)
    detector = HistGradientBoostingClassifier(max_iter=100, random_state=seed).fit(x_fit, y_fit)
    auc = float(roc_auc_score(y_test, detector.predict_proba(x_test)[:, 1]))
    detail = f"gradient-boosted detector, {n} real + {n} synthetic rows, 30% held out for scoring"
    check = Measurement("fidelity", "detection_auc", round(auc, 4), max_auc, "max", detail)
    return check, {"detection_auc": auc, "rows": n}
