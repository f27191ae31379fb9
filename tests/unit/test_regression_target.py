"""A numeric target with many values is predicted as a number: regressors, R², TSTR / TRTR judged like F1's.

Each table is built to trigger the rule (a numeric target with more distinct values than integer codes have,
`synth.profile.DISCRETE_MAX_VALUES`) or not to trigger it.
"""

import numpy as np
import pandas as pd
import pytest

from synth.profile import DISCRETE_MAX_VALUES, ColumnProfile
from validation.diagnosis import next_steps
from validation.expectations import GXSession
from validation.gate import GateReport, _utility
from validation.utility import MIN_REAL_R2, target_kind, utility_check


def _table(n: int, seed: int = 0, noise: float = 0.5) -> pd.DataFrame:
    """y = 3·x + a shift per group + noise: about 90% of its variance explained by x and the group."""
    rng = np.random.default_rng(seed)
    x, group = rng.normal(size=n), rng.choice(["a", "b", "c"], n)
    y = 3 * x + pd.Series(group).map({"a": 0.0, "b": 1.0, "c": -1.0}).to_numpy() + noise * rng.normal(size=n)
    return pd.DataFrame({"x": x, "z": rng.normal(size=n), "group": group, "y": y})


def _utility_figures(train, holdout, synthetic, **kw):
    """The gate's utility figures (TSTR / TRTR, the class-share check), as `run_gate` measures them."""
    details: dict = {}
    measured = _utility(train, holdout, synthetic, details, target="y", min_ratio=0.8, min_rare_ratio=0.75,
                        max_share_ratio=1.5, rebalanced=False, kind=None,
                        scoring={"max_rows": 5000, "seed": 0}, **kw)
    return {m.name: m for m in measured}, details


# ------------------------------------------------------------------------------------------- the rule

@pytest.mark.parametrize(("values", "kind"), [
    (np.random.default_rng(0).normal(size=300), "regression"),  # a measurement
    (np.arange(DISCRETE_MAX_VALUES + 1).repeat(3), "regression"),  # integers, one value more than codes have
    (np.arange(DISCRETE_MAX_VALUES).repeat(3), "classification"),  # exactly as many values as codes may have
    (np.tile([0, 1], 50), "classification"),  # a 0/1 label
    (np.tile([0.5, 1.5, 2.5], 40), "classification"),  # few decimals: their values are classes
    (np.tile([True, False], 50), "classification"),  # booleans are never numbers to predict
    (np.array([f"v{i}" for i in range(100)]), "classification"),  # text, however many values
])
def test_a_target_is_regression_when_numeric_with_more_values_than_codes_have(values, kind):
    assert target_kind(pd.Series(values)) == kind


def test_missing_values_do_not_count_as_a_value():
    values = pd.Series(np.r_[np.arange(DISCRETE_MAX_VALUES, dtype=float), [np.nan] * 50])
    assert target_kind(values) == "classification"
    assert target_kind(pd.Series(np.r_[values, [100.0]])) == "regression"


# ------------------------------------------------------------------------------------------- the figure

def test_faithful_synthetic_rows_keep_r2_and_a_shuffled_target_loses_it():
    train, holdout = _table(1500), _table(600, seed=1)
    checks, details = utility_check(train, holdout, _table(1500, seed=2), target="y", min_ratio=0.8, max_rows=5000)
    assert [c.name for c in checks] == ["tstr_trtr_ratio"]  # no rare-class figure: a number has no classes
    good = checks[0]
    assert good.bound == "min" and good.threshold == 0.8 and 0.9 < good.value <= 1.1
    assert good.detail.startswith("R² on 600 real holdout rows predicting 'y' (a regression target")
    assert "F1" not in good.detail
    assert details["kind"] == "regression" and details["metric"] == "R²" and details["trtr"] > 0.8
    assert set(details["r2"]) == {"linear_regression", "gradient_boosting"}

    # the same synthetic rows with the target shuffled: its link to the features is gone, and so is the ratio
    shuffled = _table(1500, seed=2)
    shuffled["y"] = shuffled["y"].sample(frac=1, random_state=3).to_numpy()
    bad, _ = utility_check(train, holdout, shuffled, target="y", min_ratio=0.8, max_rows=5000)
    assert bad[0].value < 0.1 < good.value - 0.8

    # judged by GX, like the classification ratio
    session = GXSession()
    assert session.judge([good], suite_label="utility")[0][0].passed
    judged = session.judge(bad, suite_label="utility")[0][0]
    assert not judged.passed and judged.required and judged.requirement == "at least 0.8"


