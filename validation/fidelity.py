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


def quality_check(
    real: pd.DataFrame, synthetic: pd.DataFrame, *, min_quality: float, max_rows: int, seed: int = 0
) -> tuple[CheckResult, dict]:
    """sdmetrics' QualityReport: the mean of column-shape and column-pair-trend scores.

    Both tables are scored on at most `max_rows` random rows each (the card
    states it), which keeps the gate fast on large tables.
    """
    from sdmetrics.reports.single_table import QualityReport

    real_s, synth_s = _subsample(real, max_rows, seed), _subsample(synthetic, max_rows, seed + 1)
    report = QualityReport()
    report.generate(real_s, synth_s[real_s.columns], sdmetrics_metadata(real_s), verbose=False)
    score = float(report.get_score())
    properties = {row["Property"]: round(float(row["Score"]), 4) for _, row in report.get_properties().iterrows()}
    detail = ", ".join(f"{k} {v:.3f}" for k, v in properties.items())
    detail += f"; scored on {len(real_s)} real and {len(synth_s)} synthetic rows"
    check = CheckResult("fidelity", "quality_score", score >= min_quality, round(score, 4), min_quality, detail)
    return check, {"score": score, "properties": properties, "rows_scored": [len(real_s), len(synth_s)]}
