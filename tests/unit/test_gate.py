"""The gate catches what it must, on real Adult rows."""

import numpy as np
import pandas as pd
import pytest

from synth.spec import ValidationSpec
from validation.gate import run_gate
from validation.privacy import exact_copy_rate, nearest_distances

THRESHOLDS = ValidationSpec(max_rows_scored=5000).model_dump()  # the spec's defaults


@pytest.fixture(scope="module")
def split(adult):
    """4,500 training rows, 2,250 holdout rows, and 2,250 fresh rows of the same population."""
    rows = adult.sample(9000, random_state=0).reset_index(drop=True)
    train, holdout, fresh = rows.iloc[:4500], rows.iloc[4500:6750], rows.iloc[6750:]
    return train, holdout, _plausible(train, fresh)


def _plausible(train, rows):
    """Rows inside the training rows' numeric ranges and category sets: what a good generator emits."""
    keep = np.ones(len(rows), dtype=bool)
    for column in train.columns:
        if train[column].dtype.kind in "iuf":
            keep &= rows[column].between(train[column].min(), train[column].max()).to_numpy()
        else:
            keep &= (rows[column].isna() | rows[column].isin(train[column].dropna().unique())).to_numpy()
    return rows[keep]


def _gate(train, holdout, synthetic, **overrides):
    return run_gate(train, holdout, synthetic, target="income", **{**THRESHOLDS, **overrides})


def _failed(report):
    return {c.name for c in report.failed}


def test_fresh_real_rows_pass(split):
    """Unseen real rows from the same population are what a perfect generator would make."""
    train, holdout, fresh = split
    report = _gate(train, holdout, fresh)
    assert report.passed, report.summary()
    assert {c.suite for c in report.checks} == {"schema", "fidelity", "privacy", "utility"}
    checks = {c.name: c for c in report.checks}
    assert 0.4 < checks["dcr_closer_to_training"].value < 0.6
    assert 0.4 < checks["membership_auc"].value < 0.6
    # every suite is a GX suite, and GX's verdicts are the gate's
    assert set(report.suite_results) == {"schema", "fidelity", "privacy", "utility"}
    assert all(result["success"] for result in report.suite_results.values())
    # sdmetrics' sub-scores are kept for the report: one per column, one per pair of columns
    quality = report.details["quality"]
    assert set(quality["column_shapes"]) == set(train.columns)
    assert len(quality["pair_trends"]) == len(train.columns) * (len(train.columns) - 1) // 2
    age_hours = next(p for p in quality["pair_trends"] if set(p["columns"]) == {"age", "hours-per-week"})
    assert age_hours["metric"] == "CorrelationSimilarity" and age_hours["real_correlation"] is not None
    # pair_trends is sdmetrics' average over the pairs with a real relationship, and the report lists those
    counted = [p["score"] for p in quality["pair_trends"] if p["counted"]]
    assert 0 < len(counted) < len(quality["pair_trends"])
    assert checks["pair_trends"].value == pytest.approx(np.mean(counted), abs=1e-3)
    # every check says what it scored; here everything fits under max_rows_scored
    scored = report.details["scored"]
    assert set(scored) >= {"exact_copy_rate", "detection_auc", "membership_auc", "tstr_trtr_ratio"}
    assert scored["dcr_closer_to_training, nndr_p5"].startswith(f"all {len(fresh):,} synthetic rows")


def test_training_rows_offered_as_synthetic_fail_privacy(split):
    train, holdout, _ = split
    report = _gate(train, holdout, train.sample(frac=1, random_state=0))
    assert _failed(report) == {"exact_copy_rate", "dcr_closer_to_training", "membership_auc"}
    checks = {c.name: c for c in report.checks}
    assert checks["exact_copy_rate"].value == 1.0 and checks["dcr_closer_to_training"].value > 0.95
    assert checks["membership_auc"].value > 0.9
    assert checks["nndr_p5"].value == 0.0  # reported, not gating


def test_shuffled_columns_fail_detection_but_keep_column_shapes(split):
    train, holdout, fresh = split
    rng = np.random.default_rng(0)
    shuffled = fresh.copy()
    for column in shuffled.columns:  # keeps every marginal, destroys every relationship
        shuffled[column] = rng.permutation(shuffled[column].to_numpy())
    report = _gate(train, holdout, shuffled)
    assert {"pair_trends", "detection_auc"} <= _failed(report)
    assert "column_shapes" not in _failed(report)  # every marginal is intact
    assert not any(c.suite == "schema" for c in report.failed)
    checks = {c.name: c for c in report.checks}
    assert checks["column_shapes"].value > 0.9 and checks["pair_trends"].value < 0.8


def test_random_labels_fail_utility(split):
    train, holdout, fresh = split
    scrambled = fresh.copy()
    scrambled["income"] = np.random.default_rng(0).permutation(scrambled["income"].to_numpy())
    report = _gate(train, holdout, scrambled)
    assert "tstr_trtr_ratio" in _failed(report)
    assert report.details["utility"]["tstr"] < report.details["utility"]["trtr"]


