"""Rules every synthetic row keeps, enforced while sampling, for every tabular generator.

A spec lists constraints as strings (or, for fixed combinations, a mapping):

    constraints:
      - age >= 17                               # a column against a number
      - end_date >= start_date                  # ... or against another column (numbers or datetimes)
      - admitted >= 2020-01-01                  # ... or against a date
      - capital-gain == 0 or capital-loss == 0  # any of several comparisons (ops: >= > <= < == !=)
      - hours-per-week between 1 and 99         # a range, bounds included
      - fixed combinations of education, education-num
      - total = price + tax - discount          # a derived column: a sum/difference of numeric columns

How each is kept, best first:

- derived column: by construction. The generator never learns it; after sampling it is computed from its parts
  (in the real column's dtype), so it holds exactly, always.
- fixed combinations: by construction. The listed columns are learned as one categorical column whose values
  are the combinations seen in the training rows (as category values are stored: combinations many rows may
  share, never a row), and split again after sampling, so no unseen combination can come out.
- comparisons and ranges: by rejection. Each seeded block of rows is drawn, rows that break a rule are dropped
  and the block is topped up from the same block's random stream, at most `MAX_REJECTION_ROUNDS` rounds, so the
  output is always exactly the rows asked for and row i still does not depend on how the output is chunked. A
  rule that rejects so many rows that the rounds run out is an error naming it, never a shorter output. The
  share of rows rejected is counted for the card. (Every generator already keeps each numeric column inside the
  real data's own min/max: that range needs no rule.)

Before training, a constraint set is checked against the table (`check`): unknown columns, comparisons of text
columns, a derived column or combination that is not numeric/categorical, contradictory bounds on one column, and
rules the real rows break (the first breaking row is named) are each one `SpecError` line. Conditions
(`conditions`) are checked against the rules too: a condition on a derived column, or a value the rules forbid,
is refused; a condition on part of a fixed combination becomes a condition on the combination when exactly one
seen combination has that value.

Missing values are not judged by comparisons (a row with a missing side passes), as in the gate.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synth.columns import numeric_values, timestamp_seconds
from synth.errors import GeneratorInputError, ModelError, SpecError

#: Rounds of fresh candidates a block may draw to replace rows that break a rule.
MAX_REJECTION_ROUNDS = 20
#: The merged column of a fixed combination is named "fixed(a, b)" (a real column of that name is refused).
COMBINATION_PREFIX = "fixed("

_OPS = ("<=", ">=", "==", "!=", "<", ">")
_NAME = r"(?:`[^`]+`|[^\s`]+?)"
_ATOM = re.compile(rf"^\s*(?P<column>{_NAME})\s*(?P<op><=|>=|==|!=|<|>)\s*(?P<right>\S+|`[^`]+`)\s*$")
_BETWEEN = re.compile(rf"^\s*(?P<column>{_NAME})\s+between\s+(?P<low>\S+)\s+and\s+(?P<high>\S+)\s*$", re.I)
_DERIVED = re.compile(rf"^\s*(?P<column>{_NAME})\s*=\s*(?P<expr>[^=].*)$")
_FIXED = re.compile(r"^\s*fixed\s+combinations?\s+of\s+(?P<columns>.+)$", re.I)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?$")

EXAMPLES = ("'age >= 17', 'end >= start', 'a == 0 or b == 0', 'hours between 1 and 99', "
            "'fixed combinations of education, education-num', 'total = price + tax'")


def _unquote(name: str) -> str:
    return name[1:-1] if name.startswith("`") and name.endswith("`") else name


@dataclass(frozen=True)
class Comparison:
    column: str
    op: str
    #: a number, an ISO date string, or None when comparing with `other`.
    value: float | str | None = None
    other: str | None = None

    @property
    def text(self) -> str:
        right = self.other if self.other is not None else (_shown(self.value))
        return f"{self.column} {self.op} {right}"


@dataclass
class Constraint:
    """One rule; `kind` is "compare" (any of `atoms`), "fixed" (`columns`) or "derived" (`column` = Σ `terms`)."""

    kind: str
    text: str
    atoms: list[Comparison] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    column: str | None = None
    #: derived: (sign, column) pairs, sign +1 or -1.
    terms: list[tuple[int, str]] = field(default_factory=list)
    #: fixed: the combinations seen in the training rows (JSON-encoded tuples), learned by `fit`.
    combinations: list[str] = field(default_factory=list)
    #: compare: every atom must hold (a range) instead of any one of them.
    every: bool = False

    @property
    def used(self) -> list[str]:
        if self.kind == "compare":
            return list(dict.fromkeys(c for a in self.atoms for c in (a.column, a.other) if c))
        if self.kind == "fixed":
            return list(self.columns)
        return [self.column] + [c for _, c in self.terms]

    @property
    def enforced(self) -> str:
        return {"compare": "rejection of rows that break it",
                "fixed": "construction (learned as one column of the seen combinations)",
                "derived": "construction (computed from its parts after sampling)"}[self.kind]


def parse(raw: str | dict[str, Any]) -> Constraint:
    """One constraint from its spec form; `ValueError` with one line saying what is wrong."""
    if isinstance(raw, dict):
        if set(raw) == {"fixed"} and isinstance(raw["fixed"], list) and all(isinstance(c, str) for c in raw["fixed"]):
            return _fixed([str(c) for c in raw["fixed"]], f"fixed combinations of {', '.join(raw['fixed'])}")
        raise ValueError(f"constraint {_cut(raw)} is not a rule; write a string such as {EXAMPLES}, "
                         "or {fixed: [column, column]}")
    if not isinstance(raw, str) or not raw.strip():
        raise ValueError(f"constraint {_cut(raw)} is not a rule; write a string such as {EXAMPLES}")
    text = " ".join(raw.split())
    if m := _FIXED.match(text):
        return _fixed([_unquote(c.strip()) for c in m["columns"].split(",")], text)
    if m := _BETWEEN.match(text):
        low, high = _literal(m["low"], text), _literal(m["high"], text)
        if low is None or high is None:
            raise ValueError(f"constraint {_cut(text)}: between needs two numbers or dates, "
                             "e.g. 'age between 17 and 90'")
        if _as_float(low) > _as_float(high):
            raise ValueError(f"constraint {_cut(text)}: the low bound is above the high one")
        column = _unquote(m["column"])
        return Constraint("compare", text, atoms=[Comparison(column, ">=", low), Comparison(column, "<=", high)],
                          every=True)
    if " or " not in text and (m := _DERIVED.match(text)) and not any(op in text for op in _OPS):
        return _derived(_unquote(m["column"]), m["expr"], text)
    atoms = []
    for part in re.split(r"\s+or\s+", text, flags=re.I):
        m = _ATOM.match(part)
        if not m:
            raise ValueError(f"constraint {_cut(text)} is not a rule this project knows; write one such as {EXAMPLES} "
                             "(column names with spaces go in backticks)")
        right = m["right"]
        value = _literal(right, text)
        atoms.append(Comparison(_unquote(m["column"]), m["op"], value=value,
                                other=None if value is not None else _unquote(right)))
    return Constraint("compare", text, atoms=atoms)


def _fixed(columns: list[str], text: str) -> Constraint:
    if len(columns) < 2 or any(not c for c in columns):
        raise ValueError(f"constraint {_cut(text)}: a fixed combination needs two or more column names, "
                         "comma-separated")
    if len(set(columns)) != len(columns):
        raise ValueError(f"constraint {_cut(text)} names a column twice")
    return Constraint("fixed", text, columns=columns)


def _derived(column: str, expr: str, text: str) -> Constraint:
    """`a + b - c` (spaces around + and -, since column names may hold a dash) → [(1, a), (1, b), (-1, c)]."""
    tokens = re.findall(r"`[^`]+`|\S+", expr)
    shape = "a derived column is a sum or difference of columns with spaces around + and -, e.g. 'total = price + tax'"
    if len(tokens) % 2 == 0:
        raise ValueError(f"constraint {_cut(text)}: {shape}")
    terms = []
    for k in range(0, len(tokens), 2):
        sign = 1 if k == 0 or tokens[k - 1] == "+" else -1 if tokens[k - 1] == "-" else 0
        if not sign:
            raise ValueError(f"constraint {_cut(text)}: {shape}")
        if _literal(tokens[k], text) is not None:
            raise ValueError(f"constraint {_cut(text)}: a derived column adds and subtracts columns, not numbers")
        terms.append((sign, _unquote(tokens[k])))
    if column in [c for _, c in terms]:
        raise ValueError(f"constraint {_cut(text)}: a derived column cannot be one of its own parts")
    return Constraint("derived", text, column=column, terms=terms)


def _literal(token: str, text: str) -> float | str | None:
    """A number or an ISO date in a rule; None for a column name."""
    if token.startswith("`"):
        return None
    try:
        number = float(token)
    except ValueError:
        return token if _DATE.match(token) else None
    if not math.isfinite(number):
        raise ValueError(f"constraint {_cut(text)}: the number must be finite")
    return number


def _as_float(value: float | str) -> float:
    return float(value) if not isinstance(value, str) else pd.Timestamp(value).value / 1e9


def _shown(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _cut(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------------------------------------ the set
class ConstraintSet:
    """The constraints of one table: checked against it, learned from it, kept while sampling."""

    def __init__(self, constraints: list[Constraint], columns: list[str] | None = None):
        self.constraints = constraints
        #: the real table's columns, in order (set by `fit`)
        self.columns = columns or []
        #: candidate rows judged while sampling, and how many of them each rule (by text) broke
        self.drawn = 0
        self.broken: dict[str, int] = {}

    @classmethod
    def from_spec(cls, raw: list[Any] | tuple = ()) -> ConstraintSet:
        return cls([r if isinstance(r, Constraint) else parse(r) for r in raw])

    def __bool__(self) -> bool:
        return bool(self.constraints)

    @property
    def rejecting(self) -> list[Constraint]:
        return [c for c in self.constraints if c.kind == "compare"]

    # -- before training ------------------------------------------------------------------------------------
    def check(self, table: pd.DataFrame, where: str = "constraints") -> None:
        """Each problem of the set on this table as one `SpecError` (see the module docstring)."""
        names = set(table.columns)
        claimed: dict[str, str] = {}
        for i, rule in enumerate(self.constraints):
            label = f"{where}[{i}] {rule.text!r}"
            missing = [c for c in rule.used if c not in names]
            if missing:
                raise SpecError(f"{label}: column {missing[0]!r} is not in the table; columns: "
                                f"{', '.join(map(str, list(table.columns)[:20]))}")
            if rule.kind == "fixed" and _merged_name(rule) in names:
                raise SpecError(f"{label}: the table has a column named {_merged_name(rule)!r}, the name this rule "
                                "gives the combined column; rename that column")
            for column in rule.used if rule.kind != "compare" else []:
                if column in claimed:
                    raise SpecError(f"{label}: column {column!r} is already used by {claimed[column]!r}; "
                                    "a column can be in one fixed combination or derived rule only")
                claimed[column] = rule.text
            _check_types(rule, table, label)
            broken = self._broken_by_real_rows(rule, table)
            if broken is not None:
                raise SpecError(f"{label}: the real data breaks it ({broken}); fix the rule or the data")
        self._check_contradictions(where)

    def _check_contradictions(self, where: str) -> None:
        low: dict[str, tuple[float, bool, str]] = {}
        high: dict[str, tuple[float, bool, str]] = {}
        for rule in self.constraints:
            if rule.kind != "compare":
                continue
            if len(rule.atoms) > 1 and not rule.every:
                continue  # an "or" rule bounds nothing on its own
            atoms = [a for a in rule.atoms if a.other is None and a.op in ("<", "<=", ">", ">=", "==")]
            for a in atoms:
                v = _as_float(a.value)
                if a.op in (">", ">=", "=="):
                    if a.column not in low or v > low[a.column][0]:
                        low[a.column] = (v, a.op == ">", rule.text)
                if a.op in ("<", "<=", "=="):
                    if a.column not in high or v < high[a.column][0]:
                        high[a.column] = (v, a.op == "<", rule.text)
        for column in set(low) & set(high):
            (lo, lo_strict, lo_rule), (hi, hi_strict, hi_rule) = low[column], high[column]
            if lo > hi or (lo == hi and (lo_strict or hi_strict)):
                raise SpecError(f"{where}: {lo_rule!r} and {hi_rule!r} contradict each other: no value of "
                                f"{column!r} keeps both; remove one")

    @staticmethod
    def _broken_by_real_rows(rule: Constraint, table: pd.DataFrame) -> str | None:
        if rule.kind == "compare":
            ok = _holds(rule, table)
            if ok.all():
                return None
            first = int(np.flatnonzero(~ok)[0])
            shown = ", ".join(f"{c}={_shown(_py(table[c].iloc[first]))}" for c in rule.used)
            return f"{int((~ok).sum()):,} of {len(table):,} rows, the first at row {first + 1}: {shown}"
        if rule.kind == "derived":
            computed = _derive(rule, table)
            actual = table[rule.column]
            both = actual.notna() & computed.notna()
            a, c = actual[both].to_numpy(dtype="float64"), computed[both].to_numpy(dtype="float64")
            bad = ~np.isclose(a, c, rtol=1e-9, atol=1e-9)
            if not bad.any():
                return None
            first = int(np.flatnonzero(both.to_numpy())[np.flatnonzero(bad)[0]])
            return (f"{int(bad.sum()):,} rows, the first at row {first + 1}: {rule.column}="
                    f"{_shown(_py(actual.iloc[first]))} but the parts give {_shown(_py(computed.iloc[first]))}")
        return None

    # -- learning ---------------------------------------------------------------------------------------------
    def fit(self, table: pd.DataFrame) -> ConstraintSet:
        self.columns = [str(c) for c in table.columns]
        for rule in self.constraints:
            if rule.kind == "fixed":
                rule.combinations = sorted(set(_combination_labels(table, rule.columns)))
        return self

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """The table the generator learns: derived columns left out, each fixed combination one column."""
        out = table.copy()
        for rule in self.constraints:
            if rule.kind == "derived":
                out = out.drop(columns=[rule.column])
            elif rule.kind == "fixed":
                merged = pd.Series(_combination_labels(table, rule.columns), index=table.index, dtype=object)
                out = out.drop(columns=rule.columns)
                out[_merged_name(rule)] = merged
        return out

    def conditions(self, conditions: dict[str, Any] | None) -> dict[str, Any] | None:
        """Conditions on the real columns → on the learned table; refused (one line) when the rules forbid them."""
        if not conditions or not self.constraints:
            return conditions
        out = dict(conditions)
        for rule in self.constraints:
            asked = {c: conditions[c] for c in rule.used if c in conditions}
            if not asked:
                continue
            if rule.kind == "derived" and rule.column in asked:
                raise GeneratorInputError(f"cannot condition on {rule.column!r}: it is derived ({rule.text}) and "
                                          "computed after sampling; condition on its parts instead")
            if rule.kind == "compare":
                probe = pd.DataFrame({c: [v] for c, v in asked.items()})
                if set(rule.used) <= set(asked) and not _holds(rule, probe).all():
                    raise GeneratorInputError(f"the condition {_shown_conditions(asked)} breaks the constraint "
                                              f"{rule.text!r}; no row can keep both")
            if rule.kind == "fixed":
                for c in asked:
                    out.pop(c)
                out[_merged_name(rule)] = self._combination_for(rule, asked)
        return out

    def _combination_for(self, rule: Constraint, asked: dict[str, Any]) -> str:
        matches = [label for label in rule.combinations
                   if all(_same(v, asked[c])
                          for c, v in zip(rule.columns, json.loads(label), strict=True) if c in asked)]
        if len(matches) == 1:
            return matches[0]
        what = _shown_conditions(asked)
        if not matches:
            raise GeneratorInputError(f"the condition {what} is not one of the combinations of "
                                      f"({', '.join(rule.columns)}) in the training rows ({rule.text})")
        raise GeneratorInputError(f"the condition {what} matches {len(matches)} combinations of "
                                  f"({', '.join(rule.columns)}) ({rule.text}); add a condition on "
                                  f"{', '.join(c for c in rule.columns if c not in asked)} to pick one")

    # -- after sampling ---------------------------------------------------------------------------------------
    def inverse(self, frame: pd.DataFrame, dtypes: dict[str, Any]) -> pd.DataFrame:
        """Generated rows of the learned table → rows of the real table (split combinations, derived columns).
        `frame` is the caller's own (a freshly decoded block) and is changed in place."""
        out = frame
        for rule in self.constraints:
            if rule.kind == "fixed":
                name = _merged_name(rule)
                # each distinct combination is decoded once (there are few), then mapped onto the rows
                parsed = {v: json.loads(v) for v in pd.unique(out[name]) if isinstance(v, str)}
                for k, column in enumerate(rule.columns):
                    part = out[name].map({label: values[k] for label, values in parsed.items()})
                    out[column] = _cast(part, dtypes.get(column))
                out = out.drop(columns=[name])
        for rule in self.constraints:
            if rule.kind == "derived":
                out[rule.column] = _cast(_derive(rule, out), dtypes.get(rule.column))
        return out[self.columns] if self.columns else out

    def valid(self, table: pd.DataFrame, tally: bool = False) -> np.ndarray:
        """Rows that keep every rule enforced by rejection; with `tally`, count the candidates each rule breaks
        (for the card's rejection rates)."""
        ok = np.ones(len(table), dtype=bool)
        for rule in self.rejecting:
            kept = _holds(rule, table)
            if tally:
                self.broken[rule.text] = self.broken.get(rule.text, 0) + int((~kept).sum())
            ok &= kept
        if tally:
            self.drawn += len(table)
        return ok

    @staticmethod
    def valid_one(rule: Constraint, table: pd.DataFrame) -> np.ndarray:
        """Rows that keep one rule, of any kind (a fixed combination judged against the combinations `fit` saw)."""
        if rule.kind == "compare":
            return _holds(rule, table)
        if rule.kind == "fixed":
            seen = set(rule.combinations)
            return np.fromiter((label in seen for label in _combination_labels(table, rule.columns)), bool, len(table))
        computed, actual = _derive(rule, table), pd.to_numeric(table[rule.column], errors="coerce")
        both = (computed.notna() & actual.notna()).to_numpy()
        close = np.isclose(actual.to_numpy(dtype="float64", na_value=np.nan),
                           computed.to_numpy(dtype="float64", na_value=np.nan), rtol=1e-9, atol=1e-9)
        return close | ~both

    def describe(self) -> list[dict[str, Any]]:
        """Each rule, how it is kept, and for rules kept by rejection the share of candidate rows that broke it."""
        def rate(c: Constraint) -> float:
            return round(self.broken.get(c.text, 0) / self.drawn, 6) if self.drawn else 0.0

        return [{"constraint": c.text, "enforced_by": c.enforced,
                 **({"rejection_rate": rate(c)} if c.kind == "compare" else {})} for c in self.constraints]

    # -- saving -----------------------------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        return {"columns": self.columns,
                "rules": [{"text": c.text, **({"combinations": c.combinations} if c.kind == "fixed" else {})}
                          for c in self.constraints]}

    @classmethod
    def from_config(cls, config: dict[str, Any], where: str) -> ConstraintSet:
        try:
            rules = []
            for entry in config["rules"]:
                rule = parse(entry["text"])
                if rule.kind == "fixed":
                    rule.combinations = [str(x) for x in entry["combinations"]]
                    if not rule.combinations or any(len(json.loads(x)) != len(rule.columns) for x in rule.combinations):
                        raise ValueError("a fixed combination without its combinations")
                rules.append(rule)
            return cls(rules, [str(c) for c in config["columns"]])
        except (KeyError, TypeError, ValueError) as err:
            raise ModelError(f"{where}: constraints are damaged ({err}); re-train the model") from None


