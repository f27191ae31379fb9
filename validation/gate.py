"""The publishing gate: every check runs, every result is kept, and the
dataset is publishable only if all required checks pass."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from validation.checks import CheckResult, failed


@dataclass
class GateReport:
    checks: list[CheckResult]
    #: Great Expectations' own validation result for the schema suite (JSON).
    schema_validation: dict[str, Any] = field(default_factory=dict)
    #: Raw figures behind the checks (quality sub-scores, rows scored, ...).
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
    max_detection_auc: float,
    max_exact_copy_rate: float,
    max_dcr_share: float,
    min_utility_ratio: float,
    null_tolerance: float,
    max_rows_scored: int,
    seed: int = 0,
) -> GateReport:
    """Judge `synthetic` against the real rows the generator was trained on.

    `holdout` (real rows the generator never saw) enables the DCR and utility
    checks; `target` enables utility.
    """
    from validation.expectations import build_schema_suite, validate_suite
    from validation.fidelity import detection_check, quality_check
    from validation.privacy import distance_checks, exact_copy_check
    from validation.utility import utility_check

    started = time.perf_counter()
    timings: dict[str, float] = {}
    checks: list[CheckResult] = []
    details: dict[str, Any] = {}

    def timed(name: str, t: float) -> None:
        timings[name] = round(time.perf_counter() - t, 2)

    # 1. schema: a GX suite derived from the real data's profile
    t = time.perf_counter()
    suite = build_schema_suite(train, null_tolerance=null_tolerance)
    schema_checks, schema_raw = validate_suite(suite, synthetic, suite_label="schema")
    checks += schema_checks
    timed("schema", t)

    # 2. fidelity: sdmetrics quality score, then a real-vs-synthetic detector
    t = time.perf_counter()
    quality, details["quality"] = quality_check(train, synthetic, min_quality=min_quality, max_rows=max_rows_scored, seed=seed)
    detection, details["detection"] = detection_check(train, synthetic, max_auc=max_detection_auc, max_rows=max_rows_scored, seed=seed)
    checks += [quality, detection]
    timed("fidelity", t)

    # 3. privacy: exact copies, then distances to training versus holdout rows
    t = time.perf_counter()
    checks.append(exact_copy_check(train, synthetic, holdout, max_rate=max_exact_copy_rate))
    if holdout is not None and len(holdout):
        distance, details["distances"] = distance_checks(train, holdout, synthetic, max_dcr_share=max_dcr_share, max_rows=max_rows_scored, seed=seed)
        checks += distance
    timed("privacy", t)

    # 4. utility: train on synthetic, test on the real holdout
    if target is not None and holdout is not None and len(holdout):
        t = time.perf_counter()
        utility, details["utility"] = utility_check(train, holdout, synthetic, target=target, min_ratio=min_utility_ratio, max_rows=max_rows_scored, seed=seed)
        checks.append(utility)
        timed("utility", t)

    details["seconds_per_suite"] = timings
    return GateReport(checks=checks, schema_validation=schema_raw, details=details, seconds=time.perf_counter() - started)
