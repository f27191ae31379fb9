"""The pipeline spec: one pydantic model, parsed from `pipelines/*.yaml`.

Unknown keys are rejected everywhere (`extra="forbid"`), so a misspelt key
fails loudly with its dotted path instead of being silently ignored. The same
model is the Prefect flow's parameter type. Any value can be overridden with
`--set dotted.key=value` (the value is parsed as YAML: `2`, `true`, `[a, b]`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from synth.errors import SpecError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SourceSpec(_Strict):
    """Where the real table comes from and how to read it."""

    path: Path
    #: "csv" also covers gzip-compressed CSV and UCI's `.data`/`.test` files.
    #: Left out, it is inferred: `.parquet`/`.pq` is Parquet, anything else CSV.
    format: Literal["csv", "parquet"] | None = None
    #: CSV only: whether the first (non-skipped) line holds column names.
    header: bool = True
    #: CSV only: column names, required when `header` is false.
    columns: list[str] | None = None
    #: CSV only: extra strings that mean "missing" (UCI uses "?").
    na_values: list[str] = Field(default_factory=list)
    #: CSV only: field separator; spaces after it are always skipped.
    sep: str = ","
    #: CSV only: lines to skip before the header/data (adult.test has one).
    skip_rows: int = Field(default=0, ge=0)
    #: Replace values per column after loading, e.g. {income: {"<=50K.": "<=50K"}}.
    recode: dict[str, dict[str, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _columns_when_headerless(self) -> "SourceSpec":
        if not self.header and not self.columns:
            raise ValueError("header is false, so 'columns' must list the column names")
        return self

    @property
    def resolved_format(self) -> str:
        if self.format:
            return self.format
        return "parquet" if self.path.suffix.lower() in {".parquet", ".pq"} else "csv"


class CTGANSpec(_Strict):
    """Hyperparameters of `synth.models.ctgan.CTGAN` (same names, same defaults)."""

    kind: Literal["ctgan"] = "ctgan"
    epochs: int = Field(default=300, ge=1)
    batch_size: int = Field(default=500, ge=2)
    embedding_dim: int = Field(default=128, ge=1)
    generator_dim: tuple[int, ...] = (256, 256)
    discriminator_dim: tuple[int, ...] = (256, 256)
    generator_lr: float = Field(default=2e-4, gt=0)
    discriminator_lr: float = Field(default=2e-4, gt=0)
    discriminator_steps: int = Field(default=1, ge=1)
    pac: int = Field(default=10, ge=1)
    max_modes: int = Field(default=10, ge=1)
    transformer_sample_size: int = Field(default=5_000, ge=100)

    @model_validator(mode="after")
    def _batch_divisible_by_pac(self) -> "CTGANSpec":
        if self.batch_size % self.pac:
            raise ValueError(
                f"batch_size ({self.batch_size}) must be a multiple of pac ({self.pac}); "
                f"try batch_size: {self.batch_size - self.batch_size % self.pac or self.pac}"
            )
        return self

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class TVAESpec(_Strict):
    """Hyperparameters of `synth.models.tvae.TVAE` (same names, same defaults)."""

    kind: Literal["tvae"] = "tvae"
    epochs: int = Field(default=300, ge=1)
    batch_size: int = Field(default=500, ge=2)
    embedding_dim: int = Field(default=128, ge=1)
    compress_dims: tuple[int, ...] = (128, 128)
    decompress_dims: tuple[int, ...] = (128, 128)
    lr: float = Field(default=1e-3, gt=0)
    l2scale: float = Field(default=1e-5, ge=0)
    loss_factor: float = Field(default=2.0, gt=0)
    max_modes: int = Field(default=10, ge=1)
    transformer_sample_size: int = Field(default=5_000, ge=100)

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


class GaussianCopulaSpec(_Strict):
    """Hyperparameters of `synth.models.gaussian_copula.GaussianCopula` (same names, same defaults)."""

    kind: Literal["gaussian_copula"] = "gaussian_copula"
    #: Points kept of each numeric column's empirical distribution (quantiles).
    n_quantiles: int = Field(default=200, ge=2)

    def hyperparameters(self) -> dict[str, Any]:
        return self.model_dump(exclude={"kind"})


#: `generator.kind` picks the model; the other keys are its hyperparameters.
GeneratorSpec = Annotated[Union[CTGANSpec, TVAESpec, GaussianCopulaSpec], Field(discriminator="kind")]
GENERATOR_KINDS = ("ctgan", "tvae", "gaussian_copula")


_CONSTRAINT = re.compile(r"^\s*(?P<column>\S+)\s*(?P<op>>=|<=|>|<)\s*(?P<right>\S+)\s*$")


class Constraint(_Strict):
    """A rule every synthetic row must keep: a column against a number or another column.

    Written in a spec as a string, `"age >= 17"` or `"capital-loss <= capital-gain"`
    (operators `>=`, `>`, `<=`, `<`; spaces around the operator required when a
    column name contains `-`). Missing values are not judged.
    """

    column: str
    op: Literal[">=", ">", "<=", "<"]
    value: float | None = None
    other: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, raw: Any) -> Any:
        if not isinstance(raw, str):
            return raw
        match = _CONSTRAINT.match(raw)
        if not match:
            raise ValueError(
                f"constraint {raw!r} is not COLUMN OP NUMBER or COLUMN OP COLUMN with OP one of >=, >, <=, <; "
                "e.g. 'age >= 17' or 'capital-loss <= capital-gain'"
            )
        right: Any = match["right"]
        try:
            return {"column": match["column"], "op": match["op"], "value": float(right)}
        except ValueError:
            return {"column": match["column"], "op": match["op"], "other": right}

    @model_validator(mode="after")
    def _one_right_side(self) -> "Constraint":
        if (self.value is None) == (self.other is None):
            raise ValueError("a constraint compares its column with either a number (value) or a column (other)")
        return self

    def columns(self) -> list[str]:
        return [self.column] + ([self.other] if self.other else [])


class ValidationSpec(_Strict):
    """Thresholds of the publishing gate."""

    #: sdmetrics QualityReport score (column shapes + pair trends), 0..1.
    min_quality: float = Field(default=0.75, ge=0, le=1)
    #: sdmetrics per-column shape similarity (KS / total-variation complements), 0..1.
    min_column_shapes: float = Field(default=0.8, ge=0, le=1)
    #: sdmetrics pairwise trend similarity (correlation / contingency), 0..1.
    min_pair_trends: float = Field(default=0.8, ge=0, le=1)
    #: ROC AUC of a classifier telling real from synthetic rows (0.5 = indistinguishable).
    max_detection_auc: float = Field(default=0.95, ge=0.5, le=1)
    #: Largest allowed share of synthetic rows that exactly copy a training row.
    max_exact_copy_rate: float = Field(default=0.01, ge=0, le=1)
    #: Share of synthetic rows closer to training than to holdout rows (0.5 = no memorisation).
    max_dcr_share: float = Field(default=0.6, ge=0, le=1)
    #: ROC AUC of a nearest-synthetic-row membership-inference attack (0.5 = no signal).
    max_membership_auc: float = Field(default=0.6, ge=0.5, le=1)
    #: TSTR / TRTR macro-F1 ratio on the real holdout (needs `target`).
    min_utility_ratio: float = Field(default=0.8, ge=0, le=1)
    #: Synthetic null fraction per column may differ from the real one by this much.
    null_tolerance: float = Field(default=0.05, ge=0, le=1)
    #: Quality is scored on at most this many rows of each table (stated in the card).
    max_rows_scored: int = Field(default=20_000, ge=100)
    #: Rules beyond the real profile, e.g. ["age >= 17", "capital-loss <= capital-gain"].
    constraints: list[Constraint] = Field(default_factory=list)


class ConditionSpec(_Strict):
    """Extra rows drawn with categorical values fixed, e.g. to rebalance a rare class."""

    #: Column → value every one of these rows takes, e.g. {income: ">50K"}.
    values: dict[str, Any] = Field(min_length=1)
    rows: int = Field(ge=1)


class ScheduleSpec(_Strict):
    """When `synth serve` runs the pipeline: a cron expression or an interval, in a timezone."""

    #: e.g. "0 2 * * *" (every night at 02:00).
    cron: str | None = None
    #: Seconds between runs, e.g. 86400.
    interval: float | None = Field(default=None, gt=0)
    #: IANA timezone the cron expression is read in, e.g. "Europe/Amsterdam".
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _one_of(self) -> "ScheduleSpec":
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron (e.g. '0 2 * * *') or interval (seconds)")
        if self.cron is not None and len(self.cron.split()) not in (5, 6):
            raise ValueError(f"cron {self.cron!r} should have 5 fields: minute hour day-of-month month day-of-week")
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {self.timezone!r} is not an IANA name such as 'UTC' or 'Europe/Amsterdam'") from None
        return self


class PublishSpec(_Strict):
    #: Catalog root; left out, the SYNTH_CATALOG_ROOT setting (default data/published).
    root: Path | None = None


class PipelineSpec(_Strict):
    """A whole pipeline: load → hold out → train → sample → validate → publish."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    source: SourceSpec
    #: The column a downstream classifier predicts (must exist in the source).
    target: str | None = None
    generator: GeneratorSpec
    #: Synthetic rows to publish; left out, as many as the training rows.
    rows: int | None = Field(default=None, ge=1)
    #: Conditional rows published in addition to `rows`, e.g. [{values: {income: ">50K"}, rows: 5000}].
    conditions: list[ConditionSpec] = Field(default_factory=list)
    seed: int = 0
    #: Share of real rows split off before training, never seen by the generator.
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    validation: ValidationSpec = Field(default_factory=ValidationSpec)
    publish: PublishSpec = Field(default_factory=PublishSpec)
    #: Optional: when `synth serve` runs this pipeline (ignored by `synth run`).
    schedule: ScheduleSpec | None = None

    def check_against(self, table: Any, origin: str) -> None:
        """Every column the spec names (target, constraints, conditions) must be in the loaded table,
        and every conditioned value must occur in its column."""
        columns = list(table.columns)
        named = [("target", self.target)] if self.target else []
        named += [(f"validation.constraints[{i}]", c) for i, rule in enumerate(self.validation.constraints) for c in rule.columns()]
        named += [(f"conditions[{i}].values", c) for i, cond in enumerate(self.conditions) for c in cond.values]
        for key, column in named:
            if column not in columns:
                raise SpecError(f"{origin}: {key} names column {column!r}, which is not in the table; columns: {columns}")
        for i, cond in enumerate(self.conditions):
            for column, value in cond.values.items():
                seen = table[column].dropna().unique()
                if value not in set(seen) and str(value) not in {str(v) for v in seen}:
                    examples = sorted(map(str, seen))[:10]
                    raise SpecError(f"{origin}: conditions[{i}].values.{column}: {value!r} never occurs in column {column!r}; "
                                    f"values include {examples}")


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (["a", "b"], parsed value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {text!r}: expected KEY=VALUE, e.g. --set generator.epochs=2")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise SpecError(f"--set {text!r}: the value is not valid YAML ({err.problem})") from None
    return key.strip().split("."), value


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """Set each dotted key in a nested dict, creating intermediate mappings."""
    for text in overrides:
        path, value = parse_override(text)
        node = raw
        for i, part in enumerate(path[:-1]):
            child = node.get(part)
            if child is None:
                child = node[part] = {}
            if not isinstance(child, dict):
                where = ".".join(path[: i + 1])
                raise SpecError(f"--set {text!r}: {where} is {child!r}, not a mapping, so it has no keys")
            node = child
        node[path[-1]] = value
    return raw


def _describe(errors: list[dict[str, Any]], origin: str) -> str:
    lines = []
    for err in errors:
        # pydantic puts the union's tag in the path (generator.ctgan.epochs); users wrote generator.epochs
        loc = [p for i, p in enumerate(err["loc"]) if not (i and err["loc"][i - 1] == "generator" and p in GENERATOR_KINDS)]
        where = ".".join(str(p) for p in loc) or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see README 'Pipeline spec')"
        elif err["type"] == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"].removeprefix("Value error, ")
            if "input" in err and not isinstance(err["input"], dict):
                msg += f" (got {err['input']!r})"
        lines.append(f"{origin}: {where}: {msg}")
    return "\n".join(lines)


def spec_from_dict(raw: dict[str, Any], origin: str = "spec") -> PipelineSpec:
    try:
        return PipelineSpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(_describe(err.errors(), origin)) from None


def load_spec(path: str | Path, overrides: list[str] | None = None) -> PipelineSpec:
    """Read a YAML spec, apply `--set` overrides, validate; every problem in one error."""
    path = Path(path)
    if not path.is_file():
        raise SpecError(f"{path}: spec file not found (run from the project root, e.g. synth run pipelines/adult_tvae.yaml)")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise SpecError(f"{path}: not valid YAML{where}: {getattr(err, 'problem', err)}") from None
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of keys (name, source, generator, ...), got {type(raw).__name__}")
    return spec_from_dict(apply_overrides(raw, overrides or []), origin=str(path))