def _merged_name(rule: Constraint) -> str:
    return COMBINATION_PREFIX + ", ".join(rule.columns) + ")"


def _py(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _combination_labels(table: pd.DataFrame, columns: list[str]) -> list[str | None]:
    """Each row's combination as a JSON list (missing values as null); None never occurs (null is a value)."""
    rows = zip(*[table[c].tolist() for c in columns], strict=True)
    return [json.dumps([None if _missing(v) else _json_value(v) for v in row]) for row in rows]


def _json_value(value: Any) -> Any:
    value = _py(value)
    if isinstance(value, pd.Timestamp):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _same(value: Any, asked: Any) -> bool:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value) == float(asked)
        except (TypeError, ValueError):
            return False
    return str(value) == str(asked)


def _shown_conditions(asked: dict[str, Any]) -> str:
    return ", ".join(f"{c}={v!r}" for c, v in asked.items())


def _cast(series: pd.Series, dtype: Any) -> pd.Series:
    if dtype is None:
        return series
    dtype = pd.api.types.pandas_dtype(dtype)
    if series.dtype == dtype:
        return series
    try:
        if pd.api.types.is_integer_dtype(dtype) and not pd.api.types.is_extension_array_dtype(dtype):
            if series.isna().any():
                return pd.to_numeric(series).round().astype("Int64")
            return pd.to_numeric(series).round().astype(dtype)
        if pd.api.types.is_datetime64_any_dtype(dtype):
            return pd.to_datetime(series).astype(dtype)
        if pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_bool_dtype(dtype):
            return pd.to_numeric(series).astype(dtype)
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series


