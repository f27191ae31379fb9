"""Utility: does a model trained on synthetic rows work on real ones?

Train on synthetic, test on the real holdout (TSTR), against train on real,
test on the same holdout (TRTR). Their ratio is the share of the real data's
usefulness that the synthetic data keeps.

What "predict the target" means is decided from the target's training values (`target_kind`): a numeric target
with more distinct values than a column of integer codes may have (`synth.profile.DISCRETE_MAX_VALUES`, the same
threshold that makes a column discrete for the generators) is a quantity, predicted by regressors and scored by
R²; any other target (text, booleans, integer codes, a 0/1 label, a number with few values) is a set of classes,
predicted by classifiers and scored by F1. Rows whose target is missing are left out of every fit and score, and
the figure's detail says how many.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import numpy as np
import pandas as pd

from synth.profile import DISCRETE_MAX_VALUES
from validation.checks import Measurement
from validation.encoding import frequent_values

#: Classes the utility models predict at most (the rest of a target's values are pooled into one).
MAX_CLASSES = 20
#: A regression target's TRTR R² (averaged over the models) below this: the features explain almost none of the
#: target's variance even with real rows, so there is no usefulness for synthetic rows to keep and TSTR / TRTR
#: would be a ratio of two noises; the figure is then reported, not gated (see `_regression`).
MIN_REAL_R2 = 0.05

TargetKind = Literal["classification", "regression"]
#: The score each kind of target is judged by, as messages, the report and the card name it.
METRIC: dict[str, str] = {"classification": "macro-F1", "regression": "R²"}


def target_kind(values: pd.Series) -> TargetKind:
    """"regression" for a numeric (not boolean) target with more than `DISCRETE_MAX_VALUES` distinct non-missing
    values, else "classification". Decided on the training rows, which the downstream models learn from."""
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    return "regression" if numeric and values.nunique(dropna=True) > DISCRETE_MAX_VALUES else "classification"


def describe_kind(values: pd.Series, kind: TargetKind) -> str:
    """Why the target is predicted as it is, in words, for a check's detail."""
    distinct = values.nunique(dropna=True)
    if kind == "regression":
        return f"a regression target: numeric with {distinct:,} distinct values, more than {DISCRETE_MAX_VALUES}"
    return f"a classification target: {distinct:,} distinct values"


def _classifiers(seed: int) -> dict:
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression

    return {
        "logistic_regression": LogisticRegression(max_iter=1000),
        "gradient_boosting": HistGradientBoostingClassifier(max_iter=100, random_state=seed),
    }


def _regressors(seed: int) -> dict:
    """The classifiers' regression twins: a linear model and the same gradient-boosted trees."""
    from sklearn.ensemble import HistGradientBoostingRegressor
    from sklearn.linear_model import Ridge

    return {
        # least squares with a small ridge penalty: the one-hot blocks (and their missing slots) are collinear,
        # which plain least squares answers with arbitrary, huge coefficients
        "linear_regression": Ridge(alpha=1.0),
        "gradient_boosting": HistGradientBoostingRegressor(max_iter=100, random_state=seed),
    }


def missing_target(table: pd.DataFrame, target: str, what: str) -> str | None:
    """One line when `target` has no value in any row of `table` (nothing to predict, or to test on), else None."""
    if table[target].notna().any():
        return None
    return (f"{target!r} is missing in every one of the {len(table):,} {what} rows, so there is nothing to "
            f"{'test the models on' if what == 'holdout' else 'predict'}: choose another target, or fill the column")


def utility_check(
    train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, *, target: str, min_ratio: float,
    max_rows: int, seed: int = 0, min_positive_ratio: float | None = None, kind: TargetKind | None = None,
) -> tuple[list[Measurement], dict]:
    """TSTR / TRTR on the real holdout, averaged over the models: macro-F1 of classifiers for a classification
    target, R² of regressors for a regression one (`kind`; left out, `target_kind` of the training values). For a
    two-class target also the rare class's own F1 ratio (`min_positive_ratio`), which a macro average can hide: a
    model that finds the rare class half as well still scores a macro ratio near 0.9.

    Rows with a missing target are left out first (the detail counts them); then training, synthetic and holdout
    rows are each capped at `max_rows` random rows, and a classification target with more than `MAX_CLASSES`
    values keeps its most frequent ones and scores the rest as one class (a gradient-boosted model grows one tree
    per class per round: 20,000 classes would never finish). A target missing in every training or holdout row
    gives one failed figure (value None) saying so.
    """
    from validation.encoding import RowEncoder

    kind = kind or target_kind(train[target])
    why = describe_kind(train[target], kind)  # on every training row, as the kind was decided
    for table, what in ((train, "training"), (holdout, "holdout")):
        if (problem := missing_target(table, target, what)) is not None:
            return [Measurement("utility", "tstr_trtr_ratio", None, min_ratio, "min", problem)], {
                "target": target, "kind": kind, "metric": METRIC[kind], "problem": problem}
    rng = np.random.default_rng(seed)

    def cap(table: pd.DataFrame) -> pd.DataFrame:
        return table.iloc[rng.choice(len(table), max_rows, replace=False)] if len(table) > max_rows else table

    # rows without a target value teach a model nothing and cannot be scored: left out, and counted
    left_out = {what: int(table[target].isna().sum())
                for what, table in (("training", train), ("synthetic", synthetic), ("holdout", holdout))}
    train, synthetic = cap(train[train[target].notna()]), cap(synthetic[synthetic[target].notna()])
    holdout = cap(holdout[holdout[target].notna()])  # the test rows too: every table the models see is bounded
    encoder = RowEncoder(exclude=(target,)).fit(train)
    common = {"train": train, "holdout": holdout, "synthetic": synthetic, "target": target, "encoder": encoder,
              "min_ratio": min_ratio, "seed": seed}
    if kind == "regression":
        checks, details = _regression(**common, why=why)
    else:
        checks, details = _classification(**common, min_positive_ratio=min_positive_ratio)
    missing = ", ".join(f"{n:,} {what}" for what, n in left_out.items() if n)
    if missing:  # said once, on the headline figure
        checks[0] = replace(checks[0], detail=f"{checks[0].detail}; rows with no {target!r} value, left out "
                                              f"before that: {missing}")
    details.update({"target": target, "kind": kind, "metric": METRIC[kind], "missing_target_rows": left_out,
                    "rows": {"synthetic": len(synthetic), "train": len(train), "holdout": len(holdout)}})
    return checks, details