def test_a_negative_synthetic_r2_counts_as_no_skill():
    train, holdout = _table(800), _table(400, seed=1)
    # synthetic rows whose target runs against x: models trained on them predict worse than the holdout's mean
    inverted = _table(800, seed=2).assign(y=lambda t: -t["y"])
    checks, details = utility_check(train, holdout, inverted, target="y", min_ratio=0.8, max_rows=5000)
    assert min(s["synthetic"] for s in details["r2"].values()) < 0
    assert checks[0].value == 0.0 and details["tstr"] == 0.0


def test_a_target_the_features_do_not_predict_is_reported_not_gated():
    rng = np.random.default_rng(0)
    noise = pd.DataFrame({"x": rng.normal(size=1200), "y": rng.normal(size=1200)})
    checks, details = utility_check(noise[:800], noise[800:], noise[:800], target="y", min_ratio=0.8,
                                    max_rows=5000)
    assert details["trtr"] < MIN_REAL_R2
    assert checks[0].value is None and not checks[0].required
    assert "explain under 5% of its variance" in checks[0].detail


def test_class_checks_do_not_apply_to_a_regression_target():
    train, holdout, synthetic = _table(1000), _table(400, seed=1), _table(1000, seed=2)
    figures, _ = _utility_figures(train, holdout, synthetic)
    assert set(figures) == {"tstr_trtr_ratio", "target_share_ratio"}
    share = figures["target_share_ratio"]
    assert not share.required and share.value is None and share.detail.startswith("not applicable: 'y' is a "
                                                                                   "regression target")
    # a few-valued numeric target is still a class label: its shares are judged, its rare class too
    labelled = [t.assign(y=(t["y"] > 2).astype(int)) for t in (train, holdout, synthetic)]
    figures, details = _utility_figures(*labelled)
    assert figures["target_share_ratio"].required and figures["rare_class_f1_ratio"].required
    assert details["utility"]["metric"] == "macro-F1" and figures["tstr_trtr_ratio"].detail.startswith("macro-F1")


# ------------------------------------------------------------------------------------------- bad input

def test_rows_with_a_missing_target_are_left_out_and_counted():
    train, holdout, synthetic = _table(1000), _table(400, seed=1), _table(1000, seed=2)
    train.loc[train.index[:70], "y"] = np.nan
    holdout.loc[holdout.index[:30], "y"] = np.nan
    synthetic.loc[synthetic.index[:5], "y"] = np.nan
    checks, details = utility_check(train, holdout, synthetic, target="y", min_ratio=0.8, max_rows=5000)
    assert checks[0].value > 0.9
    assert "rows with no 'y' value, left out before that: 70 training, 5 synthetic, 30 holdout" in checks[0].detail
    assert details["rows"] == {"train": 930, "synthetic": 995, "holdout": 370}


def test_an_all_missing_target_gives_one_clear_failed_line():
    train, holdout, synthetic = _table(300), _table(100, seed=1), _table(300, seed=2)
    train["y"] = np.nan
    figures, details = _utility_figures(train, holdout, synthetic)
    assert list(figures) == ["tstr_trtr_ratio"]  # the share check would only repeat it
    line = figures["tstr_trtr_ratio"]
    assert line.value is None and line.required
    assert line.detail == ("'y' is missing in every one of the 300 training rows, so there is nothing to predict: "
                           "choose another target, or fill the column")
    verdicts, _ = GXSession().judge([line], suite_label="utility")
    assert not verdicts[0].passed and "\n" not in verdicts[0].one_line()
    steps = next_steps(verdicts, [], {"epochs": 100}, target_kind="regression")
    assert steps == [f"the utility check could not score the target: {line.detail}"]  # not "train longer"


