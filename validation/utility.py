"""Utility: does a model trained on synthetic rows work on real ones?

Train on synthetic, test on the real holdout (TSTR), against train on real,
test on the same holdout (TRTR). Their ratio is the share of the real data's
usefulness that the synthetic data keeps.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from validation.checks import Measurement
from validation.encoding import frequent_values

#: Classes the utility models predict at most (the rest of a target's values are pooled into one).
MAX_CLASSES = 20


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
) -> tuple[Measurement, dict]:
    """Macro-F1 on the real holdout, TSTR / TRTR averaged over the models.

    Training, synthetic and holdout rows are each capped at `max_rows` random
    rows, and a target with more than `MAX_CLASSES` values keeps its most
    frequent ones and scores the rest as one class (a gradient-boosted model
    grows one tree per class per round: 20,000 classes would never finish).
    """
    from sklearn.metrics import f1_score

    from validation.encoding import RowEncoder

    rng = np.random.default_rng(seed)

    def cap(table: pd.DataFrame) -> pd.DataFrame:
        return table.iloc[rng.choice(len(table), max_rows, replace=False)] if len(table) > max_rows else table

    train, synthetic = cap(train), cap(synthetic)
    holdout = cap(holdout[holdout[target].notna()])  # the test rows too: every table the models see is bounded
    encoder = RowEncoder(exclude=(target,)).fit(train)
    classes, distinct = frequent_values(train[target].astype(str).where(train[target].notna()), MAX_CLASSES)
    other = "\x00(other classes)"  # a label no CSV cell can hold, so never one of the kept classes

    def labels(table: pd.DataFrame) -> np.ndarray:
        y = table[target].astype(str)
        return y.where(y.isin(classes), other).to_numpy() if distinct > MAX_CLASSES else y.to_numpy()

    x_test, y_test = encoder.transform(holdout), labels(holdout)
    scores: dict[str, dict[str, float]] = {}
    for source, table in (("real", train), ("synthetic", synthetic)):
        table = table[table[target].notna()]
        x, y = encoder.transform(table), labels(table)
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
    ) + (f"; {target!r} has {distinct} values: the {MAX_CLASSES} most frequent are classes, the rest one class"
         if distinct > MAX_CLASSES else "")
    check = Measurement("utility", "tstr_trtr_ratio", round(ratio, 4), min_ratio, "min", detail)
    rows = {"synthetic": len(synthetic), "train": len(train), "holdout": len(holdout)}
    return check, {"target": target, "macro_f1": scores, "tstr": tstr, "trtr": trtr, "rows": rows}
