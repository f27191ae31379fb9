"""Schema checks: a Great Expectations suite derived from the real data's profile.

`build_schema_suite` profiles the real table (columns, dtype families, numeric
ranges, category sets, null fractions) into an ExpectationSuite;
`validate_suite` runs it on a synthetic table and turns every expectation
result into a `CheckResult` for the publishing gate. `GXSession.judge` turns
measured figures (`validation.checks.Measurement`) into GX verdicts: the one
place a threshold is applied.

Great Expectations is imported lazily (it takes seconds), so importing this
module costs nothing until a suite is actually built or run.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import uuid
from collections.abc import Sequence
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import pandas as pd
from pandas.api import types as pdt

from validation.checks import CheckResult, Measurement

if TYPE_CHECKING:
    from great_expectations.core import ExpectationSuite

# GX's documented analytics switch (1.24.1 ships no analytics client, so this only
# guards against one returning); it must be set before GX is imported.
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

# Dtype families a synthetic column must stay in, tested on the pandas dtype.
# "numeric" (real float columns) accepts ints too; "integer" accepts int64 and
# nullable Int64 alike but not float or object.
_FAMILY_TESTS = {
    "integer": pdt.is_integer_dtype,
    "numeric": lambda d: pdt.is_numeric_dtype(d) and not pdt.is_bool_dtype(d),
    "boolean": pdt.is_bool_dtype,
    "datetime": pdt.is_datetime64_any_dtype,
    "string": lambda d: pdt.is_string_dtype(d) or isinstance(d, pd.CategoricalDtype),
}
_EXAMPLES = 5  # unexpected values quoted in a failed check


@functools.cache
def _gx() -> SimpleNamespace:
    """Import GX once and define the dtype-family expectation.

    GX's own `expect_column_values_to_be_in_type_list` cannot match category,
    string[pyarrow] or tz-aware datetime columns on pandas (it compares the
    dtype against classes and default-constructed dtypes), so the family test
    is a small custom expectation over GX's `table.column_types` metric that
    asks pandas itself. Defined here, once, because defining an Expectation
    class registers it globally in GX.
    """
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import ProgressBarsConfig
    from great_expectations.expectations.expectation import ColumnAggregateExpectation

    class ExpectColumnDtypeToBeInFamily(ColumnAggregateExpectation):
        """Expect the column's pandas dtype to belong to a dtype family."""

        family: str
        metric_dependencies = ("table.column_types",)
        success_keys = ("family",)

        def _validate(
            self,
            metrics: dict,
            runtime_configuration: dict | None = None,
            execution_engine: Any = None,
        ) -> dict:
            column = self.configuration.kwargs["column"]
            dtype = next(t["type"] for t in metrics["table.column_types"] if t["name"] == column)
            return {
                "success": bool(_FAMILY_TESTS[self.family](dtype)),
                "result": {"observed_value": str(dtype)},
            }

    class ExpectColumnValuesToBeKnown(ColumnAggregateExpectation):
        """Expect every non-missing value of the column to be one of a large set of known values.

        GX's `expect_column_values_to_be_in_set` keeps the set in its
        configuration, which GX copies value by value on every access (about
        1,500 times per suite run: 25 s for 50,000 values, and growing with
        them). Here the configuration holds only a digest of the set, which
        lives in `_KNOWN_VALUES` in this process; the check itself is one
        `isin` over the synthetic column's distinct values.
        """

        known: str
        known_count: int
        sort: str = "none"  # column.value_counts unsorted: sorting mixed types would turn the values into strings
        metric_dependencies = ("column.value_counts",)
        success_keys = ("known", "known_count", "sort")

        def _validate(
            self,
            metrics: dict,
            runtime_configuration: dict | None = None,
            execution_engine: Any = None,
        ) -> dict:
            counts = metrics["column.value_counts"]
            counts = counts[counts > 0]  # a categorical dtype lists its unused categories too
            unknown = counts[~counts.index.isin(_KNOWN_VALUES[self.known])]
            total = int(counts.sum())
            return {
                "success": unknown.empty,
                "result": {
                    "observed_value": f"{len(counts)} distinct values",
                    "unexpected_count": int(unknown.sum()),
                    "unexpected_percent": 100 * float(unknown.sum()) / total if total else 0.0,
                    "partial_unexpected_list": [_native(v) for v in unknown.index[:20]],
                },
            }

    return SimpleNamespace(
        gx=gx,
        ExpectRowsToKeepConstraint=_rows_expectation(ColumnAggregateExpectation),
        gxe=gxe,
        ProgressBarsConfig=ProgressBarsConfig,
        ExpectColumnDtypeToBeInFamily=ExpectColumnDtypeToBeInFamily,
        ExpectColumnValuesToBeKnown=ExpectColumnValuesToBeKnown,
    )


