"""The gate catches what it must, on real Adult rows."""

import numpy as np
import pytest

from synth.data import split_holdout
from validation.gate import run_gate
from validation.privacy import exact_copy_rate

THRESHOLDS = dict(min_quality=0.75, max_exact_copy_rate=0.01, null_tolerance=0.05, max_rows_scored=5000)


@pytest.fixture(scope="module")
def split(adult):
    train, holdout = split_holdout(adult.sample(8000, random_state=0), 0.5, seed=0)
    return train.reset_index(drop=True), holdout.reset_index(drop=True)


def _by_name(report):
    return {c.name: c for c in report.checks}


def _plausible(train, rows):
    """Rows inside the training rows' numeric ranges and category sets: what a good generator emits."""
    keep = np.ones(len(rows), dtype=bool)
    for column in train.columns:
        if train[column].dtype.kind in "iuf":
            keep &= rows[column].between(train[column].min(), train[column].max()).to_numpy()
        else:
            keep &= (rows[column].isna() | rows[column].isin(train[column].dropna().unique())).to_numpy()
    return rows[keep]


def test_fresh_real_rows_pass(split):
    """Unseen real rows from the same population are what a perfect generator would make."""
    train, holdout = split
    report = run_gate(train, None, _plausible(train, holdout), **THRESHOLDS)
    assert report.passed, report.summary()
    assert {c.suite for c in report.checks} == {"schema", "fidelity", "privacy"}


def test_training_rows_offered_as_synthetic_fail_privacy(split):
    train, holdout = split
    report = run_gate(train, holdout, train.sample(frac=1, random_state=0), **THRESHOLDS)
    assert not report.passed
    assert [c.name for c in report.failed] == ["exact_copy_rate"]
    assert _by_name(report)["exact_copy_rate"].value == 1.0


def test_schema_violations_are_named(split):
    train, holdout = split
    bad = holdout.copy()
    bad.loc[0, "age"] = 500
    bad["education-num"] = bad["education-num"].astype(float)
    bad.loc[1, "workclass"] = "Astronaut"
    report = run_gate(train, None, bad, **THRESHOLDS)
    failed = {c.name: c for c in report.failed}
    assert {"range:age", "type:education-num", "categories:workclass"} <= set(failed)
    assert "Astronaut" in failed["categories:workclass"].detail
    assert "500" in failed["range:age"].one_line()


def test_exact_copy_rate_treats_missing_values_as_equal(split):
    train, _ = split
    with_nulls = train[train["workclass"].isna()].head(20)
    assert len(with_nulls) > 0
    assert exact_copy_rate(train, with_nulls) == 1.0
