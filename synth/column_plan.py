"""What a tabular generator does with each column before it learns the table, and how it undoes it after sampling.

The generators' own encodings (mode-specific normalisation, one-hot blocks, copula marginals) treat every
numeric column as a continuous quantity and every text column as a category. Real tables break that in a few
recurring ways, each found by a rule of `synth.profile` (stated there with its threshold) and handled here the
same way for every generator kind:

- identifier (unique or near-unique codes, row numbers handed out in order): not learned at all. Learned as a
  category it is pooled or copied, learned as a number it comes back as a quantity. Synthetic rows get fresh
  unique keys in the real format instead: integers numbered on from the real maximum, text codes with the most
  common character-class pattern of the real ones (`7590-VHVEG` → four digits, a dash, five capitals; a run
  that is the same in every code, such as a `CUST` prefix, stays as it is), filled by a seeded bijection of the
  row number, so row i's key does not depend on how the output is chunked and no two rows share one (past the
  pattern's capacity, the row's multiple of it is written in front of the first varying run). The gate leaves
  these columns out (a fresh key is never a copy, and would hide one).
- discrete (integer values, at most `DISCRETE_MAX_VALUES` distinct: codes, counts, ratings, a 0/1 target):
  learned as categories, so every value comes back exactly and rare ones are not smeared into their
  neighbours or lost; a condition on such a column names a value, as for any category.
- heavy tail: `log(1 + x)` or a quantile-to-normal transform, chosen by the profile's rule, before the generator
  sees the column; undone after sampling. Quantile knots are averages of adjacent order statistics, so no single
  training value is stored (the minimum and maximum are, as every generator stores a column's range).
- grid (multiples of 10, 100, 1000 ..., or a fixed number of decimals): sampled values are snapped back onto the
  grid and kept inside the real range, so round money stays round.

Generators that fit an exact marginal per column (the Gaussian copula) keep integer codes as numbers, in order,
snapped back to the nearest real value (`discrete="nearest"`; a two-valued column such as a 0/1 target is a
category all the same, so it can be conditioned on), and take no tail transform (`transforms=False`);
differentially private generators take none, because every rule here reads the training rows outside the
privacy budget.

The plan is plain JSON (`to_config` / `from_config`): numbers, category values and short patterns, no rows.
"""

from __future__ import annotations

import math
import string
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synth.errors import GeneratorInputError, ModelError

#: Knots of a quantile transform, at most.
QUANTILE_KNOTS = 1000
#: Normal scores of the quantile transform stay within ±this (the 1e-4 / 1 - 1e-4 quantiles).
QUANTILE_CLIP = 3.719
#: Characters of a text identifier its pattern is read from (longer codes keep their first characters).
MAX_PATTERN_CHARS = 64
#: Codes of the most common shape that are compared to find the runs that are the same text in all of them.
SAMPLE_CODES = 10_000

_CLASSES = {"d": string.digits, "u": string.ascii_uppercase, "l": string.ascii_lowercase}


@dataclass
class ColumnRule:
    """What is done with one column: `kind` is "identifier", "discrete", "continuous" or "keep"."""

    name: str
    kind: str
    dtype: str
    reason: str
    grid: float | None = None
    transform: str | None = None
    low: float | None = None
    high: float | None = None
    #: discrete: the values, as numbers, in the order of their labels.
    values: list[float] = field(default_factory=list)
    #: quantile transform: knots (x, increasing); their normal scores are spread evenly over ±QUANTILE_CLIP.
    knots: list[float] = field(default_factory=list)
    #: identifier: "integer" (numbered on from `low`/`high`) or a text pattern of d/u/l classes and literals.
    pattern: list[str] = field(default_factory=list)


