"""The pipeline spec: one pydantic model, parsed from `pipelines/*.yaml`.

Unknown keys are rejected everywhere (`extra="forbid"`), so a misspelt key
fails loudly with its dotted path instead of being silently ignored. The same
model is the Prefect flow's parameter type. Any value can be overridden with
`--set dotted.key=value` (the value is parsed as YAML: `2`, `true`, `[a, b]`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from synth.errors import SpecError
from synth.models.configs import (
    CONFIGS,
    IMAGE_KINDS,
    SPEC_KINDS,
    ConvVAEConfig,
    CTGANConfig,
    DCGANConfig,
    DDPMConfig,
    GaussianCopulaConfig,
    PrivacyConfig,
    TVAEConfig,
)

#: A spec file is at most this many bytes (a real one is a few kB): bigger is the wrong file or an attack.
MAX_SPEC_BYTES = 1_000_000
#: YAML nodes a spec may expand to, aliases counted at every use: a "billion laughs" alias bomb (a few
#: lines whose aliases expand to 10^9 nodes) is refused before anything walks the expanded value.
MAX_SPEC_NODES = 100_000
#: Nesting depth of a spec's YAML (a real one nests 4 levels).
MAX_SPEC_DEPTH = 64
#: Input echoed in an error is cut to this many characters (with "…"); one problem's text to `MAX_PROBLEM_CHARS`.
ECHO_CHARS = 80
MAX_PROBLEM_CHARS = 400
#: Problems listed in one spec error at most (the count of the rest is given), and its length at most.
MAX_PROBLEMS = 10
MAX_SPEC_ERROR_CHARS = 2_000


def echo(value: Any, limit: int = ECHO_CHARS) -> str:
    """`repr(value)` for an error message, cut to `limit` characters with "…" (errors never echo unbounded input).

    Containers are shown element by element only up to the limit, so a huge (or alias-bomb) value is never
    turned into one enormous string first.
    """
    text = _short_repr(value, limit)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short_repr(value: Any, limit: int) -> str:
    import reprlib

    shortener = reprlib.Repr()
    shortener.maxstring = shortener.maxother = shortener.maxlong = limit
    shortener.maxlist = shortener.maxtuple = shortener.maxdict = shortener.maxset = 8
    shortener.maxlevel = 3
    return shortener.repr(value)


def cut(text: Any, limit: int = ECHO_CHARS) -> str:
    """`str(text)` cut to `limit` characters with "…"."""
    text = str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def column_names(names: list[Any], limit: int = 20) -> str:
    """Column names for an error: at most `limit` of them, each cut to `ECHO_CHARS`."""
    shown = [cut(n) for n in names[:limit]]
    return f"{shown}" + (f" … and {len(names) - limit} more" if len(names) > limit else "")


class _SpecTooLarge(ValueError):
    """The YAML expands beyond `MAX_SPEC_NODES` / `MAX_SPEC_DEPTH`, or repeats a key."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing documents nested deeper than `MAX_SPEC_DEPTH` while composing them."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth += 1
        try:
            if self._depth > MAX_SPEC_DEPTH:
                mark = self.peek_event().start_mark
                raise _SpecTooLarge(f"nested more than {MAX_SPEC_DEPTH} levels deep at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, memo: dict[int, tuple[int, int]], active: set[int], depth: int = 1) -> int:
    """Nodes `node` stands for once every alias is expanded; refuses more than `MAX_SPEC_NODES`, cycles,
    expansions deeper than `MAX_SPEC_DEPTH` and a mapping that repeats a key (YAML keeps the last silently).

    Each distinct node is measured once (memo), so an alias bomb is measured in time linear in its text.
    """
    key = id(node)
    if key in memo:
        size, height = memo[key]
    else:
        if key in active:
            raise _SpecTooLarge(f"an alias at line {node.start_mark.line + 1} refers to a node that contains it")
        active.add(key)
        size, height = 1, 0
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
            seen: dict[str, int] = {}
            for k, _ in node.value:
                if isinstance(k, yaml.ScalarNode) and k.value != "<<":
                    if k.value in seen:
                        raise _SpecTooLarge(f"key {echo(k.value)} appears twice in one mapping (lines {seen[k.value]} "
                                            f"and {k.start_mark.line + 1}); keep one")
                    seen[k.value] = k.start_mark.line + 1
        else:
            children = []
        for child in children:
            size += _expanded_size(child, memo, active, depth + 1)
            height = max(height, memo[id(child)][1] + 1)
            if size > MAX_SPEC_NODES:
                break
        active.discard(key)
        memo[key] = (size, height)
    if size > MAX_SPEC_NODES:
        raise _SpecTooLarge(f"it expands to more than {MAX_SPEC_NODES:,} values (aliases counted at every use); "
                            "a spec needs far fewer: write the values out or use fewer aliases")
    if depth + height > MAX_SPEC_DEPTH:
        raise _SpecTooLarge(f"aliases expand it to more than {MAX_SPEC_DEPTH} levels deep")
    return size


def parse_yaml(text: str) -> Any:
    """YAML text → Python value with PyYAML's safe loader, bounded in size, depth and alias expansion.

    Raises `yaml.YAMLError` for malformed YAML and `ValueError` for a document beyond the bounds.
    """
    if len(text.encode("utf-8", "surrogatepass")) > MAX_SPEC_BYTES:
        raise _SpecTooLarge(f"it is longer than {MAX_SPEC_BYTES:,} bytes")
    loader = _BoundedLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set())
        return loader.construct_document(node)
    except RecursionError:
        raise _SpecTooLarge("it is nested too deeply") from None
    finally:
        loader.dispose()


