"""The publishing gate: every check runs, every result is kept, and the
dataset is publishable only if all required checks pass."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from validation.checks import CheckResult, failed


@dataclass
class GateReport:
    checks: list[CheckResult]
    #: Great Expectations' own validation result for each suite (JSON), by suite name.
    suite_results: dict[str, Any] = field(default_factory=dict)
    #: Raw figures behind the checks (quality sub-scores, rows scored, histograms, ...).
    details: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failed

    @property
    def failed(self) -> list[CheckResult]:
        return failed(self.checks)

    def summary(self) -> str:
        """One line per failed check (or a one-line pass)."""
        if self.passed:
            return f"all {len(self.checks)} checks passed"
        return "\n".join(check.one_line() for check in self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "seconds": round(self.seconds, 2),
            "checks": [c.to_dict() for c in self.checks],
            "details": self.details,
        }


def run_gate(
    train: pd.DataFrame,
    holdout: pd.DataFrame | None,
    synthetic: pd.DataFrame,
    *,
    target: str | None = None,
    min_quality: float,
    min_column_shapes: float,
    min_pair_trends: float,
    max_detection_auc: float,
    max_exact_copy_rate: float,
    max_dcr_share: float,
    max_membership_auc: float,
    min_utility_ratio: float,
    null_tolerance: float,
    max_rows_scored: int,
    constraints: list[dict[str, Any]] | tuple = (),
    seed: int = 0,
    data_docs: str | Path | None = None,
) -> GateReport:
    """Judge `synthetic` against the real rows the generator was trained on.

    Four GX suites: *schema* runs on the synthetic table itself; *fidelity*,
    *privacy* and *utility* run on a one-row table of the figures measured
    here, so every verdict is a GX verdict and every result is kept.
    `holdout` (real rows the generator never saw) enables the DCR,
    membership and utility checks; `target` enables utility. With
    `data_docs`, GX Data Docs for all suites are built into that folder.
    Figures that need pairwise work are computed on at most
    `max_rows_scored` synthetic rows (each check's detail says how many).
    """
    from validation.expectations import GXSession, build_metrics_suite, build_schema_suite
    from validation.fidelity import detection_check, quality_checks
    from validation.privacy import distance_checks, exact_copy_check, membership_check
    from validation.utility import utility_check

    started = time.perf_counter()
    timings: dict[str, float] = {}
    measured: dict[str, list[CheckResult]] = {}
    details: dict[str, Any] = {}
    has_holdout = holdout is not None and len(holdout) > 0

    def timed(name: str, t: float) -> None:
        timings[name] = round(time.perf_counter() - t, 2)

    # 1. fidelity: sdmetrics quality score and its halves, then a real-vs-synthetic detector
    t = time.perf_counter()
    quality, details["quality"] = quality_checks(
        train, synthetic, min_quality=min_quality, min_column_shapes=min_column_shapes,
        min_pair_trends=min_pair_trends, max_rows=max_rows_scored, seed=seed,
    )
    detection, details["detection"] = detection_check(train, synthetic, max_auc=max_detection_auc, max_rows=max_rows_scored, seed=seed)
    measured["fidelity"] = [*quality, detection]
    timed("fidelity", t)

    # 2. privacy: exact copies, distances to training versus holdout rows, membership inference
    t = time.perf_counter()
    measured["privacy"] = [exact_copy_check(train, synthetic, holdout, max_rate=max_exact_copy_rate)]
    if has_holdout:
        distance, details["distances"] = distance_checks(train, holdout, synthetic, max_dcr_share=max_dcr_share, max_rows=max_rows_scored, seed=seed)
        membership, details["membership"] = membership_check(train, holdout, synthetic, max_auc=max_membership_auc, max_rows=max_rows_scored, seed=seed)
        measured["privacy"] += [*distance, membership]
    timed("privacy", t)

    # 3. utility: train on synthetic, test on the real holdout
    if target is not None and has_holdout:
        t = time.perf_counter()
        utility, details["utility"] = utility_check(train, holdout, synthetic, target=target, min_ratio=min_utility_ratio, max_rows=max_rows_scored, seed=seed)
        measured["utility"] = [utility]
        timed("utility", t)

    # 4. every verdict through GX: the schema suite on the synthetic rows, the others on their figures
    t = time.perf_counter()
    session = GXSession()
    schema = build_schema_suite(train, null_tolerance=null_tolerance, constraints=constraints)
    checks, suite_results = [], {}
    checks_, suite_results["schema"] = session.validate(schema, synthetic, suite_label="schema")
    checks += checks_
    for suite_name, results in measured.items():
        suite, table = build_metrics_suite(results, name=suite_name)
        verdicts, suite_results[suite_name] = session.validate(suite, table, suite_label=suite_name)
        by_name = {v.name: v.passed for v in verdicts}
        checks += [replace(c, passed=by_name[c.name]) if c.name in by_name else c for c in results]
    if data_docs is not None:
        details["data_docs"] = str(session.build_data_docs(data_docs))
    timed("great_expectations", t)

    details["seconds_per_suite"] = timings
    return GateReport(checks=checks, suite_results=suite_results, details=details, seconds=time.perf_counter() - started)