class ColumnPlan:
    """The rules for every column of a training table (see the module docstring)."""

    def __init__(self, rules: list[ColumnRule]):
        self.rules = rules
        self.by_name = {r.name: r for r in rules}

    # -- fitting --------------------------------------------------------------------------------------
    @classmethod
    def fit(cls, table: pd.DataFrame, *, discrete: str | None = "category", transforms: bool = True,
            identifiers: bool = True) -> ColumnPlan:
        """`discrete`: "category" (learned as labels), "nearest" (learned as a number, snapped back to the nearest
        real value) or None (a plain number)."""
        from synth.profile import profile_table

        rules = []
        for profile, name in zip(profile_table(table, markers_fixable=False), table.columns, strict=True):
            column = table[name]
            dtype = str(column.dtype)
            if identifiers and profile.kind == "identifier":
                rules.append(_identifier_rule(name, column, profile.evidence))
            elif discrete and profile.kind == "discrete" and pd.api.types.is_numeric_dtype(column) \
                    and not pd.api.types.is_bool_dtype(column):
                values = sorted(float(v) for v in pd.unique(column.dropna().to_numpy(dtype="float64")))
                how = "category" if len(values) <= 2 else discrete  # two values have no order to keep
                rules.append(ColumnRule(name, "discrete", dtype, profile.evidence, values=values,
                                        low=values[0], high=values[-1], transform=how))
            elif profile.kind in ("continuous", "discrete") and pd.api.types.is_numeric_dtype(column) \
                    and not pd.api.types.is_bool_dtype(column):
                rules.append(_continuous_rule(name, column, profile, transforms))
            else:
                rules.append(ColumnRule(name, "keep", dtype, profile.evidence))
        return cls(rules)

    # -- the table the generator learns --------------------------------------------------------------
    @property
    def learned_columns(self) -> list[str]:
        return [r.name for r in self.rules if r.kind != "identifier"]

    @property
    def identifiers(self) -> list[str]:
        return [r.name for r in self.rules if r.kind == "identifier"]

    def transform(self, table: pd.DataFrame) -> pd.DataFrame:
        """The training table as the generator sees it: identifiers left out, discrete values as labels,
        heavy tails transformed."""
        out = {}
        for rule in self.rules:
            if rule.kind == "identifier":
                continue
            column = table[rule.name]
            if rule.kind == "discrete" and rule.transform == "category":
                out[rule.name] = _to_labels(column, rule)
            elif rule.kind == "continuous" and rule.transform:
                out[rule.name] = pd.Series(_forward(column.to_numpy(dtype="float64", na_value=np.nan), rule),
                                           index=column.index)
            else:
                out[rule.name] = column
        return pd.DataFrame(out, index=table.index)

    def conditions(self, conditions: dict[str, Any] | None) -> dict[str, Any] | None:
        """Conditions on the real columns → conditions on the learned table (a discrete value → its label)."""
        if not conditions:
            return conditions
        out = {}
        for name, value in conditions.items():
            rule = self.by_name.get(name)
            if rule is not None and rule.kind == "identifier":
                raise GeneratorInputError(f"cannot condition on {name!r}: it is an identifier, which the generator "
                                          "does not learn (synthetic rows get fresh keys); condition on another column")
            if rule is not None and rule.kind == "discrete" and rule.transform == "category":
                label = _label_of(value, rule)
                if label is None:
                    shown = ", ".join(_label(v) for v in rule.values[:10])
                    raise GeneratorInputError(f"condition {name}={value!r}: not a value of this column "
                                              f"(values: {shown}{', …' if len(rule.values) > 10 else ''})")
                out[name] = label
            else:
                out[name] = value
        return out

    # -- back to the real table's shape ----------------------------------------------------------------
    def inverse(self, frame: pd.DataFrame, *, seed: int, start: int = 0) -> pd.DataFrame:
        """Generated rows (learned columns) → rows of the real table: every column in order and dtype."""
        n = len(frame)
        out = {}
        for rule in self.rules:
            if rule.kind == "identifier":
                out[rule.name] = _fresh_keys(rule, n, seed, start)
            elif rule.kind == "discrete" and rule.transform == "category":
                out[rule.name] = _from_labels(frame[rule.name], rule)
            elif rule.kind == "discrete":
                out[rule.name] = _nearest(frame[rule.name], rule)
            elif rule.kind == "continuous":
                out[rule.name] = _finish_numeric(frame[rule.name], rule)
            else:
                out[rule.name] = frame[rule.name]
        return pd.DataFrame(out, index=frame.index)

    def fresh_keys(self, name: str, n: int, seed: int, start: int) -> pd.Series:
        """The keys of identifier column `name` for rows start .. start + n - 1."""
        return _fresh_keys(self.by_name[name], n, seed, start)

    # -- what the card says ----------------------------------------------------------------------------
    def describe(self) -> list[dict[str, str]]:
        """One entry per column that a rule changed: what was detected and what was done."""
        done = []
        for r in self.rules:
            if r.kind == "identifier":
                how = ("numbered on from the real maximum" if r.pattern == ["integer"]
                       else f"the real pattern {_pattern_text(r.pattern)}")
                done.append({"column": r.name, "detected": r.reason,
                             "done": f"not learned; fresh unique keys ({how}); left out of the gate"})
            elif r.kind == "discrete":
                how = (f"learned as {len(r.values)} categories" if r.transform == "category"
                       else f"sampled values snapped to the nearest of its {len(r.values)} real values")
                done.append({"column": r.name, "detected": r.reason,
                             "done": f"{how}; only real values come back, rare ones included"})
            elif r.kind == "continuous" and (r.transform or r.grid):
                parts = []
                if r.transform:
                    parts.append("log(1 + x) before learning" if r.transform == "log"
                                 else "quantile-to-normal transform before learning")
                if r.grid:
                    parts.append(f"sampled values snapped to multiples of {_number(r.grid)}")
                done.append({"column": r.name, "detected": r.reason, "done": "; ".join(parts)})
        return done

    def to_config(self) -> list[dict[str, Any]]:
        return [{k: v for k, v in asdict(r).items() if v not in (None, [])} for r in self.rules]

    @classmethod
    def from_config(cls, config: list[dict[str, Any]], where: str) -> ColumnPlan:
        try:
            rules = [ColumnRule(**entry) for entry in config]
        except TypeError as err:
            raise ModelError(f"{where}: column_plan is damaged ({err}); re-train the model") from None
        for r in rules:
            if (r.kind not in ("identifier", "discrete", "continuous", "keep")
                    or (r.kind == "discrete" and (not r.values or r.transform not in ("category", "nearest")))
                    or (r.transform == "quantile" and len(r.knots) < 2)):
                raise ModelError(f"{where}: column_plan entry for {r.name!r} is damaged; re-train the model")
        return cls(rules)