def test_schema_violations_are_named(split):
    train, holdout, fresh = split
    bad = fresh.copy()
    bad.loc[bad.index[0], "age"] = 500
    bad["education-num"] = bad["education-num"].astype(float)
    bad.loc[bad.index[1], "workclass"] = "Astronaut"
    report = _gate(train, None, bad)
    failed = {c.name: c for c in report.failed}
    assert {"range:age", "type:education-num", "categories:workclass"} <= set(failed)
    assert "Astronaut" in failed["categories:workclass"].detail
    assert "500" in failed["range:age"].one_line()


def test_no_related_pair_makes_pair_trends_report_only():
    """Independent columns hold no trend to keep: pair_trends is reported, not failed, and never NaN."""
    from validation.expectations import GXSession
    from validation.fidelity import quality_checks

    rng = np.random.default_rng(0)

    def table():
        return pd.DataFrame({"a": rng.normal(size=400), "b": rng.integers(0, 5, 400),
                             "c": rng.choice(list("xyz"), 400)})

    checks, details = quality_checks(table(), table(), min_quality=0.7, min_column_shapes=0.8, min_pair_trends=0.8,
                                     max_rows=1000)
    by_name = {c.name: c for c in checks}
    pairs = by_name["pair_trends"]
    assert pairs.value is None and not pairs.required and pairs.threshold == "report only" and pairs.bound is None
    assert "none of the 3 column pairs" in pairs.detail
    assert by_name["quality_score"].value == by_name["column_shapes"].value
    verdicts, _ = GXSession().judge(checks, suite_label="fidelity")
    assert not [c for c in verdicts if c.required and not c.passed]


def test_exact_copy_rate_treats_missing_values_as_equal(split):
    train, _, _ = split
    with_nulls = train[train["workclass"].isna()].head(20)
    assert len(with_nulls) > 0
    assert exact_copy_rate(train, with_nulls) == 1.0


def test_nearest_distances_match_brute_force():
    rng = np.random.default_rng(0)
    queries, reference = rng.random((300, 7), dtype=np.float32), rng.random((500, 7), dtype=np.float32)
    expected = np.sort(np.linalg.norm(queries[:, None, :] - reference[None, :, :], axis=2), axis=1)[:, :2]
    np.testing.assert_allclose(nearest_distances(queries, reference, k=2, chunk=64), expected, rtol=1e-4, atol=1e-5)


def test_gx_gives_the_verdict_on_measured_figures(split):
    """A threshold the figure cannot meet fails through the fidelity GX suite, which records it."""
    train, holdout, fresh = split
    report = _gate(train, holdout, fresh, min_quality=0.999)
    assert _failed(report) == {"quality_score"}
    fidelity = report.suite_results["fidelity"]
    assert fidelity["success"] is False
    failed_gx = [r for r in fidelity["results"] if not r["success"]]
    assert [r["expectation_config"]["meta"]["check"] for r in failed_gx] == ["quality_score"]
    # GX holds the figure to its floor and records what it saw
    assert failed_gx[0]["expectation_config"]["type"] == "expect_column_min_to_be_between"
    assert failed_gx[0]["result"]["observed_value"] == next(c.value for c in report.checks if c.name == "quality_score")


def test_declared_constraints_are_checked(split, tmp_path):
    train, _, fresh = split
    bad = fresh.copy()
    bad.loc[bad.index[:3], "education-num"] = bad["age"].iloc[:3] + 1  # more years of school than of life
    bad.loc[bad.index[3], ["age", "education-num"]] = [5, 1]  # a five-year-old in the census
    constraints = ["age >= 17", "education-num < age", "hours-per-week < 99", "capital-gain >= 0",
                   "fixed combinations of education, education-num", "capital-gain == 0 or capital-loss == 0"]
    bad.loc[bad.index[4], ["capital-gain", "capital-loss"]] = [100, 100]
    # a small max_rows_scored: the quality figures use a stated sample, the schema still reads every row
    report = _gate(train, None, bad, constraints=constraints, max_rows_scored=500)
    failed = {c.name: c for c in report.failed}
    assert {"constraint:age >= 17", "constraint:education-num < age", "constraint:hours-per-week < 99"} <= set(failed)
    detail = failed["constraint:age >= 17"].detail
    assert "1 row(s) (0.0" in detail and "{'age': 5}" in detail
    assert "3 row(s)" in failed["constraint:education-num < age"].detail
    # the new kinds: a combination never seen in the training rows, and both non-zero
    assert "4 row(s)" in failed["constraint:fixed combinations of education, education-num"].detail
    assert "1 row(s)" in failed["constraint:capital-gain == 0 or capital-loss == 0"].detail
    assert any(c.name == "constraint:capital-gain >= 0" and c.passed for c in report.checks)
    scored = report.details["scored"]
    assert scored["quality_score, column_shapes, pair_trends"].endswith(f"a random 500 of {len(bad):,} synthetic rows")
    schema_scored = next(v for k, v in scored.items() if k.startswith("schema"))
    assert f"every one of the {len(bad):,} synthetic rows" in schema_scored


def test_zero_null_tolerance_is_judged_not_an_internal_error(split):
    # GX leaves `mostly` out of an expectation's kwargs when it is 1 (no tolerance at all)
    train, _, fresh = split
    report = _gate(train, None, fresh, null_tolerance=0, max_rows_scored=500)
    assert any(c.name.startswith("nulls_max:") for c in report.checks)