def _yaml_problem(err: yaml.YAMLError) -> str:
    """Where and what, from a PyYAML error, in a few words."""
    mark = getattr(err, "problem_mark", None)
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    if isinstance(err, yaml.reader.ReaderError):
        return f"character #x{err.character:04x} at position {err.position} is not allowed in YAML text"
    return f"not valid YAML{where}: {cut(getattr(err, 'problem', None) or err, 200)}"


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
    #: Column names. CSV without a header: required, one per field. CSV with a header or Parquet: the columns
    #: to keep (any order; leave one out to drop it); for a CSV with a header, names that are not all in the
    #: header rename every column in order instead.
    columns: list[str] | None = None
    #: CSV only: extra strings that mean "missing" (UCI uses "?").
    na_values: list[str] = Field(default_factory=list)
    #: CSV only: field separator; spaces after it are always skipped.
    sep: str = ","
    #: CSV only: lines to skip before the header/data (adult.test has one).
    skip_rows: int = Field(default=0, ge=0)
    #: Replace values per column after loading, e.g. {income: {"<=50K.": "<=50K"}}.
    #: Keys are matched as the values appear in the file: `0: no` and `"0": no` both match a column of 0/1.
    recode: dict[str, dict[str | int | float | bool, Any]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _columns_when_headerless(self) -> SourceSpec:
        if not self.header and not self.columns:
            raise ValueError("header is false, so 'columns' must list the column names")
        problems = []
        if len(self.sep) != 1:
            problems.append(f"sep {echo(self.sep)} must be exactly one character, e.g. ',' or ';' or '\\t' (a tab)")
        names = self.columns or []
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            problems.append(f"columns lists {column_names(repeated)} more than once; give every column its own name")
        if any(not n.strip() for n in names):
            problems.append("columns has an empty name; give every column a name")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def resolved_format(self) -> str:
        if self.format:
            return self.format
        return "parquet" if self.path.suffix.lower() in {".parquet", ".pq"} else "csv"


#: `source.format` values that read labelled images instead of a table.
IMAGE_FORMATS = ("image_folder", "npz", "idx", "sklearn_digits")


class ImageSourceSpec(_Strict):
    """Where the real labelled images come from and how to read them (see `synth.images.sources`)."""

    #: image_folder: one subfolder of PNG/JPEG files per class (the folder name is the class);
    #: npz: arrays `images` (uint8, N×H×W or N×H×W×C) and `labels` (integers), optional `class_names`;
    #: idx: MNIST-style IDX files, optionally gzipped (`path` images, `labels_path` labels);
    #: sklearn_digits: scikit-learn's bundled 8×8 handwritten digits (no path).
    format: Literal["image_folder", "npz", "idx", "sklearn_digits"]
    path: Path | None = None
    #: idx only: the labels file that goes with `path`.
    labels_path: Path | None = None
    #: Optional real test set in the same format, never trained on by anything; TSTR accuracy is scored on it.
    #: Left out, on the holdout.
    test_path: Path | None = None
    #: idx only: the labels file that goes with `test_path`.
    test_labels_path: Path | None = None
    #: Resize every image to image_size × image_size; left out, the images' own size (then all must agree).
    image_size: int | None = Field(default=None, ge=4, le=1024)
    #: How to resize: bilinear, lanczos or nearest interpolation, or pad (centre on a black canvas; never shrinks).
    resize: Literal["bilinear", "lanczos", "nearest", "pad"] = "bilinear"
    #: grayscale or rgb; left out, grayscale when every image is, else rgb.
    color: Literal["grayscale", "rgb"] | None = None
    #: Class names by label index; left out, the folder names, the npz's `class_names`, or the label numbers.
    class_names: list[str] | None = None
    #: An unreadable image file: error (list every bad file and stop) or skip (leave it out; listed in the card).
    on_bad_file: Literal["error", "skip"] = "error"
    #: Use a seeded, class-stratified subset of at most this many images (for quick runs).
    max_images: int | None = Field(default=None, ge=10)

    @model_validator(mode="after")
    def _paths_for_format(self) -> ImageSourceSpec:
        problems = []
        if self.format == "sklearn_digits":
            given = [k for k in ("path", "labels_path", "test_path", "test_labels_path")
                     if getattr(self, k) is not None]
            if given:
                problems.append(f"format sklearn_digits reads scikit-learn's bundled digits; remove {given}")
        elif self.path is None:
            problems.append(f"format {self.format} needs 'path'")
        if self.format == "idx":
            if self.path is not None and self.labels_path is None:
                problems.append("format idx needs 'labels_path' (e.g. train-labels-idx1-ubyte.gz)")
            if (self.test_path is None) != (self.test_labels_path is None):
                problems.append("format idx: give both test_path and test_labels_path, or neither")
        elif self.format != "sklearn_digits" and (self.labels_path or self.test_labels_path):
            problems.append("labels_path/test_labels_path are for format idx; "
                            f"format {self.format} keeps labels with the images")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# -- the generator block: each kind's config, declared once next to the models (synth.models.configs) ----------
#: The spec's names for the configs (a spec's `generator:` block is the config of its kind).
CTGANSpec, TVAESpec, GaussianCopulaSpec = CTGANConfig, TVAEConfig, GaussianCopulaConfig
DDPMSpec, DCGANSpec, ConvVAESpec = DDPMConfig, DCGANConfig, ConvVAEConfig
#: `generator.kind` picks the model; the other keys are its hyperparameters.
#: `Union[...]` rather than `X | Y`: the union is built from a tuple known only at run time (UP007 cannot apply).
GeneratorSpec = Annotated[Union[tuple(CONFIGS[kind] for kind in SPEC_KINDS)], Field(discriminator="kind")]  # noqa: UP007
GENERATOR_KINDS = SPEC_KINDS
#: Kinds that train on images (an image `source.format`); the others train on tables.
IMAGE_GENERATOR_KINDS = IMAGE_KINDS


def _check_constraint(raw: Any) -> Any:
    """A constraint as written in the spec (synth.constraints), checked for form only; the table checks come later."""
    from synth.constraints import parse

    parse(raw)  # ValueError: one line saying what is wrong
    return raw


#: Integer columns with at most this many values are learned as categories (synth.column_plan; checked here
#: without importing it).
DISCRETE_MAX_VALUES = 32


def pd_is_numeric(series: Any) -> bool:
    import pandas as pd

    return pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)


