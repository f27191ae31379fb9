"""When the gate fails: which columns give the synthetic rows away, and what to try next.

`column_detection` trains one tiny detector per column: the column's values cut into bins (20 quantile bins of
the real and synthetic values together for numbers and dates, the 50 most frequent values plus one "other" for
the rest, missing as a bin of its own), the share of synthetic rows per bin learned on one half of the rows and
scored as a real-vs-synthetic ROC AUC on the other half. 0.5: the column alone cannot tell the tables apart;
1.0: it gives every synthetic row away. Cost: one pass over each column, on at most `max_rows` rows per table.

`next_steps` turns the failed checks and those AUCs into a few concrete lines (which columns, which keys to
change, in which direction). They are stated rules, not a search: each names the evidence it is based on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synth.columns import numeric_values
from validation.checks import CheckResult

#: Bins per numeric column, and categories kept per categorical column (the rest is one "other" bin).
NUMERIC_BINS = 20
CATEGORY_BINS = 50
#: Columns named in the advice, at most.
SHOWN = 3
#: A column this distinguishable on its own is named as a cause.
LOUD_AUC = 0.7


def column_detection(train: pd.DataFrame, synthetic: pd.DataFrame, *, max_rows: int, seed: int = 0
                     ) -> list[tuple[str, float]]:
    """(column, single-column detector AUC) for every shared column, the most distinguishable first."""
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)

    def cap(table: pd.DataFrame) -> pd.DataFrame:
        return table.iloc[rng.choice(len(table), max_rows, replace=False)] if len(table) > max_rows else table

    real, synth = cap(train), cap(synthetic)
    is_synth = np.r_[np.zeros(len(real), bool), np.ones(len(synth), bool)]
    half = rng.random(len(is_synth)) < 0.5  # learn the bins' synthetic shares on one half, score on the other
    if len(np.unique(is_synth[~half])) < 2 or len(np.unique(is_synth[half])) < 2:
        return []
    out = []
    for column in [c for c in train.columns if c in synthetic.columns]:
        codes = _bins(pd.concat([real[column], synth[column]], ignore_index=True))
        width = int(codes.max()) + 1
        s = np.bincount(codes[half], weights=is_synth[half], minlength=width)
        n = np.bincount(codes[half], minlength=width)
        share = (s + 1) / (n + 2)
        auc = float(roc_auc_score(is_synth[~half], share[codes[~half]]))
        out.append((str(column), round(max(auc, 0.5), 4)))
    return sorted(out, key=lambda kv: -kv[1])


def _bins(values: pd.Series) -> np.ndarray:
    """Bin codes 0..k for one column of both tables (missing values get the last code)."""
    missing = values.isna().to_numpy()
    if pd.api.types.is_bool_dtype(values) or not (
            pd.api.types.is_numeric_dtype(values) or pd.api.types.is_datetime64_any_dtype(values)):
        text = values.astype(str).where(~missing)
        top = text.value_counts().index[:CATEGORY_BINS]
        codes = pd.Categorical(text.where(text.isin(top), "\x00other"), categories=[*top, "\x00other"]).codes
        codes = np.asarray(codes, dtype=np.int64)
    else:
        x = numeric_values(values)
        present = x[~missing]
        edges = np.unique(np.quantile(present, np.linspace(0, 1, NUMERIC_BINS + 1)[1:-1])) if len(present) else []
        codes = np.searchsorted(edges, np.nan_to_num(x), side="right").astype(np.int64)
    top_code = int(codes[~missing].max()) + 1 if (~missing).any() else 0
    codes[missing] = top_code
    return codes


def next_steps(checks: list[CheckResult], columns: list[tuple[str, float]], hyperparameters: dict[str, Any] | None
               = None, *, target_kind: str | None = None) -> list[str]:
    """What to try, one line each, from what failed (empty when nothing did). `target_kind` ("regression" or
    "classification", `validation.utility.target_kind`) words the utility advice."""
    failed = {c.name: c for c in checks if c.required and not c.passed}
    if not failed:
        return []
    epochs = (hyperparameters or {}).get("epochs")
    loud = [(c, auc) for c, auc in columns if auc >= LOUD_AUC][:SHOWN]
    named = ", ".join(f"{c} (AUC {auc:.2f})" for c, auc in (loud or columns[:SHOWN]))
    steps = []
    fidelity = {"quality_score", "column_shapes", "pair_trends", "detection_auc"} & set(failed)
    if fidelity:
        if loud:
            steps.append(f"the columns that give the synthetic rows away on their own: {named}; compare them in "
                         "report.html's plots. A column of codes or free text the model cannot learn can be left out "
                         "of source.columns; otherwise the model needs more training"
                         + (f" (generator.epochs={epochs * 2})" if epochs else ""))
        else:
            steps.append("no single column gives the rows away (most distinguishable: "
                         f"{named}): the relationships between columns are off; train longer"
                         + (f" (generator.epochs={epochs * 2})" if epochs else "")
                         + ", or try another generator.kind")
    if {"dcr_closer_to_training", "membership_auc", "exact_copy_rate"} & set(failed):
        steps.append("the synthetic rows sit closer to the training rows than to unseen ones (memorisation): train "
                     "less" + (f" (generator.epochs={max(1, epochs // 2)})" if epochs else "")
                     + ", or with differential privacy (a privacy: block); loosen the privacy thresholds only if "
                       "that closeness is acceptable for this data")
    utility = failed.get("tstr_trtr_ratio")
    if utility is not None and utility.value is None:  # not measured: its detail says why (a target with no values)
        steps.append(f"the utility check could not score the target: {utility.detail}")
    elif {"tstr_trtr_ratio", "rare_class_f1_ratio"} & set(failed):
        longer = "train longer" + (f" (generator.epochs={epochs * 2})" if epochs else "")
        if target_kind == "regression":
            steps.append("regressors trained on the synthetic rows predict the target worse than on real rows (R²): "
                         f"{longer}; report.html's association-difference map shows which of the target's "
                         "relationships the synthetic rows lost")
        else:
            steps.append(f"models trained on the synthetic rows predict the target worse than on real rows: {longer}"
                         "; for a rare class, conditions: rows of that class can add examples of it")
    if "target_share_ratio" in failed:
        steps.append(f"the target's class shares drifted ({failed['target_share_ratio'].detail}): train longer, or "
                     "fix them with conditions: rows of the starved class")
    schema = [c for c in failed.values() if c.suite == "schema"]
    if schema:
        steps.append(f"{len(schema)} schema check(s) failed ({', '.join(c.name for c in schema[:SHOWN])}): a "
                     "declared constraint the model cannot keep, or values outside the real ones; see each check's "
                     "detail")
    return steps
