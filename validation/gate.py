"""The publishing gate: every check runs, every result is kept, and the
dataset is publishable only if all required checks pass.

Figures that need pairwise work are computed on at most `max_rows_scored` synthetic rows (each
check's detail says how many), and memory is bounded whatever the rows or the cardinality: the encoding
caps each categorical column's width, real tables are scanned a block at a time, and every model and
sdmetrics sees at most `max_rows_scored` rows.

No GX Data Docs are built: GX's renderer writes column names into its pages unescaped (a column named
`<script>…</script>` runs in the reader's browser) and every page loads scripts from five CDNs. The evidence a
person reads is `validation.report.write_report` (self-contained, every user string escaped); GX's own results
are kept as JSON in `suite_results`.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from validation.checks import CheckResult, Measurement, failed


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

    @property
    def next_steps(self) -> list[str]:
        """What to try after a failure (validation.diagnosis), one line each."""
        return list(self.details.get("next_steps") or [])

    def summary(self) -> str:
        """One line per failed check, then what to try (or a one-line pass)."""
        if self.passed:
            return f"all {len(self.checks)} checks passed"
        return "\n".join([check.one_line() for check in self.failed] + [f"try: {step}" for step in self.next_steps])

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
    min_rare_class_f1_ratio: float | None = None,
    max_target_share_ratio: float | None = None,
    target_rebalanced: bool = False,
    target_kind: Literal["classification", "regression"] | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    null_tolerance: float,
    max_rows_scored: int,
    constraints: Sequence[Any] = (),
    max_epsilon: float | None = None,
    privacy_ledger: Mapping[str, Any] | None = None,
    extra_measurements: Sequence[Measurement] = (),
    seed: int = 0,
) -> GateReport:
    """Judge `synthetic` against the real rows the generator was trained on.

    The thresholds are `synth.spec.ValidationSpec`'s fields: pass
    `**spec.validation.model_dump()`. Four GX suites: *schema* runs on the
    synthetic table itself; *fidelity*, *privacy* and *utility* judge the
    figures measured here (`GXSession.judge`), so every verdict is GX's and
    every result is kept. `holdout` (real rows the generator never saw)
    enables the DCR, membership and utility checks; `target` enables utility.
    `max_epsilon` adds the ε check, read from the generator's `privacy_ledger`
    (`model.privacy_`; None, not private, fails it). `extra_measurements`,
    figures measured elsewhere (`partitions_measurement`), are judged with
    their suite; schema ones in a GX suite of their own, *schema_figures*.
    `target_rebalanced` (the spec's conditions add target classes on purpose) makes the class-share check
    report-only; `hyperparameters` (the generator's) let the next steps name the keys to change. `target_kind`
    overrides how the target is predicted: left out, a numeric target with more distinct values than integer
    codes have is a regression target, scored by R², any other one a classification target, scored by F1
    (`validation.utility.target_kind`).
    """
    from validation.diagnosis import column_detection, next_steps
    from validation.fidelity import detection_check, quality_checks
    from validation.privacy import distance_checks, epsilon_measurement, exact_copy_check, membership_check

    started = time.perf_counter()
    timings: dict[str, float] = {}
    measured: dict[str, list[Measurement]] = {}  # by GX suite
    details: dict[str, Any] = {}
    holdout = holdout if holdout is not None and len(holdout) > 0 else None
    scoring = {"max_rows": max_rows_scored, "seed": seed}

    # 1. fidelity: sdmetrics quality score and its halves, then a real-vs-synthetic detector
    with timed(timings, "fidelity"):
        quality, details["quality"] = quality_checks(
            train, synthetic, min_quality=min_quality, min_column_shapes=min_column_shapes,
            min_pair_trends=min_pair_trends, **scoring)
        detection, details["detection"] = detection_check(train, synthetic, max_auc=max_detection_auc, **scoring)
        measured["fidelity"] = [*quality, detection]

    # 2. privacy: exact copies, distances to training versus holdout rows, membership inference, the ε spent
    with timed(timings, "privacy"):
        measured["privacy"] = [exact_copy_check(train, synthetic, holdout, max_rate=max_exact_copy_rate)]
        if holdout is not None:
            distance, details["distances"] = distance_checks(train, holdout, synthetic, max_dcr_share=max_dcr_share,
                                                             **scoring)
            membership, details["membership"] = membership_check(train, holdout, synthetic,
                                                                 max_auc=max_membership_auc, **scoring)
            measured["privacy"] += [*distance, membership]
    outside = list(extra_measurements)  # figures read from elsewhere: the ledger, every partition
    if max_epsilon is not None:
        outside.insert(0, epsilon_measurement(privacy_ledger, max_epsilon=max_epsilon))

    # 3. utility: train on synthetic, test on the real holdout; the target's class shares
    if target is not None:
        with timed(timings, "utility"):
            measured["utility"] = _utility(
                train, holdout, synthetic, details, target=target, min_ratio=min_utility_ratio,
                min_rare_ratio=min_rare_class_f1_ratio, max_share_ratio=max_target_share_ratio,
                rebalanced=target_rebalanced, kind=target_kind, scoring=scoring)
    for m in outside:
        measured.setdefault(_FIGURES_OF.get(m.suite, m.suite), []).append(m)

    # 4. every verdict through GX: the schema suite on the synthetic rows, the others on their figures
    checks, suite_results = _verdicts(train, synthetic, measured, null_tolerance, constraints, timings)

    # 5. what gives the synthetic rows away, column by column, and what to try when something failed
    with timed(timings, "diagnosis"):
        details["column_detection"] = column_detection(train, synthetic, **scoring)
        details["next_steps"] = next_steps(checks, details["column_detection"], dict(hyperparameters or {}),
                                           target_kind=(details.get("utility") or {}).get("kind"))
    details["seconds_per_suite"] = timings
    details["scored"] = _what_was_scored(details, synthetic, train, holdout)
    details["scored"].update({f"{m.suite}/{m.name}": m.detail for m in outside})
    return GateReport(checks=checks, suite_results=suite_results, details=details,
                      seconds=time.perf_counter() - started)


def _utility(train: pd.DataFrame, holdout: pd.DataFrame | None, synthetic: pd.DataFrame, details: dict[str, Any], *,
             target: str, min_ratio: float, min_rare_ratio: float | None, max_share_ratio: float | None,
             rebalanced: bool, kind: str | None, scoring: dict[str, Any]) -> list[Measurement]:
    """TSTR / TRTR (and a two-class target's rare-class F1 ratio) when there is a holdout; the class shares.

    A regression target (`validation.utility.target_kind`) is scored by R², and has no classes: its share check is
    reported as not applicable, and it has no rare class."""
    from validation.utility import describe_kind, missing_target, target_balance_check, target_kind, utility_check

    kind = kind or target_kind(train[target])
    measured = []
    if holdout is not None:
        measured, details["utility"] = utility_check(train, holdout, synthetic, target=target, min_ratio=min_ratio,
                                                     min_positive_ratio=min_rare_ratio, kind=kind, **scoring)
    if max_share_ratio is None:
        return measured
    if (problem := missing_target(train, target, "training")) is not None:
        if holdout is None:  # else the utility figure already says it, as a failed check
            measured.append(Measurement("utility", "target_share_ratio", None, max_share_ratio, "max", problem))
    elif kind == "regression":
        measured.append(Measurement.reported(
            "utility", "target_share_ratio", None,
            f"not applicable: {target!r} is {describe_kind(train[target], 'regression')}; class shares need classes"))
    else:
        measured.append(target_balance_check(train, synthetic, target=target, max_ratio=max_share_ratio,
                                             rebalanced=rebalanced))
    return measured


#: GX suite of the figures measured for a suite whose own GX suite runs on the data itself.
_FIGURES_OF = {"schema": "schema_figures"}


@contextmanager
def timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the block's seconds to `timings[name]` (a suite's GX time joins its measuring time); for the card."""
    t = time.perf_counter()
    try:
        yield
    finally:
        timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - t, 2)


def _verdicts(
    train: pd.DataFrame, synthetic: pd.DataFrame, measured: dict[str, list[Measurement]], null_tolerance: float,
    constraints: Sequence[Any], timings: dict[str, float],
) -> tuple[list[CheckResult], dict[str, Any]]:
    """GX's verdicts: the schema suite on the synthetic rows, then each suite's measured figures."""
    from validation.expectations import GXSession, build_schema_suite

    suite_results: dict[str, Any] = {}
    with timed(timings, "schema"):
        session = GXSession()
        schema = build_schema_suite(train, null_tolerance=null_tolerance, constraints=list(constraints))
        checks, suite_results["schema"] = session.validate(schema, synthetic, suite_label="schema")
    for suite_name, measurements in measured.items():
        with timed(timings, suite_name):
            verdicts, suite_results[suite_name] = session.judge(measurements, suite_label=suite_name)
            checks += verdicts
    return checks, suite_results


def partitions_measurement(partitions: int, rows: int, failures: Sequence[str]) -> Measurement:
    """The all-partitions schema figure of a partitioned output: how many schema checks failed in any partition.

    Each partition is checked against the schema suite as it is written
    (every row, a chunk at a time); `failures` is one line per failed check.
    Judged by `run_gate` (`extra_measurements`): it passes at 0.
    """
    detail = f"every row of {partitions} partitions ({rows:,} rows) checked against the schema suite"
    if failures:
        detail += f"; failures: {'; '.join(failures[:5])}" + (" ..." if len(failures) > 5 else "")
    return Measurement("schema", "all_partitions", len(failures), 0, "max", detail)


def _what_was_scored(details: dict[str, Any], synthetic: pd.DataFrame, train: pd.DataFrame,
                     holdout: pd.DataFrame | None) -> dict[str, str]:
    """One sentence per group of checks saying which rows it judged: all of them, or a stated random sample.

    Large outputs stay fast because the pairwise and model-based figures use
    at most `max_rows_scored` random rows per table; this is where the card
    and the report say so.
    """
    n = len(synthetic)

    def rows(k: int, total: int) -> str:
        return f"all {total:,}" if k >= total else f"a random {k:,} of {total:,}"

    scored = {
        "schema (columns, types, ranges, categories, nulls, constraints)":
            f"every one of the {n:,} synthetic rows judged",
        "exact_copy_rate":
            f"every one of the {n:,} synthetic rows against all {len(train):,} training rows (row hashes)",
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
            f"{rows(k, n)} synthetic rows against all {len(train):,} training "
            f"and all {len(holdout):,} holdout rows (exact)")
    if (membership := details.get("membership")) is not None:
        m, k = membership["members"], membership["synthetic_rows"]
        scored["membership_auc"] = (
            f"{rows(m, len(train))} training rows (members) and {rows(m, len(holdout))} holdout rows (non-members), "
            f"each against {rows(k, n)} synthetic rows")
    if (utility := details.get("utility")) is not None and "rows" in utility:  # no rows: the target had no value
        u, missing = utility["rows"], utility["missing_target_rows"]

        def valued(table: str) -> str:  # rows with no target value were left out first: not a random sample
            return f" with a {utility['target']!r} value" if missing[table] else ""

        scored["tstr_trtr_ratio"] = (
            f"{utility['metric']} of models trained on {rows(u['synthetic'], n - missing['synthetic'])} synthetic "
            f"rows{valued('synthetic')} and on {rows(u['train'], len(train) - missing['training'])} training "
            f"rows{valued('training')}, tested on {u['holdout']:,} holdout rows{valued('holdout')}")
    return scored