def _column_values(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as float64 — datetimes as seconds —, present mask)."""
    values = numeric_values(table[column])
    return values, ~np.isnan(values)


def _holds(rule: Constraint, table: pd.DataFrame) -> np.ndarray:
    """Rows that keep a comparison rule (any of its atoms, or all of a range's); a missing side passes."""
    ok = np.full(len(table), rule.every, dtype=bool)
    for a in rule.atoms:
        left, left_present = _column_values(table, a.column)
        if a.other is not None:
            right, right_present = _column_values(table, a.other)
        else:
            bound = timestamp_seconds(a.value, table[a.column].dtype) if isinstance(a.value, str) else a.value
            right, right_present = np.full(len(table), float(bound)), np.ones(len(table), dtype=bool)
        with np.errstate(invalid="ignore"):
            result = {"<": left < right, "<=": left <= right, ">": left > right, ">=": left >= right,
                      "==": left == right, "!=": left != right}[a.op]
        kept = result | ~(left_present & right_present)
        ok = ok & kept if rule.every else ok | kept
    return ok


def _derive(rule: Constraint, table: pd.DataFrame) -> pd.Series:
    total = None
    for sign, column in rule.terms:
        part = pd.to_numeric(table[column], errors="coerce") * sign
        total = part if total is None else total + part
    return total


def _check_types(rule: Constraint, table: pd.DataFrame, label: str) -> None:
    def kind(column: str) -> str:
        series = table[column]
        if pd.api.types.is_bool_dtype(series):
            return "boolean"
        if pd.api.types.is_datetime64_any_dtype(series):
            return "datetime"
        return "number" if pd.api.types.is_numeric_dtype(series) else "text"

    if rule.kind == "derived":
        for column in rule.used:
            if kind(column) != "number":
                raise SpecError(f"{label}: column {column!r} is {kind(column)}; a derived column adds numbers only")
    if rule.kind == "compare":
        for a in rule.atoms:
            sides = [kind(a.column)] + ([kind(a.other)] if a.other else [])
            if any(s in ("text", "boolean") for s in sides) and a.op not in ("==", "!="):
                bad = a.column if sides[0] in ("text", "boolean") else a.other
                raise SpecError(f"{label}: column {bad!r} is {kind(bad)}; only numbers and dates can be ordered")
            if a.other is None and sides[0] in ("text", "boolean"):
                raise SpecError(f"{label}: column {a.column!r} is {sides[0]}; compare it with another column, or "
                                "use a fixed combination")
            if a.other is None and isinstance(a.value, str) and sides[0] != "datetime":
                raise SpecError(f"{label}: {a.value} is a date but column {a.column!r} is {sides[0]}")
            if a.other is not None and len(set(sides)) > 1:
                raise SpecError(f"{label}: {a.column!r} is {sides[0]} but {a.other!r} is {sides[1]}; compare like "
                                "with like")


# ------------------------------------------------------------------------------------------------ proposals
#: Rows the proposals are searched on (every proposal is then confirmed on all rows).
PROPOSE_ROWS = 20_000
#: Columns with at most this many distinct values take part in fixed-combination proposals ...
PROPOSE_MAX_CATEGORIES = 100
#: ... and a determining column must repeat each value this many times on average (a near-unique column
#: "determines" everything by coincidence).
PROPOSE_MIN_REPEATS = 10
#: Pairs of columns with at most this many values each are searched for combinations that never occur ...
PROPOSE_PAIR_MAX_VALUES = 20
#: ... although independent columns would put at least this many rows in them.
PROPOSE_UNSEEN_ROWS = 30
#: A column has a spike at 0 when at least this share of its rows hold 0 (for "a == 0 or b == 0").
PROPOSE_ZERO_SHARE = 0.1
#: Numeric columns looked at for sums (sums are searched over triples).
PROPOSE_MAX_SUM_COLUMNS = 30


def propose(table: pd.DataFrame, columns: list[str] | None = None) -> list[tuple[str, str]]:
    """Rules every row of `table` keeps, as (constraint text, evidence), for `synth init` to offer commented out.

    - fixed combinations: groups of columns (at most `PROPOSE_MAX_CATEGORIES` values each) where one column's
      value fixes the others' (one-to-one or many-to-one), each of its values seen `PROPOSE_MIN_REPEATS`+ times;
      and pairs that never take a combination independence would put in `PROPOSE_UNSEEN_ROWS`+ rows;
    - `a <= b` for numeric or date columns on one scale (their middle halves overlap), in every row;
    - `a == 0 or b == 0` for two columns each 0 in at least `PROPOSE_ZERO_SHARE` of the rows, never both non-zero;
    - `c = a + b` for three numeric columns, exactly, in every row.
    """
    names = [c for c in (columns or list(table.columns)) if c in table.columns]
    full = table[names]
    sample = full.sample(PROPOSE_ROWS, random_state=0) if len(full) > PROPOSE_ROWS else full
    found = _propose_fixed(sample) + _propose_orders(sample) + _propose_zeros(sample) + _propose_sums(sample)
    confirmed = []
    for text, evidence in found:
        try:
            rules = ConstraintSet.from_spec([text])
            rules.check(full)
        except (ValueError, SpecError):
            continue  # broken by a row outside the sample, or not expressible
        confirmed.append((text, evidence))
    return confirmed


def _quoted(name: str) -> str:
    return f"`{name}`" if re.search(r"[\s,`]", name) or not name else name


def _propose_fixed(table: pd.DataFrame) -> list[tuple[str, str]]:
    n = len(table)
    codes = {}
    for name in table.columns:
        column = table[name]
        distinct = column.nunique(dropna=False)
        if 2 <= distinct <= PROPOSE_MAX_CATEGORIES:
            codes[name] = (pd.factorize(column, use_na_sentinel=False)[0].astype(np.int64), distinct)
    determines: dict[str, set[str]] = {}
    names = list(codes)
    for a in names:
        ca, da = codes[a]
        if n < PROPOSE_MIN_REPEATS * da:
            continue
        for b in names:
            cb, db = codes[b]
            if a == b or db > da:
                continue
            if np.unique(ca * db + cb).size == da:  # every value of a has one value of b
                determines.setdefault(a, set()).add(b)
    proposals, used = _propose_unseen_pairs(codes, n, determines), set()
    used.update(c for text, _ in proposals for c in _fixed_columns(text))
    for a in sorted(determines, key=lambda c: (-len(determines[c]), names.index(c))):
        group = [a] + [b for b in names if b in determines[a] and b not in used]
        if a in used or len(group) < 2:
            continue
        used.update(group)
        kind = "one value of" if all(a in determines.get(b, ()) for b in group[1:]) else "a single value of"
        evidence = (f"each of the {codes[a][1]} values of {a} comes with {kind} "
                    f"{', '.join(group[1:])} in every row")
        proposals.append((f"fixed combinations of {', '.join(_quoted(c) for c in group)}", evidence))
    return proposals


def _fixed_columns(text: str) -> list[str]:
    return parse(text).columns


def _propose_unseen_pairs(codes: dict[str, tuple[np.ndarray, int]], n: int,
                          determines: dict[str, set[str]]) -> list[tuple[str, str]]:
    """Pairs that never take some combination independence would put in `PROPOSE_UNSEEN_ROWS`+ rows (structural
    zeros, e.g. "No internet service" only with InternetService = No), strongest first, each column in one pair."""
    found = []
    names = [c for c in codes if codes[c][1] <= PROPOSE_PAIR_MAX_VALUES]
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            if b in determines.get(a, ()) or a in determines.get(b, ()):
                continue  # a dependency: proposed as such
            (ca, da), (cb, db) = codes[a], codes[b]
            table = np.bincount(ca * db + cb, minlength=da * db).reshape(da, db)
            expected = np.outer(table.sum(1), table.sum(0)) / n
            unseen = (table == 0) & (expected >= PROPOSE_UNSEEN_ROWS)
            if unseen.any():
                found.append((float(expected[unseen].sum()), a, b, int(unseen.sum()), int((table > 0).sum())))
    proposals, used = [], set()
    for strength, a, b, k, seen in sorted(found, reverse=True):
        if a in used or b in used:
            continue
        used.update((a, b))
        proposals.append((f"fixed combinations of {_quoted(a)}, {_quoted(b)}",
                          f"{k} combination(s) never occur that independent columns would put in {strength:,.0f} rows; "
                          f"{seen} combinations are seen"))
    return proposals


def _orderable(table: pd.DataFrame) -> list[str]:
    return [c for c in table.columns if not pd.api.types.is_bool_dtype(table[c])
            and (pd.api.types.is_numeric_dtype(table[c]) or pd.api.types.is_datetime64_any_dtype(table[c]))
            and table[c].nunique() > 1]


def _propose_orders(table: pd.DataFrame) -> list[tuple[str, str]]:
    columns = _orderable(table)
    values = {c: _column_values(table, c) for c in columns}
    kinds = {c: pd.api.types.is_datetime64_any_dtype(table[c]) for c in columns}
    proposals = []
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            if kinds[a] != kinds[b]:
                continue
            (va, pa), (vb, pb) = values[a], values[b]
            both = pa & pb
            if both.sum() < PROPOSE_MIN_REPEATS:
                continue
            x, y = va[both], vb[both]
            (xl, xh), (yl, yh) = np.percentile(x, [25, 75]), np.percentile(y, [25, 75])
            if max(xl, yl) > min(xh, yh):
                continue  # the middle halves apart: on different scales, true of every row by coincidence
            for left, right, lx, ry in ((a, b, x, y), (b, a, y, x)):
                if np.all(lx <= ry) and np.any(lx < ry):
                    strict = bool(np.all(lx < ry))
                    op = "<" if strict else "<="
                    proposals.append((f"{_quoted(left)} {op} {_quoted(right)}",
                                      f"holds in all {int(both.sum()):,} rows where both are present"))
    return proposals


def _propose_zeros(table: pd.DataFrame) -> list[tuple[str, str]]:
    columns = [c for c in _orderable(table) if not pd.api.types.is_datetime64_any_dtype(table[c])]
    zero = {c: (table[c] == 0).to_numpy() for c in columns}
    columns = [c for c in columns if zero[c].mean() >= PROPOSE_ZERO_SHARE and (~zero[c] & table[c].notna()).any()]
    proposals = []
    for i, a in enumerate(columns):
        for b in columns[i + 1:]:
            nonzero_a = ~zero[a] & table[a].notna().to_numpy()
            nonzero_b = ~zero[b] & table[b].notna().to_numpy()
            if not (nonzero_a & nonzero_b).any():
                proposals.append((f"{_quoted(a)} == 0 or {_quoted(b)} == 0",
                                  f"{int(nonzero_a.sum()):,} rows have {a} ≠ 0 and {int(nonzero_b.sum()):,} have "
                                  f"{b} ≠ 0, never both"))
    return proposals


def _propose_sums(table: pd.DataFrame) -> list[tuple[str, str]]:
    columns = [c for c in _orderable(table) if not pd.api.types.is_datetime64_any_dtype(table[c])]
    columns = columns[:PROPOSE_MAX_SUM_COLUMNS]
    values = {c: table[c].to_numpy(dtype="float64", na_value=np.nan) for c in columns}
    proposals, used = [], set()
    for total in columns:
        for i, a in enumerate(columns):
            for b in columns[i + 1:]:
                if total in (a, b) or total in used:
                    continue
                t, x, y = values[total], values[a], values[b]
                present = ~(np.isnan(t) | np.isnan(x) | np.isnan(y))
                if present.sum() < PROPOSE_MIN_REPEATS or not (np.any(x[present] != 0) and np.any(y[present] != 0)):
                    continue
                if np.allclose(t[present], x[present] + y[present], rtol=1e-9, atol=1e-9):
                    used.add(total)
                    proposals.append((f"{_quoted(total)} = {_quoted(a)} + {_quoted(b)}",
                                      f"exact in all {int(present.sum()):,} rows where all three are present"))
    return proposals