# -- identifiers --------------------------------------------------------------------------------------------
def _identifier_rule(name: str, column: pd.Series, reason: str) -> ColumnRule:
    present = column.dropna()
    dtype = str(column.dtype)
    if pd.api.types.is_numeric_dtype(column):
        values = present.to_numpy(dtype="float64")
        return ColumnRule(name, "identifier", dtype, reason, pattern=["integer"],
                          low=float(values.min()), high=float(values.max()))
    texts = present.astype(str)
    patterns = texts.map(lambda v: tuple(_pattern(v)))
    common = patterns.value_counts().index[0]
    # a run that is the same text in every code of that shape (a prefix such as "CUST") is kept as it is
    alike = texts[patterns == common].head(SAMPLE_CODES).tolist()
    pattern, offset = [], 0
    for part in common:
        width = len(part) - 1 if part.startswith("=") else len(part)
        runs = {code[offset:offset + width] for code in alike}
        pattern.append(part if part.startswith("=") or len(runs) > 1 else "=" + runs.pop())
        offset += width
    merged: list[str] = []
    for part in pattern:  # adjacent literals become one
        if merged and part.startswith("=") and merged[-1].startswith("="):
            merged[-1] += part[1:]
        else:
            merged.append(part)
    if not any(not p.startswith("=") for p in merged):
        merged.append("ddddddddd")  # every code alike but unique? (cannot happen) keep keys unique anyway
    return ColumnRule(name, "identifier", dtype, reason, pattern=merged)


