"""Fidelity: how closely the synthetic table follows the real one."""

from __future__ import annotations

import pandas as pd

from validation.checks import CheckResult


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


def quality_checks(
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    *,
    min_quality: float,
    min_column_shapes: float,
    min_pair_trends: float,
    max_rows: int,
    seed: int = 0,
) -> tuple[list[CheckResult], dict]:
    """sdmetrics' QualityReport: the overall score and its two halves, each a check.

    Column shapes (per-column KS / total-variation complements) and pair
    trends (correlation / contingency similarity) are held to thresholds of
    their own, because their mean can hide one of them failing: independently
    shuffled columns keep every shape (0.99 on Adult) and lose the pairs
    (0.76). Both tables are scored on at most `max_rows` random rows each (the
    card states it), which keeps the gate fast on large tables.
    """
    from sdmetrics.reports.single_table import QualityReport

    real_s, synth_s = _subsample(real, max_rows, seed), _subsample(synthetic, max_rows, seed + 1)
    report = QualityReport()
    report.generate(real_s, synth_s[real_s.columns], sdmetrics_metadata(real_s), verbose=False)
    score = float(report.get_score())
    properties = {row["Property"]: round(float(row["Score"]), 4) for _, row in report.get_properties().iterrows()}
    scored = f"scored on {len(real_s)} real and {len(synth_s)} synthetic rows"
    shapes, pairs = properties.get("Column Shapes", float("nan")), properties.get("Column Pair Trends", float("nan"))
    checks = [
        CheckResult("fidelity", "quality_score", score >= min_quality, round(score, 4), min_quality,
                    f"mean of column shapes {shapes:.3f} and pair trends {pairs:.3f}; {scored}"),
        CheckResult("fidelity", "column_shapes", shapes >= min_column_shapes, round(shapes, 4), min_column_shapes,
                    f"per-column KS / total-variation complements, averaged; {scored}"),
        CheckResult("fidelity", "pair_trends", pairs >= min_pair_trends, round(pairs, 4), min_pair_trends,
                    f"pairwise correlation / contingency similarity, averaged; {scored}"),
    ]
    shape_rows = report.get_details("Column Shapes")
    per_column = {str(r["Column"]): round(float(r["Score"]), 4) for _, r in shape_rows.iterrows()}
    return checks, {
        "score": score, "properties": properties, "column_shapes": per_column, "rows_scored": [len(real_s), len(synth_s)],
    }


def detection_check(
    real: pd.DataFrame, synthetic: pd.DataFrame, *, max_auc: float, max_rows: int, seed: int = 0
) -> tuple[CheckResult, dict]:
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
    return CheckResult("fidelity", "detection_auc", auc <= max_auc, round(auc, 4), max_auc, detail), {"detection_auc": auc}