def test_a_synthetic_target_with_no_values_scores_no_skill():
    train, holdout, synthetic = _table(600), _table(300, seed=1), _table(600, seed=2)
    synthetic["y"] = np.nan
    checks, details = utility_check(train, holdout, synthetic, target="y", min_ratio=0.8, max_rows=5000)
    assert checks[0].value == 0.0 and checks[0].required and details["rows"]["synthetic"] == 0


# ------------------------------------------------------------------------------------------- wording

def test_the_scorecard_and_the_advice_say_r2_for_regression(tmp_path):
    from validation.report import write_report

    train, holdout, synthetic = _table(600), _table(300, seed=1), _table(600, seed=2)
    synthetic["y"] = synthetic["y"].sample(frac=1, random_state=0).to_numpy()
    figures, details = _utility_figures(train, holdout, synthetic)
    verdicts, _ = GXSession().judge(list(figures.values()), suite_label="utility")
    report = GateReport(checks=verdicts, details=details)
    page = write_report(tmp_path / "report.html", report, train, synthetic, title="t").read_text()
    assert "tstr_trtr_ratio (R²)</td>" in page and "F1" not in page
    advice = next_steps(verdicts, [], {"epochs": 100}, target_kind="regression")
    assert len(advice) == 1 and "(R²)" in advice[0] and "rare class" not in advice[0]


def test_synth_init_says_how_a_numeric_target_is_scored():
    from synth.commands.init import _utility_task

    def profile(kind: str, distinct: int, missing: int = 0) -> ColumnProfile:
        return ColumnProfile(name="t", kind=kind, evidence="", action="", dtype="float64", rows=1000,
                             missing=missing, distinct=distinct)

    said = _utility_task(profile("continuous", 581, missing=2067))
    assert said == ("the utility check predicts it as a regression target (numeric with 581 distinct values, more "
                    "than 32): R² of regressors trained on synthetic rows against the same trained on real rows; its "
                    "2,067 rows with no value are left out of that check")
    assert "as classes (2 values): F1 of classifiers" in _utility_task(profile("discrete", 2))
    few = _utility_task(profile("continuous", DISCRETE_MAX_VALUES))  # few decimals: classes
    assert "as classes (32 values, the 20 most frequent each a class and the rest one): F1" in few


def test_the_whole_gate_on_a_regression_target():
    from synth.spec import ValidationSpec
    from validation.gate import run_gate

    train, holdout, synthetic = _table(800), _table(400, seed=1), _table(800, seed=2)
    report = run_gate(train, holdout, synthetic, target="y", **ValidationSpec(max_rows_scored=1000).model_dump())
    checks = {c.name: c for c in report.checks if c.suite == "utility"}
    assert set(checks) == {"tstr_trtr_ratio", "target_share_ratio"}
    assert checks["tstr_trtr_ratio"].required and checks["tstr_trtr_ratio"].passed
    assert not checks["target_share_ratio"].required
    assert report.details["scored"]["tstr_trtr_ratio"].startswith("R² of models trained on all 800 synthetic rows")
    # rows without a target value are not a random sample left out: the sentence says what was scored
    holdout.loc[holdout.index[:10], "y"] = np.nan
    report = run_gate(train, holdout, synthetic, target="y", **ValidationSpec(max_rows_scored=1000).model_dump())
    assert report.details["scored"]["tstr_trtr_ratio"] == (
        "R² of models trained on all 800 synthetic rows and on all 800 training rows, tested on 390 holdout rows with "
        "a 'y' value")