def _pattern(value: str) -> list[str]:
    """A code's shape: `7590-VHVEG` → ["dddd", "=-", "uuuuu"]: runs of digits (d), capitals (u) and small letters
    (l), and literal text prefixed "=". Codes longer than `MAX_PATTERN_CHARS` keep their first characters."""
    parts: list[str] = []
    for c in value[:MAX_PATTERN_CHARS]:
        kind = next((k for k, alphabet in _CLASSES.items() if c in alphabet), None)
        if kind is not None and parts and parts[-1][0] == kind:
            parts[-1] += kind
        elif kind is not None:
            parts.append(kind)
        elif parts and parts[-1].startswith("="):
            parts[-1] += c
        else:
            parts.append("=" + c)
    return parts


def _pattern_text(pattern: list[str]) -> str:
    names = {"d": "digit", "u": "capital", "l": "letter"}
    shown = []
    for part in pattern:
        if part.startswith("="):
            shown.append(repr(part[1:]))
        else:
            shown.append(f"{len(part)} {names[part[0]]}{'s' if len(part) > 1 else ''}")
    return ", ".join(shown)


def _fresh_keys(rule: ColumnRule, n: int, seed: int, start: int) -> pd.Series:
    """Keys for rows start .. start + n - 1: unique, in the real format, independent of chunking."""
    rows = np.arange(start, start + n, dtype=np.int64)
    if rule.pattern == ["integer"]:
        keys = np.int64(rule.high) + 1 + rows  # numbered on from the real maximum: never a real key
        return pd.Series(keys, dtype="int64" if "int" in rule.dtype.lower() else rule.dtype)
    slots = [part for part in rule.pattern if not part.startswith("=")]
    capacity = math.prod(len(_CLASSES[c]) for part in slots for c in part)
    # an affine bijection of the row number modulo the capacity: unique while n <= capacity, and scattered
    rng = np.random.default_rng([seed % 2**63, 0x1D])
    multiplier = _coprime(int(rng.integers(1, 2**61)), capacity)
    offset = int(rng.integers(0, 2**61)) % max(capacity, 1)
    keys = []
    for row in rows.tolist():
        # past the pattern's capacity, the row's multiple of it is written before the key's first varying run
        extra, row = divmod(row, capacity)
        code = (multiplier * row + offset) % capacity
        text = []
        for part in reversed(rule.pattern):
            if part.startswith("="):
                text.append(part[1:])
                continue
            chars = []
            for c in reversed(part):
                alphabet = _CLASSES[c]
                code, digit = divmod(code, len(alphabet))
                chars.append(alphabet[digit])
            text.append("".join(reversed(chars)))
        text.reverse()
        if extra:
            first = next(i for i, part in enumerate(rule.pattern) if not part.startswith("="))
            text[first] = str(extra) + text[first]
        keys.append("".join(text))
    return pd.Series(keys, dtype=object)


def _coprime(candidate: int, modulus: int) -> int:
    candidate %= max(modulus, 1)
    while math.gcd(candidate, modulus) != 1:
        candidate = (candidate + 1) % modulus or 1
    return candidate