#: One rule of `constraints:` (see synth.constraints): "age >= 17", "a == 0 or b == 0", "x between 1 and 9",
#: "fixed combinations of a, b" (or {fixed: [a, b]}), "total = a + b".
ConstraintText = Annotated[str | dict[str, list[str]], AfterValidator(_check_constraint)]


#: Default `max_frechet_distance` of the image gate, in standardised judge-feature units.
FRECHET_DEFAULT = 10.0


class ValidationSpec(_Strict):
    """Thresholds of the publishing gate."""

    @model_validator(mode="before")
    @classmethod
    def _constraints_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "constraints" in data:
            raise ValueError("constraints moved to the top level of the spec: write `constraints:` beside "
                             "`validation:` (they now hold in every generated row, and the gate still checks them)")
        return data

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
    #: TSTR / TRTR ratio on the real holdout (needs `target`): macro-F1 for a class target, R² for a numeric one
    #: with many values (validation.utility.target_kind).
    min_utility_ratio: float = Field(default=0.8, ge=0, le=1)
    #: For a two-class target: TSTR / TRTR F1 of the rarer class alone, which a macro average can hide.
    min_rare_class_f1_ratio: float = Field(default=0.75, ge=0, le=1)
    #: The target's class shares: synthetic / training share (or its inverse) at most this for every class
    #: (a rare class doubled or halved fails). Report-only when the spec's conditions rebalance the target.
    max_target_share_ratio: float = Field(default=1.5, ge=1)
    #: Synthetic null fraction per column may differ from the real one by this much.
    null_tolerance: float = Field(default=0.05, ge=0, le=1)
    #: Quality is scored on at most this many rows of each table (stated in the card).
    max_rows_scored: int = Field(default=20_000, ge=100)
    #: Publish only if the generator is differentially private with a total ε at most this (needs a `privacy:`
    #: block; judged by the gate, `validation.privacy.epsilon_measurement`, from the model's privacy ledger).
    #: Left out: no requirement.
    max_epsilon: float | None = Field(default=None, gt=0)


