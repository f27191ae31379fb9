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
    min_quality: float,
    max_exact_copy_rate: float,
    null_tolerance: float,
    max_rows_scored: int,
    seed: int = 0,
) -> GateReport:
    """Judge `synthetic` against the real rows the generator was trained on."""
    from validation.expectations import build_schema_suite, validate_suite
    from validation.fidelity import quality_check
    from validation.privacy import exact_copy_check

    started = time.perf_counter()
    timings: dict[str, float] = {}

    # 1. schema: a GX suite derived from the real data's profile
    t = time.perf_counter()
    suite = build_schema_suite(train, null_tolerance=null_tolerance)
    schema_checks, schema_raw = validate_suite(suite, synthetic, suite_label="schema")
    timings["schema"] = time.perf_counter() - t

    # 2. fidelity: sdmetrics quality score (column shapes + pair trends)
    t = time.perf_counter()
    quality, quality_raw = quality_check(train, synthetic, min_quality=min_quality, max_rows=max_rows_scored, seed=seed)
    timings["fidelity"] = time.perf_counter() - t

    # 3. privacy: exact copies of training rows
    t = time.perf_counter()
    copies = exact_copy_check(train, synthetic, holdout, max_rate=max_exact_copy_rate)
    timings["privacy"] = time.perf_counter() - t

    return GateReport(
        checks=[*schema_checks, quality, copies],
        schema_validation=schema_raw,
        details={"quality": quality_raw, "seconds_per_suite": {k: round(v, 2) for k, v in timings.items()}},
        seconds=time.perf_counter() - started,
    )
