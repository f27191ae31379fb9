"""Utility: does a model trained on synthetic rows work on real ones?

Train on synthetic, test on the real holdout (TSTR), against train on real,
test on the same holdout (TRTR). Their ratio is the share of the real data's
usefulness that the synthetic data keeps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.checks import CheckResult


def _models(seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "logistic_regression": LogisticRegression(max_iter=1000),
        "gradient_boosting": HistGradientBoostingClassifier(max_iter=100, random_state=seed),
    }


def utility_check(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, *, target: str, min_ratio: float,
    max_rows: int, seed: int = 0,
) -> tuple[CheckResult, dict]:
    """Macro-F1 on the real holdout, TSTR / TRTR averaged over the models."""
    from sklearn.metrics import f1_score

    from validation.encoding import RowEncoder

    rng = np.random.default_rng(seed)

    def cap(table: pd.DataFrame) -> pd.DataFrame:
        return table.iloc[rng.choice(len(table), max_rows, replace=False)] if len(table) > max_rows else table

    train, synthetic = cap(train), cap(synthetic)
    holdout = holdout[holdout[target].notna()]
    encoder = RowEncoder(exclude=(target,)).fit(train)
    x_test, y_test = encoder.transform(holdout), holdout[target].astype(str).to_numpy()
    scores: dict[str, dict[str, float]] = {}
    for source, table in (("real", train), ("synthetic", synthetic)):
        table = table[table[target].notna()]
        x, y = encoder.transform(table), table[target].astype(str).to_numpy()
        for name, model in _models(seed).items():
            if len(np.unique(y)) < 2:  # one class only: the model predicts it everywhere
                predicted = np.full(len(y_test), y[0])
            else:
                predicted = model.fit(x, y).predict(x_test)
            scores.setdefault(name, {})[source] = float(f1_score(y_test, predicted, average="macro"))
    trtr = float(np.mean([s["real"] for s in scores.values()]))
    tstr = float(np.mean([s["synthetic"] for s in scores.values()]))
    ratio = tstr / trtr if trtr > 0 else 0.0
    detail = (
        f"macro-F1 on {len(holdout)} real holdout rows predicting {target!r}: TSTR {tstr:.3f}, TRTR {trtr:.3f}; "
        f"models trained on {len(synthetic)} synthetic and {len(train)} real rows"
    )
    check = CheckResult("utility", "tstr_trtr_ratio", ratio >= min_ratio, round(ratio, 4), min_ratio, detail)
    rows = {"synthetic": len(synthetic), "train": len(train), "holdout": len(holdout)}
    return check, {"target": target, "macro_f1": scores, "tstr": tstr, "trtr": trtr, "rows": rows}