class ImageValidationSpec(_Strict):
    """Thresholds of the image gate (`validation.images`), used when the source holds images.

    A small CNN (the judge) is trained on the real training images; see the
    README's "Image checks" for what each figure means.
    """

    #: Share of synthetic images the judge classifies as the class they were generated for.
    min_label_faithfulness: float = Field(default=0.7, ge=0, le=1)
    #: Fréchet distance between real and synthetic images in the judge's standardised feature space
    #: (not Inception-FID: a CNN trained on this run's real images, so compare figures within one dataset).
    max_frechet_distance: float = Field(default=FRECHET_DEFAULT, gt=0)
    #: Accuracy of the judge's architecture trained on synthetic images / trained on real ones, on real test images.
    min_tstr_ratio: float = Field(default=0.8, ge=0, le=1)
    #: A synthetic image is a near-copy when its nearest training image is closer than this quantile of
    #: real holdout images' nearest-training distances (so about this share of fresh real images would be flagged).
    near_copy_quantile: float = Field(default=0.01, gt=0, lt=0.5)
    #: Largest allowed share of near-copies.
    max_near_copy_rate: float = Field(default=0.05, ge=0, le=1)
    #: Size-adjusted share of synthetic images whose nearest real image is a training image (0.5 = no memorisation).
    max_closer_to_training: float = Field(default=0.6, ge=0, le=1)
    #: Epochs the judge CNN (and its TSTR twin) train for.
    judge_epochs: int = Field(default=5, ge=1)
    #: Images of each set that the distance, Fréchet and TSTR figures use at most (stated in the card).
    max_images_scored: int = Field(default=10_000, ge=100)


class PrivacySpec(PrivacyConfig, _Strict):
    """Differential privacy for everything that reads the training rows (see README "Differential privacy").

    With this block, `ctgan` trains as DP-CTGAN and `tvae` as DP-TVAE
    (`synth.models.dp_ctgan`, `synth.models.dp_tvae`); other generators are refused. The fields and their
    bounds are the private generators' own (`synth.models.configs.PrivacyConfig`); a spec must state ε.
    """

    #: Total ε spent on the training rows: preprocessing counts and DP-SGD, composed by the accountant.
    epsilon: float = Field(gt=0, le=100)

    @model_validator(mode="after")
    def _bounds_and_lists(self) -> PrivacySpec:
        problems = []
        for column, (low, high) in self.bounds.items():
            if isinstance(low, (int, float)) and isinstance(high, (int, float)) and not low < high:
                problems.append(f"bounds.{cut(column)}: low ({echo(low)}) must be below high ({echo(high)})")
        for column, values in self.categories.items():
            if not values:
                problems.append(f"categories.{cut(column)}: list at least one value")
            elif len({str(v) for v in values}) < len(values):
                problems.append(f"categories.{cut(column)}: a value is listed twice")
        both = sorted(set(self.bounds) & set(self.categories))
        if both:
            problems.append(f"{both}: a column has either bounds (numeric) or categories, not both")
        if problems:
            raise ValueError("; ".join(problems))
        return self


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
    def _one_of(self) -> ScheduleSpec:
        if (self.cron is None) == (self.interval is None):
            raise ValueError("give exactly one of cron (e.g. '0 2 * * *') or interval (seconds)")
        if self.cron is not None and len(self.cron.split()) not in (5, 6):
            raise ValueError(f"cron {echo(self.cron)} should have 5 fields: minute hour day-of-month month day-of-week")
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"timezone {echo(self.timezone)} is not an IANA name "
                             "such as 'UTC' or 'Europe/Amsterdam'") from None
        return self


class PublishSpec(_Strict):
    #: Catalog root; left out, the SYNTH_CATALOG_ROOT setting (default data/published).
    root: Path | None = None


class CheckpointSpec(_Strict):
    """How often training saves a checkpoint that `synth run SPEC --resume` continues from (see `synth.resume`)."""

    #: Save at the end of the first epoch that ends this many minutes after the last save (0: every epoch).
    every_minutes: float = Field(default=10.0, ge=0)
    #: Also save every this many epochs; left out, by time only. The last epoch is always saved.
    every_epochs: int | None = Field(default=None, ge=1)