def _classification(
    *, train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, target: str, encoder, min_ratio: float,
    seed: int, min_positive_ratio: float | None,
) -> tuple[list[Measurement], dict]:
    """Macro-F1 TSTR / TRTR of classifiers, and a two-class target's rare-class F1 ratio."""
    from sklearn.metrics import f1_score

    classes, distinct = frequent_values(train[target].astype(str), MAX_CLASSES)
    other = "\x00(other classes)"  # a label no CSV cell can hold, so never one of the kept classes

    def labels(table: pd.DataFrame) -> np.ndarray:
        y = table[target].astype(str)
        return y.where(y.isin(classes), other).to_numpy() if distinct > MAX_CLASSES else y.to_numpy()

    x_test, y_test = encoder.transform(holdout), labels(holdout)
    # the rare class of a two-class target (the one a downstream model is usually built to find)
    rare = str(train[target].astype(str).value_counts().index[-1]) if distinct == 2 else None
    scores: dict[str, dict[str, float]] = {}
    positive: dict[str, dict[str, float]] = {}
    for source, table in (("real", train), ("synthetic", synthetic)):
        x, y = encoder.transform(table), labels(table)
        for name, model in _classifiers(seed).items():
            if len(y) == 0:  # no synthetic row has a target value: nothing learned, nothing found
                predicted = np.full(len(y_test), other)
            elif len(np.unique(y)) < 2:  # one class only: the model predicts it everywhere
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
    details = {"macro_f1": scores, "tstr": tstr, "trtr": trtr}
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


def _regression(
    *, train: pd.DataFrame, holdout: pd.DataFrame, synthetic: pd.DataFrame, target: str, encoder, min_ratio: float,
    seed: int, why: str,
) -> tuple[list[Measurement], dict]:
    """R² TSTR / TRTR of regressors.

    Each model's R² on the holdout is clipped at 0 before averaging: below 0 a model predicts worse than the
    holdout's mean, which is no usefulness at all (and unclipped, one wild model could drag the average anywhere).
    The ratio is TSTR / TRTR of those averages. When the real R² is near 0 (below `MIN_REAL_R2`) that ratio is
    noise over noise: the features do not predict the target even from real rows, so there is nothing for
    synthetic rows to keep, and the figure is reported without a ratio (value None) instead of gating.
    """
    from sklearn.metrics import r2_score

    x_test = encoder.transform(holdout)
    y_test = pd.to_numeric(holdout[target], errors="coerce").to_numpy(dtype="float64")
    raw: dict[str, dict[str, float]] = {}
    for source, table in (("real", train), ("synthetic", synthetic)):
        y = pd.to_numeric(table[target], errors="coerce").to_numpy(dtype="float64")
        known = ~np.isnan(y)  # a synthetic target that is not a number counts as missing
        x, y = encoder.transform(table)[known], y[known]
        for name, model in _regressors(seed).items():
            # no synthetic row with a target value: nothing learned, which is R² 0 (the mean's score) after clipping
            raw.setdefault(name, {})[source] = (
                float(r2_score(y_test, model.fit(x, y).predict(x_test))) if len(y) else float("-inf"))
    # no skill below 0; not finite (no synthetic target values, a holdout of one row): no skill either
    clipped = {name: {source: max(r2, 0.0) if np.isfinite(r2) else 0.0 for source, r2 in s.items()}
               for name, s in raw.items()}
    trtr = float(np.mean([s["real"] for s in clipped.values()]))
    tstr = float(np.mean([s["synthetic"] for s in clipped.values()]))
    detail = (f"R² on {len(holdout):,} real holdout rows predicting {target!r} "
              f"({why}): TSTR {tstr:.3f}, TRTR {trtr:.3f} (a model's R² "
              f"below 0 counts as 0); regressors trained on {len(synthetic):,} synthetic and {len(train):,} real rows")
    details = {"r2": {name: {source: (r2 if np.isfinite(r2) else None) for source, r2 in s.items()}
                      for name, s in raw.items()}, "tstr": tstr, "trtr": trtr}
    if trtr < MIN_REAL_R2:
        detail += (f"; models trained on real rows explain under {MIN_REAL_R2:.0%} of its variance, so there is no "
                   "usefulness to keep and no ratio (reported, not gated)")
        return [Measurement.reported("utility", "tstr_trtr_ratio", None, detail)], details
    return [Measurement("utility", "tstr_trtr_ratio", round(tstr / trtr, 4), min_ratio, "min", detail)], details


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