def _rows_expectation(base: type) -> type:
    """The constraint expectation, on GX's column-aggregate base class (passed in: GX is imported lazily)."""

    class ExpectRowsToKeepConstraint(base):
        """Expect every row to keep one declared constraint (`synth.constraints`: comparisons, ranges, fixed
        combinations, derived columns), judged by the same code that enforces it while sampling.

        A column expectation on the rule's first column (GX's domain); the rule itself, fitted on the real rows
        (a fixed combination's seen combinations), lives in `_RULES` under the digest the configuration holds,
        like `ExpectColumnValuesToBeKnown`'s sets, and is judged on the whole batch.
        """

        rule: str
        label: str
        metric_dependencies = ("table.row_count",)
        success_keys = ("rule", "label")

        def _validate(
            self,
            metrics: dict,
            runtime_configuration: dict | None = None,
            execution_engine: Any = None,
        ) -> dict:
            from synth.constraints import ConstraintSet

            frame = execution_engine.dataframe
            ok = ConstraintSet.valid_one(_RULES[self.rule], frame)
            broken = int((~ok).sum())
            shown = frame.loc[~ok, _RULES[self.rule].used].head(5)
            return {
                "success": broken == 0,
                "result": {
                    "observed_value": f"{broken:,} of {len(frame):,} rows break it",
                    "unexpected_count": broken,
                    "unexpected_percent": 100 * broken / len(frame) if len(frame) else 0.0,
                    "partial_unexpected_list": [{str(k): _native(v) for k, v in row.items()}
                                                for row in shown.to_dict("records")],
                },
            }

    return ExpectRowsToKeepConstraint


#: Category sets larger than this are checked by `ExpectColumnValuesToBeKnown` (configuration holds a digest).
_SET_IN_SUITE = 1_000
#: digest -> the known values of one column, for `ExpectColumnValuesToBeKnown`; the most recent sets only.
_KNOWN_VALUES: dict[str, pd.Index] = {}
_KNOWN_VALUES_KEPT = 64


def _register_known(values: list) -> str:
    """Keep `values` for `ExpectColumnValuesToBeKnown` and return the digest that names them."""
    digest = hashlib.sha256("\n".join(f"{type(v).__name__}:{v!r}" for v in values).encode()).hexdigest()[:32]
    _KNOWN_VALUES.pop(digest, None)
    _KNOWN_VALUES[digest] = pd.Index(values, dtype="object")
    while len(_KNOWN_VALUES) > _KNOWN_VALUES_KEPT:
        del _KNOWN_VALUES[next(iter(_KNOWN_VALUES))]
    return digest


def _family(dtype: Any) -> str | None:
    """The dtype family a real column's synthetic twin must keep, or None (no type check)."""
    if pdt.is_bool_dtype(dtype):
        return "boolean"
    if pdt.is_integer_dtype(dtype):
        return "integer"
    if pdt.is_numeric_dtype(dtype):
        return "numeric"
    if pdt.is_datetime64_any_dtype(dtype):
        return "datetime"
    if _FAMILY_TESTS["string"](dtype):
        return "string"
    return None


def _native(value: Any) -> Any:
    """A numpy/pandas scalar as the equivalent Python value (JSON-friendly)."""
    return value.item() if hasattr(value, "item") else value