class PipelineSpec(_Strict):
    """A whole pipeline: load → hold out → train → sample → validate → publish."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", max_length=100)
    description: str = ""
    #: A table (format csv/parquet) or labelled images (format image_folder/npz/idx/sklearn_digits).
    source: SourceSpec | ImageSourceSpec
    #: The column a downstream model predicts (must exist in the source): classes, or a number (regression).
    target: str | None = None
    generator: GeneratorSpec
    #: Synthetic rows to publish; left out, as many as the training rows.
    rows: int | None = Field(default=None, ge=1)
    #: Above this many rows, generation is split into partitions of this size that run as parallel
    #: Prefect tasks on Dask, published as a partitioned Parquet dataset (`data/part-*.parquet`).
    partition_rows: int | None = Field(default=None, ge=1000)
    #: Conditional rows published in addition to `rows`, e.g. [{values: {income: ">50K"}, rows: 5000}].
    conditions: list[ConditionSpec] = Field(default_factory=list)
    #: Rules every synthetic row keeps, enforced while sampling and checked by the gate (synth.constraints),
    #: e.g. ["age >= 17", "fixed combinations of education, education-num", "total = price + tax"].
    constraints: list[ConstraintText] = Field(default_factory=list)
    seed: int = 0
    #: Share of real rows split off before training, never seen by the generator.
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1)
    #: The gate's thresholds: ValidationSpec for a table source, ImageValidationSpec for images.
    validation: ValidationSpec | ImageValidationSpec = Field(default_factory=ValidationSpec, validate_default=True)
    publish: PublishSpec = Field(default_factory=PublishSpec)
    #: Optional: when `synth serve` runs this pipeline (ignored by `synth run`).
    schedule: ScheduleSpec | None = None
    #: Optional: train with differential privacy (`ctgan` → DP-CTGAN, `tvae` → DP-TVAE) within this budget.
    privacy: PrivacySpec | None = None
    #: Training checkpoints in the catalog's run area, for `synth run --resume`; null turns them off.
    #: Not written for gaussian_copula or private specs.
    checkpoint: CheckpointSpec | None = Field(default_factory=CheckpointSpec)

    @model_validator(mode="after")
    def _privacy_has_a_private_generator(self) -> PipelineSpec:
        """Only generators with an honest private version may train under `privacy:`; keys it would ignore are
        refused."""
        if self.privacy is None:
            return self
        from synth.privacy import NOT_USED_UNDER_PRIVACY, PRIVATE_KINDS

        kind = self.generator.kind
        if kind == "gaussian_copula":
            raise ValueError(
                "privacy: generator.kind gaussian_copula has no private version (it stores every numeric column's "
                "empirical quantiles and the correlations of the raw rows); "
                "use kind ctgan (DP-CTGAN) or tvae (DP-TVAE), or remove the privacy block"
            )
        if kind not in PRIVATE_KINDS:
            raise ValueError(f"privacy: generator.kind {kind!r} has no private version; "
                             "use kind ctgan or tvae, or remove the privacy block")
        problems = []
        fields = type(self.generator).model_fields
        for key in sorted(set(fields) & set(NOT_USED_UNDER_PRIVACY)):
            # a default value is simply unused (a spec dumped and re-read, as `synth serve` ships it, sets every key)
            if getattr(self.generator, key) == fields[key].default or (key == "pac" and self.generator.pac == 1):
                continue
            fix = "set pac: 1 or remove it" if key == "pac" else "remove it"
            problems.append(f"generator.{key}={echo(getattr(self.generator, key))} does not apply with privacy: "
                            f"{NOT_USED_UNDER_PRIVACY[key]}; {fix}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @model_validator(mode="after")
    def _partitions_without_conditions(self) -> PipelineSpec:
        if self.partition_rows and self.conditions:
            raise ValueError("conditions cannot be combined with partition_rows yet; drop one of them")
        return self

    @field_validator("source", mode="wrap")
    @classmethod
    def _table_or_images(cls, value: Any, handler: Any) -> Any:
        """`format` tells a table source from an image source, so errors name the keys the user wrote."""
        fmt = value.get("format") if isinstance(value, dict) else getattr(value, "format", None)
        if fmt in IMAGE_FORMATS:
            return ImageSourceSpec.model_validate(value)
        if fmt is not None and fmt not in ("csv", "parquet"):
            raise ValueError(f"format {echo(fmt)} is not known; "
                             f"tables: csv, parquet; images: {', '.join(IMAGE_FORMATS)}")
        return SourceSpec.model_validate(value)

    @field_validator("validation", mode="wrap")
    @classmethod
    def _thresholds_for_source(cls, value: Any, handler: Any, info: ValidationInfo) -> Any:
        """Image sources take the image gate's thresholds, table sources the table gate's."""
        model = ImageValidationSpec if isinstance(info.data.get("source"), ImageSourceSpec) else ValidationSpec
        if isinstance(value, (ValidationSpec, ImageValidationSpec)):
            if isinstance(value, model):
                return value
            value = value.model_dump(exclude_unset=True)  # the default of the other kind: {}
        return model.model_validate(value)

    @model_validator(mode="after")
    def _image_generators_on_images(self) -> PipelineSpec:
        kind = self.generator.kind
        if self.is_image != (kind in IMAGE_GENERATOR_KINDS):
            if self.is_image:
                raise ValueError(f"source.format {self.source.format!r} holds images, but generator.kind {kind!r} "
                                 f"models tables; use one of {list(IMAGE_GENERATOR_KINDS)}")
            raise ValueError(f"generator.kind {kind!r} models images; give an image source "
                             f"(source.format one of {list(IMAGE_FORMATS)}) or a table generator")
        if self.is_image:
            problems = []
            if self.target is not None:
                problems.append("target: image pipelines always predict the class label; remove target")
            if self.partition_rows is not None:
                problems.append("partition_rows is for tables; remove it")
            problems += [f"conditions[{i}].values: image generators condition on 'label' only, e.g. {{label: 3}}"
                         for i, c in enumerate(self.conditions) if set(c.values) != {"label"}]
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @property
    def is_image(self) -> bool:
        """Whether this pipeline trains on labelled images (else on a table)."""
        return isinstance(self.source, ImageSourceSpec)

    def check_against(self, table: Any, origin: str) -> None:
        """Everything about the loaded table that would otherwise fail only after training starts, raised at once
        as one `SpecError` (`synth run` calls this before Prefect starts):

        - every column the spec names (target, constraints, conditions) is in the table;
        - the table has enough rows for the holdout split, and no column is missing in every training row;
        - conditions fix categorical columns (the generators' own rule: text, booleans and categories;
          numbers and dates are not), with a value the training rows hold and the model will keep;
        - `generator.batch_size` fits the training rows, and `privacy.delta` is below 1 / training rows.
        """
        from synth.data import enough_rows, minimum_rows, split_positions

        columns = list(table.columns)
        named = [("target", self.target)] if self.target else []
        named += [(f"conditions[{i}].values", c) for i, cond in enumerate(self.conditions) for c in cond.values]
        problems = [f"{key} names column {echo(column)}, which is not in the table; columns: {column_names(columns)}"
                    for key, column in named if column not in columns]
        if problems:
            self._raise(origin, problems)
        n_rows = len(table)
        if not enough_rows(n_rows, self.holdout_fraction):
            self._raise(origin, [
                f"the table has {n_rows} row{'s' if n_rows != 1 else ''}; "
                f"with holdout_fraction {self.holdout_fraction:g} "
                f"it needs at least {minimum_rows(self.holdout_fraction)} (one holdout row, two training rows); "
                "use a larger table or change holdout_fraction"
            ])
        train_rows, _ = split_positions(n_rows, self.holdout_fraction, self.seed)
        n_train = len(train_rows)
        problems += self._empty_columns(table, train_rows)
        problems += self._constraint_problems(table, train_rows)
        if problems:
            self._raise(origin, problems)
        problems += self._condition_problems(table, train_rows)
        problems += self._training_size_problems(n_train)
        if self.privacy is not None:  # declared bounds and lists name real columns of the right kind
            from synth.errors import GeneratorInputError
            from synth.privacy.transformer import DPDataTransformer

            try:
                DPDataTransformer(bounds=self.privacy.bounds, categories=self.privacy.categories).plan(table)
            except GeneratorInputError as err:
                problems.append(str(err))
        if problems:
            self._raise(origin, problems)

    @staticmethod
    def _raise(origin: str, problems: list[str]) -> None:
        more = f"; … and {len(problems) - MAX_PROBLEMS} more problems" if len(problems) > MAX_PROBLEMS else ""
        raise SpecError(cut(f"{origin}: " + "; ".join(problems[:MAX_PROBLEMS]) + more, MAX_SPEC_ERROR_CHARS))

    def _empty_columns(self, table: Any, train_rows: Any) -> list[str]:
        """A column with no value in any training row gives a generator nothing to learn (they refuse it)."""
        if self.source.resolved_format == "csv" and not self.source.header:
            drop = "remove that field from the file (source.columns must name every field of a headerless CSV)"
        else:
            drop = "drop it: list the columns to keep in source.columns"
        problems = []
        for name in table.columns:
            column = table[name]
            if column.isna().all():
                problems.append(f"column {echo(name)} is empty (every value is missing); {drop}")
            elif column.iloc[train_rows].isna().all():
                problems.append(f"column {echo(name)} is missing in every training row "
                                f"(its {int(column.notna().sum())} value(s) fell into the holdout); "
                                f"{drop}, or fill it")
        return problems

    def _constraint_problems(self, table: Any, train_rows: Any) -> list[str]:
        """The constraints against the table (columns, types, contradictions, rules the rows break), and the
        conditions against the constraints (a derived column, a value a rule forbids, an unseen combination)."""
        if not self.constraints:
            return []
        from synth.constraints import ConstraintSet
        from synth.errors import GeneratorInputError

        rules = ConstraintSet.from_spec(self.constraints)
        try:
            rules.check(table)
        except SpecError as err:
            return [str(err)]
        if self.privacy is not None:
            fixed = [i for i, c in enumerate(rules.constraints) if c.kind == "fixed"]
            if fixed:
                return [f"constraints[{fixed[0]}]: fixed combinations are learned from the training rows, outside the "
                        "privacy budget; remove it, or train without privacy"]
        rules.fit(table.iloc[train_rows])
        problems = []
        for i, cond in enumerate(self.conditions):
            try:
                rules.conditions(cond.values)
            except GeneratorInputError as err:
                problems.append(f"conditions[{i}]: {err}")
        return problems

    def _condition_problems(self, table: Any, train_rows: Any) -> list[str]:
        # the one rule every tabular generator uses to tell categorical from numeric columns (no torch needed)
        from synth.transformer import _column_kind

        problems = []
        for i, cond in enumerate(self.conditions):
            for column, value in cond.values.items():
                key = f"conditions[{i}].values.{cut(column)}"
                series = table[column]
                if _column_kind(series) != "categorical" and not self._discrete(series.iloc[train_rows]):
                    problems.append(f"{key}: column {echo(column)} is {series.dtype} (numeric), and conditions fix "
                                    "categorical columns only (text, booleans, categories, and integer codes the "
                                    f"generator learns as categories: at most {DISCRETE_MAX_VALUES} values, 2 for "
                                    "gaussian_copula, none under privacy); condition on a categorical column, or "
                                    "filter the published table instead")
                    continue
                seen = series.dropna().unique()
                if not _occurs(value, seen):
                    examples = [cut(v, 30) for v in sorted(map(str, seen))[:10]]
                    problems.append(f"{key}: {echo(value)} never occurs in column {echo(column)}; "
                                    f"values include {examples}")
                    continue
                training = series.iloc[train_rows]
                if not _occurs(value, training.dropna().unique()):
                    problems.append(f"{key}: {echo(value)} occurs only in holdout rows, which the generator "
                                    "never sees; condition on a value of the training rows "
                                    "(or change seed / holdout_fraction)")
                    continue
                keep = getattr(self.generator, "max_categories", None)
                if self.privacy is None and keep is not None and _pooled_away(training, value, keep):
                    problems.append(f"{key}: {echo(value)} is not among the {keep} most frequent values "
                                    f"of {echo(column)} that the generator keeps (generator.max_categories={keep}), "
                                    "so it cannot be fixed; raise generator.max_categories or condition on a more "
                                    "frequent value")
        return problems

    def _discrete(self, training: Any) -> bool:
        """Whether the generator learns this numeric column as categories (synth.column_plan's discrete rule)."""
        if self.privacy is not None or not pd_is_numeric(training):
            return False
        values = training.dropna()
        distinct = values.nunique()
        if not (values == values.round()).all() or distinct > DISCRETE_MAX_VALUES:
            return False
        return distinct <= 2 or self.generator.kind != "gaussian_copula"

    def _training_size_problems(self, n_train: int) -> list[str]:
        """What `fit` would refuse about the number of training rows, phrased as the spec keys to change."""
        problems = []
        batch_size = getattr(self.generator, "batch_size", None)
        if batch_size is not None and self.privacy is not None:
            if 2 * batch_size > n_train:  # Poisson sampling: batch_size at most half the (noisy) row count
                problems.append(f"generator.batch_size={batch_size} is too large for {n_train} training rows under "
                                "privacy (DP-SGD samples batches of about batch_size rows at random and needs "
                                f"batch_size at most half the rows); lower it to at most {max(n_train // 2, 2)}")
        elif batch_size is not None and batch_size > n_train:
            pac = getattr(self.generator, "pac", 1)
            largest = n_train - n_train % pac
            fix = (f"lower it to at most {largest}" + (f" (a multiple of pac={pac})" if pac > 1 else "")
                   if largest >= 2 else f"set generator.pac: 1 and batch_size at most {n_train}")
            problems.append(f"generator.batch_size={batch_size} is larger than the {n_train} training rows; {fix}")
        delta = self.privacy.delta if self.privacy is not None else None
        if delta is not None and delta >= 1 / n_train:
            from synth.privacy.accounting import default_delta

            problems.append(f"privacy.delta={delta:g} is not below 1/n = 1/{n_train} for the {n_train} training rows: "
                            f"such a δ allows publishing a row outright; use at most {default_delta(n_train):g} "
                            "or leave delta out")
        return problems


def _occurs(value: Any, seen: Any) -> bool:
    """Whether a condition's value is among `seen` (a string '1' also matches the integer 1, as sampling does)."""
    return any(v == value for v in seen) or str(value) in {str(v) for v in seen}


def _pooled_away(training: Any, value: Any, keep: int) -> bool:
    """Whether the generators' cap on categories (`synth.transformer._pool_rare`) pools `value` into the rare slot:
    categories ranked by count, then by value as text; missing counts as one and always keeps its own slot."""
    counts = training.value_counts(dropna=False, sort=False)
    if len(counts) <= keep:
        return False
    order = sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))
    ranked = [k for k, _ in order]
    missing = next((i for i, k in enumerate(ranked) if k is None or k != k), None)  # NaN != NaN
    slots = keep - 1 if missing is not None and missing >= keep else keep
    position = next(i for i, k in enumerate(ranked)
                    if not (k is None or k != k) and (k == value or str(k) == str(value)))
    return position >= slots


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split `a.b=value` into (["a", "b"], parsed value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise SpecError(f"--set {echo(text)}: expected KEY=VALUE, e.g. --set generator.epochs=2")
    try:
        value = parse_yaml(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise SpecError(f"--set {echo(text)}: the value is {_yaml_problem(err)}") from None
    except _SpecTooLarge as err:
        raise SpecError(f"--set {echo(text)}: the value is refused: {err}") from None
    except (ValueError, TypeError, OverflowError) as err:
        raise SpecError(f"--set {echo(text)}: the value is not valid YAML: {cut(err, 200)}") from None
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
                raise SpecError(f"--set {echo(text)}: {cut(where)} is {echo(child)}, not a mapping, so it has no keys")
            node = child
        node[path[-1]] = value
    return raw


def _describe(errors: list[dict[str, Any]], origin: str) -> str:
    """Every validation problem on one line: `origin: key: problem; key: problem`, echoed input cut short."""
    problems = []
    for err in errors:
        # pydantic puts the union's tag in the path (generator.ctgan.epochs); users wrote generator.epochs
        loc = [p for i, p in enumerate(err["loc"])
               if not (i and err["loc"][i - 1] == "generator" and p in GENERATOR_KINDS)]
        where = cut(".".join(str(p) for p in loc), 2 * ECHO_CHARS) or "(top level)"
        if err["type"] == "extra_forbidden":
            msg = "unknown key (check the spelling; see README 'Pipeline spec')"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif err["type"] == "union_tag_invalid":  # pydantic's message repeats the tag in full
            msg = f"kind {echo(err['ctx']['tag'])} is not known; choose one of {err['ctx']['expected_tags']}"
        else:
            msg = cut(err["msg"].removeprefix("Value error, "), MAX_PROBLEM_CHARS)
            if "input" in err and not isinstance(err["input"], dict) and echo(err["input"]) not in msg:
                msg += f" (got {echo(err['input'])})"
        problems.append(f"{where}: {msg}")
    more = f"; … and {len(problems) - MAX_PROBLEMS} more problems" if len(problems) > MAX_PROBLEMS else ""
    return cut(f"{origin}: " + "; ".join(problems[:MAX_PROBLEMS]) + more, MAX_SPEC_ERROR_CHARS)


def spec_from_dict(raw: dict[str, Any], origin: str = "spec") -> PipelineSpec:
    try:
        return PipelineSpec.model_validate(raw)
    except ValidationError as err:
        raise SpecError(_describe(err.errors(), origin)) from None


def load_spec(path: str | Path, overrides: list[str] | None = None) -> PipelineSpec:
    """Read a YAML spec, apply `--set` overrides, validate; every problem in one error (one line)."""
    path = Path(path)
    if not path.is_file():
        hint = "it is a folder; give the spec file in it" if path.is_dir() else \
            "run from the project root, e.g. synth run pipelines/adult_tvae.yaml"
        raise SpecError(f"{path}: spec file not found ({hint})")
    try:
        size = path.stat().st_size
        if size > MAX_SPEC_BYTES:
            raise SpecError(f"{path}: the spec is {size:,} bytes, more than the {MAX_SPEC_BYTES:,} a spec may have; "
                            "is this the right file?")
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(f"{path}: cannot read the spec ({err.strerror}); check the path and its permissions") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"{path}: not a text file (byte 0x{data[err.start]:02x} at offset {err.start} is not UTF-8); "
                        "a spec is a YAML text file such as pipelines/adult_tvae.yaml") from None
    if "\x00" in text:
        raise SpecError(f"{path}: not a text file (it contains NUL bytes); a spec is a YAML text file such as "
                        "pipelines/adult_tvae.yaml")
    try:
        raw = parse_yaml(text)
    except yaml.YAMLError as err:
        raise SpecError(f"{path}: {_yaml_problem(err)}") from None
    except _SpecTooLarge as err:
        raise SpecError(f"{path}: the YAML is refused: {err}") from None
    except (ValueError, TypeError, OverflowError) as err:  # a constructor's complaint, e.g. a date 2020-13-45
        raise SpecError(f"{path}: not valid YAML: a value cannot be read ({cut(err, 200)}); "
                        "quote it to keep it as text") from None
    if raw is None:
        raise SpecError(f"{path}: the spec is empty; write at least name, source and generator (see pipelines/*.yaml)")
    if not isinstance(raw, dict):
        raise SpecError(f"{path}: expected a mapping of keys (name, source, generator, ...), got a YAML "
                        f"{_YAML_KINDS.get(type(raw).__name__, type(raw).__name__)}")
    return spec_from_dict(apply_overrides(raw, overrides or []), origin=str(path))


_YAML_KINDS = {"list": "list", "str": "string", "int": "number", "float": "number", "bool": "boolean"}
