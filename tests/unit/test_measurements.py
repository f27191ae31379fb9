"""Measuring and deciding are separate: checks return measurements, and GX alone turns them into verdicts.

The direction of every threshold is defined once, on the measurement (`bound`);
`GXSession.judge` is the one place it is applied, for tables and images alike.
The ε and all-partitions checks are measured in `validation/` and judged with
the rest.
"""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synth.spec import ValidationSpec
from tests.conftest import ROOT
from validation.checks import Measurement
from validation.expectations import GXSession
from validation.gate import partitions_measurement, run_gate
from validation.privacy import epsilon_measurement, exact_copy_check


@pytest.fixture(scope="module")
def session():
    return GXSession()


def _judged(session, *measurements):
    checks, result = session.judge(list(measurements), suite_label="test")
    return {c.name: c for c in checks}, result


def test_a_ceiling_passes_at_the_threshold_and_fails_just_over(session):
    checks, result = _judged(
        session,
        Measurement("privacy", "at", 0.6, 0.6, "max"),
        Measurement("privacy", "over", 0.6 + 1e-9, 0.6, "max"),
        Measurement("privacy", "under", 0.1, 0.6, "max"),
    )
    assert checks["at"].passed and not checks["over"].passed and checks["under"].passed
    assert checks["over"].bound == "max" and "required at most 0.6" in checks["over"].one_line()
    assert result["success"] is False


def test_a_floor_passes_at_the_threshold_and_fails_just_under(session):
    checks, _ = _judged(
        session,
        Measurement("fidelity", "at", 0.8, 0.8, "min"),
        Measurement("fidelity", "under", 0.8 - 1e-9, 0.8, "min"),
        Measurement("fidelity", "over", 0.95, 0.8, "min"),
    )
    assert checks["at"].passed and not checks["under"].passed and checks["over"].passed
    assert checks["at"].requirement == "at least 0.8"


def test_an_unmeasured_gated_figure_fails_and_a_report_only_one_never_gates(session):
    checks, result = _judged(
        session,
        Measurement("privacy", "unmeasured", None, 1.0, "max", "nothing to read"),
        Measurement.reported("privacy", "baseline", 0.3, "shown beside the others"),
    )
    assert not checks["unmeasured"].passed and checks["unmeasured"].detail == "nothing to read"
    assert checks["baseline"].passed and not checks["baseline"].required
    assert checks["baseline"].threshold == "report only"
    # only gated figures become expectations
    assert [r["expectation_config"]["meta"]["check"] for r in result["results"]] == ["unmeasured"]


def test_the_reported_verdict_is_gxs(session, monkeypatch):
    """Flip GX's verdict and the check flips with it: no Python comparison stands beside GX's."""
    measurement = Measurement("utility", "ratio", 0.9, 0.8, "min")
    run = GXSession._run

    def inverted(self, suite, data, label):
        result = run(self, suite, data, label)
        for r in result.results:
            r.success = not r.success
        return result

    monkeypatch.setattr(GXSession, "_run", inverted)
    checks, result = _judged(session, measurement)
    assert not checks["ratio"].passed and result["results"][0]["success"] is False


def test_each_direction_is_one_gx_expectation_with_the_threshold_as_its_bound(session):
    _, result = _judged(session, Measurement("a", "floor", 0.5, 0.4, "min"),
                        Measurement("a", "ceiling", 0.5, 0.7, "max"))
    configs = {r["expectation_config"]["meta"]["check"]: r["expectation_config"] for r in result["results"]}
    assert configs["floor"]["type"] == "expect_column_min_to_be_between"
    assert configs["floor"]["kwargs"]["min_value"] == 0.4 and configs["floor"]["kwargs"].get("max_value") is None
    assert configs["ceiling"]["type"] == "expect_column_max_to_be_between"
    assert configs["ceiling"]["kwargs"]["max_value"] == 0.7 and configs["ceiling"]["kwargs"].get("min_value") is None


def test_a_measurement_must_say_its_direction_and_a_numeric_threshold(session):
    with pytest.raises(ValueError, match="bound 'below' is not one of"):
        Measurement("privacy", "x", 0.1, 0.5, "below")
    with pytest.raises(ValueError, match="needs a numeric threshold"):
        Measurement("privacy", "x", 0.1, "at most 0.5", "max")
    with pytest.raises(ValueError, match="names must be unique"):
        session.judge([Measurement.reported("a", "x", 1), Measurement.reported("a", "x", 2)], suite_label="a")


def test_measuring_functions_measure_and_do_not_decide():
    train = pd.DataFrame({"a": np.arange(50), "b": list("xy") * 25})
    measured = exact_copy_check(train, train.head(10), None, max_rate=0.01)
    assert isinstance(measured, Measurement) and not hasattr(measured, "passed")
    assert (measured.value, measured.threshold, measured.bound) == (1.0, 0.01, "max")