def build_schema_suite(
    real: pd.DataFrame,
    *,
    null_tolerance: float = 0.05,
    constraints: list[Any] | tuple = (),
    name: str = "schema",
) -> ExpectationSuite:
    """Expectations derived from the real data's profile.

    One table-level column-set expectation, then per column: dtype family,
    numeric range (integer/numeric columns), category set (string/boolean
    columns; above `_SET_IN_SUITE` values the set is named by a digest, see
    `ExpectColumnValuesToBeKnown`, so GX's cost does not grow with it) and
    null fraction within ±`null_tolerance` of the real one.
    Each expectation's `meta` carries the gate's check name and a short
    threshold so results map to `CheckResult`s without re-deriving them.

    `constraints` are the spec's rules beyond the profile (`synth.constraints`
    texts: comparisons, ranges, fixed combinations, derived columns), each
    one `ExpectRowsToKeepConstraint`; missing values are not judged by
    comparisons. A fixed combination accepts the combinations of `real`.
    """
    lib = _gx()
    gxe = lib.gxe
    expectations: list[Any] = []

    def add(expectation: Any, check: str, threshold: Any, **kwargs: Any) -> None:
        expectations.append(expectation(meta={"check": check, "threshold": threshold}, **kwargs))

    columns = [str(c) for c in real.columns]
    add(gxe.ExpectTableColumnsToMatchSet, "columns", f"exactly the {len(columns)} real columns",
        column_set=columns, exact_match=True)
    for column in columns:
        series = real[column]
        values = series.dropna()
        family = _family(series.dtype)
        if family is not None:
            add(lib.ExpectColumnDtypeToBeInFamily, f"type:{column}", f"{family} dtype",
                column=column, family=family)
        if family in ("integer", "numeric") and len(values):
            cast = int if family == "integer" else float
            low, high = cast(_native(values.min())), cast(_native(values.max()))
            add(gxe.ExpectColumnValuesToBeBetween, f"range:{column}", [low, high],
                column=column, min_value=low, max_value=high)
        elif family in ("string", "boolean") and len(values):
            known = sorted((_native(v) for v in values.unique()), key=str)
            if len(known) <= _SET_IN_SUITE:
                add(gxe.ExpectColumnValuesToBeInSet, f"categories:{column}",
                    f"in {len(known)} known categories", column=column, value_set=known)
            else:
                add(lib.ExpectColumnValuesToBeKnown, f"categories:{column}",
                    f"in {len(known)} known categories", column=column, known=_register_known(known),
                    known_count=len(known))
        real_null = float(series.isna().mean())
        most_not_null = round(1 - (real_null + null_tolerance), 6)
        if most_not_null > 0:
            add(gxe.ExpectColumnValuesToNotBeNull, f"nulls_max:{column}",
                f"null fraction <= {1 - most_not_null:.4g}", column=column, mostly=most_not_null)
        least_null = round(real_null - null_tolerance, 6)
        if least_null > 0:
            add(gxe.ExpectColumnValuesToBeNull, f"nulls_min:{column}",
                f"null fraction >= {least_null:.4g}", column=column, mostly=least_null)
    if constraints:
        from synth.constraints import ConstraintSet

        rules = ConstraintSet.from_spec(list(constraints)).fit(real)
        for rule in rules.constraints:
            add(lib.ExpectRowsToKeepConstraint, f"constraint:{rule.text}", rule.text,
                column=rule.used[0], rule=_register_rule(rule), label=rule.text)
    # Passed to the constructor: add_expectation() would need an active GX context.
    return lib.gx.ExpectationSuite(name=name, expectations=expectations)


#: digest -> a fitted constraint, for `ExpectRowsToKeepConstraint`; the most recent rules only.
_RULES: dict[str, Any] = {}


def _register_rule(rule: Any) -> str:
    """Keep a fitted `synth.constraints.Constraint` for `ExpectRowsToKeepConstraint`; return the digest naming it."""
    text = json.dumps([rule.text, rule.combinations])
    digest = hashlib.sha256(text.encode()).hexdigest()[:32]
    _RULES.pop(digest, None)
    _RULES[digest] = rule
    while len(_RULES) > _KNOWN_VALUES_KEPT:
        del _RULES[next(iter(_RULES))]
    return digest