# -- discrete -----------------------------------------------------------------------------------------------
def _label(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _label_of(value: Any, rule: ColumnRule) -> str | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return _label(number) if number in rule.values else None


def _to_labels(column: pd.Series, rule: ColumnRule) -> pd.Series:
    numbers = column.to_numpy(dtype="float64", na_value=np.nan)
    labels = {v: _label(v) for v in rule.values}
    return pd.Series([None if math.isnan(x) else labels.get(x, _label(x)) for x in numbers.tolist()],
                     index=column.index, dtype=object)


def _nearest(column: pd.Series, rule: ColumnRule) -> pd.Series:
    """Numbers → the nearest of the column's real values (missing stays missing)."""
    values = np.asarray(rule.values)
    x = column.to_numpy(dtype="float64", na_value=np.nan)
    position = np.clip(np.searchsorted(values, x), 1, len(values) - 1) if len(values) > 1 else np.zeros(len(x), int)
    lower, upper = values[np.maximum(position - 1, 0)], values[position]
    snapped = np.where(np.abs(x - lower) <= np.abs(upper - x), lower, upper)
    return _restore_dtype(np.where(np.isnan(x), np.nan, snapped), rule.dtype, column.index)


def _from_labels(column: pd.Series, rule: ColumnRule) -> pd.Series:
    numbers = {_label(v): v for v in rule.values}
    values = column.map(numbers).to_numpy(dtype="float64", na_value=np.nan)  # missing or unknown labels: NaN
    return _restore_dtype(values, rule.dtype, column.index)


# -- continuous ---------------------------------------------------------------------------------------------
def _continuous_rule(name: str, column: pd.Series, profile: Any, transforms: bool) -> ColumnRule:
    values = column.dropna().to_numpy(dtype="float64")
    rule = ColumnRule(name, "continuous", str(column.dtype), profile.evidence,
                      low=float(values.min()), high=float(values.max()))
    # integers are kept integral by their dtype; a grid worth snapping is a coarser step or fixed decimals
    if profile.grid is not None and (profile.grid != 1 or not pd.api.types.is_integer_dtype(column)):
        rule.grid = float(profile.grid)
    if transforms and profile.transform == "log" and values.min() >= 0:
        rule.transform = "log"
    elif transforms and profile.transform:
        rule.transform = "quantile"
        rule.knots = _knots(values)
    return rule


def _knots(values: np.ndarray) -> list[float]:
    """Increasing knots at evenly spaced quantiles, each the mean of two adjacent order statistics (never one
    training value alone), with the real minimum and maximum at the ends."""
    ordered = np.sort(values)
    k = min(QUANTILE_KNOTS, len(ordered))
    positions = np.linspace(0, len(ordered) - 1, k)
    lower = ordered[np.floor(positions).astype(int)]
    upper = ordered[np.minimum(np.floor(positions).astype(int) + 1, len(ordered) - 1)]
    knots = (lower + upper) / 2
    knots[0], knots[-1] = ordered[0], ordered[-1]
    return np.maximum.accumulate(knots).tolist()


def _scores(k: int) -> np.ndarray:
    return np.linspace(-QUANTILE_CLIP, QUANTILE_CLIP, k)


def _forward(x: np.ndarray, rule: ColumnRule) -> np.ndarray:
    if rule.transform == "log":
        return np.log1p(np.maximum(x, 0.0))
    knots = np.asarray(rule.knots)
    # ties (a spike) map to the middle of their run of knots, so the spike is one value the generator can learn
    left = np.interp(x, knots, _scores(len(knots)), left=-QUANTILE_CLIP, right=QUANTILE_CLIP)
    right = -np.interp(-x, -knots[::-1], -_scores(len(knots))[::-1], left=-QUANTILE_CLIP, right=QUANTILE_CLIP)
    return (left + right) / 2


def _inverse(z: np.ndarray, rule: ColumnRule) -> np.ndarray:
    if rule.transform == "log":
        return np.expm1(np.clip(z, 0.0, 700.0))
    knots = np.asarray(rule.knots)
    return np.interp(z, _scores(len(knots)), knots)


def _finish_numeric(column: pd.Series, rule: ColumnRule) -> pd.Series:
    values = column.to_numpy(dtype="float64", na_value=np.nan)
    if rule.transform:
        values = _inverse(values, rule)
    if rule.grid:
        step = rule.grid
        if step < 1:
            values = np.round(values, round(-math.log10(step)))
        else:
            values = np.round(values / step) * step
    if rule.low is not None and rule.high is not None:
        values = np.clip(values, rule.low, rule.high)
    if not rule.transform and not rule.grid:
        return column
    return _restore_dtype(values, rule.dtype, column.index)


def _restore_dtype(values: np.ndarray, dtype: str, index: pd.Index) -> pd.Series:
    """float values (NaN = missing) → the real column's dtype (nullable ints when missing values need it)."""
    if dtype.startswith(("int", "uint")):
        if np.isnan(values).any():
            return pd.Series(pd.array(np.round(values), dtype="Int64"), index=index)
        return pd.Series(np.round(values).astype(dtype), index=index)
    if dtype.startswith(("Int", "UInt")):
        return pd.Series(pd.array(np.where(np.isnan(values), np.nan, np.round(values)), dtype=dtype), index=index)
    return pd.Series(values, index=index).astype(dtype)


def _number(x: float) -> str:
    return f"{x:g}"
