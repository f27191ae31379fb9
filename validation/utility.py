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
    max_rows: int, seed: int = 0, min_positive_ratio: float | None = None,
) -> tuple[list[Measurement], dict]:
    """Macro-F1 on the real holdout, TSTR / TRTR averaged over the models; for a two-class target also the rare
    class's own F1 ratio (`min_positive_ratio`), which a macro average can hide: a model that finds the rare class
    half as well still scores a macro ratio near 0.9.

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
    # the rare class of a two-class target (the one a downstream model is usually built to find)
    rare = str(train[target].dropna().astype(str).value_counts().index[-1]) if distinct == 2 else None
    scores: dict[str, dict[str, float]] = {}
    positive: dict[str, dict[str, float]] = {}
    for source, table in (("real", train), ("synthetic", synthetic)):
        table = table[table[target].notna()]
        x, y = encoder.transform(table), labels(table)
        for name, model in _models(seed).items():
            if len(np.unique(y)) < 2:  # one class only: the model predicts it everywhere
                predicted = np.full(len(y_test), y[0])
            else:
                predicted = model.fit(x, y).predict(x_test)
            scores.setdefault(name, {})[source] = float(f1_score(y_test, predicted, average="macro"))
            if rare is not None:
                positive.setdefault(name, {})[source] = float(
                    f1_score(y_test, predicted, labels=[rare], average="macro", zero_division=0))
    trtr = float(np.mean([s["real"] for s in scores.values()]))
    tstr = float(np.mean([s["synthetic"] for s in scores.values()]))
    ratio = tstr / trtr if trtr > 0 else 0.0
    detail = (
        f"macro-F1 on {len(holdout)} real holdout rows predicting {target!r}: TSTR {tstr:.3f}, TRTR {trtr:.3f}; "
        f"models trained on {len(synthetic)} synthetic and {len(train)} real rows"
    ) + (f"; {target!r} has {distinct} values: the {MAX_CLASSES} most frequent are classes, the rest one class"
         if distinct > MAX_CLASSES else "")
    checks = [Measurement("utility", "tstr_trtr_ratio", round(ratio, 4), min_ratio, "min", detail)]
    rows = {"synthetic": len(synthetic), "train": len(train), "holdout": len(holdout)}
    details = {"target": target, "macro_f1": scores, "tstr": tstr, "trtr": trtr, "rows": rows}
    if rare is not None:
        real_f1 = float(np.mean([s["real"] for s in positive.values()]))
        synth_f1 = float(np.mean([s["synthetic"] for s in positive.values()]))
        value = round(synth_f1 / real_f1, 4) if real_f1 > 0 else None
        detail = (f"F1 of the rare class {target}={rare!r} on the real holdout: TSTR {synth_f1:.3f}, TRTR {real_f1:.3f}"
                  + ("" if real_f1 > 0 else "; models trained on real rows never find it, so there is no ratio"))
        if min_positive_ratio is None or real_f1 == 0:
            checks.append(Measurement.reported("utility", "rare_class_f1_ratio", value, detail))
        else:
            checks.append(Measurement("utility", "rare_class_f1_ratio", value, min_positive_ratio, "min", detail))
        details["rare_class_f1"] = {"class": rare, **positive}
    return checks, details


def target_balance_check(
    train: pd.DataFrame, synthetic: pd.DataFrame, *, target: str, max_ratio: float, rebalanced: bool = False,
) -> Measurement:
    """How far the synthetic class shares of `target` stray from the training rows': the largest ratio
    max(s / r, r / s) over the classes (shares smoothed by one row each, so an absent class is finite), among the
    `MAX_CLASSES` most frequent. A doubled or starved rare class shows here even when the F1 ratios pass.

    `rebalanced`: the spec's conditions add rows of chosen target classes on purpose, so the figure is reported
    but does not gate."""
    classes, _ = frequent_values(train[target].astype(str).where(train[target].notna()), MAX_CLASSES)
    real = train[target].dropna().astype(str)
    synth = synthetic[target].dropna().astype(str)
    k = len(classes)
    real_share = (real.value_counts().reindex(classes, fill_value=0) + 1) / (len(real) + k)
    synth_share = (synth.value_counts().reindex(classes, fill_value=0) + 1) / (len(synth) + k)
    ratio = np.maximum(synth_share / real_share, real_share / synth_share)
    worst = str(ratio.idxmax())
    detail = (f"{target}={worst!r} is {synth_share[worst]:.1%} of the synthetic rows and {real_share[worst]:.1%} of "
              f"the training rows (the class whose share strays most, of {k})")
    if rebalanced:
        return Measurement.reported("utility", "target_share_ratio", round(float(ratio.max()), 4),
                                    detail + "; the spec's conditions rebalance the target on purpose")
    return Measurement("utility", "target_share_ratio", round(float(ratio.max()), 4), max_ratio, "max", detail)