class GXSession:
    """One ephemeral GX context for a gate run: suites are validated and their
    results returned as JSON.

    Nothing touches disk: no GX project on disk is read or changed, and no
    Data Docs are built (GX's renderer writes column names into its pages
    unescaped; see `validation.gate.run_gate`).
    """

    def __init__(self) -> None:
        lib = _gx()
        self.context = lib.gx.get_context(mode="ephemeral")
        self.context.variables.progress_bars = lib.ProgressBarsConfig(globally=False)
        self._source = self.context.data_sources.add_pandas(f"gate-{uuid.uuid4().hex[:8]}")

    def validate(self, suite: ExpectationSuite, data: pd.DataFrame, *,
                 suite_label: str) -> tuple[list[CheckResult], dict]:
        """Run `suite` on `data`; one CheckResult per expectation, plus GX's raw result as a dict."""
        result = self._run(suite, data, suite_label)
        checks = [_to_check(r, data, suite_label) for r in result.results]
        # GX returns results in metric-resolution order; report them in the suite's order.
        order = {e.meta.get("check"): i for i, e in enumerate(suite.expectations) if e.meta}
        checks.sort(key=lambda c: order.get(c.name, len(order)))
        return checks, result.to_json_dict()

    def judge(self, measurements: Sequence[Measurement], *, suite_label: str) -> tuple[list[CheckResult], dict]:
        """GX's verdicts on measured figures: the one place a threshold is applied, for tables and images alike.

        Figures are measured on whole tables or image sets (a score, an AUC, a
        share), so their GX form is a one-row table, one column per gated
        figure, and one expectation per column holding it to its threshold on
        the side its `bound` names: the column's minimum at least a "min"
        threshold, its maximum at most a "max" one (both inclusive). On one row
        that is the figure itself; a figure that could not be measured (None,
        NaN here) has no minimum or maximum and fails, where a per-value
        expectation would skip it. Report-only figures pass through unjudged.
        """
        names = [m.name for m in measurements]
        if len(set(names)) != len(names):
            raise ValueError(f"suite {suite_label}: measurement names must be unique, got {names}")
        lib = _gx()
        expectation = {"min": lib.gxe.ExpectColumnMinToBeBetween, "max": lib.gxe.ExpectColumnMaxToBeBetween}
        gated = [m for m in measurements if m.required]
        table = pd.DataFrame({m.name: [float("nan") if m.value is None else float(m.value)] for m in gated}, index=[0])
        suite = lib.gx.ExpectationSuite(name=suite_label, expectations=[
            # "min" -> min_value=threshold (a floor), "max" -> max_value=threshold (a ceiling)
            expectation[m.bound](column=m.name, meta={"check": m.name, "threshold": m.threshold},
                                 **{f"{m.bound}_value": m.threshold})
            for m in gated
        ])
        result = self._run(suite, table, suite_label)
        verdict = {r.expectation_config.meta["check"]: bool(r.success) for r in result.results}
        checks = [
            CheckResult(m.suite, m.name, verdict[m.name] if m.required else True, m.value, m.threshold, m.detail,
                        required=m.required, bound=m.bound)
            for m in measurements
        ]
        return checks, result.to_json_dict()

    def _run(self, suite: ExpectationSuite, data: pd.DataFrame, suite_label: str) -> Any:
        """GX's validation result of `suite` on `data` (a suite of the same name run before is replaced)."""
        if suite.name in {s.name for s in self.context.suites.all()}:
            self.context.suites.delete(suite.name)
        suite = self.context.suites.add(suite)
        asset = self._source.add_dataframe_asset(f"{suite_label}-{uuid.uuid4().hex[:8]}")
        definition = asset.add_batch_definition_whole_dataframe("whole")
        validation = self.context.validation_definitions.add(
            _gx().gx.ValidationDefinition(name=f"{suite_label}-{uuid.uuid4().hex[:8]}", data=definition, suite=suite)
        )
        return validation.run(batch_parameters={"dataframe": data}, result_format="SUMMARY")