def test_no_threshold_direction_table_or_comparison_outside_the_measurement():
    """The old per-suite direction tables are gone, and no module of validation/ compares a figure with a threshold
    (a `min_*` / `max_*` parameter other than the sample sizes): GX does, in `GXSession.judge`."""
    sizes = {"max_rows", "max_rows_scored", "max_images_scored"}
    for path in sorted((ROOT / "validation").glob("*.py")):
        tree = ast.parse(path.read_text())
        names = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign) for t in node.targets
                 if isinstance(t, ast.Name)}
        assert not names & {"METRIC_BOUNDS", "BOUNDS"}, path
        thresholds = {a.arg for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)
                      for a in node.args.kwonlyargs if a.arg.startswith(("min_", "max_"))} - sizes
        for node in ast.walk(tree):
            if (isinstance(node, ast.Compare)
                    and any(isinstance(o, (ast.Lt, ast.LtE, ast.Gt, ast.GtE)) for o in node.ops)):
                operands = {ast.unparse(x) for x in (node.left, *node.comparators)}
                assert not operands & thresholds, (path, ast.unparse(node))


# -- the ε check and the all-partitions check live in validation/ -------------------------------------


def test_epsilon_is_measured_from_the_ledger_in_validation():
    ledger = {"epsilon": 0.998, "delta": 1e-5, "accountant": "rdp"}
    within = epsilon_measurement(ledger, max_epsilon=1.0)
    assert ((within.suite, within.name, within.value, within.threshold, within.bound)
            == ("privacy", "epsilon", 0.998, 1.0, "max"))
    assert "rdp accountant" in within.detail
    for missing in (None, {}):
        unmeasured = epsilon_measurement(missing, max_epsilon=1.0)
        assert unmeasured.value is None and "not differentially private" in unmeasured.detail


def test_flows_only_call_the_epsilon_and_partition_checks():
    """flows/ builds no check and makes no gate decision of its own."""
    for name in ("pipeline.py", "partitions.py", "images.py"):
        source = (ROOT / "flows" / name).read_text()
        assert "CheckResult(" not in source and "<= max_epsilon" not in source, name
        tree = ast.parse(source)
        reads = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, ast.Attribute) and n.attr == "max_epsilon"]
        assert reads == [], (name, reads)  # the threshold travels in the dump of spec.validation to the gate


def test_partitions_measurement_passes_only_without_failures(session):
    clean = partitions_measurement(3, 5000, [])
    broken = partitions_measurement(2, 3000, [f"part {k}: [FAIL] schema/constraint:age < 30" for k in range(7)])
    checks, _ = session.judge([clean], suite_label="schema_figures")
    assert checks[0].passed and checks[0].suite == "schema" and "5,000 rows" in checks[0].detail
    checks, _ = session.judge([broken], suite_label="schema_figures")
    assert not checks[0].passed and checks[0].value == 7 and checks[0].detail.endswith(" ...")


@pytest.fixture(scope="module")
def tiny_tables():
    rng = np.random.default_rng(0)

    def rows(n):
        age = rng.integers(20, 60, n)
        return pd.DataFrame({"age": age, "hours": age // 2 + rng.integers(0, 5, n), "kind": rng.choice(list("abc"), n)})

    return rows(300), rows(150), rows(300)


def test_run_gate_judges_epsilon_and_outside_figures_with_the_rest(tiny_tables):
    """A plain dump of the thresholds, max_epsilon included (set or not), is the whole call."""
    train, holdout, synthetic = tiny_tables
    thresholds = {**ValidationSpec(max_rows_scored=300).model_dump(), "max_epsilon": 1.0}  # set: with or without the
    # spec's serializer the dump carries it; unset it is None or absent, and both are accepted (below)
    report = run_gate(train, holdout, synthetic, seed=0, **thresholds,
                      privacy_ledger={"epsilon": 2.9, "delta": 1e-5, "accountant": "rdp"},
                      extra_measurements=[partitions_measurement(2, 600, ["part 1: [FAIL] schema/range:age"])])
    checks = {c.name: c for c in report.checks}
    assert {"epsilon", "all_partitions"} <= {c.name for c in report.failed}
    epsilon = checks["epsilon"]
    assert epsilon.suite == "privacy" and epsilon.value == 2.9 and epsilon.threshold == 1.0
    privacy_gx = {r["expectation_config"]["meta"]["check"]: r["success"]
                  for r in report.suite_results["privacy"]["results"]}
    assert privacy_gx["epsilon"] is False
    assert report.suite_results["schema_figures"]["success"] is False
    assert "rdp accountant" in report.details["scored"]["privacy/epsilon"]
    assert "600 rows" in report.details["scored"]["schema/all_partitions"]
    # the card lists each check with its value, threshold, direction and verdict
    card_check = next(c for c in report.to_dict()["checks"] if c["name"] == "epsilon")
    assert card_check == {**card_check, "passed": False, "value": 2.9, "threshold": 1.0, "bound": "max",
                          "required": True}


@pytest.mark.parametrize("max_epsilon", ["absent", None])
def test_run_gate_takes_a_dump_with_or_without_max_epsilon(tiny_tables, max_epsilon):
    train, holdout, synthetic = tiny_tables
    thresholds = {k: v for k, v in ValidationSpec(max_rows_scored=300).model_dump().items() if k != "max_epsilon"}
    if max_epsilon != "absent":
        thresholds["max_epsilon"] = max_epsilon
    report = run_gate(train, holdout, synthetic, seed=0, **thresholds)
    assert "epsilon" not in {c.name for c in report.checks}
    assert set(report.suite_results) == {"schema", "fidelity", "privacy"}


def test_validation_does_not_import_flows_or_training_code():
    for path in sorted(Path(ROOT / "validation").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            modules = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for module in modules:
                assert not module.startswith(("flows", "prefect", "synth.models", "synth.transformer")), (path, module)
