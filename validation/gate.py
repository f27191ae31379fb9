"""The publishing gate: every check runs, every result is kept, and the
dataset is publishable only if all required checks pass."""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
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
) -> GateReport:
    """Judge `synthetic` against the real rows the generator was trained on.

    Four GX suites: *schema* runs on the synthetic table itself; *fidelity*,
    *privacy* and *utility* run on a one-row table of the figures measured
    here, so every verdict is a GX verdict and every result is kept.
    `holdout` (real rows the generator never saw) enables the DCR,
    membership and utility checks; `target` enables utility.
    Figures that need pairwise work are computed on at most
    `max_rows_scored` synthetic rows (each check's detail says how many), and
    memory is bounded whatever the rows or the cardinality: the encoding
    caps each categorical column's width, real tables are scanned a block at
    a time, and every model and sdmetrics sees at most `max_rows_scored` rows.

    No GX Data Docs are built: GX's renderer writes column names into its
    pages unescaped (a column named `<script>…</script>` runs in the reader's
    browser) and every page loads scripts from five CDNs. The evidence a
    person reads is `validation.report.write_report` (self-contained, every
    user string escaped); GX's own results are kept as JSON in `suite_results`.
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
    #    (each suite's GX time is added to its own entry in seconds_per_suite)
    t = time.perf_counter()
    session = GXSession()
    schema = build_schema_suite(train, null_tolerance=null_tolerance, constraints=constraints)
    checks, suite_results = [], {}
    checks_, suite_results["schema"] = session.validate(schema, synthetic, suite_label="schema")
    checks += checks_
    timed("schema", t)
    for suite_name, results in measured.items():
        t = time.perf_counter()
        suite, table = build_metrics_suite(results, name=suite_name)
        verdicts, suite_results[suite_name] = session.validate(suite, table, suite_label=suite_name)
        by_name = {v.name: v.passed for v in verdicts}
        checks += [replace(c, passed=by_name[c.name]) if c.name in by_name else c for c in results]
        timings[suite_name] = round(timings[suite_name] + time.perf_counter() - t, 2)
    details["seconds_per_suite"] = timings
    details["scored"] = _what_was_scored(details, synthetic, train, holdout if has_holdout else None)
    return GateReport(checks=checks, suite_results=suite_results, details=details, seconds=time.perf_counter() - started)


def _what_was_scored(details: dict[str, Any], synthetic: pd.DataFrame, train: pd.DataFrame, holdout: pd.DataFrame | None) -> dict[str, str]:
    """One sentence per group of checks saying which rows it judged: all of them, or a stated random sample.

    Large outputs stay fast because the pairwise and model-based figures use
    at most `max_rows_scored` random rows per table; this is where the card
    and the report say so.
    """
    n = len(synthetic)

    def rows(k: int, total: int) -> str:
        return f"all {total:,}" if k >= total else f"a random {k:,} of {total:,}"

    scored = {
        "schema (columns, types, ranges, categories, nulls, constraints)": f"every one of the {n:,} synthetic rows judged",
        "exact_copy_rate": f"every one of the {n:,} synthetic rows against all {len(train):,} training rows (row hashes)",
    }
    if (quality := details.get("quality")) is not None:
        real_k, synth_k = quality["rows_scored"]
        scored["quality_score, column_shapes, pair_trends"] = (
            f"{rows(real_k, len(train))} training rows and {rows(synth_k, n)} synthetic rows")
    if (detection := details.get("detection")) is not None:
        k = detection["rows"]
        scored["detection_auc"] = f"{rows(k, len(train))} training rows and {rows(k, n)} synthetic rows, 30% held out"
    if (distances := details.get("distances")) is not None:
        k = distances["rows"]["synthetic"]
        scored["dcr_closer_to_training, nndr_p5"] = (
            f"{rows(k, n)} synthetic rows against all {len(train):,} training and all {len(holdout):,} holdout rows (exact)")
    if (membership := details.get("membership")) is not None:
        m, k = membership["members"], membership["synthetic_rows"]
        scored["membership_auc"] = (
            f"{rows(m, len(train))} training rows (members) and {rows(m, len(holdout))} holdout rows (non-members), "
            f"each against {rows(k, n)} synthetic rows")
    if (utility := details.get("utility")) is not None:
        u = utility["rows"]
        scored["tstr_trtr_ratio"] = (
            f"models trained on {rows(u['synthetic'], n)} synthetic rows and on {rows(u['train'], len(train))} "
            f"training rows, tested on {u['holdout']:,} holdout rows")
    return scored