def validate_suite(
    suite: ExpectationSuite, data: pd.DataFrame, *, suite_label: str = "schema"
) -> tuple[list[CheckResult], dict]:
    """Run `suite` on `data` in a session of its own (see GXSession.validate)."""
    return GXSession().validate(suite, data, suite_label=suite_label)


def _to_check(result: Any, data: pd.DataFrame, suite_label: str) -> CheckResult:
    """Translate one GX ExpectationValidationResult into the gate's CheckResult."""
    config = result.expectation_config
    kwargs, meta = config.kwargs, config.meta or {}
    column = kwargs.get("column")
    check = meta.get("check", f"{config.type}:{column}" if column else config.type)
    threshold = meta.get("threshold")
    kind = check.split(":", 1)[0]
    passed = bool(result.success)
    observed = result.result or {}

    if kind == "columns":
        seen = [str(c) for c in data.columns]
        missing = [c for c in kwargs["column_set"] if c not in seen]
        extra = [c for c in seen if c not in kwargs["column_set"]]
        value: Any = {"missing": missing, "extra": extra}
        parts = (("missing", missing), ("unexpected", extra))
        detail = "; ".join(f"{label} columns {names}" for label, names in parts if names)
    elif column is not None and column not in data.columns:
        value, detail = None, f"{column} is missing from the data"
    elif (error := _exception_message(result.exception_info)) is not None:
        value, detail = None, f"{column} could not be checked: {error}"
    elif kind == "type":
        value = observed.get("observed_value")
        detail = f"{column} has dtype {value} but the real column is {kwargs['family']}"
    elif kind in ("nulls_max", "nulls_min"):
        value = round(float(data[column].isna().mean()), 4)
        if kind == "nulls_max":
            detail = f"{column} is {value:.1%} null; at most {1 - kwargs.get('mostly', 1.0):.1%} allowed"
        else:
            detail = f"{column} is {value:.1%} null; at least {kwargs.get('mostly', 1.0):.1%} required"
    elif kind == "constraint":
        share = (observed.get("unexpected_percent") or 0) / 100
        value = round(share, 6)
        examples = [
            tuple(map(_native, v)) if isinstance(v, (list, tuple)) else _native(v)
            for v in observed.get("partial_unexpected_list", [])
        ][:_EXAMPLES]
        detail = f"{observed.get('unexpected_count', 0)} row(s) ({share:.2%}) break {threshold}, e.g. {examples}"
    elif kind in ("range", "categories"):
        examples = [_native(v) for v in dict.fromkeys(observed.get("partial_unexpected_list", []))]
        share = (observed.get("unexpected_percent") or 0) / 100
        count = f"{observed.get('unexpected_count', 0)} value(s) ({share:.2%})"
        if kind == "range":
            value = _observed_range(data[column])
            detail = f"{column} has {count} outside {threshold}, e.g. {examples[:_EXAMPLES]}"
        else:
            value = examples[:_EXAMPLES]
            detail = f"{column} has {count} never seen in the real data, e.g. {value}"
    else:
        value, detail = observed.get("observed_value"), f"{config.type} failed on {column}"
    return CheckResult(
        suite=suite_label,
        name=check,
        passed=passed,
        value=value,
        threshold=threshold,
        detail="" if passed else detail,
    )


def _exception_message(info: dict) -> str | None:
    """The first error GX recorded for a result, or None.

    GX stores either one flat record or one record per failed metric.
    """
    records = [info] if "raised_exception" in info else list(info.values())
    errors = (str(r.get("exception_message")) for r in records if r.get("raised_exception"))
    return next(errors, None)


def _observed_range(series: pd.Series) -> list[Any] | None:
    """[min, max] of a numeric column as Python values; None if it is not numeric or is empty."""
    values = series.dropna()
    if not pdt.is_numeric_dtype(values.dtype) or values.empty:
        return None
    return [_native(values.min()), _native(values.max())]
